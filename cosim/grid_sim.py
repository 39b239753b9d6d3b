"""The feeder as one mosaik entity: a power flow per step on the summed P/Q of every connection point.

Inputs `p_kw`, `q_kvar`: lists per connection point, summed over all sources (households, fleet).
Outputs `vm_cp_pu`: the voltage at each connection point, for the chargers; `p_slack_kw`: the transformer's
(slack's) active power, for the aggregator; with outages (`models/outage.py`), `energised`: 1.0 or 0.0 per
connection point for the next step (the grid owns the outages and tells the homes through mosaik), and
de-energised buses are recorded with a NaN voltage; while the whole feeder is off, its transformer is too:
no power flow is run and nothing flows (loading and slack power 0). Records bus voltages, line and
transformer loading, the slack's P/Q, the net demand per bus (`p_bus_mw`, `q_bus_mvar`, load sign) and
whether the step converged. A diverging step records NaN results and converged = False; the run goes on,
and the chargers are then told the nominal voltage. Shows a progress bar on runs that last a while.

The S samples of a batch are solved together (`cosim/powerflow.py`: one call, S injection vectors); a
sample whose feeder is wholly off is not solved, and a sample that diverges does not touch the others.
"""
import numpy as np
from tqdm import tqdm

from hostcap.cosim.base import PopulationSim, summed
from hostcap.cosim.powerflow import empty_result, make_solver


class GridSim(PopulationSim):
    MODELS = {"Feeder": ["p_kw", "q_kvar", "vm_cp_pu", "p_slack_kw", "energised"]}

    def setup(self, progress: bool = False):
        net = self.net = self.inputs.feeder.net
        sc, b = self.scenario, self.batch
        self.solver = make_solver(sc.solver, net, net_key=f"{sc.feeder}|{sc.slack_vm_pu}|{id(net)}")
        self.n_bus, self.n_cp = len(net.bus), b.n_cp
        self.cp_bus = self.inputs.cp_bus_pos
        n_s = b.n_samples
        self.bus_of = (np.arange(n_s)[:, None] * self.n_bus + self.cp_bus[None, :]).ravel()  # sample-major
        self.record(vm_pu=(self.n_bus,), line_loading_pct=(len(net.line),), trafo_loading_pct=(len(net.trafo),),
                    p_bus_mw=(self.n_bus,), q_bus_mvar=(self.n_bus,), p_slack_mw=(), q_slack_mvar=(), converged=())
        self.bar = tqdm(total=self.inputs.n_steps, desc=self.scenario.key, unit="step", delay=2.0,
                        disable=not progress, mininterval=0.5, leave=False)

    def _per_bus(self, cp_values: np.ndarray) -> np.ndarray:
        """Values per connection point of all samples (S x n_cp, flat) summed per bus: (S, n_bus)."""
        n_s = self.n_samples
        return np.bincount(self.bus_of, weights=cp_values, minlength=n_s * self.n_bus).reshape(n_s, self.n_bus)

    def step(self, time, inputs, max_advance):
        inp = inputs.get("feeder", {})
        p_bus_mw = self._per_bus(summed(inp, "p_kw")) * 1e-3
        q_bus_mvar = self._per_bus(summed(inp, "q_kvar")) * 1e-3
        dark = self.batch.dark_bus
        if dark is None:
            res = self.solver.solve(p_bus_mw, q_bus_mvar)
        else:  # a sample whose whole feeder is off, its transformer with it, is not solved: nothing flows
            live = np.flatnonzero(~dark[:, time].all(axis=1))
            res = empty_result(self.net, self.n_samples)
            res.vm_pu[:], res.line_loading_pct[:], res.trafo_loading_pct[:] = np.nan, 0.0, 0.0
            res.p_slack_mw[:], res.q_slack_mvar[:], res.converged[:] = 0.0, 0.0, True
            if len(live):
                res.set_rows(live, self.solver.solve(p_bus_mw[live], q_bus_mvar[live], samples=live))
        rec = self.recording
        rec["vm_pu"][:, time] = res.vm_pu if dark is None else np.where(dark[:, time], np.nan, res.vm_pu)
        rec["line_loading_pct"][:, time] = res.line_loading_pct
        rec["trafo_loading_pct"][:, time] = res.trafo_loading_pct
        rec["p_bus_mw"][:, time] = p_bus_mw
        rec["q_bus_mvar"][:, time] = q_bus_mvar
        rec["p_slack_mw"][:, time] = res.p_slack_mw
        rec["q_slack_mvar"][:, time] = res.q_slack_mvar
        rec["converged"][:, time] = res.converged
        vm_cp = np.where(res.converged[:, None], res.vm_pu[:, self.cp_bus], 1.0)
        self.outputs = {"feeder": {"vm_cp_pu": vm_cp.ravel(), "p_slack_kw": res.p_slack_mw * 1e3}}
        if dark is not None:
            self.outputs["feeder"]["energised"] = self.batch.energised_cp(time + 1)
        self.bar.update()
        return time + 1

    def finalize(self):
        self.bar.close()
        super().finalize()
