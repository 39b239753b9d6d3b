"""`v2g_optimal`: the bound a perfect aggregator reaches. Not a controller: it knows the future.

One linear programme per day (HiGHS interior point, `scipy.optimize.linprog(method="highs-ipm")`), each over
the day plus `LOOKAHEAD_H` hours so that the night's charging sees the next morning's departures; the day's part
of the solution is kept and the next day starts from its final energies. Perfect foresight of the
feeder's no-EV demand (households, PV and losses, from the no-EV power flow), of every trip and of prices.

Objective: the transformer's peak import first, energy cost second (price level + 1 per kWh, weighted by
`COST_WEIGHT`, small enough not to trade peak for cost). Constraints per EV and step: charger ratings
while plugged in (discharge only for bidirectional EVs, and within the meter's export limit when there is
one), energy balance with the efficiencies and trips, energy between a floor and the capacity (floor:
reserve plus next trip, relaxed to what uncontrolled charging would reach), the departure target at every
departure (the target, or what uncontrolled charging reaches if less, and at least the trip's energy), and
at the end of each window at
least the target (or what uncontrolled charging reaches). EV discharge never takes the transformer below
-trafo_export_limit_kw, and never adds to reverse flow that PV causes. Losses caused by EV power are not
in the programme (the no-EV losses are), so the co-simulated peak and reverse flow can differ from the
programme's by them (on SimBench semiurb4 in July: 0.1 kW of reverse flow where the programme planned 0).
"""
import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from hostcap.models.errors import InputError
from hostcap.models.fleet import Fleet
from hostcap.models.mobility import Mobility

LOOKAHEAD_H = 12.0
COST_WEIGHT = 1e-4


def uncontrolled_energy(fleet: Fleet, mob: Mobility, e0_kwh: np.ndarray, t0: int, n: int, dt_h: float,
                        to_kwh: np.ndarray | None = None) -> np.ndarray:
    """Energy at the start of steps t0 .. t0+n (n+1 rows) charging at full power whenever plugged in, up to
    `to_kwh` (default: the departure target; the capacity gives the most energy an EV can have)."""
    to_kwh = fleet.target_kwh if to_kwh is None else to_kwh
    e = np.empty((n + 1, fleet.n))
    e[0] = e0_kwh
    for k in range(n):
        t = t0 + k
        x = e[k] - np.where(mob.departs[t], np.minimum(mob.trip_kwh[t], e[k]), 0.0)
        up = np.minimum(fleet.eta_ch * fleet.p_ch_max_kw * dt_h, np.maximum(to_kwh - x, 0.0))
        e[k + 1] = x + np.where(mob.plugged[t], up, 0.0)
    return e


def solve_window(fleet: Fleet, mob: Mobility, *, e0_kwh: np.ndarray, t0: int, n: int, other_kw: np.ndarray,
                 price: np.ndarray, dt_h: float, trafo_export_limit_kw: float,
                 meter_room_kw: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One programme over steps t0 .. t0+n-1. Returns (power per step and EV, kW, >0 charging; energy at the
    start of each step t0 .. t0+n). other_kw, price: per step of the window; meter_room_kw: per step and EV,
    the most the EV may discharge under the meter's export limit (None: no limit)."""
    m, H = fleet.n, n
    rows = np.arange(H)
    plugged = mob.plugged[t0:t0 + H]  # (H, m)
    departs = mob.departs[t0:t0 + H]
    asap = uncontrolled_energy(fleet, mob, e0_kwh, t0, H, dt_h)  # (H+1, m)
    most = uncontrolled_energy(fleet, mob, e0_kwh, t0, H, dt_h, fleet.capacity_kwh)
    # a trip takes what the battery holds, at most all of it (as `fleet.depart`): the programme holds at
    # least the trip's energy at departure, or, where even a full charge cannot, the full charge
    trip = np.where(departs, np.minimum(mob.trip_kwh[t0:t0 + H], most[:-1]), 0.0)
    # variable layout: c[t, v], d[t, v], e[t, v] (t = 0..H), z
    nc = H * m
    ic = lambda t, v: t * m + v  # noqa: E731
    ie0 = 2 * nc
    iz = ie0 + (H + 1) * m
    n_var = iz + 1

    lb, ub = np.zeros(n_var), np.zeros(n_var)
    ub[:nc] = (fleet.p_ch_max_kw * plugged).ravel()
    dis = fleet.p_dis_max_kw * plugged
    if meter_room_kw is not None:
        dis = np.minimum(dis, meter_room_kw)
    ub[nc:2 * nc] = dis.ravel()
    floor = np.minimum(fleet.reserve_kwh + mob.next_trip_kwh[t0:t0 + H + 1], asap)
    at_departure = np.maximum(np.minimum(fleet.target_kwh, asap[:-1]), trip)
    floor[:-1] = np.where(departs, np.maximum(floor[:-1], at_departure), floor[:-1])
    floor[-1] = np.maximum(floor[-1], np.minimum(fleet.target_kwh, asap[-1]))
    e_lb, e_ub = np.minimum(floor, fleet.capacity_kwh), np.broadcast_to(fleet.capacity_kwh, floor.shape).copy()
    e_lb[0] = e_ub[0] = e0_kwh
    e_ub = np.maximum(e_ub, e_lb)
    lb[ie0:iz], ub[ie0:iz] = e_lb.ravel(), e_ub.ravel()
    lb[iz], ub[iz] = -np.inf, np.inf

    # energy balance: e[t+1] - e[t] - eta_ch dt c[t] + dt/eta_dis d[t] = -trip[t]
    t_idx, v_idx = np.meshgrid(rows, np.arange(m), indexing="ij")
    t_idx, v_idx = t_idx.ravel(), v_idx.ravel()
    r = np.arange(H * m)
    cols = np.concatenate([ie0 + (t_idx + 1) * m + v_idx, ie0 + t_idx * m + v_idx, ic(t_idx, v_idx),
                           nc + ic(t_idx, v_idx)])
    vals = np.concatenate([np.ones(H * m), -np.ones(H * m), -fleet.eta_ch[v_idx] * dt_h, dt_h / fleet.eta_dis[v_idx]])
    a_eq = sparse.csr_matrix((vals, (np.tile(r, 4), cols)), shape=(H * m, n_var))
    b_eq = -trip.ravel()

    # peak: sum_v (c - d) - z <= -other ; reverse flow: -(sum_v (c - d)) <= -min(0, -limit - other)
    fleet_rows = np.repeat(rows, m)
    fc, fd = ic(t_idx, v_idx), nc + ic(t_idx, v_idx)
    peak = sparse.csr_matrix((np.concatenate([np.ones(nc), -np.ones(nc), -np.ones(H)]),
                              (np.concatenate([fleet_rows, fleet_rows, rows]),
                               np.concatenate([fc, fd, np.full(H, iz)]))), shape=(H, n_var))
    reverse = sparse.csr_matrix((np.concatenate([-np.ones(nc), np.ones(nc)]),
                                 (np.concatenate([fleet_rows, fleet_rows]), np.concatenate([fc, fd]))),
                                shape=(H, n_var))
    a_ub = sparse.vstack([peak, reverse]).tocsr()
    b_ub = np.concatenate([-other_kw, -np.minimum(0.0, -trafo_export_limit_kw - other_kw)])

    cost = np.zeros(n_var)
    cost[:nc] = np.repeat(price, m) * dt_h * COST_WEIGHT
    cost[nc:2 * nc] = -np.repeat(price, m) * dt_h * COST_WEIGHT
    cost[iz] = 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=np.column_stack([lb, ub]),
                  method="highs-ipm")
    if res.status != 0:
        raise InputError(f"v2g_optimal: the day's programme has no solution ({res.message})")
    x = res.x
    p = (x[:nc] - x[nc:2 * nc]).reshape(H, m)
    e = x[ie0:iz].reshape(H + 1, m)
    return p, e


def optimal_schedule(fleet: Fleet, mob: Mobility, *, other_kw: np.ndarray, levels: np.ndarray, n_steps: int,
                     dt_h: float, trafo_export_limit_kw: float = 0.0, household_net_kw: np.ndarray | None = None,
                     export_limit_kw: float | None = None) -> np.ndarray:
    """EV power (n_steps, n_ev), kW, >0 charging, solved day by day. other_kw: no-EV transformer import
    per step of the run; household_net_kw (n_steps, n_ev): each EV's home net demand, for the meter."""
    steps_per_day = int(round(24.0 / dt_h))
    look = int(round(LOOKAHEAD_H / dt_h))
    horizon = mob.plugged.shape[0]
    out = np.zeros((n_steps, fleet.n))
    e = fleet.initial_e_kwh.copy()
    if fleet.n == 0:
        return out
    for t0 in range(0, n_steps, steps_per_day):
        keep = min(steps_per_day, n_steps - t0)
        n = min(keep + look, horizon - t0 - 1)
        idx = np.minimum(np.arange(t0, t0 + n), n_steps - 1)  # beyond the run: its last values
        room = None
        if export_limit_kw is not None and household_net_kw is not None:
            room = np.maximum(household_net_kw[idx] + export_limit_kw, 0.0)
        p, energy = solve_window(fleet, mob, e0_kwh=e, t0=t0, n=n, other_kw=other_kw[idx],
                                 price=levels[t0:t0 + n].astype(float) + 1.0, dt_h=dt_h,
                                 trafo_export_limit_kw=trafo_export_limit_kw, meter_room_kw=room)
        out[t0:t0 + keep] = p[:keep]
        e = energy[keep]
    return out
