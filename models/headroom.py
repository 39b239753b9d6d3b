"""Per-node headroom, as California's Integration Capacity Analysis and the UK DNOs' capacity maps give it: the
extra load (kW) and the extra generation (kW) one bus can take, on top of given steps of the feeder, before a
limit breaks, and which limit breaks first.

For every bus at once, the extra power at unity power factor is found by bisection on the feeder's power flow
(the fast exact solver, `feeders/powerflow/balanced.FastSolver`, all buses and steps in one call per
iteration): a bus holds `x` kW when every step, with `x` added at that bus alone, keeps every bus inside
[v_min_pu, v_max_pu] at every step (the band's limits, `models/limits.py`, every value), every line at or below
`line_loading_pct` and the transformer at or below `trafo_loading_pct`, and the power flow converges. The
headroom is the largest such `x` to within `tol_kw`, at most `max_kw` (a bus that holds `max_kw` is reported
at `max_kw` with limit `none`); a bus that breaks a limit already without extra power has headroom 0 with that
limit. The limit is the first broken at the bisection's upper end, in the order undervoltage, overvoltage,
line, transformer, non-converged (`undervoltage bus 12`, `line 3`, `trafo 0`)."""
from dataclasses import dataclass

import numpy as np

from hostcap.models.reinforcement import Limits

MAX_KW = 1000.0  # more than an LV connection takes (a 630 kVA transformer's whole rating is 630 kW at pf 1)
TOL_KW = 0.1


@dataclass(frozen=True)
class Headroom:
    kw: np.ndarray  # (n_buses,) extra power each bus takes
    limit: list[str]  # what breaks first at each bus


def _broken(res, limits: Limits, bus_names: np.ndarray, line_names: np.ndarray, trafo_names: np.ndarray
            ) -> np.ndarray:
    """Per row of a flow result: the first limit broken ('' if none)."""
    out = np.full(len(res.vm_pu), "", dtype=object)
    checks = [(res.vm_pu < limits.v_min_pu, "undervoltage bus", bus_names),
              (res.vm_pu > limits.v_max_pu, "overvoltage bus", bus_names),
              (res.line_loading_pct > limits.line_loading_pct, "line", line_names),
              (res.trafo_loading_pct > limits.trafo_loading_pct, "trafo", trafo_names)]
    for over, what, names in reversed(checks):  # the first in the list wins
        hit = over.any(axis=1)
        out[hit] = [f"{what} {names[j]}" for j in over[hit].argmax(axis=1)]
    out[~res.converged] = "nonconverged"
    return out


def bus_headroom(solver, p_mw: np.ndarray, q_mvar: np.ndarray, buses: np.ndarray, limits: Limits,
                 generation: bool = False, *, names: tuple[np.ndarray, np.ndarray, np.ndarray],
                 max_kw: float = MAX_KW, tol_kw: float = TOL_KW) -> Headroom:
    """Headroom of the buses at positions `buses` (of the net's bus order) on the steps `p_mw`, `q_mvar` (T x
    n_bus, load sign), for extra load or, with `generation`, extra generation; `solver`: a FastSolver of the
    feeder; `names`: the bus, line and transformer indices of the net, for the limits' names."""
    n_b, n_t = len(buses), len(p_mw)
    rows_bus = np.repeat(np.arange(n_b), n_t)
    base_p, base_q = np.tile(p_mw, (n_b, 1)), np.tile(q_mvar, (n_b, 1))
    sign = -1.0 if generation else 1.0

    def limit_at(x_kw: np.ndarray) -> np.ndarray:
        """Per bus: the first limit broken at any step with x_kw added there ('' if none)."""
        p = base_p.copy()
        p[np.arange(n_b * n_t), buses[rows_bus]] += sign * x_kw[rows_bus] * 1e-3
        broken = _broken(solver.solve(p, base_q), limits, *names).reshape(n_b, n_t)
        first = np.argmax(broken != "", axis=1)
        return np.where((broken != "").any(axis=1), broken[np.arange(n_b), first], "")

    at_zero = limit_at(np.zeros(n_b))
    # bracket by doubling from 1 kW, so that no bus is asked far beyond its limit (where the power flow
    # diverges and each row is handed to pandapower), then bisect
    lo, hi = np.zeros(n_b), np.full(n_b, np.nan)
    limit = np.full(n_b, "none", dtype=object)
    x = np.ones(n_b)
    open_ = at_zero == ""
    while open_.any():
        x = np.minimum(x, max_kw)
        found = limit_at(np.where(open_, x, 0.0))
        breaks = open_ & (found != "")
        hi[breaks], limit[breaks] = x[breaks], found[breaks]
        holds = open_ & (found == "")
        lo[holds] = x[holds]
        open_ = holds & (x < max_kw)
        x = 2 * x
    todo = np.isfinite(hi)
    while todo.any() and (hi - lo)[todo].max() > tol_kw:
        mid = np.where(todo, (lo + hi) / 2, 0.0)
        found = limit_at(mid)
        breaks = todo & (found != "")
        hi[breaks], limit[breaks] = mid[breaks], found[breaks]
        holds = todo & (found == "")
        lo[holds] = mid[holds]
        todo = todo & (hi - lo > tol_kw)
    kw = np.where(at_zero != "", 0.0, lo)
    limit = np.where(at_zero != "", at_zero, limit)
    return Headroom(kw, list(limit))
