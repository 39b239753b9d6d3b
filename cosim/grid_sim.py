"""The feeder as one mosaik entity around the feeder step (`feeders/powerflow/feeder_step.FeederStep`: a power
flow per step on the summed demand of every connection point, S samples in one call).

Inputs `p_kw`, `q_kvar` per connection point (three-phase runs: `p_abc_kw`, `q_abc_kvar` per connection point
and phase), summed over all sources (households, fleet). Outputs `vm_cp_pu`: the voltage each connection
point's charger sees; `p_slack_kw`: the transformer's (slack's) active power, for the aggregator;
`trafo_loading_max_pct` and `vm_min_pu` per sample (NaN where the step diverged), for the grid operator; with
outages (`models/outage.py`), `energised`: 1.0 or 0.0 per connection point for the next step (the grid owns
the outages and tells the homes through mosaik). Records the grid's series (`models/series.py`); a
diverging step records NaN results and converged = False, and the run goes on. Shows a progress bar on runs
that last a while.
"""
from tqdm import tqdm

from hostcap.cosim.base import PopulationSim, summed


class GridSim(PopulationSim):
    MODELS = {"Feeder": ["p_kw", "q_kvar", "p_abc_kw", "q_abc_kvar", "vm_cp_pu", "p_slack_kw", "energised",
                         "trafo_loading_max_pct", "vm_min_pu"]}

    def setup(self, progress: bool = False, label: str = ""):
        self.bar = tqdm(total=self.n_steps, desc=label, unit="step", delay=2.0, disable=not progress,
                        mininterval=0.5, leave=False)

    def step(self, time, inputs, max_advance):
        inp, feeder = inputs.get("feeder", {}), self.model
        p, q = ("p_abc_kw", "q_abc_kvar") if feeder.unbalanced else ("p_kw", "q_kvar")
        s = feeder.step(time, summed(inp, p), summed(inp, q))
        self.keep(time, s)
        self.outputs = {"feeder": {"vm_cp_pu": s.vm_cp_pu.ravel(), "p_slack_kw": s.p_slack_mw * 1e3,
                                   **feeder.state_for_operator(s)}}
        if feeder.dark_bus is not None:
            self.outputs["feeder"]["energised"] = feeder.energised(time + 1)
        self.bar.update()
        return time + 1

    def finalize(self):
        self.bar.close()
        super().finalize()
