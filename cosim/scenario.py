"""One scenario (a single co-simulated run) and the inputs built from it.

`Scenario` is a pydantic model, so that the CLI, a study sweep and a simulator running out of process all
pass the same JSON-safe description. `build_inputs()` turns it into arrays: the feeder, household demand and
PV per connection point, the EV fleet, its mobility and the price levels over the period plus one day of
look-ahead. It is cached, so the simulators of one in-process world share one copy.
"""
import dataclasses
import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from hostcap.feeders import DEFAULT_FEEDER, Feeder, load_feeder
from hostcap.feeders.load import CLASSES
from hostcap.feeders.sequence import check_earthed
from hostcap.models.battery import battery_series
from hostcap.models.errors import InputError
from hostcap.models.fleet import Fleet, concat_fleets, make_fleet
from hostcap.models.limits import BAND_NAMES
from hostcap.models.households import Households, resample
from hostcap.models.mobility import (Mobility, build_mobility, concat_mobility, draw_trips, plugs_in,
                                     trips_from_table)
from hostcap.models.outage import Outages, check_windows, deenergised
from hostcap.models.phases import PhaseWeights, cap_chargers, draw_circuits, phase_weights, single_phase_connection
from hostcap.models.population import draw_candidates, sample_seed_sequence
from hostcap.models.strategies import STRATEGIES, VoltWattCurve
from hostcap.models.tariff import PricedTariff, Tariff
from hostcap.models.wear import BatteryWear


def _iso_date(v: str) -> str:
    """An ISO 8601 calendar date, YYYY-MM-DD, and nothing else: `11/01/2016` is 11 January to a European and
    1 November to pandas, so no other form is guessed at."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError
        pd.Timestamp(date.fromisoformat(v))  # a real day, within pandas' years 1677-2262
    except ValueError:
        raise ValueError(f"'{v}' is not an ISO 8601 date (YYYY-MM-DD)") from None
    return v


def _yaml_date(v):
    """YAML reads an unquoted 2016-01-11 as a date: it is the same ISO date."""
    return v.isoformat() if isinstance(v, date) else v


IsoDate = Annotated[str, BeforeValidator(_yaml_date), AfterValidator(_iso_date)]


def date_span(start: str, days: int) -> str:
    """The first and last day simulated, for the console: `2016-01-11 to 2016-01-17 (7 days)`."""
    last = pd.Timestamp(start) + pd.Timedelta(days=days - 1)
    return f"{start} to {last:%Y-%m-%d} ({days} day{'s' if days != 1 else ''})"


def check_setpoint_interval(setpoint_min: float, step_min: float) -> None:
    """v2g_optimal's setpoint interval must be a whole number of steps that divides a day."""
    k = setpoint_min / step_min
    if abs(k - round(k)) > 1e-9 or round(k) < 1 or abs(1440.0 / setpoint_min - round(1440.0 / setpoint_min)) > 1e-9:
        raise ValueError(f"optimal_setpoint_min: {setpoint_min:g} min is not a multiple of the {step_min:g} min "
                         "step that divides a day")


class RunSettings(BaseModel):
    """The settings a study passes to each of its scenarios unchanged: step, solver, limits, utility rules,
    tariff and strategy settings (one definition for `Scenario` and `studies.spec.StudySpec`)."""

    model_config = ConfigDict(allow_inf_nan=False)  # no setting is infinite or NaN (none: no limit)

    seed: int = Field(0, ge=0)
    band: Literal[BAND_NAMES] = Field("en50160", description="Voltage criterion (`models/limits.py`): "  # type: ignore[valid-type]
                                      "en50160 (the weekly 95 % statistic), en50160_strict, ansi_a, ansi_b.")
    slack_vm_pu: float | None = Field(None, ge=0.9, le=1.1, description="Voltage of the external grid (the MV "
                                      "side), pu; none: the feeder's own.")
    ev_at: list[Literal[CLASSES]] = Field(["residential"], min_length=1, description="Customer classes "  # type: ignore[valid-type]
                                          "whose connection points may get an EV (`feeders/load.py`).")
    line_limit_pct: float = Field(100.0, gt=0)
    trafo_limit_pct: float = Field(100.0, gt=0)
    export_limit_kw: float | None = Field(None, ge=0, description="Meter export limit per connection point "
                                          "(EV discharge + PV - load), kW; 0: no export; none: no limit.")
    q_control: Literal["none", "volt_var"] = Field("none", description="Bidirectional chargers' reactive "
                                                   "power: IEEE 1547-2018 Cat. B volt-var, or none.")
    peak_target_kw: Annotated[float, Field(ge=0)] | Literal["auto"] = Field("auto", description="v2g_peak_shave: transformer import "
                                                    "target, kW, or auto (the previous day's no-EV peak).")
    trafo_export_limit_kw: float = Field(0.0, ge=0, description="v2g_peak_shave: EV discharge never takes the "
                                         "transformer below -this (reverse flow to the MV grid), kW.")
    tariff: PricedTariff | None = Field(None, description="A priced tariff (in a study file a mapping, or the "
                                        "path of a tariff YAML file): bills per household, and the strategies' "
                                        "price levels; none: the default time-of-use bands, no bills.")
    optimal_setpoint_min: float | None = Field(None, gt=0, description="v2g_optimal: how often the perfect "
                                               "aggregator sets each EV's power, min, a multiple of the step "
                                               "that divides a day (the bound for an aggregator that "
                                               "dispatches so often); none: every step, the bound.")
    plug_in_probability: float = Field(1.0, gt=0.0, le=1.0, description="Chance that a driver plugs the car in on "
                                       "returning home (always once the trips since the last plug-in took 40 % "
                                       "of the battery; models/mobility.py); 1: every return. Electric Nation "
                                       "(2019): about three plug-ins a week, 0.55 with the default trips.")
    outages: Outages | None = Field(None, description="Supply outages (windows, or SAIFI and CAIDI) and "
                                    "V2H backup; none: no outage, and no backup figures.")
    battery_wear: BatteryWear | None = Field(BatteryWear(), description="Battery wear per EV with BLAST-Lite "
                                             "(cell model, replacement cost, temperature); none: no wear figures.")
    step_min: float = Field(15.0, gt=0)
    solver: Literal["fast", "pandapower"] = "fast"
    phases: Literal["auto", "balanced", "unbalanced"] = Field("auto", description="Power flow: balanced "
                                                               "(positive sequence), unbalanced (three-phase, "
                                                               "each device on its phase: models/phases.py), "
                                                               "or auto: unbalanced where the feeder gives "
                                                               "single-phase connections, else balanced.")

    @model_validator(mode="after")
    def _setpoint_fits_the_step(self):
        if self.optimal_setpoint_min is not None:
            check_setpoint_interval(self.optimal_setpoint_min, self.step_min)
        return self


class Scenario(RunSettings):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = "run"
    feeder: str = DEFAULT_FEEDER
    feeder_name: str | None = None  # name in keys and seeds (a study's feeder name); default: `feeder`
    profiles: str | None = None
    trips: str | None = None
    strategy: str = "uncontrolled"
    penetration: float = Field(0.5, ge=0.0, le=1.0)
    v2g_share: float = Field(0.0, ge=0.0, le=1.0)
    start: IsoDate = "2016-01-11"
    days: int = Field(7, ge=1, le=366)
    sample: int = Field(0, ge=0)
    volt_watt_v_pu: tuple[float, ...] = VoltWattCurve.v_pu
    volt_watt_frac: tuple[float, ...] = VoltWattCurve.frac
    volt_watt_absorb_pu: tuple[float, float] = VoltWattCurve.v_absorb_pu
    volt_watt_smoothing: float = VoltWattCurve.smoothing
    start_delay_max_s: float = Field(600.0, ge=0.0, le=1800.0, description="smart, v2g_tou, v2h: longest "
                                     "randomised delay of a charger at the start of a price window, s.")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if v not in STRATEGIES:
            raise ValueError(f"unknown strategy '{v}', choose one of {', '.join(STRATEGIES)}")
        return v

    @property
    def setpoint_h(self) -> float | None:
        """v2g_optimal's setpoint interval, h (see `optimal_setpoint_min`); None: every step."""
        return None if self.optimal_setpoint_min is None else self.optimal_setpoint_min / 60.0

    @property
    def seed_name(self) -> str:
        return self.feeder_name or self.feeder

    def curve(self) -> VoltWattCurve:
        return VoltWattCurve(self.volt_watt_v_pu, self.volt_watt_frac, self.volt_watt_absorb_pu,
                             self.volt_watt_smoothing)


@dataclass(frozen=True)
class Inputs:
    feeder: Feeder
    index: pd.DatetimeIndex  # start of each step of the run
    dt_s: float
    households: Households  # (n_steps, n_cp)
    fleet: Fleet
    mobility: Mobility  # (n_steps + look-ahead, n_ev)
    levels: np.ndarray  # tariff price level per step, same horizon as mobility
    price_per_kwh: np.ndarray  # import price per step, same horizon: the priced tariff's, or the level + 1
    standard_load_kw: np.ndarray  # the households' standard load profile at each step, same horizon as mobility
    cp_bus_pos: np.ndarray  # position in net.bus of each connection point's bus
    dark_bus: np.ndarray | None  # (n_steps, n_bus) True where a bus is de-energised; None without outages
    v2h_capable: np.ndarray  # per EV: its home can island on it in an outage (bidirectional and drawn)
    phases: PhaseWeights  # the phase(s) of each household load, PV system and charger
    unbalanced: bool  # the run's power flow is three-phase (the scenario's `phases`, auto resolved)

    @property
    def n_steps(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class Batch:
    """S samples of one scenario stepped together (`cosim/world.py`). They share the feeder, the period, the
    households, the prices and every setting; only the sample's draws differ: its fleet, trips and outages.
    The EVs of all samples form one fleet, sample by sample, whose connection points are numbered
    sample-major (`s * n_cp + cp`), so every per-EV model runs unchanged over all S samples at once."""

    samples: tuple[Inputs, ...]
    fleet: Fleet
    mobility: Mobility
    dark_bus: np.ndarray | None  # (S, n_steps, n_bus); None without outages
    v2h_capable: np.ndarray
    phases: PhaseWeights  # of all samples: load and pv (S x n_cp, 3), ev (S x n_ev, 3), circuit (S x n_cp,)

    @property
    def first(self) -> Inputs:
        return self.samples[0]

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_cp(self) -> int:
        """Connection points of the feeder (per sample)."""
        return len(self.first.cp_bus_pos)

    @property
    def n_steps(self) -> int:
        return self.first.n_steps

    @property
    def n_ev(self) -> int:
        """EVs per sample (the same in every sample of a level)."""
        return self.first.fleet.n

    @property
    def ev_offsets(self) -> np.ndarray:
        """Sample s's EVs are fleet[ev_offsets[s]:ev_offsets[s + 1]]."""
        return np.arange(self.n_samples + 1) * self.n_ev

    @functools.cached_property
    def ev_sample(self) -> np.ndarray:
        """The sample of each EV."""
        return np.repeat(np.arange(self.n_samples), self.n_ev)

    @functools.cached_property
    def home_cp(self) -> np.ndarray:
        """Each EV's connection point on the feeder (the column of the households' arrays)."""
        return self.fleet.cp % self.n_cp

    def energised_cp(self, t: int) -> np.ndarray:
        """1.0 for each connection point (S x n_cp, flat) whose bus has supply during step t (all after the
        run), else 0.0."""
        if self.dark_bus is None or t >= self.n_steps:
            return np.ones(self.n_samples * self.n_cp)
        return (~self.dark_bus[:, t, self.first.cp_bus_pos]).astype(float).ravel()


def build_batch(scenarios: list[Scenario]) -> Batch:
    """The inputs of scenarios that differ only in their sample (and key); refuses others."""
    same = {sc.model_dump_json(exclude={"key", "sample"}) for sc in scenarios}
    if len(same) != 1:
        raise InputError("a batched run's scenarios may differ only in their sample and key")
    return _build_batch(tuple(sc.model_dump_json() for sc in scenarios))


@functools.lru_cache(maxsize=1)  # every simulator of a run asks for the same batch; an older one is let go
def _build_batch(scenario_jsons: tuple[str, ...]) -> Batch:
    runs = tuple(_make_inputs(s) for s in scenario_jsons)
    if len({r.fleet.n for r in runs}) != 1:  # a level places round(penetration x households) EVs in every sample
        raise InputError("a batched run's samples must have as many EVs each")
    n_cp = len(runs[0].cp_bus_pos)
    dark = None if runs[0].dark_bus is None else np.stack([r.dark_bus for r in runs])
    phases = PhaseWeights(*(np.concatenate([getattr(r.phases, f) for r in runs])
                            for f in ("load", "pv", "ev", "circuit")))
    mobility = concat_mobility([r.mobility for r in runs])
    n_ev = runs[0].fleet.n  # each sample's trips become a view of its columns of the batch's: stored once
    runs = tuple(dataclasses.replace(r, mobility=mobility.vehicles(k * n_ev, (k + 1) * n_ev))
                 for k, r in enumerate(runs))
    return Batch(runs, concat_fleets([r.fleet for r in runs], n_cp), mobility, dark,
                 np.concatenate([r.v2h_capable for r in runs]), phases)


def build_inputs(scenario: Scenario) -> Inputs:
    return _build_inputs(scenario.model_dump_json())


def check_inputs(scenarios: list[Scenario]) -> None:
    """What only the feeder and the periods decide, refused before anything runs, for scenarios that differ
    in their period (a run: its one scenario; a study: one per period on a feeder): the tariff prices every
    step of each period and its look-ahead day (a price series covers them), and each outage window lies in
    one of the periods, on buses of the feeder (`models/outage.check_windows`)."""
    sc = scenarios[0]
    for s in scenarios:
        if s.tariff is not None:
            s.tariff.price_per_kwh(_horizon(s))
    if sc.outages is not None:
        periods = [(pd.Timestamp(s.start), pd.Timestamp(s.start) + pd.Timedelta(days=s.days)) for s in scenarios]
        bus_index = _feeder(sc.feeder, sc.profiles, sc.slack_vm_pu).net.bus.index.to_numpy()
        check_windows(sc.outages, periods=periods, bus_index=bus_index)


def _horizon(sc: Scenario) -> pd.DatetimeIndex:
    """The start of each step of the run and of its day of look-ahead (departures and prices)."""
    start = pd.Timestamp(sc.start)
    return pd.date_range(start, start + pd.Timedelta(days=sc.days + 1), freq=pd.Timedelta(minutes=sc.step_min),
                         inclusive="left")


PERIOD_FIELDS = {"feeder", "profiles", "slack_vm_pu", "start", "days", "step_min", "tariff"}


def _make_inputs(scenario_json: str) -> Inputs:
    sc = Scenario.model_validate_json(scenario_json)
    period = _period(sc.model_dump_json(include=PERIOD_FIELDS))
    feeder, index, dt_s = period.feeder, period.index, period.dt_s
    n_steps, steps_per_day = len(index), period.steps_per_day
    start = index[0]
    cps = feeder.connection_points
    home = np.flatnonzero(cps["customer_class"].isin(sc.ev_at).to_numpy())
    if len(home) == 0:
        raise InputError(f"feeder {sc.feeder}: no {' or '.join(sc.ev_at)} customer on a bus below 1 kV, so no "
                         "EV can be placed (hostcap studies LV feeders; see ev_at)")
    cand = draw_candidates(sample_seed_sequence(sc.seed, sc.seed_name, sc.sample), len(home))
    ev_cp, bidir, pick = cand.chosen(home, sc.penetration, sc.v2g_share)
    ids = [f"ev{cp}" for cp in ev_cp]
    single_cp = single_phase_connection(cps["phase"].to_numpy())
    # a household with the feeder's own charging point (SimBench HLS_*) charges at its rating
    own = cps["charging_point_kw"].to_numpy()[home]
    drawn = np.where(own > 0, own, cand.vehicles["p_ch_max_kw"])
    vehicles = dict(cand.vehicles, p_ch_max_kw=cap_chargers(drawn, single_cp[home]))
    fleet = make_fleet(vehicles, pick=pick, cp=ev_cp, bidirectional=bidir, ids=ids)

    horizon = n_steps + steps_per_day  # one day of look-ahead for departures and prices
    if sc.trips:
        trips = trips_from_table(_read_trips(sc.trips), vehicle_ids=ids, possible_ids={f"ev{cp}" for cp in home},
                                 capacity_kwh=fleet.capacity_kwh, start=start, dt_s=dt_s)
    else:
        all_trips = draw_trips(cand.trips_rng, n_vehicles=len(home), weekdays=period.weekdays,
                               steps_per_day=steps_per_day)
        trips = all_trips.of_vehicles(pick)
    plug = None
    if sc.plug_in_probability < 1.0:  # its own stream: every other draw keeps its value
        u = np.random.default_rng(sample_seed_sequence(sc.seed, sc.seed_name, sc.sample).spawn(6)[5]).random(
            len(trips.vehicle))
        plug = plugs_in(trips, u=u, probability=sc.plug_in_probability, capacity_kwh=fleet.capacity_kwh)
    mobility = build_mobility(trips, n_vehicles=fleet.n, n_steps=horizon, plug=plug)
    dark_bus, v2h_capable = None, np.zeros(fleet.n, bool)
    if sc.outages is not None:  # its own stream: the cars, trips and placements keep their draws
        rng = np.random.default_rng(sample_seed_sequence(sc.seed, sc.seed_name, sc.sample).spawn(4)[3])
        v2h_capable = fleet.bidirectional & (rng.random(len(home))[pick] < sc.outages.v2h_share)
        dark_bus = deenergised(sc.outages, index=index, dt_s=dt_s, bus_index=feeder.net.bus.index.to_numpy(),
                               rng=rng)
    # the phases: their own stream, so every other draw keeps its value
    circuit = draw_circuits(np.random.default_rng(sample_seed_sequence(sc.seed, sc.seed_name, sc.sample)
                                                  .spawn(5)[4]), cps["phase"].to_numpy())
    phases = phase_weights(phase=cps["phase"].to_numpy(), circuit=circuit, pv_rated_kw=period.pv_rated_kw,
                           ev_cp=fleet.cp, ev_p_ch_max_kw=fleet.p_ch_max_kw)
    unbalanced = sc.phases == "unbalanced" or (sc.phases == "auto" and bool(single_cp.any()))
    if unbalanced:
        check_earthed(feeder.net, sc.feeder)
    return Inputs(feeder, index, dt_s, period.households, fleet, mobility, period.levels, period.price_per_kwh,
                  period.standard_load_kw, period.cp_bus_pos, dark_bus, v2h_capable, phases, unbalanced)


_build_inputs = functools.lru_cache(maxsize=4)(_make_inputs)


@dataclass(frozen=True)
class _Period:
    """What every sample and strategy of one feeder and period shares."""

    feeder: Feeder
    index: pd.DatetimeIndex
    dt_s: float
    steps_per_day: int
    weekdays: np.ndarray  # of each day of the horizon (the run plus a day)
    households: Households
    levels: np.ndarray
    price_per_kwh: np.ndarray
    standard_load_kw: np.ndarray
    cp_bus_pos: np.ndarray
    pv_rated_kw: np.ndarray  # per connection point


@functools.lru_cache(maxsize=4)
def _period(period_json: str) -> _Period:
    """The feeder, households, prices and standard load profile of a period (one shared copy, cached)."""
    sc = Scenario.model_validate_json(period_json)
    feeder = _feeder(sc.feeder, sc.profiles, sc.slack_vm_pu)
    prof = feeder.profiles
    dt_s = sc.step_min * 60.0
    factor = dt_s / prof.dt_s
    ratio = max(factor, 1 / factor)
    if abs(ratio - round(ratio)) > 1e-9:
        raise InputError(f"step_min: {sc.step_min} min is no multiple or divisor of the profiles' "
                         f"{prof.dt_s / 60:g} min step")
    start = pd.Timestamp(sc.start)
    steps_per_day = 86400.0 / dt_s
    if abs(steps_per_day - round(steps_per_day)) > 1e-9:
        raise InputError(f"step_min: {sc.step_min} min does not divide a day")
    steps_per_day = int(round(steps_per_day))
    n_steps = sc.days * steps_per_day
    n_prof = int(round(n_steps * factor)) if factor >= 1 else int(np.ceil(n_steps * factor))
    row = prof.locate(start, n_prof)
    arrays = {k: resample(v, factor)[:n_steps] for k, v in feeder.cp_arrays(row, n_prof).items()}
    p_bat, _ = battery_series(meter_kw=arrays["p_load_kw"] - arrays["p_pv_kw"], pv_kw=arrays["p_pv_kw"],
                              bat=feeder.batteries, dt_h=dt_s / 3600.0)
    households = Households(**arrays, batteries=feeder.batteries, p_battery_no_ev_kw=p_bat)
    index = pd.date_range(start, periods=n_steps, freq=pd.Timedelta(seconds=dt_s))
    horizon = n_steps + steps_per_day
    days = pd.date_range(start, periods=horizon // steps_per_day, freq="D")
    hours = (np.arange(horizon) * dt_s / 3600.0) % 24.0
    if sc.tariff is None:
        levels = Tariff().levels(hours)
        price = levels + 1.0  # an ordinal stand-in: only the order of the bands is known
    else:
        stamps = _horizon(sc)
        levels, price = sc.tariff.levels(stamps), sc.tariff.price_per_kwh(stamps)
    prof_index = pd.date_range(start, periods=int(round(horizon * factor)) if factor >= 1 else
                               int(np.ceil(horizon * factor)), freq=pd.Timedelta(seconds=prof.dt_s))
    standard_load_kw = resample(feeder.standard_load_kw(prof_index)[:, None], factor)[:horizon, 0]
    bus_pos = pd.Series(np.arange(len(feeder.net.bus)), index=feeder.net.bus.index)
    return _Period(feeder, index, dt_s, steps_per_day, days.weekday.to_numpy(), households, levels, price,
                   standard_load_kw, bus_pos.loc[feeder.connection_points["bus"]].to_numpy(),
                   feeder.pv_rated_kw)


@functools.lru_cache(maxsize=4)
def _feeder(ref: str, profiles: str | None, slack_vm_pu: float | None) -> Feeder:
    """The feeder, with its external grid at `slack_vm_pu` when given (one shared copy per voltage)."""
    feeder = load_feeder(ref, profiles)
    return feeder if slack_vm_pu is None else feeder.with_slack_vm_pu(slack_vm_pu)


def _read_trips(path: str) -> pd.DataFrame:
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise InputError(f"trips: file not found: {path}")
    try:
        return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
        raise InputError(f"trips: cannot read {path}: {exc}".splitlines()[0]) from None
