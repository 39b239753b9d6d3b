"""Charging strategies: vectorised set-points for every EV at one step (grid side, kW, >0 charging), one
class each, registered by name in `STRATEGY_CLASSES` (the names, without importing anything, are
`models/choices.STRATEGIES`).

Each strategy returns wishes; the home step (`models/home.py`) then applies charger ratings and battery
limits (`fleet.limit_power`), the meter's export limit and outages. A strategy is built from the run's
`Horizon` (fleet, trips, prices, the no-EV forecast) and its own parameters, which `from_settings` reads
from a run's settings (`studies/scenario/settings.Scenario`); a new strategy is one new class here, its
name in `models/choices.py`, and nothing else. Departure times are known to every controller (the user
tells the charger).
"""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hostcap.models.aggregator import dispatch
from hostcap.models.choices import STRATEGIES
from hostcap.models.errors import InputError
from hostcap.models.fleet import Fleet
from hostcap.models.mobility import Mobility
from hostcap.models.optimal import optimal_schedule
from hostcap.models.tariff import OFF_PEAK
from hostcap.models.wear import discharge_wear_cost


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


@dataclass(frozen=True)
class Horizon:
    """What a strategy may know of its run: the fleet of all S samples stepped together (sample s's EVs are
    fleet[ev_offsets[s]:ev_offsets[s + 1]]), their trips and the tariff's price levels over the run plus its
    look-ahead day; for the perfect-foresight bound also each sample's own fleet and trips, the import price
    of a priced tariff, the feeder's no-EV transformer import and the homes' no-EV net demand."""

    fleet: Fleet
    mobility: Mobility
    levels: np.ndarray
    dt_h: float
    n_steps: int = 0
    standard_load_kw: np.ndarray | None = None  # the households' standard load profile (`Feeder.standard_load_kw`)
    ev_offsets: np.ndarray | None = None  # None: one sample
    samples: tuple[tuple[Fleet, Mobility], ...] = ()
    price_per_kwh: np.ndarray | None = None  # a priced tariff's import price per step; None: no energy cost
    no_ev_kw: np.ndarray | None = None  # the feeder's transformer import per step with no EV
    household_net_kw: np.ndarray | None = None  # (steps, n_cp) the homes' net demand with no EV, batteries in


class Strategy:
    """Set-points of one strategy for a fleet over a known horizon of price levels (see the subclasses)."""

    name: ClassVar[str] = ""
    aggregator: ClassVar[bool] = False  # runs with the aggregator reading the transformer (`cosim/aggregator_sim.py`)
    dso: ClassVar[bool] = False  # runs with the grid operator's §14a dimming (`cosim/dso_sim.py`)

    def __init__(self, horizon: Horizon):
        fleet = horizon.fleet
        self.fleet, self.mob, self.dt_h = fleet, horizon.mobility, horizon.dt_h
        self.ev_offsets = np.asarray(horizon.ev_offsets if horizon.ev_offsets is not None else [0, fleet.n], np.int64)

    @classmethod
    def from_settings(cls, horizon: Horizon, settings) -> "Strategy":
        """The strategy with its parameters read from a run's settings (a `Scenario`)."""
        return cls(horizon)

    def setpoints(self, t: int, e_kwh: np.ndarray, household_net_kw: np.ndarray, vm_pu: np.ndarray,
                  fleet_bounds_kw: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Wished power per EV at step t. household_net_kw and vm_pu are per connection point;
        fleet_bounds_kw (lo, hi) are the aggregator's bounds on each sample's fleet total (v2g_peak_shave)."""
        raise NotImplementedError


STRATEGY_CLASSES: dict[str, type[Strategy]] = {}


def registered(cls: type[Strategy]) -> type[Strategy]:
    if cls.name not in STRATEGIES:
        raise ValueError(f"strategy {cls.name!r} is not listed in models/choices.STRATEGIES")
    STRATEGY_CLASSES[cls.name] = cls
    return cls


def make_strategy(name: str, horizon: Horizon, settings=None, **params) -> Strategy:
    """The strategy `name` on `horizon`: its parameters from `settings` (a `Scenario`) when given, else
    `params` (each class's keyword arguments; defaults where left out)."""
    if name not in STRATEGY_CLASSES:
        raise InputError(f"strategy: unknown '{name}', choose one of {', '.join(STRATEGIES)}")
    cls = STRATEGY_CLASSES[name]
    return cls.from_settings(horizon, settings) if settings is not None else cls(horizon, **params)


@registered
class Uncontrolled(Strategy):
    """`uncontrolled`: full power from plug-in until the departure target is reached."""

    name = "uncontrolled"

    def setpoints(self, t, e_kwh, household_net_kw, vm_pu, fleet_bounds_kw=None):
        return uncontrolled_kw(e_kwh, self.fleet, self.dt_h)


@registered
class Dimming14a(Uncontrolled):
    """`dimming_14a`: charging as `uncontrolled`, dimmed by the grid operator under §14a EnWG while the feeder is
    congested, heat pumps too (`models/dimming.py`: the operator's rule, the caps, the homes' heat deficit)."""

    name = "dimming_14a"
    dso = True


@registered
class Smart(Strategy):
    """`smart`: time-of-use, behind the household's meter. Charge from the household's rooftop-PV surplus
    first (up to full: the surplus-charging mode of home wallboxes), then in the cheapest slots (see
    `tariff.Tariff`) that still meet the departure target: at each step an EV plans only the energy that the
    strictly cheaper slots left before its departure cannot deliver at full power, and spreads it over the
    remaining slots of the current price in proportion to each slot's room below the households' standard
    load profile (the profile's highest value in the run minus its value in the slot;
    `Feeder.standard_load_kw`, a static seasonal day-type mean such as a utility publishes, not a forecast of
    the day). So the fleet charges less in the evening tail of household demand and more in the small hours.
    Each charger also applies a randomised delay at the start of every price window, uniform in
    [0, `start_delay_max_s`] (`start_offset` x the maximum, drawn from the scenario's seed; default 600 s, the
    default of the UK Electric Vehicles (Smart Charge Points) Regulations 2021, reg. 11, which lets the owner
    raise it to 1,800 s), charging meanwhile only what the rest of the window could not deliver. On the
    default feeder (winter week, 100 % EVs, seed 0) an even spread peaked at 163.2 kW against 134.1 kW
    without EVs (the 22:00 start on the evening tail); the weighted spread peaks at 145.3 kW (seed 1: 134.1;
    seed 2: 144.5 kW; with EVs at the 113 households, not at the commercial customers; seed 0's peak night
    would take a perfect fleet-wide valley fill to 128.9 kW: the weighting follows the seasonal mean, not
    that night's demand)."""

    name = "smart"

    def __init__(self, horizon: Horizon, *, start_delay_max_s: float = 600.0):
        super().__init__(horizon)
        fleet, dt_h = horizon.fleet, horizon.dt_h
        self.levels = np.asarray(horizon.levels)
        # cum_lower[L, s] = number of steps in [0, s) whose price level is below L (L = 0..n_levels: all steps)
        n_levels = int(self.levels.max()) + 1
        self.peak = n_levels - 1 if n_levels > 1 else None  # the dearest level; none with a single price
        below = self.levels[None, :] < np.arange(n_levels + 1)[:, None]
        self.cum_lower = np.concatenate([np.zeros((n_levels + 1, 1), np.int64), np.cumsum(below, axis=1)], axis=1)
        self._ch_step_kwh = fleet.eta_ch * fleet.p_ch_max_kw * dt_h  # energy one full-power step stores
        self._wait_h = fleet.start_offset * start_delay_max_s / 3600.0  # each EV's randomised delay
        # valley weights: a slot's share of a spread charge grows with the room below the standard load
        # profile's highest value in the horizon (1 % of it kept, so no slot has zero weight)
        h = (np.ones(len(self.levels)) if horizon.standard_load_kw is None
             else np.asarray(horizon.standard_load_kw, float))
        self._w = h.max() * 1.01 - h if h.max() > 0 else np.ones_like(h)
        below_w = np.where(below, self._w[None, :], 0.0)
        self.cum_w_lower = np.concatenate([np.zeros((n_levels + 1, 1)), np.cumsum(below_w, axis=1)], axis=1)
        # each step's position in its run of equal price: steps since the run began
        change = np.flatnonzero(np.diff(self.levels) != 0) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [len(self.levels)]]))
        self._elapsed = np.arange(len(self.levels)) - np.repeat(starts, lengths)

    @classmethod
    def from_settings(cls, horizon, settings):
        return cls(horizon, start_delay_max_s=settings.start_delay_max_s)

    def setpoints(self, t, e_kwh, household_net_kw, vm_pu, fleet_bounds_kw=None):
        f = self.fleet
        net = household_net_kw[f.cp] * f.home_share
        # charge from the household's rooftop-PV surplus first (up to full)
        return np.maximum(self._smart(t, e_kwh), np.minimum(np.maximum(-net, 0.0), f.p_ch_max_kw))

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


@registered
class V2GTou(Smart):
    """`v2g_tou`: bidirectional EVs discharge at full power during the peak window down to a floor (reserve
    plus the next trip's energy, and no lower than the target minus what can still be recharged outside the
    peak before departure), then recharge as `smart` (PV surplus first). Unidirectional EVs behave as
    `smart`."""

    name = "v2g_tou"

    def setpoints(self, t, e_kwh, household_net_kw, vm_pu, fleet_bounds_kw=None):
        f = self.fleet
        p = super().setpoints(t, e_kwh, household_net_kw, vm_pu)
        room_kw = np.maximum(e_kwh - self._discharge_floor(t), 0.0) * f.eta_dis / self.dt_h
        discharge = np.minimum(f.p_dis_max_kw, room_kw)
        use = (self.peak is not None and self.levels[t] == self.peak) & (discharge > 0)
        return np.where(use, -discharge, p)


@registered
class V2H(Smart):
    """`v2h`: bidirectional EVs discharge only to cover their own household's net demand (never export),
    outside the off-peak window, above the same floor as `v2g_tou`. All EVs charge as `smart` (PV surplus
    first). With a single price (a flat tariff) there is no off-peak window and the floor is the departure
    target (nothing can be recharged more cheaply), so the EV gives back only the PV surplus it stored above
    its target: the self-consumption mode of a home battery."""

    name = "v2h"

    def setpoints(self, t, e_kwh, household_net_kw, vm_pu, fleet_bounds_kw=None):
        f = self.fleet
        net = household_net_kw[f.cp] * f.home_share
        p = super().setpoints(t, e_kwh, household_net_kw, vm_pu)
        room_kw = np.maximum(e_kwh - self._discharge_floor(t), 0.0) * f.eta_dis / self.dt_h
        discharge = np.minimum(np.minimum(np.maximum(net, 0.0), f.p_dis_max_kw), room_kw)
        use = (self.peak is None or self.levels[t] != OFF_PEAK) & (p == 0) & (discharge > 0)
        return np.where(use, -discharge, p)


@registered
class VoltWatt(Strategy):
    """`volt_watt`: closed loop. Each charger's power follows its bus voltage on a piecewise-linear curve
    (`VoltWattCurve`) in the IEEE 1547-2018 volt-watt shape (clause 5.4.2, Table 15 defaults V1 = 1.06 pu,
    V2 = 1.10 pu), mirrored for charging loads at low voltage: full charging at or above 0.98 pu, reduced
    linearly to zero at 0.95 pu (the ANSI C84.1 Range A limit, so charging alone never pushes a bus out of
    Range A), discharging (bidirectional EVs, above reserve plus next trip) down to full discharge at
    0.92 pu. Between 1.06 and 1.10 pu EVs charge increasingly beyond their target, up to full power, to
    absorb PV surplus. Without voltage trouble it charges like `uncontrolled`. The voltage is the one the
    grid reported for the previous step (time-shifted mosaik connection); the charger's curve fraction
    moves from its last value toward the curve by `smoothing` (0.5) per step, a first-order response that
    keeps the time-shifted loop from oscillating (undamped, a feeder full of chargers backs off, sees the
    voltage recover, charges in full again, and so on)."""

    name = "volt_watt"

    def __init__(self, horizon: Horizon, *, curve: VoltWattCurve = VoltWattCurve()):
        super().__init__(horizon)
        self.curve = curve
        self._vw_frac = np.ones(horizon.fleet.n)  # volt-watt curve fraction each charger applied last step

    @classmethod
    def from_settings(cls, horizon, settings):
        return cls(horizon, curve=settings.curve())

    def setpoints(self, t, e_kwh, household_net_kw, vm_pu, fleet_bounds_kw=None):
        f, c = self.fleet, self.curve
        v_pu = vm_pu[f.cp]
        self._vw_frac += c.smoothing * (np.interp(v_pu, c.v_pu, c.frac) - self._vw_frac)
        frac = self._vw_frac
        p = np.minimum(uncontrolled_kw(e_kwh, f, self.dt_h), np.maximum(frac, 0.0) * f.p_ch_max_kw)
        floor = np.minimum(f.reserve_kwh + self.mob.next_trip_kwh[t], f.capacity_kwh)
        room_kw = np.maximum(e_kwh - floor, 0.0) * f.eta_dis / self.dt_h
        p = np.where(frac < 0, -np.minimum(-frac * f.p_dis_max_kw, room_kw), p)
        absorb = np.interp(v_pu, c.v_absorb_pu, (0.0, 1.0)) * f.p_ch_max_kw
        return np.where(absorb > 0, np.maximum(p, absorb), p)


@registered
class V2GPeakShave(Strategy):
    """`v2g_peak_shave`: closed loop through an aggregator that reads the transformer
    (`models/aggregator.py`, its own simulator `cosim/aggregator_sim.py`): every EV meets its departure
    target; beyond that the fleet fills the valleys below the transformer target and bidirectional EVs
    discharge to keep the import at or below it, never adding reverse flow."""

    name = "v2g_peak_shave"
    aggregator = True

    def setpoints(self, t, e_kwh, household_net_kw, vm_pu, fleet_bounds_kw=None):
        n_s = len(self.ev_offsets) - 1
        lo, hi = fleet_bounds_kw if fleet_bounds_kw is not None else (np.full(n_s, -np.inf), np.full(n_s, np.inf))
        return dispatch(lo, hi, ev_offsets=self.ev_offsets, e_kwh=e_kwh, plugged=self.mob.plugged[t],
                        fleet=self.fleet, next_trip_kwh=self.mob.next_trip_kwh[t],
                        steps_to_departure=self.mob.next_departure_step[t] - t, dt_h=self.dt_h)


@registered
class V2GOptimal(Strategy):
    """`v2g_optimal`: not a controller but a bound: the schedule of a perfect aggregator with perfect
    foresight (`models/optimal.py`, one quadratic programme per sample over the run), played back."""

    name = "v2g_optimal"

    def __init__(self, horizon: Horizon, *, schedule_kw: np.ndarray):
        super().__init__(horizon)
        self.schedule_kw = schedule_kw  # power per step and EV

    @classmethod
    def from_settings(cls, horizon, settings):
        """Each sample's fleet gets its own programme, with the homes' no-EV net demand (batteries as
        without EVs) as the optimum's forecast."""
        h = horizon
        price = None if settings.tariff is None else h.price_per_kwh
        schedule = np.concatenate([optimal_schedule(
            fleet, mobility, other_kw=h.no_ev_kw, price=price, n_steps=h.n_steps, dt_h=h.dt_h,
            trafo_export_limit_kw=settings.trafo_export_limit_kw, household_net_kw=h.household_net_kw[:, fleet.cp],
            export_limit_kw=settings.export_limit_kw, setpoint_h=settings.setpoint_h,
            wear_cost_per_kwh=discharge_wear_cost(settings.battery_wear)) for fleet, mobility in h.samples], axis=1)
        return cls(horizon, schedule_kw=schedule)

    def setpoints(self, t, e_kwh, household_net_kw, vm_pu, fleet_bounds_kw=None):
        return self.schedule_kw[t]


def uncontrolled_kw(e_kwh: np.ndarray, fleet: Fleet, dt_h: float) -> np.ndarray:
    """Full power until the departure target (before the battery and plug limits of `limit_power`)."""
    return np.clip((fleet.target_kwh - e_kwh) / (fleet.eta_ch * dt_h), 0.0, fleet.p_ch_max_kw)
