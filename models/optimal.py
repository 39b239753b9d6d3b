"""`v2g_optimal`: the bound a perfect aggregator reaches. Not a controller: it knows the future.

One programme (Clarabel's interior point, `solve_qp`) over the whole run, or over windows of `WINDOW_DAYS` days
for longer runs, plus `LOOKAHEAD_H` hours beyond in which only the departures count (no peak or reverse-flow
limit holds there, so the next morning's departures are met without charging into the run's last evening
more than needed). Perfect foresight of the feeder's no-EV demand (households, PV, home batteries and losses,
from the no-EV power flow), of every trip and of prices. Each EV's power may change every step by default:
then no schedule of the same EVs and trips that keeps the same energy limits has a lower peak of no-EV demand
plus EV power (a test writes the same sessions, `session_table`, as an LP of its own and gets the same peak;
every strategy's peak lies above it). With `setpoint_h` (a study's `optimal_setpoint_min`) each EV's power
is constant over each stretch of a setpoint interval that it is plugged in (one setpoint per charging
session and interval): the bound for an aggregator that dispatches that often, which quarter-hour strategies
may undercut. On the default feeder's winter week (100 % EVs, half bidirectional) hourly setpoints take
about 2.5 s and plan 81.7 kW; quarter-hour setpoints about 60 s and 76.8 kW (2 cores, one other busy
process). Sessions that last a whole interval share one summed power per interval in the step rows, which
keeps hourly programmes sparse.

Objective: the transformer's peak import over the run's steps first; second, weighted by `COST_WEIGHT`
(small enough not to trade peak for it), the energy cost at the priced tariff's import price (none without a
priced tariff: an ordinal price level is no cost) plus the battery wear of every kWh discharged
(`models/wear.discharge_wear_cost`, about 0.03 USD/kWh for the default cell; added to the tariff's
currency at par), so the EVs discharge for the peak and for arbitrage that pays for its wear, never for
nothing; third `FLAT_WEIGHT` times the sum of every session's squared charging and discharging power (kW^2),
which makes the optimum unique (the flattest schedule among those of least peak and cost; without it a linear
programme has many optima and a solver returns one that moves with the last digits of its inputs) and
reproducible by any QP solver to its tolerance.

Constraints per EV: charger ratings while plugged in (discharge only for bidirectional EVs, and within the
meter's export limit when there is one), energy balance with the efficiencies and trips, while plugged in the
energy at every setpoint boundary between a floor and the capacity (floor: reserve plus the next trip,
relaxed to what uncontrolled charging would hold then, `session_floors`), at every departure between the
departure target (the target, or what uncontrolled charging reaches if less, and at least the trip's energy)
and the capacity, and at the end of the window, for an EV still plugged in, at least the target (or what
uncontrolled charging reaches). Every programme has a solution: charging at full power whenever plugged in
meets all of them. EV discharge never takes the transformer below -trafo_export_limit_kw, and never adds to
reverse flow that PV causes. Losses caused by EV power are not in the programme (the no-EV losses are), so
the co-simulated peak and reverse flow differ from the programme's by them.
"""
import clarabel
import numpy as np
from scipy import sparse

from hostcap.models.errors import ModelError
from hostcap.models.fleet import Fleet
from hostcap.models.mobility import Mobility

LOOKAHEAD_H = 12.0
WINDOW_DAYS = 7
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


def departure_limits(fleet: Fleet, mob: Mobility, *, e0_kwh: np.ndarray, t0: int, n: int, dt_h: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(asap: energy at the start of each step t0 .. t0+n charging at full power to the target, (n+1, m);
    trip: each departure's energy, at most what a full charge holds (a trip takes what the battery holds, as
    `fleet.depart`), (n, m); at_departure: the least energy at each departure, the target or what uncontrolled
    charging reaches if less, and at least the trip, (n, m))."""
    asap = uncontrolled_energy(fleet, mob, e0_kwh, t0, n, dt_h)
    most = uncontrolled_energy(fleet, mob, e0_kwh, t0, n, dt_h, fleet.capacity_kwh)
    trip = np.where(mob.departs[t0:t0 + n], np.minimum(mob.trip_kwh[t0:t0 + n], most[:-1]), 0.0)
    return asap, trip, np.maximum(np.minimum(fleet.target_kwh, asap[:-1]), trip)


def session_floors(fleet: Fleet, mob: Mobility, asap: np.ndarray, *, t0: int, n: int, edge: np.ndarray) -> np.ndarray:
    """Least energy at the window's steps `edge` (0 .. n) per EV: while plugged in, reserve plus the next
    trip, relaxed to what uncontrolled charging holds then (`asap`, from `uncontrolled_energy`); at the
    window's end, for an EV still plugged in, at least its target or what uncontrolled charging reaches;
    0 while away."""
    plugged = mob.plugged[t0:t0 + n]
    at = np.vstack([plugged, plugged[-1:]])[edge]  # at the end: plugged in the window's last step
    floor = np.where(at, np.minimum(fleet.reserve_kwh + mob.next_trip_kwh[t0 + edge], asap[edge]), 0.0)
    if edge[-1] == n:
        floor[-1] = np.where(plugged[-1], np.maximum(floor[-1], np.minimum(fleet.target_kwh, asap[n])), 0.0)
    return floor


def solve_window(fleet: Fleet, mob: Mobility, *, e0_kwh: np.ndarray, t0: int, n: int, other_kw: np.ndarray,
                 price: np.ndarray, dt_h: float, trafo_export_limit_kw: float,
                 meter_room_kw: np.ndarray | None, block_starts: np.ndarray | None = None,
                 wear_cost_per_kwh: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One programme over steps t0 .. t0+n-1, each EV's power constant over each stretch of a block that it
    is plugged in (a session; blocks start at the window's steps `block_starts`, the first 0; default: every
    step). Returns (power per step and EV, kW, >0 charging; energy at the start of each block, and at the
    end). other_kw, price: per step of the window (other_kw NaN: a step beyond the run, where no peak or
    reverse-flow limit holds); meter_room_kw: per step and EV, the most the EV may discharge under the meter's
    export limit (None: no limit); wear_cost_per_kwh: the battery wear each kWh discharged costs."""
    m = fleet.n
    starts = np.arange(n) if block_starts is None else np.asarray(block_starts)
    B = len(starts)
    blk = np.searchsorted(starts, np.arange(n), side="right") - 1  # block of each step
    plugged = mob.plugged[t0:t0 + n]  # (n, m)
    departs = mob.departs[t0:t0 + n]
    asap, trip, at_departure = departure_limits(fleet, mob, e0_kwh=e0_kwh, t0=t0, n=n, dt_h=dt_h)
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
    # floors hold while plugged in (a session's steps): at the edge's step, and at the window's end for a
    # session still going on then (`session_floors`)
    floor = session_floors(fleet, mob, asap, t0=t0, n=n, edge=edge)
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
    run = np.flatnonzero(np.isfinite(other_kw))  # the peak and reverse-flow limits hold on these steps
    a_ub = sparse.vstack([(fleet_step + z_col)[run], -fleet_step[run], -dep_rows, dep_rows]).tocsr()
    a_eq = sparse.vstack([a_eq, f_rows]).tocsr()
    b_eq = np.concatenate([b_eq, np.zeros(B)])
    b_ub = np.concatenate([-other_kw[run], -np.minimum(0.0, -trafo_export_limit_kw - other_kw[run]), -dep_low,
                           dep_high])

    cost = np.zeros(n_var)
    priced = np.bincount(ps, weights=price[pt], minlength=ns) * dt_h * COST_WEIGHT
    cost[:ns], cost[ns:2 * ns], cost[iz] = priced, -priced + wear_cost_per_kwh * g * COST_WEIGHT, 1.0
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
        raise ModelError(f"v2g_optimal: the day's programme has no solution ({solution.status})")
    return np.asarray(solution.x)


def optimal_schedule(fleet: Fleet, mob: Mobility, *, other_kw: np.ndarray, price: np.ndarray | None, n_steps: int,
                     dt_h: float, trafo_export_limit_kw: float = 0.0, household_net_kw: np.ndarray | None = None,
                     export_limit_kw: float | None = None, setpoint_h: float | None = None,
                     wear_cost_per_kwh: float = 0.0) -> np.ndarray:
    """EV power (n_steps, n_ev), kW, >0 charging: one programme per window of at most `WINDOW_DAYS` days (the
    whole run for runs up to a week) plus `LOOKAHEAD_H` hours in which only the departures count. other_kw:
    no-EV transformer import per step of the run; price: the priced tariff's import price per step of the
    horizon, or None (no energy cost); household_net_kw (n_steps, n_ev): each EV's home net demand, for the
    meter; setpoint_h: how often each EV's power may change (default: every step, the bound; a multiple of the
    step dividing a day); wear_cost_per_kwh: what each kWh discharged costs in battery wear."""
    steps_per_day = int(round(24.0 / dt_h))
    look = int(round(LOOKAHEAD_H / dt_h))
    block = 1 if setpoint_h is None else max(1, int(round(setpoint_h / dt_h)))
    horizon = mob.plugged.shape[0]
    out = np.zeros((n_steps, fleet.n))
    e = fleet.initial_e_kwh.copy()
    if fleet.n == 0:
        return out
    price = np.zeros(horizon) if price is None else price
    for t0 in range(0, n_steps, WINDOW_DAYS * steps_per_day):
        keep = min(WINDOW_DAYS * steps_per_day, n_steps - t0)
        n = min(keep + look, horizon - t0 - 1)
        idx = np.minimum(np.arange(t0, t0 + n), n_steps - 1)  # beyond the run: its last values
        room = None
        if export_limit_kw is not None and household_net_kw is not None:
            room = np.maximum(household_net_kw[idx] + export_limit_kw, 0.0) * fleet.home_share
        other = np.where(np.arange(n) < keep, other_kw[idx], np.nan)
        p, energy = solve_window(fleet, mob, e0_kwh=e, t0=t0, n=n, other_kw=other, price=price[t0:t0 + n],
                                 dt_h=dt_h, trafo_export_limit_kw=trafo_export_limit_kw, meter_room_kw=room,
                                 block_starts=np.concatenate([np.arange(0, keep, block), np.arange(keep, n, block)]),
                                 wear_cost_per_kwh=wear_cost_per_kwh)
        out[t0:t0 + keep] = p[:keep]
        e = energy[len(np.arange(0, keep, block))]  # at the start of the look-ahead
    return out


def session_table(fleet: Fleet, mob: Mobility, *, n_steps: int, e_kwh: np.ndarray,
                  dt_h: float) -> dict[str, np.ndarray]:
    """One row per EV and plug-in session that starts in the run: the constants of the programme's first window
    (the run plus `LOOKAHEAD_H`; a run of up to `WINDOW_DAYS` days is one window), so that anyone can set up the
    same bound, and the energy each session started with in a run whose stored energy at the end of each step
    is `e_kwh` (n_steps, n_ev). A session holds the steps from `start` up to, not including, `end` (a
    departure, or the window's end). `e_required_kwh`: the least energy at its end (the target, or what
    uncontrolled charging reaches if less, and at least the trip, or the full charge where less; at the
    window's end the target or what uncontrolled charging reaches); `trip_kwh_after`: the energy of the trip
    at its departure (0 if none in the horizon); `e_min_kwh`: reserve plus that trip, the floor while plugged
    in (relaxed to what uncontrolled charging holds, `session_floors`)."""
    steps_per_day = int(round(24.0 / dt_h))
    n = min(min(n_steps, WINDOW_DAYS * steps_per_day) + int(round(LOOKAHEAD_H / dt_h)), mob.plugged.shape[0] - 1)
    plugged, departs = mob.plugged[:n], mob.departs[:n]
    prev = np.vstack([np.zeros((1, fleet.n), bool), plugged[:-1]])
    start, ev = np.nonzero(plugged & (~prev | departs))
    keep = start < n_steps
    start, ev = start[keep], ev[keep]
    # the end: the first step after the start at which the EV leaves or is away, else the window's end
    away = ~plugged | departs
    nxt = np.full((n + 1, fleet.n), n)
    for t in range(n - 1, -1, -1):  # next step >= t at which the EV is away, per EV (vectorised over EVs)
        nxt[t] = np.where(away[t], t, nxt[t + 1])
    end = nxt[np.minimum(start + 1, n), ev]
    asap, _, at_departure = departure_limits(fleet, mob, e0_kwh=fleet.initial_e_kwh, t0=0, n=n, dt_h=dt_h)
    at_end = session_floors(fleet, mob, asap, t0=0, n=n, edge=np.array([n]))[0]  # a session cut by the window
    required = np.where(end < n, at_departure[np.minimum(end, n - 1), ev], at_end[ev])
    after = mob.next_trip_kwh[start, ev]  # the trip at the session's departure, inside the window or not
    before = np.vstack([fleet.initial_e_kwh[None], e_kwh])[start, ev]
    arrival = before - np.where(departs[start, ev], np.minimum(mob.trip_kwh[start, ev], before), 0.0)
    return {"ev": ev, "start": start, "end": end, "e_arrival_kwh": arrival, "e_required_kwh": required,
            "trip_kwh_after": after, "e_min_kwh": fleet.reserve_kwh[ev] + after}
