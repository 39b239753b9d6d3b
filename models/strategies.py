"""Charging strategies: vectorised set-points for every EV at one step (grid side, kW, >0 charging).

Each strategy returns wishes; `fleet.limit_power` then applies charger ratings and battery limits.

- `uncontrolled`: full power from plug-in until the departure target is reached.
- `smart`: time-of-use, behind the household's meter. Charge from the household's rooftop-PV surplus
  first (up to full: the surplus-charging mode of home wallboxes), then in the cheapest slots (see
  `tariff.Tariff`) that still meet the departure
  target: at each step an EV plans only the energy that the strictly cheaper slots left before its
  departure cannot deliver at full power, and spreads it over the remaining slots of the current price in
  proportion to each slot's room below the households' standard load profile (the profile's highest
  value in the run minus its value in the slot; `Feeder.standard_load_kw`, a static seasonal day-type
  mean such as a utility publishes, not a forecast of the day). So the fleet charges less in the evening
  tail of household demand and more in the small hours. Each charger also applies a randomised delay at
  the start of every price window, uniform in [0, `start_delay_max_s`] (`start_offset` x the maximum,
  drawn from the scenario's seed; default 600 s, the default of the UK Electric Vehicles (Smart Charge
  Points) Regulations 2021, reg. 11, which lets the owner raise it to 1,800 s), charging meanwhile only
  what the rest of the window could not deliver. On the default feeder (winter week, 100 % EVs, seed 0)
  an even spread peaked at 163.2 kW against 134.1 kW without EVs (the 22:00 start on the evening tail);
  the weighted spread peaks at 145.3 kW (seed 1: 134.1; seed 2: 144.5 kW; with EVs at the 113 households,
  not at the commercial customers; seed 0's peak night would take a perfect fleet-wide valley fill to
  128.9 kW: the weighting follows the seasonal mean, not that night's demand). Departure times are known to
  the controller (the user tells the charger).
- `v2g_tou`: bidirectional EVs discharge at full power during the peak window down to a floor (reserve plus the
  next trip's energy, and no lower than the target minus what can still be recharged outside the peak
  before departure), then recharge as `smart` (PV surplus first). Unidirectional EVs behave as `smart`.
- `v2h`: bidirectional EVs discharge only to cover their own household's net demand (never export), outside
  the off-peak window, above the same floor as `v2g_tou`. All EVs charge as `smart` (PV surplus first).
  With a single price (a flat tariff) there is no off-peak window and the floor is the departure target
  (nothing can be recharged more cheaply), so the EV gives back only the PV surplus it stored above its
  target: the self-consumption mode of a home battery.
- `v2g_peak_shave`: closed loop through an aggregator that reads the transformer (`models/aggregator.py`):
  every EV meets its departure target; beyond that the fleet fills the valleys below the transformer
  target and bidirectional EVs discharge to keep the import at or below it, never adding reverse flow.
- `v2g_optimal`: not a controller but a bound: the schedule of a perfect aggregator with perfect foresight
  (`models/optimal.py`, one quadratic programme over the run), played back.
- `volt_watt`: closed loop. Each charger's power follows its bus voltage on a piecewise-linear curve
  (`VoltWattCurve`) in the IEEE 1547-2018 volt-watt shape (clause 5.4.2, Table 15 defaults V1 = 1.06 pu,
  V2 = 1.10 pu), mirrored for charging loads at low voltage: full charging at or above 0.98 pu, reduced
  linearly to zero at 0.95 pu (the ANSI C84.1 Range A limit, so charging alone never pushes a bus out of
  Range A), discharging (bidirectional EVs, above reserve plus next trip) down to full discharge at
  0.92 pu. Between 1.06 and 1.10 pu EVs charge increasingly beyond their target, up to full power, to
  absorb PV surplus. Without voltage trouble it charges like `uncontrolled`. The voltage is the one the
  grid reported for the previous step (time-shifted mosaik connection); the charger's curve fraction
  moves from its last value toward the curve by `smoothing` (0.5) per step, a first-order response that
  keeps the time-shifted loop from oscillating (undamped, a feeder full of chargers backs off, sees the
  voltage recover, charges in full again, and so on).
"""
from dataclasses import dataclass

import numpy as np

from hostcap.models.aggregator import dispatch
from hostcap.models.choices import STRATEGIES
from hostcap.models.errors import InputError
from hostcap.models.fleet import Fleet, depart, integrate, limit_power
from hostcap.models.mobility import Mobility
from hostcap.models.outage import island_fleet
from hostcap.models.tariff import OFF_PEAK


@dataclass(frozen=True)
class VoltWattCurve:
    """Breakpoints of the volt-watt curve; fractions of the charger rating, >0 charging, <0 discharging."""

    v_pu: tuple[float, ...] = (0.92, 0.95, 0.98)
    frac: tuple[float, ...] = (-1.0, 0.0, 1.0)
    v_absorb_pu: tuple[float, float] = (1.06, 1.10)
    smoothing: float = 0.5

    def __post_init__(self):
        if len(self.v_pu) != len(self.frac) or len(self.v_pu) < 2:
            raise InputError("volt_watt curve: v_pu and frac need the same length, at least 2")
        if np.any(np.diff(self.v_pu) <= 0) or self.v_absorb_pu[1] <= self.v_absorb_pu[0]:
            raise InputError("volt_watt curve: voltage breakpoints must increase")
        if np.any(np.abs(self.frac) > 1):
            raise InputError("volt_watt curve: frac must lie in [-1, 1]")
        if not 0 < self.smoothing <= 1:
            raise InputError("volt_watt curve: smoothing must lie in (0, 1]")


class Controller:
    """Set-points of one strategy for a fleet over a known horizon of price levels."""

    def __init__(self, strategy: str, fleet: Fleet, mobility: Mobility, levels: np.ndarray, dt_h: float,
                 curve: VoltWattCurve = VoltWattCurve(), schedule_kw: np.ndarray | None = None,
                 start_delay_max_s: float = 600.0, standard_load_kw: np.ndarray | None = None,
                 ev_offsets: np.ndarray | None = None):
        if strategy not in STRATEGIES:
            raise InputError(f"strategy: unknown '{strategy}', choose one of {', '.join(STRATEGIES)}")
        self.strategy, self.fleet, self.mob, self.dt_h, self.curve = strategy, fleet, mobility, dt_h, curve
        # the fleets of S samples stepped together (`cosim/scenario.Batch`): sample s's EVs are
        # fleet[ev_offsets[s]:ev_offsets[s + 1]]; only the aggregator's bounds are per sample
        self.ev_offsets = np.asarray(ev_offsets if ev_offsets is not None else [0, fleet.n], np.int64)
        self.levels = np.asarray(levels)
        # cum_lower[L, s] = number of steps in [0, s) whose price level is below L (L = 0..n_levels: all steps)
        n_levels = int(self.levels.max()) + 1
        self.peak = n_levels - 1 if n_levels > 1 else None  # the dearest level; none with a single price
        below = self.levels[None, :] < np.arange(n_levels + 1)[:, None]
        self.cum_lower = np.concatenate([np.zeros((n_levels + 1, 1), np.int64), np.cumsum(below, axis=1)], axis=1)
        self._ch_step_kwh = fleet.eta_ch * fleet.p_ch_max_kw * dt_h  # energy one full-power step stores
        self._vw_frac = np.ones(fleet.n)  # volt-watt curve fraction each charger applied last step
        self.schedule_kw = schedule_kw  # v2g_optimal: power per step and EV
        self._wait_h = fleet.start_offset * start_delay_max_s / 3600.0  # each EV's randomised delay
        # valley weights: a slot's share of a spread charge grows with the room below the standard load
        # profile's highest value in the horizon (1 % of it kept, so no slot has zero weight)
        h = np.ones(len(self.levels)) if standard_load_kw is None else np.asarray(standard_load_kw, float)
        self._w = h.max() * 1.01 - h if h.max() > 0 else np.ones_like(h)
        below_w = np.where(below, self._w[None, :], 0.0)
        self.cum_w_lower = np.concatenate([np.zeros((n_levels + 1, 1)), np.cumsum(below_w, axis=1)], axis=1)
        # each step's position in its run of equal price: steps since the run began
        change = np.flatnonzero(np.diff(self.levels) != 0) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [len(self.levels)]]))
        self._elapsed = np.arange(len(self.levels)) - np.repeat(starts, lengths)

    def setpoints(self, t: int, e_kwh: np.ndarray, household_net_kw: np.ndarray, vm_pu: np.ndarray,
                  fleet_bounds_kw: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Wished power per EV at step t. household_net_kw and vm_pu are per connection point;
        fleet_bounds_kw (lo, hi) are the aggregator's bounds on each sample's fleet total (v2g_peak_shave)."""
        f = self.fleet
        if self.strategy == "v2g_optimal":
            return self.schedule_kw[t]
        if self.strategy == "v2g_peak_shave":
            n_s = len(self.ev_offsets) - 1
            lo, hi = fleet_bounds_kw if fleet_bounds_kw is not None else (np.full(n_s, -np.inf), np.full(n_s, np.inf))
            return dispatch(lo, hi, ev_offsets=self.ev_offsets, e_kwh=e_kwh, plugged=self.mob.plugged[t], fleet=f,
                            next_trip_kwh=self.mob.next_trip_kwh[t],
                            steps_to_departure=self.mob.next_departure_step[t] - t, dt_h=self.dt_h)
        if self.strategy == "uncontrolled":
            return self._uncontrolled(e_kwh)
        if self.strategy == "volt_watt":
            return self._volt_watt(t, e_kwh, vm_pu[f.cp])
        net = household_net_kw[f.cp]
        # smart, v2g_tou and v2h charge from their household's rooftop-PV surplus first (up to full)
        p = np.maximum(self._smart(t, e_kwh), np.minimum(np.maximum(-net, 0.0), f.p_ch_max_kw))
        if self.strategy == "smart":
            return p
        floor = self._discharge_floor(t)
        room_kw = np.maximum(e_kwh - floor, 0.0) * f.eta_dis / self.dt_h
        if self.strategy == "v2g_tou":
            discharge = np.minimum(f.p_dis_max_kw, room_kw)
            use = (self.peak is not None and self.levels[t] == self.peak) & (discharge > 0)
            return np.where(use, -discharge, p)
        # v2h
        discharge = np.minimum(np.minimum(np.maximum(net, 0.0), f.p_dis_max_kw), room_kw)
        use = (self.peak is None or self.levels[t] != OFF_PEAK) & (p == 0) & (discharge > 0)
        return np.where(use, -discharge, p)

    def _uncontrolled(self, e_kwh):
        return uncontrolled_kw(e_kwh, self.fleet, self.dt_h)

    def _smart(self, t, e_kwh):
        f = self.fleet
        dep = self.mob.next_departure_step[t]
        level = self.levels[t]
        lower, upper = self.cum_lower[level], self.cum_lower[level + 1]
        cheaper_steps = np.maximum(lower[dep] - lower[t + 1], 0)
        need_kwh = np.maximum(f.target_kwh - e_kwh, 0.0) - cheaper_steps * self._ch_step_kwh
        # steps in [t, dep) at the current price (below the next level but not below this one), and weights
        same_steps = np.maximum((upper[dep] - lower[dep]) - (upper[t] - lower[t]), 1)
        lw, uw = self.cum_w_lower[level], self.cum_w_lower[level + 1]
        same_w = np.maximum((uw[dep] - lw[dep]) - (uw[t] - lw[t]), self._w[t])
        spread = need_kwh * self._w[t] / same_w
        must = need_kwh - (same_steps - 1) * self._ch_step_kwh  # what the later steps cannot deliver
        # the share of this step left after the EV's randomised delay from the start of the price window
        after_delay = np.clip((self._elapsed[t] + 1) - self._wait_h / self.dt_h, 0.0, 1.0)
        return np.clip(np.maximum(must, after_delay * spread) / (f.eta_ch * self.dt_h), 0.0, f.p_ch_max_kw)

    def _discharge_floor(self, t):
        """Lowest energy a discharging EV may reach: reserve plus next trip, and target minus what it can
        still recharge outside the peak before it leaves."""
        f = self.fleet
        dep = self.mob.next_departure_step[t]
        non_peak = self.cum_lower[self.peak if self.peak is not None else 0]
        rechargeable = np.maximum(non_peak[dep] - non_peak[t + 1], 0) * self._ch_step_kwh
        floor = np.maximum(f.reserve_kwh + self.mob.next_trip_kwh[t], f.target_kwh - rechargeable)
        return np.minimum(floor, f.capacity_kwh)

    def _volt_watt(self, t, e_kwh, v_pu):
        f, c = self.fleet, self.curve
        self._vw_frac += c.smoothing * (np.interp(v_pu, c.v_pu, c.frac) - self._vw_frac)
        frac = self._vw_frac
        p = np.minimum(self._uncontrolled(e_kwh), np.maximum(frac, 0.0) * f.p_ch_max_kw)
        floor = np.minimum(f.reserve_kwh + self.mob.next_trip_kwh[t], f.capacity_kwh)
        room_kw = np.maximum(e_kwh - floor, 0.0) * f.eta_dis / self.dt_h
        p = np.where(frac < 0, -np.minimum(-frac * f.p_dis_max_kw, room_kw), p)
        absorb = np.interp(v_pu, c.v_absorb_pu, (0.0, 1.0)) * f.p_ch_max_kw
        return np.where(absorb > 0, np.maximum(p, absorb), p)


def uncontrolled_kw(e_kwh: np.ndarray, fleet: Fleet, dt_h: float) -> np.ndarray:
    """Full power until the departure target (before the battery and plug limits of `limit_power`)."""
    return np.clip((fleet.target_kwh - e_kwh) / (fleet.eta_ch * dt_h), 0.0, fleet.p_ch_max_kw)


def charging_only(fleet: Fleet, mobility: Mobility, *, n_steps: int, dt_h: float, powered: np.ndarray | None = None,
                  v2h_capable: np.ndarray | None = None, demand_kw: np.ndarray | None = None,
                  pv_kw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The same cars on the same trips charged `uncontrolled`: (power, stored energy at the end of each step),
    steps x EVs. Needs no grid (uncontrolled charging reads no voltage). With outages, `powered` (steps x EVs)
    is False while the EV's home has no supply; the EV then idles, or islands its home as in the run
    (`outage.island`, from its home's critical `demand_kw` and `pv_kw`, steps x EVs) when `v2h_capable`.
    The counterfactual of a household's saving and of the battery wear that V2G or V2H adds."""
    e = fleet.initial_e_kwh.copy()
    p_out, e_out = np.zeros((n_steps, fleet.n)), np.zeros((n_steps, fleet.n))
    for t in range(n_steps):
        e, _, _ = depart(e, mobility.departs[t], mobility.trip_kwh[t], fleet.target_kwh)
        p = limit_power(uncontrolled_kw(e, fleet, dt_h), e, mobility.plugged[t], fleet, dt_h)
        if powered is not None and not powered[t].all():
            dark = ~powered[t]
            isl = dark & mobility.plugged[t] & v2h_capable
            p = np.where(dark, 0.0, p)
            p[isl] = island_fleet(fleet, isl, demand_kw=demand_kw[t, isl], pv_kw=pv_kw[t, isl], e_kwh=e[isl],
                                  dt_h=dt_h)[0]
        e, _, _ = integrate(e, p, fleet, dt_h)
        p_out[t], e_out[t] = p, e
    return p_out, e_out
