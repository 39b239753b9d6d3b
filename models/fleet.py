"""EV fleet: per-vehicle parameters as arrays, and the exact state-of-charge bookkeeping.

Default parameter distributions (`FleetParams`), each a documented assumption:
- usable battery capacity 40/60/80 kWh with shares 0.3/0.45/0.25: a spread around the ~60-65 kWh mean
  usable capacity of BEVs sold in Europe in 2023-24 (EV Database, ev-database.org);
- home charger 11 kW (three-phase 16 A) for 70 % and 3.7 kW (single-phase 16 A) for 30 % of households,
  the two common German wallbox ratings (KfW 440 programme: <= 11 kW);
- bidirectional chargers discharge at the same rating as they charge;
- charge and discharge efficiency 0.92 each (Apostolaki-Iosifidou, Codani, Kempton, Energy 127 (2017):
  measured one-way efficiencies about 0.85-0.95 at power);
- minimum reserve 20 % of capacity, departure target 80 % (the daily charge limit most makers recommend);
- initial state of charge uniform in 80-90 % of capacity (at or above the target: the run starts after a
  night at home, without an artificial start-up charging spike);
- a start offset per vehicle, uniform in [0, 1): times the scenario's `start_delay_max_s`, the randomised
  delay of a scheduled charger at the start of a price window (see `strategies.Smart`), as required
  by the UK Electric Vehicles (Smart Charge Points) Regulations 2021, reg. 11.

State of charge integrates exactly: dE = eta_ch * p_ch * dt - p_dis * dt / eta_dis - trip energy, and
never leaves [0, capacity].
"""
import functools
from dataclasses import dataclass

import numpy as np

UNMET_TOL_KWH = 1e-9


@dataclass(frozen=True)
class FleetParams:
    capacity_kwh: tuple[float, ...] = (40.0, 60.0, 80.0)
    capacity_share: tuple[float, ...] = (0.30, 0.45, 0.25)
    p_ch_max_kw: tuple[float, ...] = (3.7, 11.0)
    p_ch_share: tuple[float, ...] = (0.30, 0.70)
    eta_ch: float = 0.92
    eta_dis: float = 0.92
    reserve_frac: float = 0.20
    target_frac: float = 0.80
    initial_soc_range: tuple[float, float] = (0.80, 0.90)


@dataclass(frozen=True)
class Fleet:
    """Per-vehicle parameters, arrays of length n_vehicles."""

    vehicle_id: list[str]
    cp: np.ndarray  # index of the connection point (household) the vehicle charges at
    capacity_kwh: np.ndarray
    p_ch_max_kw: np.ndarray
    p_dis_max_kw: np.ndarray  # 0 where not bidirectional
    bidirectional: np.ndarray
    eta_ch: np.ndarray
    eta_dis: np.ndarray
    reserve_kwh: np.ndarray
    target_kwh: np.ndarray
    initial_e_kwh: np.ndarray
    start_offset: np.ndarray  # [0, 1): times start_delay_max_s, the charger's randomised delay

    @property
    def n(self) -> int:
        return len(self.cp)

    @functools.cached_property
    def home_share(self) -> np.ndarray:
        """Each EV's share of its home: 1, or 1/2 where two cars share a connection point. A controller that
        works against the home's meter (PV surplus, V2H, the export limit) takes that share of it, so two cars
        do not both answer the same kilowatt."""
        return 1.0 / np.bincount(self.cp)[self.cp] if self.n else np.ones(0)


def draw_vehicle_parameters(rng: np.random.Generator, n: int, params: FleetParams = FleetParams()) -> dict:
    """Draw parameters for `n` candidate vehicles (one per household, whether it gets an EV or not)."""
    capacity = rng.choice(np.asarray(params.capacity_kwh), size=n, p=np.asarray(params.capacity_share))
    p_ch = rng.choice(np.asarray(params.p_ch_max_kw), size=n, p=np.asarray(params.p_ch_share))
    soc0 = rng.uniform(*params.initial_soc_range, size=n)
    return {
        "capacity_kwh": capacity,
        "p_ch_max_kw": p_ch,
        "eta_ch": np.full(n, params.eta_ch),
        "eta_dis": np.full(n, params.eta_dis),
        "reserve_kwh": params.reserve_frac * capacity,
        "target_kwh": params.target_frac * capacity,
        "initial_e_kwh": soc0 * capacity,
        "start_offset": rng.random(n),  # drawn last: every other parameter keeps its draw
    }


def make_fleet(candidates: dict, *, pick: np.ndarray, cp: np.ndarray, bidirectional: np.ndarray,
               ids: list[str]) -> Fleet:
    """The fleet of the chosen candidates `pick`, charging at connection points `cp`."""
    chosen = {k: v[pick] for k, v in candidates.items()}
    return Fleet(
        vehicle_id=ids,
        cp=np.asarray(cp, dtype=np.int64),
        p_dis_max_kw=np.where(bidirectional, chosen["p_ch_max_kw"], 0.0),
        bidirectional=np.asarray(bidirectional, dtype=bool),
        **chosen,
    )


def concat_fleets(fleets: list[Fleet], n_cp: int) -> Fleet:
    """The fleets of S samples as one (EVs sample by sample), each sample's connection points numbered on
    from the last's: EV i of sample s charges at `s * n_cp + cp`."""
    arrays = {name: np.concatenate([getattr(f, name) for f in fleets])
              for name in Fleet.__dataclass_fields__ if name not in ("vehicle_id", "cp")}
    cp = np.concatenate([f.cp + s * n_cp for s, f in enumerate(fleets)]).astype(np.int64)
    return Fleet(vehicle_id=[v for f in fleets for v in f.vehicle_id], cp=cp, **arrays)


def depart(e_kwh: np.ndarray, departing: np.ndarray, trip_kwh: np.ndarray, target_kwh: np.ndarray):
    """Vehicles leave: record the shortfall against their target, then take the trip's energy.

    Returns (new e_kwh, unmet_kwh per vehicle, driven_kwh per vehicle). A trip longer than the battery
    empties it (the rest is assumed charged elsewhere) and never drives the state below zero. Shortfalls
    below UNMET_TOL_KWH are floating-point rounding of a schedule that meets the target exactly, not unmet.
    """
    short = target_kwh - e_kwh
    unmet = np.where(departing & (short > UNMET_TOL_KWH), short, 0.0)
    driven = np.where(departing, np.minimum(trip_kwh, e_kwh), 0.0)
    return e_kwh - driven, unmet, driven


def limit_power(p_kw, e_kwh, plugged, fleet: Fleet, dt_h: float):
    """Clip set-points to the charger ratings, to what the battery can take or give in one step, and to 0
    for unplugged vehicles."""
    room_kw = (fleet.capacity_kwh - e_kwh) / (fleet.eta_ch * dt_h)
    avail_kw = e_kwh * fleet.eta_dis / dt_h
    p = np.minimum(p_kw, np.minimum(fleet.p_ch_max_kw, room_kw))
    p = np.maximum(p, -np.minimum(fleet.p_dis_max_kw, avail_kw))
    return np.where(plugged, p, 0.0)


def integrate(e_kwh, p_kw, fleet: Fleet, dt_h: float):
    """Battery energy after one step at grid-side power p_kw (>0 charging). Returns (e_kwh, charged_kwh,
    discharged_kwh) with the two energies measured at the grid side."""
    charged = np.maximum(p_kw, 0.0) * dt_h
    discharged = np.maximum(-p_kw, 0.0) * dt_h
    e = e_kwh + fleet.eta_ch * charged - discharged / fleet.eta_dis
    return np.clip(e, 0.0, fleet.capacity_kwh), charged, discharged
