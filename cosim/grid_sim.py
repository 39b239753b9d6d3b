"""The feeder as one mosaik entity: a power flow per step on the summed P/Q of every connection point.

Inputs `p_kw`, `q_kvar`: lists per connection point, summed over all sources (households, fleet).
Outputs: `vm_pu` per bus (net.bus order), `vm_cp_pu` per connection point, `line_loading_pct`,
`trafo_loading_pct`, `p_slack_mw`, `q_slack_mvar`, `p_bus_mw` / `q_bus_mvar` (net demand per bus, load sign)
and `converged`. A diverging step gives NaN results and converged = False; the run goes on.
"""
import numpy as np

from hostcap.cosim.base import PopulationSim, summed
from hostcap.cosim.powerflow import make_solver


class GridSim(PopulationSim):
    MODEL = "Feeder"
    ATTRS = ["p_kw", "q_kvar", "vm_pu", "vm_cp_pu", "line_loading_pct", "trafo_loading_pct", "p_slack_mw",
             "q_slack_mvar", "p_bus_mw", "q_bus_mvar", "converged"]

    def setup(self):
        net = self.inputs.feeder.net
        self.solver = make_solver(self.scenario.solver, net)
        self.n_bus, self.n_cp = len(net.bus), len(self.inputs.feeder.connection_points)
        self.cp_bus = self.inputs.cp_bus_pos

    def step(self, time, inputs, max_advance):
        inp = inputs.get(self.eid, {})
        p_bus_mw = np.bincount(self.cp_bus, weights=summed(inp, "p_kw", self.n_cp), minlength=self.n_bus) * 1e-3
        q_bus_mvar = np.bincount(self.cp_bus, weights=summed(inp, "q_kvar", self.n_cp), minlength=self.n_bus) * 1e-3
        res = self.solver.solve(p_bus_mw, q_bus_mvar)
        vm = res.vm_pu
        # a diverged step leaves controllers with the nominal voltage rather than NaN
        vm_cp = np.nan_to_num(vm[self.cp_bus], nan=1.0)
        self.outputs = {
            "vm_pu": vm.tolist(),
            "vm_cp_pu": vm_cp.tolist(),
            "line_loading_pct": res.line_loading_pct.tolist(),
            "trafo_loading_pct": res.trafo_loading_pct.tolist(),
            "p_slack_mw": res.p_slack_mw,
            "q_slack_mvar": res.q_slack_mvar,
            "p_bus_mw": p_bus_mw.tolist(),
            "q_bus_mvar": q_bus_mvar.tolist(),
            "converged": res.converged,
        }
        return time + 1
