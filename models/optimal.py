"""`v2g_optimal`: the bound a perfect aggregator reaches. Not a controller: it knows the future.

One programme per day (Clarabel's interior point, `solve_qp`), each over the day plus `LOOKAHEAD_H` hours so
that the night's charging sees the next morning's departures; the day's part of the solution is kept and the
next day starts from its final energies. Perfect foresight of the feeder's no-EV demand (households, PV and
losses, from the no-EV power flow), of every trip and of prices.

The aggregator sets each EV's power once per `setpoint_h` (default 1 h, the day-ahead market's time unit), and
over the look-ahead once per `LOOKAHEAD_BLOCK_H`: one setpoint per charging session within each such block
(constant over the stretch of the block that the EV is plugged in; a trip inside the block ends a session
and the return starts a new one, with its own setpoint). The peak and reverse-flow limits hold at every
step. So this is the bound for an aggregator that dispatches hourly. On the default feeder (winter week,
100 % EVs, all bidirectional) the week's programmes take 0.63 s and plan a peak of 87.5 kW; quarter-hour
setpoints plan 82.9 kW in 3.0 s (30 min: 84.7 kW, 1.3 s; measured 2026-11-28 evening; as linear programmes
solved by HiGHS: 1.13, 5.41 and 2.13 s for 87.4, 82.8 and 84.6 kW, see below). The programme's step rows use
one summed power per block for the EVs plugged in all through it, so each row holds a few columns rather
than one per EV (this halved the solve time).

Every programme has a solution: charging at full power whenever plugged in, up to the capacity, meets all
its constraints (the floors come from that schedule or from a lower one). Until 2026-11-28 one setpoint held
over all of an EV's plugged steps in a block, and an EV back from a trip inside it could leave the day's
programme without one (the setpoint had to stay low before the trip, at the capacity, and high after it):
1 sample in 20 at 50 % EVs over a year of the rural feeder failed so.

Objective: the transformer's peak import first, energy cost second (the priced tariff's price per kWh, or without
one the price level + 1, weighted by `COST_WEIGHT`, small enough not to trade peak for cost), and third
`FLAT_WEIGHT` times the sum of every session's squared charging and discharging power (kW^2). Without the third term
the programme is linear and has many optimal schedules (which EV charges when, at the same peak and cost): a solver
returns one of them, and which one moved with the last digits of its inputs (HiGHS: a perturbation of 1e-10 in the
limits moved schedules by up to 6 kW; two versions of this tool whose no-EV power flows differ by 1.3e-10 kW gave
year-long runs of the rural feeder at 100 % EVs that differ by up to 4.8 points of line loading, 0.0064 pu of the
lowest voltage and 341 kWh of V2G discharge; HiGHS's and this programme's schedules differ by 13 % of the year's V2G
discharge in a rural sample at 100 % EVs, both optimal day by day). The strictly convex third term makes the optimum
unique: the flattest schedule among those of least peak and cost, which also cycles the batteries least (an
aggregator's preference: cycling wears them), and which any QP solver reproduces to its tolerance. Measured on 14 of
the rural feeder's daily programmes at 100 % EVs and 14 of the semi-urban feeder's at 50 % (2026-11-28): the peak
equals the linear programme's within 1.2e-7 kW, the energy cost is at most 0.9 % above its, and a perturbation of
1e-10 in the limits moves the schedule by at most 9e-6 kW (with `FLAT_WEIGHT` = 1e-5 the energy cost rose by up to
14 % and the peak by 1.5e-4 kW). Over a day plus the look-ahead each day's peak is the least possible; over a week
or a year another tie-break can leave the batteries in other states at midnight, so the run's peak differs by tenths
of a kW (winter week above: 87.5 against HiGHS's 87.4 kW). Clarabel, without iterative refinement, is faster than
HiGHS was on the linear programme: a year of one sample's programmes took 34.9 against 41.3 s (rural feeder, 100 %
EVs) and 12.2 against 14.5 s (semi-urban, 50 %); all 3,660 programmes of ten rural samples at 100 % EVs over a year
were solved (22-44 iterations).

Constraints per EV: charger ratings while plugged in (discharge only for bidirectional EVs, and within the meter's
export limit when there is one), energy balance with the efficiencies and trips, energy at each setpoint boundary
between a floor and the capacity (floor: reserve plus next trip, relaxed to what uncontrolled charging would reach),
at every departure between the departure target (the target, or what uncontrolled charging reaches if less, and at
least the trip's energy) and the capacity, and at the end of each window at least the target (or what uncontrolled
charging reaches). EV discharge never takes the transformer below -trafo_export_limit_kw, and never adds to reverse
flow that PV causes. Losses caused by EV power are not in the programme (the no-EV losses are), so the co-simulated
peak and reverse flow can differ from the programme's by them (on SimBench semiurb4 in July: 0.1 kW of reverse flow
where the programme planned 0).
"""
import clarabel
import numpy as np
from scipy import sparse

from hostcap.models.errors import InputError
from hostcap.models.fleet import Fleet
from hostcap.models.mobility import Mobility

LOOKAHEAD_H = 12.0
LOOKAHEAD_BLOCK_H = 3.0
COST_WEIGHT = 1e-4
FLAT_WEIGHT = 1e-6


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
                 meter_room_kw: np.ndarray | None, block_starts: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One programme over steps t0 .. t0+n-1, each EV's power constant over each stretch of a block that it
    is plugged in (a session; blocks start at the window's steps `block_starts`, the first 0; default: every
    step). Returns (power per step and EV, kW, >0 charging; energy at the start of each block, and at the
    end). other_kw, price: per step of the window; meter_room_kw: per step and EV, the most the EV may
    discharge under the meter's export limit (None: no limit)."""
    m = fleet.n
    starts = np.arange(n) if block_starts is None else np.asarray(block_starts)
    B = len(starts)
    blk = np.searchsorted(starts, np.arange(n), side="right") - 1  # block of each step
    plugged = mob.plugged[t0:t0 + n]  # (n, m)
    departs = mob.departs[t0:t0 + n]
    asap = uncontrolled_energy(fleet, mob, e0_kwh, t0, n, dt_h)  # (n+1, m)
    most = uncontrolled_energy(fleet, mob, e0_kwh, t0, n, dt_h, fleet.capacity_kwh)
    # a trip takes what the battery holds, at most all of it (as `fleet.depart`): the programme holds at
    # least the trip's energy at departure, or, where even a full charge cannot, the full charge
    trip = np.where(departs, np.minimum(mob.trip_kwh[t0:t0 + n], most[:-1]), 0.0)
    at_departure = np.maximum(np.minimum(fleet.target_kwh, asap[:-1]), trip)
    cum_trip = np.concatenate([np.zeros((1, m)), np.cumsum(trip, axis=0)])
    trip_before = cum_trip[:-1] - cum_trip[starts[blk]]  # per step: the trips of its block before it

    # sessions: the stretches of a block an EV is plugged in, in order of block, EV and first step; a
    # departure ends one (also where the EV is plugged again at once)
    first = np.zeros(n, bool)
    first[starts] = True
    prev = np.vstack([np.zeros((1, m), bool), plugged[:-1]])
    st0, sv = np.nonzero(plugged & (first[:, None] | ~prev | departs))
    order = np.lexsort((st0, sv, blk[st0]))
    st0, sv = st0[order], sv[order]
    ns = len(st0)
    ids = np.full((n, m), -1)
    ids[st0, sv] = np.arange(ns)  # per EV, later sessions have larger numbers: carry each over its steps
    session = np.where(plugged, np.maximum.accumulate(ids, axis=0), -1)  # (n, m)
    pt, pv = np.nonzero(plugged)
    ps = session[pt, pv]
    n_plug = np.bincount(ps, minlength=ns)  # steps plugged in per session
    g = n_plug * dt_h
    sb = blk[st0]  # block of each session
    dis = np.full(ns, np.inf)
    room = fleet.p_dis_max_kw[pv]
    if meter_room_kw is not None:
        room = np.minimum(room, meter_room_kw[pt, pv])
    np.minimum.at(dis, ps, room)  # constant over the session: within every plugged step's room

    # variable layout: c[s], d[s] per session, e[b, v] (b = 0..B, energy at each block's start), z, then f[b]:
    # the summed power of the EVs plugged in through all of block b (few columns per step row keep it sparse)
    ie0, iz = 2 * ns, 2 * ns + (B + 1) * m
    i_f = iz + 1
    n_var = i_f + B
    lb, ub = np.zeros(n_var), np.zeros(n_var)
    ub[:ns], ub[ns:2 * ns] = fleet.p_ch_max_kw[sv], dis
    edge = np.append(starts, n)
    floor = np.minimum(fleet.reserve_kwh + mob.next_trip_kwh[t0 + edge], asap[edge])
    floor[-1] = np.maximum(floor[-1], np.minimum(fleet.target_kwh, asap[n]))
    e_lb = np.minimum(floor, fleet.capacity_kwh)
    e_ub = np.broadcast_to(fleet.capacity_kwh, e_lb.shape).copy()
    e_lb[0] = e_ub[0] = e0_kwh
    lb[ie0:iz], ub[ie0:iz] = e_lb.ravel(), np.maximum(e_ub, e_lb).ravel()
    lb[iz:], ub[iz:] = -np.inf, np.inf

    # energy balance per block and EV: e[b+1] - e[b] - sum over its sessions (eta_ch c - d / eta_dis) g
    # = -trips of the block
    nb = B * m
    rows = np.arange(nb)
    s_row, s_idx = sb * m + sv, np.arange(ns)
    a_eq = sparse.csr_matrix((np.concatenate([np.ones(nb), -np.ones(nb), -fleet.eta_ch[sv] * g, g / fleet.eta_dis[sv]]),
                              (np.concatenate([rows, rows, s_row, s_row]),
                               np.concatenate([ie0 + m + rows, ie0 + rows, s_idx, ns + s_idx]))), shape=(nb, n_var))
    b_eq = -np.add.reduceat(trip, starts, axis=0).ravel()

    # at each departure, the energy then: e[b] + the sessions of its block before it - trips of the block
    # before it lies between the departure floor and the capacity
    dt_, dv = np.nonzero(departs)
    n_dep = len(dt_)
    code = (sb * m + sv) * (n + 1) + st0  # sessions are sorted by it
    lo = np.searchsorted(code, (blk[dt_] * m + dv) * (n + 1))
    hi = np.searchsorted(code, (blk[dt_] * m + dv) * (n + 1) + dt_)
    k = hi - lo
    row = np.repeat(np.arange(n_dep), k)
    s = np.repeat(lo - np.cumsum(k) + k, k) + np.arange(k.sum())
    vs = sv[s]
    dep_rows = sparse.csr_matrix((np.concatenate([np.ones(n_dep), fleet.eta_ch[vs] * g[s], -g[s] / fleet.eta_dis[vs]]),
                                  (np.concatenate([np.arange(n_dep), row, row]),
                                   np.concatenate([ie0 + blk[dt_] * m + dv, s, ns + s]))), shape=(n_dep, n_var))
    dep_low = at_departure[dt_, dv] + trip_before[dt_, dv]
    dep_high = fleet.capacity_kwh[dv] + trip_before[dt_, dv]

    # f[b] - sum of (c - d) of the sessions that last all of block b = 0
    lasts = n_plug == np.diff(edge)[sb]
    whole = np.flatnonzero(lasts)
    f_rows = sparse.csr_matrix((np.concatenate([np.ones(B), -np.ones(len(whole)), np.ones(len(whole))]),
                                (np.concatenate([np.arange(B), sb[whole], sb[whole]]),
                                 np.concatenate([i_f + np.arange(B), whole, ns + whole]))), shape=(B, n_var))
    # per step, the fleet: f of its block plus the sessions that do not last all of it; peak: fleet - z <=
    # -other; reverse flow: -fleet <= -min(0, -limit - other)
    at = ~lasts[ps]
    pt_, ps_ = pt[at], ps[at]
    fleet_step = sparse.csr_matrix((np.concatenate([np.ones(len(pt_)), -np.ones(len(pt_)), np.ones(n)]),
                                    (np.concatenate([pt_, pt_, np.arange(n)]),
                                     np.concatenate([ps_, ns + ps_, i_f + blk]))), shape=(n, n_var))
    z_col = sparse.csr_matrix((-np.ones(n), (np.arange(n), np.full(n, iz))), shape=(n, n_var))
    a_ub = sparse.vstack([fleet_step + z_col, -fleet_step, -dep_rows, dep_rows]).tocsr()
    a_eq = sparse.vstack([a_eq, f_rows]).tocsr()
    b_eq = np.concatenate([b_eq, np.zeros(B)])
    b_ub = np.concatenate([-other_kw, -np.minimum(0.0, -trafo_export_limit_kw - other_kw), -dep_low, dep_high])

    cost = np.zeros(n_var)
    priced = np.bincount(ps, weights=price[pt], minlength=ns) * dt_h * COST_WEIGHT
    cost[:ns], cost[ns:2 * ns], cost[iz] = priced, -priced, 1.0
    quad = np.zeros(n_var)
    quad[:2 * ns] = 2.0 * FLAT_WEIGHT  # the objective's FLAT_WEIGHT * sum of c^2 + d^2
    x = solve_qp(cost, quad, a_ub=a_ub, b_ub=b_ub, a_eq=a_eq, b_eq=b_eq, lb=lb, ub=ub)
    p = np.zeros((n, m))
    p[pt, pv] = (x[:ns] - x[ns:2 * ns])[ps]
    return p, x[ie0:iz].reshape(B + 1, m)


def solve_qp(cost: np.ndarray, quad: np.ndarray, *, a_ub, b_ub: np.ndarray, a_eq, b_eq: np.ndarray,
             lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """x minimising cost.x + sum(quad x^2) / 2 subject to a_ub x <= b_ub, a_eq x = b_eq and lb <= x <= ub,
    by Clarabel's interior point (one thread), solved or almost (within Clarabel's reduced tolerances);
    variables with lb == ub are equalities."""
    n = len(cost)
    eye = sparse.identity(n, format="csr")
    fixed = lb == ub
    up, low = np.flatnonzero(np.isfinite(ub) & ~fixed), np.flatnonzero(np.isfinite(lb) & ~fixed)
    a = sparse.vstack([a_eq, eye[fixed], a_ub, eye[up], -eye[low]]).tocsc()
    b = np.concatenate([b_eq, ub[fixed], b_ub, ub[up], -lb[low]])
    n_eq = a_eq.shape[0] + int(fixed.sum())
    settings = clarabel.DefaultSettings()
    settings.verbose, settings.max_threads, settings.iterative_refinement_enable = False, 1, False
    solution = clarabel.DefaultSolver(sparse.diags(quad, format="csc"), cost, a, b,
                                      [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(a.shape[0] - n_eq)],
                                      settings).solve()
    if solution.status not in (clarabel.SolverStatus.Solved, clarabel.SolverStatus.AlmostSolved):
        raise InputError(f"v2g_optimal: the day's programme has no solution ({solution.status})")
    return np.asarray(solution.x)


def optimal_schedule(fleet: Fleet, mob: Mobility, *, other_kw: np.ndarray, price: np.ndarray, n_steps: int,
                     dt_h: float, trafo_export_limit_kw: float = 0.0, household_net_kw: np.ndarray | None = None,
                     export_limit_kw: float | None = None, setpoint_h: float = 1.0) -> np.ndarray:
    """EV power (n_steps, n_ev), kW, >0 charging, solved day by day. other_kw: no-EV transformer import
    per step of the run; household_net_kw (n_steps, n_ev): each EV's home net demand, for the meter;
    setpoint_h: how often the aggregator sets each EV's power (a multiple of the step dividing a day)."""
    steps_per_day = int(round(24.0 / dt_h))
    look = int(round(LOOKAHEAD_H / dt_h))
    block, look_block = (max(1, int(round(h / dt_h))) for h in (setpoint_h, LOOKAHEAD_BLOCK_H))
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
                                 price=price[t0:t0 + n], dt_h=dt_h,
                                 trafo_export_limit_kw=trafo_export_limit_kw, meter_room_kw=room,
                                 block_starts=np.concatenate([np.arange(0, keep, block),
                                                              np.arange(keep, n, look_block)]))
        out[t0:t0 + keep] = p[:keep]
        e = energy[keep // block]
    return out
