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

Unbalanced runs (`Inputs.unbalanced`) take `p_abc_kw`, `q_abc_kvar` instead: per connection point and phase
(a, b, c), and solve the three-phase power flow (`cosim/powerflow3ph.py`). They record per-phase voltages
(`vm_abc_pu`, bus x phase), the voltage unbalance factor (`vuf_pct`), the neutral current of each line
(`line_i_n_ka`), loading on the worst phase and the per-phase demand per bus (`p_abc_bus_mw`,
`q_abc_bus_mvar`) beside its sum; each charger is told the voltage of its own phase (a three-phase one the
mean of its phases).

The S samples of a batch are solved together (`cosim/powerflow.py`: one call, S injection vectors); a
sample whose feeder is wholly off is not solved, and a sample that diverges does not touch the others.
"""
import numpy as np
from tqdm import tqdm

from hostcap.cosim.base import PopulationSim, summed
from hostcap.cosim.powerflow import empty_result, make_solver
from hostcap.cosim.powerflow3ph import empty_result_3ph


class GridSim(PopulationSim):
    MODELS = {"Feeder": ["p_kw", "q_kvar", "p_abc_kw", "q_abc_kvar", "vm_cp_pu", "p_slack_kw", "energised"]}

    def setup(self, progress: bool = False):
        net = self.net = self.inputs.feeder.net
        sc, b = self.scenario, self.batch
        self.unbalanced = self.inputs.unbalanced
        self.solver = make_solver(sc.solver, net, net_key=f"{sc.feeder}|{sc.slack_vm_pu}|{id(net)}",
                                  unbalanced=self.unbalanced)
        self.n_bus, self.n_cp = len(net.bus), b.n_cp
        self.cp_bus = self.inputs.cp_bus_pos
        n_s = b.n_samples
        self.bus_of = (np.arange(n_s)[:, None] * self.n_bus + self.cp_bus[None, :]).ravel()  # sample-major
        n_line = len(net.line)
        self.record(line_loading_pct=(n_line,), trafo_loading_pct=(len(net.trafo),), p_bus_mw=(self.n_bus,),
                    q_bus_mvar=(self.n_bus,), p_slack_mw=(), q_slack_mvar=(), converged=())
        if self.unbalanced:
            self.bus_of_abc = (self.bus_of[:, None] * 3 + np.arange(3)).ravel()
            # the voltage a connection point's charger sees: its phase, or the mean of three (IEEE 1547-2018
            # takes a three-phase DER's mean phase voltage); a third of each phase where there is no EV
            self.cp_w = np.full((n_s * self.n_cp, 3), 1.0 / 3.0)
            self.cp_w[b.fleet.cp] = b.phases.ev
            self.record(vm_abc_pu=(self.n_bus, 3), vuf_pct=(self.n_bus,), line_i_n_ka=(n_line,),
                        p_abc_bus_mw=(self.n_bus, 3), q_abc_bus_mvar=(self.n_bus, 3))
        else:
            self.record(vm_pu=(self.n_bus,))
        self.bar = tqdm(total=self.inputs.n_steps, desc=self.scenario.key, unit="step", delay=2.0,
                        disable=not progress, mininterval=0.5, leave=False)

    def _per_bus(self, cp_values: np.ndarray) -> np.ndarray:
        """Values per connection point of all samples (S x n_cp, flat) summed per bus: (S, n_bus); per
        connection point and phase (S x n_cp x 3, flat) when unbalanced: (S, n_bus, 3)."""
        n_s = self.n_samples
        if self.unbalanced:
            return np.bincount(self.bus_of_abc, weights=cp_values, minlength=n_s * self.n_bus * 3).reshape(
                n_s, self.n_bus, 3)
        return np.bincount(self.bus_of, weights=cp_values, minlength=n_s * self.n_bus).reshape(n_s, self.n_bus)

    def step(self, time, inputs, max_advance):
        inp = inputs.get("feeder", {})
        p, q = ("p_abc_kw", "q_abc_kvar") if self.unbalanced else ("p_kw", "q_kvar")
        p_bus_mw = self._per_bus(summed(inp, p)) * 1e-3
        q_bus_mvar = self._per_bus(summed(inp, q)) * 1e-3
        dark = self.batch.dark_bus
        if dark is None:
            res = self.solver.solve(p_bus_mw, q_bus_mvar)
        else:  # a sample whose whole feeder is off, its transformer with it, is not solved: nothing flows
            live = np.flatnonzero(~dark[:, time].all(axis=1))
            res = (empty_result_3ph if self.unbalanced else empty_result)(self.net, self.n_samples)
            res.line_loading_pct[:], res.trafo_loading_pct[:] = 0.0, 0.0
            if self.unbalanced:
                res.line_i_n_ka[:] = 0.0
            res.p_slack_mw[:], res.q_slack_mvar[:], res.converged[:] = 0.0, 0.0, True
            if len(live):
                res.set_rows(live, self.solver.solve(p_bus_mw[live], q_bus_mvar[live], samples=live))
        rec = self.recording
        dark_now = None if dark is None else dark[:, time]
        if self.unbalanced:
            rec["vm_abc_pu"][:, time] = res.vm_pu if dark is None else np.where(dark_now[:, :, None], np.nan, res.vm_pu)
            rec["vuf_pct"][:, time] = res.vuf_pct if dark is None else np.where(dark_now, np.nan, res.vuf_pct)
            rec["line_i_n_ka"][:, time] = res.line_i_n_ka
            rec["p_abc_bus_mw"][:, time], rec["q_abc_bus_mvar"][:, time] = p_bus_mw, q_bus_mvar
            p_bus_mw, q_bus_mvar = p_bus_mw.sum(axis=2), q_bus_mvar.sum(axis=2)
            vm_cp = (res.vm_pu[:, self.cp_bus].reshape(-1, 3) * self.cp_w).sum(axis=1).reshape(self.n_samples, -1)
        else:
            rec["vm_pu"][:, time] = res.vm_pu if dark is None else np.where(dark_now, np.nan, res.vm_pu)
            vm_cp = res.vm_pu[:, self.cp_bus]
        rec["line_loading_pct"][:, time] = res.line_loading_pct
        rec["trafo_loading_pct"][:, time] = res.trafo_loading_pct
        rec["p_bus_mw"][:, time] = p_bus_mw
        rec["q_bus_mvar"][:, time] = q_bus_mvar
        rec["p_slack_mw"][:, time] = res.p_slack_mw
        rec["q_slack_mvar"][:, time] = res.q_slack_mvar
        rec["converged"][:, time] = res.converged
        vm_cp = np.where(res.converged[:, None], vm_cp, 1.0)
        self.outputs = {"feeder": {"vm_cp_pu": vm_cp.ravel(), "p_slack_kw": res.p_slack_mw * 1e3}}
        if dark is not None:
            self.outputs["feeder"]["energised"] = self.batch.energised_cp(time + 1)
        self.bar.update()
        return time + 1

    def finalize(self):
        self.bar.close()
        super().finalize()
