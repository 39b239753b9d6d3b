"""The collector as one mosaik entity: records grid and fleet outputs into preallocated arrays.

When mosaik finalizes it, it hands its recording to `RECORDINGS[token]`, where `run_scenario` (same
process) picks it up. A tqdm bar shows progress on runs that last more than a couple of seconds.
"""
import numpy as np
from tqdm import tqdm

from hostcap.cosim.base import PopulationSim

RECORDINGS: dict[str, dict] = {}

SERIES = {  # attribute -> element count key; None = scalar per step
    "vm_pu": "bus", "line_loading_pct": "line", "trafo_loading_pct": "trafo", "p_bus_mw": "bus",
    "q_bus_mvar": "bus", "p_slack_mw": None, "q_slack_mvar": None, "converged": None, "ev_p_kw": "ev",
    "ev_e_kwh": "ev",
}
TOTALS = ["unmet_kwh", "driven_kwh"]


class CollectorSim(PopulationSim):
    MODEL = "Collector"
    ATTRS = list(SERIES) + TOTALS

    def setup(self, token: str = "", progress: bool = False):
        inp, net = self.inputs, self.inputs.feeder.net
        sizes = {"bus": len(net.bus), "line": len(net.line), "trafo": len(net.trafo), "ev": inp.fleet.n}
        n = inp.n_steps
        self.token = token
        self.arrays = {a: np.full((n, sizes[k]) if k else n, np.nan) for a, k in SERIES.items()}
        self.totals = {a: 0.0 for a in TOTALS}
        self.bar = tqdm(total=n, desc=self.scenario.key, unit="step", delay=2.0, disable=not progress,
                        mininterval=0.5, leave=False)

    def step(self, time, inputs, max_advance):
        inp = inputs[self.eid]
        for attr, arr in self.arrays.items():
            arr[time] = next(iter(inp[attr].values()))
        for attr in TOTALS:
            self.totals[attr] = next(iter(inp[attr].values()))
        self.bar.update()
        return time + 1

    def finalize(self):
        self.bar.close()
        RECORDINGS[self.token] = {**self.arrays, **self.totals}
