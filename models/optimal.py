"""`v2g_optimal`: the bound a perfect aggregator reaches. Not a controller: it knows the future.

One linear programme per day (HiGHS interior point, `scipy.optimize.linprog(method="highs-ipm")`), each over
the day plus `LOOKAHEAD_H` hours so that the night's charging sees the next morning's departures; the day's part
of the solution is kept and the next day starts from its final energies. Perfect foresight of the
feeder's no-EV demand (households, PV and losses, from the no-EV power flow), of every trip and of prices.

The aggregator sets each EV's power once per `setpoint_h` (default 1 h, the day-ahead market's time unit;
constant over the EV's plugged-in steps of that hour), and over the look-ahead once per `LOOKAHEAD_BLOCK_H`;
the peak and reverse-flow limits hold at every step. So this is the bound for an aggregator that dispatches
hourly. On the default feeder (winter week, 100 % EVs, all bidirectional) the week's programmes took 1.3 s
and planned a peak of 87.6 kW; quarter-hour setpoints plan 82.7 kW in 7.2 s (30 min: 84.3 kW, 3.2 s).
The programme's step rows use one summed power per block for the EVs plugged in all through it, so each
row holds a few columns rather than one per EV (this halved the solve time).

Objective: the transformer's peak import first, energy cost second (the priced tariff's price per kWh, or
without one the price level + 1, weighted by `COST_WEIGHT`, small enough not to trade peak for cost). Constraints per EV: charger ratings while plugged
in (discharge only for bidirectional EVs, and within the meter's export limit when there is one), energy
balance with the efficiencies and trips, energy at each setpoint boundary between a floor and the capacity
(floor: reserve plus next trip, relaxed to what uncontrolled charging would reach), at every departure
between the departure target (the target, or what uncontrolled charging reaches if less, and at least the
trip's energy) and the capacity, and at the end of each window at least the target (or what uncontrolled
charging reaches). EV discharge never takes the transformer below -trafo_export_limit_kw, and never adds to
reverse flow that PV causes. Losses caused by EV power are not in the programme (the no-EV losses are), so
the co-simulated peak and reverse flow can differ from the programme's by them (on SimBench semiurb4 in
July: 0.1 kW of reverse flow where the programme planned 0).
"""
import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from hostcap.models.errors import InputError
from hostcap.models.fleet import Fleet
from hostcap.models.mobility import Mobility

LOOKAHEAD_H = 12.0
LOOKAHEAD_BLOCK_H = 3.0
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
                 meter_room_kw: np.ndarray | None, block_starts: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One programme over steps t0 .. t0+n-1, each EV's power constant over its plugged-in steps within
    each block (blocks start at the window's steps `block_starts`, the first 0; default: every step).
    Returns (power per step and EV, kW, >0 charging; energy at the start of each block, and at the end). other_kw, price: per step of the window; meter_room_kw: per step and EV,
    the most the EV may discharge under the meter's export limit (None: no limit)."""
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
    # per block and EV: plugged steps, and per step the plugged steps and trips of its block before it
    n_plug = np.add.reduceat(plugged.astype(float), starts, axis=0)  # (B, m)
    cum_plug = np.concatenate([np.zeros((1, m)), np.cumsum(plugged, axis=0)])
    cum_trip = np.concatenate([np.zeros((1, m)), np.cumsum(trip, axis=0)])
    plug_before = cum_plug[:-1] - cum_plug[starts[blk]]
    trip_before = cum_trip[:-1] - cum_trip[starts[blk]]

    # variable layout: c[b, v], d[b, v], e[b, v] (b = 0..B, energy at each block's start), z, then f[b]: the
    # summed power of the EVs plugged in through all of block b (few columns per step row keep it sparse)
    nb = B * m
    ie0, iz = 2 * nb, 2 * nb + (B + 1) * m
    i_f = iz + 1
    n_var = i_f + B
    lb, ub = np.zeros(n_var), np.zeros(n_var)
    ub[:nb] = (fleet.p_ch_max_kw * (n_plug > 0)).ravel()
    dis = np.where(plugged, fleet.p_dis_max_kw, np.inf)
    if meter_room_kw is not None:
        dis = np.minimum(dis, meter_room_kw)  # constant over the block: within every plugged step's room
    ub[nb:2 * nb] = np.where(n_plug > 0, np.minimum.reduceat(dis, starts, axis=0), 0.0).ravel()
    edge = np.append(starts, n)
    floor = np.minimum(fleet.reserve_kwh + mob.next_trip_kwh[t0 + edge], asap[edge])
    floor[-1] = np.maximum(floor[-1], np.minimum(fleet.target_kwh, asap[n]))
    e_lb = np.minimum(floor, fleet.capacity_kwh)
    e_ub = np.broadcast_to(fleet.capacity_kwh, e_lb.shape).copy()
    e_lb[0] = e_ub[0] = e0_kwh
    lb[ie0:iz], ub[ie0:iz] = e_lb.ravel(), np.maximum(e_ub, e_lb).ravel()
    lb[iz:], ub[iz:] = -np.inf, np.inf

    b_idx, v_idx = np.divmod(np.arange(nb), m)
    ic, idis = np.arange(nb), nb + np.arange(nb)
    # energy balance per block: e[b+1] - e[b] - eta_ch dt n_plug c + dt/eta_dis n_plug d = -trips of the block
    g = n_plug.ravel() * dt_h
    a_eq = sparse.csr_matrix((np.concatenate([np.ones(nb), -np.ones(nb), -fleet.eta_ch[v_idx] * g,
                                              g / fleet.eta_dis[v_idx]]),
                              (np.tile(np.arange(nb), 4), np.concatenate([ie0 + m + np.arange(nb),
                                                                         ie0 + np.arange(nb), ic, idis]))),
                             shape=(nb, n_var))
    b_eq = -np.add.reduceat(trip, starts, axis=0).ravel()

    # at each departure, the energy then: e[b] + (eta_ch c - d / eta_dis) dt plug_before - trip_before lies
    # between the departure floor and the capacity
    dt_, dv = np.nonzero(departs)
    q = plug_before[dt_, dv] * dt_h
    bi = blk[dt_] * m + dv
    n_dep = len(dt_)
    dep_rows = sparse.csr_matrix((np.concatenate([np.ones(n_dep), fleet.eta_ch[dv] * q, -q / fleet.eta_dis[dv]]),
                                  (np.tile(np.arange(n_dep), 3), np.concatenate([ie0 + bi, bi, nb + bi]))),
                                 shape=(n_dep, n_var))
    dep_low = at_departure[dt_, dv] + trip_before[dt_, dv]
    dep_high = fleet.capacity_kwh[dv] + trip_before[dt_, dv]

    # f[b] - sum_{v plugged all through b} (c - d) = 0
    whole = n_plug == np.diff(edge)[:, None]
    fb, fv = np.nonzero(whole)
    f_rows = sparse.csr_matrix((np.concatenate([np.ones(B), -np.ones(len(fb)), np.ones(len(fb))]),
                                (np.concatenate([np.arange(B), fb, fb]),
                                 np.concatenate([i_f + np.arange(B), fb * m + fv, nb + fb * m + fv]))),
                               shape=(B, n_var))
    # per step, the fleet: f of its block plus the EVs plugged in for part of it; peak: fleet - z <= -other;
    # reverse flow: -fleet <= -min(0, -limit - other)
    part = plugged & ~whole[blk]
    st, sv = np.nonzero(part)
    cols = blk[st] * m + sv
    fleet_step = sparse.csr_matrix((np.concatenate([np.ones(len(st)), -np.ones(len(st)), np.ones(n)]),
                                    (np.concatenate([st, st, np.arange(n)]),
                                     np.concatenate([cols, nb + cols, i_f + blk]))), shape=(n, n_var))
    z_col = sparse.csr_matrix((-np.ones(n), (np.arange(n), np.full(n, iz))), shape=(n, n_var))
    a_ub = sparse.vstack([fleet_step + z_col, -fleet_step, -dep_rows, dep_rows]).tocsr()
    a_eq = sparse.vstack([a_eq, f_rows]).tocsr()
    b_eq = np.concatenate([b_eq, np.zeros(B)])
    b_ub = np.concatenate([-other_kw, -np.minimum(0.0, -trafo_export_limit_kw - other_kw), -dep_low, dep_high])

    cost = np.zeros(n_var)
    priced = np.add.reduceat(plugged * price[:, None], starts, axis=0).ravel() * dt_h * COST_WEIGHT
    cost[:nb], cost[nb:2 * nb], cost[iz] = priced, -priced, 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=np.column_stack([lb, ub]),
                  method="highs-ipm")
    if res.status != 0:
        raise InputError(f"v2g_optimal: the day's programme has no solution ({res.message})")
    x = res.x
    p_block = (x[:nb] - x[nb:2 * nb]).reshape(B, m)
    return p_block[blk] * plugged, x[ie0:iz].reshape(B + 1, m)


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
