"""Stochastic EV mobility: when each vehicle leaves, comes back and how much energy its trips take.

Default distributions (`MobilityParams`) are simple assumptions shaped after MiD 2017 ("Mobilitaet in
Deutschland", infas/BMVI 2018): a private car covers about 40 km on an average day, weekday departures
cluster around 07:00-08:00 and returns around 17:00-18:00, weekend trips start later and cars are used on
fewer weekend days. Consumption 0.18 kWh/km is a typical real-world value of a compact BEV (ADAC Ecotest
range 15-20 kWh/100 km). All of them are parameters; a user trip table replaces them entirely.

The result is a `Mobility` of dense (step x vehicle) arrays, so that a simulation step only indexes rows.
A trip's energy leaves the battery at its departure step; the vehicle is away (unplugged) from its
departure step up to, not including, its arrival step.

Plug-in behaviour (`plug_in`): by default a car is plugged in whenever it is at home (every driving day).
Drivers do not do that: in the Electric Nation trial (Western Power Distribution, "Electric Nation Customer
Trial Final Report", 2019; about 700 home chargers in Great Britain) EVs were plugged in about three times
a week, less often the larger their battery. With a `plug_in_probability` p below 1 the driver plugs in on
returning home with probability p (drawn per return with the sample's seed), and always once the trips since
the car was last plugged in have taken more than `PLUG_IN_DRIVEN_SHARE` of its battery (a driver plugs in
before the car runs low); a car at home at the run's start is plugged in. With the default trips (5.45
driving days a week) p = 0.55 gives 3.2 plug-ins a week (113 cars over 28 days), about Electric Nation's three.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.models.errors import InputError
from hostcap.models.timestamps import local_stamps


@dataclass(frozen=True)
class MobilityParams:
    weekday_p_drive: float = 0.85
    weekend_p_drive: float = 0.60
    weekday_departure_h: tuple[float, float] = (7.5, 1.0)  # mean, std
    weekday_arrival_h: tuple[float, float] = (17.5, 1.5)
    weekend_departure_h: tuple[float, float] = (10.5, 2.0)
    weekend_arrival_h: tuple[float, float] = (16.5, 2.5)
    daily_distance_km_mean: float = 40.0
    daily_distance_log_sigma: float = 0.6
    consumption_kwh_per_km: float = 0.18
    min_stay_away_h: float = 1.0


@dataclass(frozen=True)
class Trips:
    """One row per trip: vehicle index, departure and arrival step (from the run start), energy."""

    vehicle: np.ndarray
    departure_step: np.ndarray
    arrival_step: np.ndarray
    energy_kwh: np.ndarray

    def of_vehicles(self, vehicles: np.ndarray) -> "Trips":
        """The trips of the given vehicles, renumbered 0 .. len(vehicles)-1 in that order."""
        remap = np.full(int(max(self.vehicle.max(initial=-1), np.max(vehicles, initial=-1))) + 1, -1)
        remap[vehicles] = np.arange(len(vehicles))
        new = remap[self.vehicle] if len(self.vehicle) else self.vehicle
        keep = new >= 0
        return Trips(new[keep], self.departure_step[keep], self.arrival_step[keep], self.energy_kwh[keep])

    def then(self, other: "Trips", n_vehicles: int) -> "Trips":
        """These trips, then `other`'s with its vehicles numbered on from n_vehicles (this table's count)."""
        return Trips(np.concatenate([self.vehicle, other.vehicle + n_vehicles]),
                     *(np.concatenate([getattr(self, f), getattr(other, f)])
                       for f in ("departure_step", "arrival_step", "energy_kwh")))


@dataclass(frozen=True)
class Mobility:
    """Dense per-step arrays, shape (n_steps_horizon, n_vehicles)."""

    plugged: np.ndarray  # bool: at home and plugged in during the step
    departs: np.ndarray  # bool: the vehicle leaves at the start of this step
    trip_kwh: np.ndarray  # energy of the trip that departs at this step
    next_departure_step: np.ndarray  # int: first departure at or after this step (n_steps_horizon if none)
    next_trip_kwh: np.ndarray  # energy of that next trip (0 if none)

    def vehicles(self, start: int, stop: int) -> "Mobility":
        """The mobility of vehicles start .. stop-1: views, no copy."""
        return Mobility(*(getattr(self, name)[:, start:stop] for name in Mobility.__dataclass_fields__))


def draw_trips(
    rng: np.random.Generator, *, n_vehicles: int, weekdays: np.ndarray, steps_per_day: int,
    params: MobilityParams = MobilityParams(),
) -> Trips:
    """Draw one round trip per vehicle and driving day. `weekdays` holds each day's weekday (Mon=0).

    Draws are made for every vehicle and every day whether it drives or not, so the numbers drawn for
    one vehicle never depend on how many others there are.
    """
    n_days = len(weekdays)
    shape = (n_days, n_vehicles)
    weekend = (np.asarray(weekdays) >= 5)[:, None]
    u_drive = rng.random(shape)
    z_dep = rng.standard_normal(shape)
    z_arr = rng.standard_normal(shape)
    z_km = rng.standard_normal(shape)

    p_drive = np.where(weekend, params.weekend_p_drive, params.weekday_p_drive)
    dep_mean = np.where(weekend, params.weekend_departure_h[0], params.weekday_departure_h[0])
    dep_std = np.where(weekend, params.weekend_departure_h[1], params.weekday_departure_h[1])
    arr_mean = np.where(weekend, params.weekend_arrival_h[0], params.weekday_arrival_h[0])
    arr_std = np.where(weekend, params.weekend_arrival_h[1], params.weekday_arrival_h[1])
    dep_h = np.clip(dep_mean + dep_std * z_dep, 4.0, 16.0)
    arr_h = np.clip(arr_mean + arr_std * z_arr, dep_h + params.min_stay_away_h, 23.75)
    sigma = params.daily_distance_log_sigma
    mu = np.log(params.daily_distance_km_mean) - sigma**2 / 2  # lognormal with the given mean
    km = np.clip(np.exp(mu + sigma * z_km), 1.0, 400.0)

    day, vehicle = np.nonzero(u_drive < p_drive)
    steps_per_h = steps_per_day / 24.0
    dep_step = day * steps_per_day + np.floor(dep_h[day, vehicle] * steps_per_h).astype(np.int64)
    arr_step = day * steps_per_day + np.ceil(arr_h[day, vehicle] * steps_per_h).astype(np.int64)
    arr_step = np.maximum(arr_step, dep_step + 1)
    energy = km[day, vehicle] * params.consumption_kwh_per_km
    return Trips(vehicle.astype(np.int64), dep_step, arr_step, energy)


def trips_from_table(
    table: pd.DataFrame, *, vehicle_ids: list[str], possible_ids: set[str], capacity_kwh: np.ndarray,
    start: pd.Timestamp, dt_s: float
) -> Trips:
    """Trips from a user table with columns vehicle, departure, arrival, energy_kwh (ISO 8601 local times).

    Vehicle ids in the table are matched, as strings, to `vehicle_ids` (the fleet's ids in order); trips of
    vehicles the run did not draw are left out, but every id must be one the feeder could draw
    (`possible_ids`), and no trip may need more than its vehicle's battery (`capacity_kwh`, per fleet
    vehicle): a table that names no vehicle of the feeder, or a trip no battery can drive, is refused.
    """
    missing = {"vehicle", "departure", "arrival", "energy_kwh"} - set(table.columns)
    if missing:
        raise InputError(f"trip table: missing column(s) {', '.join(sorted(missing))}")
    dep = local_stamps(table["departure"], "trip table, departure")
    arr = local_stamps(table["arrival"], "trip table, arrival")
    try:
        energy = pd.to_numeric(table["energy_kwh"]).to_numpy(float)
    except (ValueError, TypeError):
        raise InputError("trip table: energy_kwh must be a number in every row") from None
    if not np.isfinite(energy).all() or (energy < 0).any():
        raise InputError("trip table: energy_kwh must be a finite number >= 0 in every row")
    if (arr <= dep).any():
        raise InputError("trip table: every arrival must be after its departure")
    names = table["vehicle"].astype(str)
    unknown = sorted(set(names) - possible_ids)
    if unknown:
        raise InputError(f"trip table: vehicle '{unknown[0]}' is no EV of this feeder (ids are ev<connection "
                         f"point>: {', '.join(sorted(possible_ids)[:3])}, ...)")
    index = {vid: i for i, vid in enumerate(vehicle_ids)}
    vehicle = names.map(index)
    keep = vehicle.notna().to_numpy()
    v = vehicle[keep].to_numpy(np.int64)
    too_long = np.flatnonzero(energy[keep] > capacity_kwh[v])
    if too_long.size:
        i = too_long[0]
        raise InputError(f"trip table: a trip of {energy[keep][i]:g} kWh by {vehicle_ids[v[i]]} needs more than its "
                         f"battery ({capacity_kwh[v[i]]:g} kWh)")
    dep_step = np.floor((dep - start).total_seconds().to_numpy() / dt_s).astype(np.int64)
    arr_step = np.ceil((arr - start).total_seconds().to_numpy() / dt_s).astype(np.int64)
    arr_step = np.maximum(arr_step, dep_step + 1)
    return Trips(v, dep_step[keep], arr_step[keep], energy[keep])


PLUG_IN_DRIVEN_SHARE = 0.4  # a driver plugs in once the trips since the last plug-in took this share of the battery


def plugs_in(trips: Trips, *, u: np.ndarray, probability: float, capacity_kwh: np.ndarray) -> np.ndarray:
    """Per trip (in the table's order), whether the driver plugs the car in on returning from it: with
    `probability` (u: one uniform draw per trip), and always once the trips since the last plug-in have taken
    more than PLUG_IN_DRIVEN_SHARE of the battery (module docstring)."""
    plug = np.ones(len(trips.vehicle), bool)
    if probability >= 1.0:
        return plug
    order = np.lexsort((trips.departure_step, trips.vehicle))
    driven = np.zeros(int(trips.vehicle.max(initial=-1)) + 1)
    for i in order:  # set-up only: a few trips per car and day
        v = trips.vehicle[i]
        driven[v] += trips.energy_kwh[i]
        plug[i] = u[i] < probability or driven[v] > PLUG_IN_DRIVEN_SHARE * capacity_kwh[v]
        driven[v] = 0.0 if plug[i] else driven[v]
    return plug


def build_mobility(trips: Trips, *, n_vehicles: int, n_steps: int, plug: np.ndarray | None = None) -> Mobility:
    """Dense arrays over `n_steps` (the run plus its look-ahead). Trips outside the horizon are cut. `plug`:
    per trip, whether the car is plugged in at home after it (`plugs_in`; default: always)."""
    keep = (trips.departure_step < n_steps) & (trips.arrival_step > 0)
    v = trips.vehicle[keep]
    dep = trips.departure_step[keep]
    arr = np.minimum(trips.arrival_step[keep], n_steps)
    energy = trips.energy_kwh[keep]

    away_delta = np.zeros((n_steps + 1, n_vehicles), dtype=np.int32)
    np.add.at(away_delta, (np.maximum(dep, 0), v), 1)
    np.add.at(away_delta, (arr, v), -1)
    away = np.cumsum(away_delta, axis=0)[:n_steps]
    if (away > 1).any():
        raise InputError("trip table: a vehicle has overlapping trips")
    plugged = away == 0
    if plug is not None and not plug[keep].all():  # home but not plugged in: from the return to the next departure
        unplug = np.zeros((n_steps + 1, n_vehicles), dtype=np.int32)
        at = ~plug[keep] & (arr < n_steps)
        nxt = _next_departure_after(v, dep, arr, n_steps)
        np.add.at(unplug, (arr[at], v[at]), 1)
        np.add.at(unplug, (nxt[at], v[at]), -1)
        plugged &= np.cumsum(unplug, axis=0)[:n_steps] == 0

    departs = np.zeros((n_steps, n_vehicles), dtype=bool)
    trip_kwh = np.zeros((n_steps, n_vehicles))
    started = dep >= 0  # a trip already under way at the start took its energy before the run
    departs[dep[started], v[started]] = True
    np.add.at(trip_kwh, (dep[started], v[started]), energy[started])

    steps = np.arange(n_steps)[:, None]
    dep_at = np.where(departs, steps, n_steps)
    next_dep = np.minimum.accumulate(dep_at[::-1], axis=0)[::-1]
    cols = np.broadcast_to(np.arange(n_vehicles), next_dep.shape)
    next_trip = np.where(next_dep < n_steps, trip_kwh[np.minimum(next_dep, n_steps - 1), cols], 0.0)
    return Mobility(plugged, departs, trip_kwh, next_dep.astype(np.int64), next_trip)


def _next_departure_after(vehicle: np.ndarray, dep: np.ndarray, arr: np.ndarray, n_steps: int) -> np.ndarray:
    """Per trip, the departure step of the same vehicle's next trip (n_steps if none)."""
    order = np.lexsort((dep, vehicle))
    nxt = np.full(len(dep), n_steps)
    same = vehicle[order][1:] == vehicle[order][:-1]
    nxt[order[:-1][same]] = dep[order][1:][same]
    return nxt


def concat_mobility(mobilities: list[Mobility]) -> Mobility:
    """The mobility of S samples' fleets side by side (vehicles sample by sample; same horizon)."""
    return Mobility(*(np.concatenate([getattr(m, name) for m in mobilities], axis=1)
                      for name in Mobility.__dataclass_fields__))
