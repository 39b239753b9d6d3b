"""The inputs of a run, built from its `Scenario`: the feeder, household demand and PV per connection
point, the EV fleet, its mobility and the price levels over the period plus one day of look-ahead
(`Inputs`), and those of S samples stepped together (`Batch`). Built once and cached, so the samples,
strategies and levels of one feeder and period share one copy of what they have in common."""
import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.feeders import Feeder, load_feeder
from hostcap.feeders.heat import heat_shapes, temperature_c
from hostcap.feeders.load import files_stamp
from hostcap.feeders.profiles import pv_shape
from hostcap.feeders.sequence import check_earthed
from hostcap.models.battery import battery_series
from hostcap.models.errors import InputError
from hostcap.models.fleet import Fleet, concat_fleets, make_fleet
from hostcap.models.heat_pump import HeatPumps, annual_heat_of_rating, draw_heat_pumps
from hostcap.models.households import Households, resample
from hostcap.models.mobility import Mobility, build_mobility, concat_mobility, draw_trips, plugs_in, trips_from_table
from hostcap.models.outage import check_windows, deenergised
from hostcap.models.phases import PhaseWeights, cap_chargers, draw_circuits, phase_weights, single_phase_connection
from hostcap.models.population import draw_candidates, feeder_seed_sequence, nested_adoption, sample_seed_sequence
from hostcap.models.pv import draw_pv
from hostcap.models.tariff import Tariff
from hostcap.studies.scenario.settings import Scenario
from hostcap.studies.tariff_file import tariff_prices


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
    """S samples of one scenario stepped together (`run.py`). They share the feeder, the period, the
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


def build_batch(scenarios: list[Scenario]) -> Batch:
    """The inputs of scenarios that differ only in their sample (and key); refuses others."""
    same = {sc.model_dump_json(exclude={"key", "sample"}) for sc in scenarios}
    if len(same) != 1:
        raise InputError("a batched run's scenarios may differ only in their sample and key")
    runs = tuple(_make_inputs(sc.model_dump_json()) for sc in scenarios)
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
    """A run's inputs (cached per scenario and its files' `files_stamp`)."""
    return _build_inputs(scenario.model_dump_json(), files_stamp(scenario.feeder, scenario.profiles, scenario.trips))


def check_inputs(scenarios: list[Scenario]) -> None:
    """What only the feeder and the periods decide, refused before anything runs, for scenarios that differ
    in their period (a run: its one scenario; a study: one per period on a feeder): the tariff prices every
    step of each period and its look-ahead day (a price series covers them), and each outage window lies in
    one of the periods, on buses of the feeder (`models/outage.check_windows`)."""
    sc = scenarios[0]
    for s in scenarios:
        if s.tariff is not None:
            tariff_prices(s.tariff, _horizon(s))
    if sc.outages is not None:
        periods = [(pd.Timestamp(s.start), pd.Timestamp(s.start) + pd.Timedelta(days=s.days)) for s in scenarios]
        bus_index = _feeder(sc.feeder, sc.profiles, sc.slack_vm_pu,
                            files_stamp(sc.feeder, sc.profiles)).net.bus.index.to_numpy()
        check_windows(sc.outages, periods=periods, bus_index=bus_index)


def _horizon(sc: Scenario) -> pd.DatetimeIndex:
    """The start of each step of the run and of its day of look-ahead (departures and prices)."""
    start = pd.Timestamp(sc.start)
    return pd.date_range(start, start + pd.Timedelta(days=sc.days + 1), freq=pd.Timedelta(minutes=sc.step_min),
                         inclusive="left")


# the streams of a sample's seed sequence, each its own so that every other draw keeps its value (0-2 are the
# first cars': placement, vehicles, trips; `models/population.draw_candidates`)
OUTAGES, PHASES, PLUG_IN, SECOND_CARS, SECOND_CAR_V2H = 3, 4, 5, 6, 7
PERIOD_FIELDS = {"feeder", "feeder_name", "profiles", "slack_vm_pu", "start", "days", "step_min", "tariff", "seed",
                 "heat_pump_share", "climate_region", "pv_share"}


def _make_inputs(scenario_json: str) -> Inputs:
    sc = Scenario.model_validate_json(scenario_json)
    period = _period(sc.model_dump_json(include=PERIOD_FIELDS), files_stamp(sc.feeder, sc.profiles))
    feeder, index, dt_s = period.feeder, period.index, period.dt_s
    n_steps, steps_per_day = len(index), period.steps_per_day
    start = index[0]
    cps = feeder.connection_points
    home = np.flatnonzero(cps["customer_class"].isin(sc.ev_at).to_numpy())
    if len(home) == 0:
        raise InputError(f"feeder {sc.feeder}: no {' or '.join(sc.ev_at)} customer on a bus below 1 kV, so no "
                         "EV can be placed (hostcap studies LV feeders; see ev_at)")
    seeds = sample_seed_sequence(sc.seed, sc.seed_name, sc.sample).spawn(SECOND_CAR_V2H + 1)
    cand = draw_candidates(sample_seed_sequence(sc.seed, sc.seed_name, sc.sample), len(home),
                           second=seeds[SECOND_CARS] if sc.penetration > 1.0 else None)
    ev_cp, bidir, pick = cand.chosen(home, sc.penetration, sc.v2g_share)
    second = pick >= len(home)
    ids = [f"ev{cp}_2" if two else f"ev{cp}" for cp, two in zip(ev_cp, second)]
    single_cp = single_phase_connection(cps["phase"].to_numpy())
    # a household with the feeder's own charging point (SimBench HLS_*) charges its first car at its rating
    vehicles = cand.all_vehicles()
    n_cand = len(vehicles["p_ch_max_kw"])
    own = np.zeros(n_cand)
    own[:len(home)] = cps["charging_point_kw"].to_numpy()[home]
    drawn = np.where(own > 0, own, vehicles["p_ch_max_kw"])
    vehicles = dict(vehicles, p_ch_max_kw=cap_chargers(drawn, np.resize(single_cp[home], n_cand)))
    fleet = make_fleet(vehicles, pick=pick, cp=ev_cp, bidirectional=bidir, ids=ids)

    horizon = n_steps + steps_per_day  # one day of look-ahead for departures and prices
    if sc.trips:
        possible = {f"ev{cp}" for cp in home} | {f"ev{cp}_2" for cp in home}
        trips = trips_from_table(_read_trips(sc.trips), vehicle_ids=ids, possible_ids=possible,
                                 capacity_kwh=fleet.capacity_kwh, start=start, dt_s=dt_s)
    else:
        all_trips = draw_trips(cand.trips_rng, n_vehicles=len(home), weekdays=period.weekdays,
                               steps_per_day=steps_per_day)
        if cand.second is not None:
            all_trips = all_trips.then(draw_trips(cand.second.trips_rng, n_vehicles=len(home),
                                                  weekdays=period.weekdays, steps_per_day=steps_per_day), len(home))
        trips = all_trips.of_vehicles(pick)
    plug = None
    if sc.plug_in_probability < 1.0:  # its own stream: every other draw keeps its value
        u = np.random.default_rng(seeds[PLUG_IN]).random(len(trips.vehicle))
        plug = plugs_in(trips, u=u, probability=sc.plug_in_probability, capacity_kwh=fleet.capacity_kwh)
    mobility = build_mobility(trips, n_vehicles=fleet.n, n_steps=horizon, plug=plug)
    dark_bus, v2h_capable = None, np.zeros(fleet.n, bool)
    if sc.outages is not None:  # its own stream: the cars, trips and placements keep their draws
        rng = np.random.default_rng(seeds[OUTAGES])
        u_v2h = rng.random(len(home))
        if cand.second is not None:  # the second cars' from their own stream: the outages keep their draws
            u_v2h = np.concatenate([u_v2h, np.random.default_rng(seeds[SECOND_CAR_V2H]).random(len(home))])
        v2h_capable = fleet.bidirectional & (u_v2h[pick] < sc.outages.v2h_share)
        dark_bus = deenergised(sc.outages, index=index, dt_s=dt_s, bus_index=feeder.net.bus.index.to_numpy(),
                               rng=rng)
    # the phases: their own stream, so every other draw keeps its value
    circuit = draw_circuits(np.random.default_rng(seeds[PHASES]), cps["phase"].to_numpy())
    phases = phase_weights(phase=cps["phase"].to_numpy(), circuit=circuit, pv_rated_kw=period.pv_rated_kw,
                           ev_cp=fleet.cp, ev_p_ch_max_kw=fleet.p_ch_max_kw)
    unbalanced = sc.phases == "unbalanced" or (sc.phases == "auto" and bool(single_cp.any()))
    if unbalanced:
        check_earthed(feeder.net, sc.feeder)
    return Inputs(feeder, index, dt_s, period.households, fleet, mobility, period.levels, period.price_per_kwh,
                  period.standard_load_kw, period.cp_bus_pos, dark_bus, v2h_capable, phases, unbalanced)


@functools.lru_cache(maxsize=4)
def _build_inputs(scenario_json: str, stamp: tuple) -> Inputs:
    """`_make_inputs`, cached per scenario and its files as they are (`files_stamp`)."""
    return _make_inputs(scenario_json)


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
def _period(period_json: str, stamp: tuple) -> _Period:
    """The feeder, households, prices and standard load profile of a period (one shared copy, cached)."""
    sc = Scenario.model_validate_json(period_json)
    feeder = _feeder(sc.feeder, sc.profiles, sc.slack_vm_pu, stamp)
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
    index = pd.date_range(start, periods=n_steps, freq=pd.Timedelta(seconds=dt_s))
    heat_pumps = _heat_pumps(sc, feeder)
    shapes = heat_shapes(index, sc.climate_region)
    hp_el = heat_pumps.electric_kw(*shapes, temperature_c(index, sc.climate_region))
    p_hp = heat_pumps.per_cp(hp_el, len(feeder.connection_points))
    pv_kw = _added_pv_kw(sc, feeder)
    if pv_kw.any():
        arrays["p_pv_kw"] = arrays["p_pv_kw"] + pv_shape(index, dt_s)[:, None] * pv_kw
    arrays["p_load_kw"] = arrays["p_load_kw"] + p_hp
    arrays["q_load_kvar"] = arrays["q_load_kvar"] + p_hp * heat_pumps.tan_phi
    p_bat, _ = battery_series(meter_kw=arrays["p_load_kw"] - arrays["p_pv_kw"], pv_kw=arrays["p_pv_kw"],
                              bat=feeder.batteries, dt_h=dt_s / 3600.0)
    households = Households(**arrays, batteries=feeder.batteries, p_battery_no_ev_kw=p_bat, p_heat_pump_kw=p_hp,
                            heat_pumps=heat_pumps, hp_el_kw=hp_el, hp_heat_kw=heat_pumps.heat_kw(*shapes))
    horizon = n_steps + steps_per_day
    days = pd.date_range(start, periods=horizon // steps_per_day, freq="D")
    hours = (np.arange(horizon) * dt_s / 3600.0) % 24.0
    if sc.tariff is None:
        levels = Tariff().levels(hours)
        price = levels + 1.0  # an ordinal stand-in: only the order of the bands is known
    else:
        stamps = _horizon(sc)
        levels, price = tariff_prices(sc.tariff, stamps)
    prof_index = pd.date_range(start, periods=int(round(horizon * factor)) if factor >= 1 else
                               int(np.ceil(horizon * factor)), freq=pd.Timedelta(seconds=prof.dt_s))
    standard_load_kw = resample(feeder.standard_load_kw(prof_index)[:, None], factor)[:horizon, 0]
    bus_pos = pd.Series(np.arange(len(feeder.net.bus)), index=feeder.net.bus.index)
    return _Period(feeder, index, dt_s, steps_per_day, days.weekday.to_numpy(), households, levels, price,
                   standard_load_kw, bus_pos.loc[feeder.connection_points["bus"]].to_numpy(),
                   feeder.pv_rated_kw + pv_kw)


def _added_pv_kw(sc: Scenario, feeder: Feeder) -> np.ndarray:
    """Per connection point, the rated power of the rooftop PV its household adds to reach the scenario's
    `pv_share` (`models/pv.py`; the feeder's own PV counts; one draw per study seed and feeder), kW."""
    cps = feeder.connection_points
    homes = np.flatnonzero(cps["household"].to_numpy())
    own = feeder.pv_rated_kw[homes] > 0
    added = np.zeros(len(cps))
    if sc.pv_share > 0.0:
        cand = draw_pv(np.random.default_rng(feeder_seed_sequence(sc.seed, sc.seed_name, "pv")), len(homes))
        new = np.setdiff1d(nested_adoption(cand.order, sc.pv_share, own), np.flatnonzero(own))
        added[homes[new]] = cand.kwp[new]
    return added


def _heat_pumps(sc: Scenario, feeder: Feeder) -> HeatPumps:
    """The heat pumps of the feeder's households at the scenario's share: the feeder's own, and as many
    drawn ones as the share asks for (`models/heat_pump.py`; one draw per study seed and feeder)."""
    cps = feeder.connection_points
    homes = np.flatnonzero(cps["household"].to_numpy())
    own = feeder.heat_pumps
    own_at = np.isin(homes, own["cp"].to_numpy())
    cand = draw_heat_pumps(np.random.default_rng(feeder_seed_sequence(sc.seed, sc.seed_name, "heat pumps")),
                           len(homes))
    drawn = np.setdiff1d(nested_adoption(cand.order, sc.heat_pump_share, own_at), np.flatnonzero(own_at))
    ground = np.concatenate([own["ground"].to_numpy(bool), cand.ground[drawn]])
    heat = np.concatenate([annual_heat_of_rating(own["p_el_rated_kw"].to_numpy(), own["ground"].to_numpy(bool)),
                           cand.annual_heat_kwh[drawn]])
    return HeatPumps(cp=np.concatenate([own["cp"].to_numpy(np.int64), homes[drawn]]), ground=ground,
                     annual_heat_kwh=heat)


@functools.lru_cache(maxsize=4)
def _feeder(ref: str, profiles: str | None, slack_vm_pu: float | None, stamp: tuple) -> Feeder:
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
