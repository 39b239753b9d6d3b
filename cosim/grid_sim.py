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
"""
import numpy as np
from tqdm import tqdm

from hostcap.cosim.base import PopulationSim, summed
from hostcap.cosim.powerflow import FlowResult, make_solver


class GridSim(PopulationSim):
    MODELS = {"Feeder": ["p_kw", "q_kvar", "vm_cp_pu", "p_slack_kw", "energised"]}

    def setup(self, progress: bool = False):
        net = self.net = self.inputs.feeder.net
        sc = self.scenario
        self.solver = make_solver(sc.solver, net, net_key=f"{sc.feeder}|{sc.slack_vm_pu}|{id(net)}")
        self.n_bus, self.n_cp = len(net.bus), len(self.inputs.feeder.connection_points)
        self.cp_bus = self.inputs.cp_bus_pos
        self.record(vm_pu=self.n_bus, line_loading_pct=len(net.line), trafo_loading_pct=len(net.trafo),
                    p_bus_mw=self.n_bus, q_bus_mvar=self.n_bus, p_slack_mw=None, q_slack_mvar=None,
                    converged=None)
        self.bar = tqdm(total=self.inputs.n_steps, desc=self.scenario.key, unit="step", delay=2.0,
                        disable=not progress, mininterval=0.5, leave=False)

    def step(self, time, inputs, max_advance):
        inp = inputs.get("feeder", {})
        p_bus_mw = np.bincount(self.cp_bus, weights=summed(inp, "p_kw", self.n_cp), minlength=self.n_bus) * 1e-3
        q_bus_mvar = np.bincount(self.cp_bus, weights=summed(inp, "q_kvar", self.n_cp), minlength=self.n_bus) * 1e-3
        dark = self.inputs.dark_bus
        if dark is not None and dark[time].all():  # the whole feeder is off, its transformer with it
            res = FlowResult(np.full(self.n_bus, np.nan), np.zeros(len(self.net.line)), np.zeros(len(self.net.trafo)),
                             0.0, 0.0, True)
        else:
            res = self.solver.solve(p_bus_mw, q_bus_mvar)
        rec = self.recording
        rec["vm_pu"][time] = res.vm_pu if dark is None else np.where(dark[time], np.nan, res.vm_pu)
        rec["line_loading_pct"][time] = res.line_loading_pct
        rec["trafo_loading_pct"][time] = res.trafo_loading_pct
        rec["p_bus_mw"][time] = p_bus_mw
        rec["q_bus_mvar"][time] = q_bus_mvar
        rec["p_slack_mw"][time] = res.p_slack_mw
        rec["q_slack_mvar"][time] = res.q_slack_mvar
        rec["converged"][time] = res.converged
        vm_cp = res.vm_pu[self.cp_bus] if res.converged else np.ones(self.n_cp)
        self.outputs = {"feeder": {"vm_cp_pu": vm_cp.tolist(), "p_slack_kw": res.p_slack_mw * 1e3}}
        if dark is not None:
            self.outputs["feeder"]["energised"] = self.inputs.energised_cp(time + 1)
        self.bar.update()
        return time + 1

    def finalize(self):
        self.bar.close()
        super().finalize()
