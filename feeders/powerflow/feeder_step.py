"""The feeder's step: a power flow on the summed demand of every connection point, for S samples at once.

`FeederStep.step(t, p_kw, q_kvar)` sums the demand per connection point (S x n_cp, flat; per phase, S x n_cp
x 3, for an unbalanced run) to its bus, solves all samples in one call (`make_solver`) and returns bus
voltages, line and transformer loading, the slack's P/Q and whether each sample converged, plus the voltage
each connection point's charger sees (its phase, or the mean of three: IEEE 1547-2018 takes a three-phase
DER's mean phase voltage; a third of each phase where there is no EV), the nominal voltage where there is no
reading (the step diverged, or the bus is dark), so a charger's volt-var and volt-watt stay neutral until
the grid reports again. With outages (`dark_bus`, S x steps x n_bus) de-energised buses get a NaN voltage; while a
sample's whole feeder is off, its transformer is too: it is not solved and nothing flows (loading and
slack power 0). A sample that diverges does not touch the others.
"""
from dataclasses import dataclass

import numpy as np

from hostcap.feeders.powerflow import empty_result, empty_result_3ph, make_solver


@dataclass
class FeederState:
    """One step of S samples, the grid's recorded series (`models/series.py`) by name, and the
    connection points' voltages for the chargers (`vm_cp_pu`, S x n_cp)."""

    line_loading_pct: np.ndarray
    trafo_loading_pct: np.ndarray
    p_bus_mw: np.ndarray
    q_bus_mvar: np.ndarray
    p_slack_mw: np.ndarray
    q_slack_mvar: np.ndarray
    converged: np.ndarray
    vm_cp_pu: np.ndarray
    vm_pu: np.ndarray | None = None
    vm_abc_pu: np.ndarray | None = None
    vuf_pct: np.ndarray | None = None
    line_i_n_ka: np.ndarray | None = None
    p_abc_bus_mw: np.ndarray | None = None
    q_abc_bus_mvar: np.ndarray | None = None


class FeederStep:
    def __init__(self, net, *, solver: str, net_key: str, cp_bus_pos: np.ndarray, n_samples: int,
                 unbalanced: bool = False, ev_cp: np.ndarray | None = None, ev_phase_w: np.ndarray | None = None,
                 dark_bus: np.ndarray | None = None):
        """cp_bus_pos: each connection point's bus (position in net.bus); ev_cp, ev_phase_w: each EV's
        connection point over S x n_cp and its phase weights (unbalanced runs)."""
        self.net, self.unbalanced, self.n_samples, self.dark_bus = net, unbalanced, n_samples, dark_bus
        self.solver = make_solver(solver, net, net_key=net_key, unbalanced=unbalanced)
        self.n_bus, self.cp_bus = len(net.bus), cp_bus_pos
        self.bus_of = (np.arange(n_samples)[:, None] * self.n_bus + cp_bus_pos[None, :]).ravel()  # sample-major
        if unbalanced:
            self.bus_of_abc = (self.bus_of[:, None] * 3 + np.arange(3)).ravel()
            self.cp_w = np.full((n_samples * len(cp_bus_pos), 3), 1.0 / 3.0)
            self.cp_w[ev_cp] = ev_phase_w

    def energised(self, t: int) -> np.ndarray:
        """1.0 for each connection point (S x n_cp, flat) whose bus has supply during step t (all before and
        after the run, and without outages), else 0.0."""
        n = self.n_samples * len(self.cp_bus)
        if self.dark_bus is None or t >= self.dark_bus.shape[1]:
            return np.ones(n)
        return (~self.dark_bus[:, t, self.cp_bus]).astype(float).ravel()

    def state_for_operator(self, s: FeederState) -> dict[str, np.ndarray]:
        """What a grid operator's state estimation reads of a step, per sample: the highest transformer loading
        and the lowest bus voltage (of any phase; dark buses left out), NaN where the step diverged."""
        vm = (s.vm_pu if s.vm_abc_pu is None else s.vm_abc_pu).reshape(self.n_samples, -1)
        vm_min = np.where(np.isnan(vm), np.inf, vm).min(axis=1)
        loading = s.trafo_loading_pct.max(axis=1) if s.trafo_loading_pct.shape[1] else np.zeros(self.n_samples)
        return {"trafo_loading_max_pct": np.where(s.converged, loading, np.nan),
                "vm_min_pu": np.where(s.converged, vm_min, np.nan)}

    def _per_bus(self, cp_values: np.ndarray) -> np.ndarray:
        """Values per connection point of all samples (S x n_cp, flat) summed per bus: (S, n_bus); per
        connection point and phase (S x n_cp x 3, flat) when unbalanced: (S, n_bus, 3)."""
        n_s = self.n_samples
        if self.unbalanced:
            return np.bincount(self.bus_of_abc, weights=cp_values, minlength=n_s * self.n_bus * 3).reshape(
                n_s, self.n_bus, 3)
        return np.bincount(self.bus_of, weights=cp_values, minlength=n_s * self.n_bus).reshape(n_s, self.n_bus)

    def step(self, t: int, p_kw: np.ndarray, q_kvar: np.ndarray) -> FeederState:
        p_bus_mw = self._per_bus(p_kw) * 1e-3
        q_bus_mvar = self._per_bus(q_kvar) * 1e-3
        dark = self.dark_bus
        if dark is None:
            res = self.solver.solve(p_bus_mw, q_bus_mvar)
        else:  # a sample whose whole feeder is off, its transformer with it, is not solved: nothing flows
            live = np.flatnonzero(~dark[:, t].all(axis=1))
            res = (empty_result_3ph if self.unbalanced else empty_result)(self.net, self.n_samples)
            res.line_loading_pct[:], res.trafo_loading_pct[:] = 0.0, 0.0
            if self.unbalanced:
                res.line_i_n_ka[:] = 0.0
            res.p_slack_mw[:], res.q_slack_mvar[:], res.converged[:] = 0.0, 0.0, True
            if len(live):
                res.set_rows(live, self.solver.solve(p_bus_mw[live], q_bus_mvar[live], samples=live))
        dark_now = None if dark is None else dark[:, t]
        extra = {}
        if self.unbalanced:
            extra = {"vm_abc_pu": res.vm_pu if dark is None else np.where(dark_now[:, :, None], np.nan, res.vm_pu),
                     "vuf_pct": res.vuf_pct if dark is None else np.where(dark_now, np.nan, res.vuf_pct),
                     "line_i_n_ka": res.line_i_n_ka, "p_abc_bus_mw": p_bus_mw, "q_abc_bus_mvar": q_bus_mvar}
            p_bus_mw, q_bus_mvar = p_bus_mw.sum(axis=2), q_bus_mvar.sum(axis=2)
            vm_cp = (res.vm_pu[:, self.cp_bus].reshape(-1, 3) * self.cp_w).sum(axis=1).reshape(self.n_samples, -1)
        else:
            extra = {"vm_pu": res.vm_pu if dark is None else np.where(dark_now, np.nan, res.vm_pu)}
            vm_cp = res.vm_pu[:, self.cp_bus]
        vm_cp = np.where(res.converged[:, None] & np.isfinite(vm_cp), vm_cp, 1.0)  # no reading: nominal
        return FeederState(line_loading_pct=res.line_loading_pct, trafo_loading_pct=res.trafo_loading_pct,
                           p_bus_mw=p_bus_mw, q_bus_mvar=q_bus_mvar, p_slack_mw=res.p_slack_mw,
                           q_slack_mvar=res.q_slack_mvar, converged=res.converged, vm_cp_pu=vm_cp, **extra)
