"""Load a feeder by reference: `simbench:<code>`, a pandapower JSON file, or `pandapower:<function>`.

Connection points are the places a customer (and its EV) or rooftop PV attaches: one per load, plus one
per bus that has sgens but no load. PV of a bus is shared equally by its connection points.

Customer class of each in-service load on a bus below 1 kV (`customer_class`; MV loads have none and never
get an EV):
- SimBench: from the load's profile type (SimBench documentation, "Datenformat" and its profile list):
  `H0*` (BDEW Haushalt) residential, `G*` (Gewerbe) commercial, `L*` (Landwirtschaft) agricultural,
  `Air_*`/`Soil_*` heat pumps (`heat_pump`), `APLS_*` workplace charging points (`workplace_charging`: a
  connection point of its own with its SimBench profile, the charging, and no EV), `HLS_*` home charging points
  (`home_charging`); anything else commercial. A home charging point is the charger of the household on its bus:
  it is no connection point of its own (its profile is not used: the household's EV, drawn by the run, is what
  charges there, so EV charging is never counted twice) and sets the charger rating of that household's EV
  (`charging_point_kw`, 3.7/11/22 kW in SimBench; a home with two charging points gets one EV at the higher
  rating, and on a bus with several homes the first home gets it). A heat pump on a household's bus is that
  household's heat pump, one of the heat-pump population (`models/heat_pump.py`, `Feeder.heat_pumps`): it keeps
  its rated power (`p_mw`) and its source (`Air_*` air, `Soil_*` ground), and its demand follows the outdoor
  temperature as every heat pump's does; its SimBench profile, whose bivalent modes (`Alternative`, `Parallel`,
  `Semi-Parallel`) hand the coldest hours to a fuel boiler, is not used (the population's heat pumps are
  monovalent with a heating rod: the all-electric home). Either, where no household shares its bus, is a
  connection point of its own with its profile, without an EV: its profile, a charging point's included
  (SimBench's `APLS_`, and an `HLS_` on a farm), is then part of the no-EV baseline.
- A net with a boolean `household` column in its load table (a JSON feeder): True residential, False
  commercial.
- Otherwise every LV load is residential.
Residential connection points are the households (`household`); which classes may get an EV is a run
setting (`ev_at`, residential only by default).

A residential load above `HOUSEHOLD_MAX_KW` (its `p_mw`) is not one home but a lumped group of homes (CIGRE
LV's R1 is 190 kW): it is split into the fewest connection points of at most that size, ceil(p / 30 kW),
each taking an equal share of the load's profile (`share`), so that each gets at most one EV.

Phase connection of each connection point (`phase`: "a", "b", "c", or "abc" three-phase), from the feeder:
- pandapower `asymmetric_load`s (the IEEE European LV test feeder's 55 homes) become loads of their total
  power on the phase that carries it ("abc" when more than one does); their sum is unchanged, so the
  balanced power flow is the one it was;
- a `phase` column in a JSON feeder's load table (a, b, c or abc; empty: three-phase);
- a plain pandapower `load` is symmetric by definition: "abc".
Where single-phase devices go on a three-phase connection point is drawn per run (`models/phases.py`).

Storage (`net.storage`) is PV home batteries (`models/battery.py`), one population of the homes: each in-service
storage sits behind the meter of the first household on its bus (else of the first connection point there; a
storage on a bus without one is refused), with its usable energy `max_e_mwh` (above `min_e_mwh`), power `sn_mva`
(else `|p_mw|`), round-trip efficiency `efficiency_percent` (a fraction or a percentage; default
`DEFAULT_ROUND_TRIP`), initial state `soc_percent` (default half full; SimBench gives 0: its batteries start empty,
so a short run's first sunny day fills them) and `self-discharge_percent_per_day` where given. Batteries at one
connection point add up. The storages themselves are then out of service in the feeder's net: the battery
population is their only power, so no static `p_mw` ever enters a power flow. SimBench's storages are of type
`PV_Storage` and sit at customers without an sgen: their profile (`Storage_PV3_H0-A`: PV profile 3 with a battery,
planned against standard load profile H0-A, or a commercial one such as G1-B; never negative) is the AC output of a
PV system with a battery. hostcap does not use that profile: it adds the PV system as an sgen of the storage's
rated power with the PV profile the name gives (`PV3`; the storage profile's yearly energy is 3-4.5 % below the PV
profile's, the battery's losses) and runs the battery against the home's real net demand, EV included.
"""
import copy
import dataclasses
import functools
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
from scipy import sparse

from hostcap.feeders import DEFAULT_FEEDER
from hostcap.feeders.profiles import (
    FLAT,
    FeederProfiles,
    flat_profiles,
    simbench_profiles,
    standard_profiles,
    table_profiles,
)
from hostcap.feeders.simbench_cache import simbench_net
from hostcap.feeders.validate import check_values, validate_net
from hostcap.models.battery import HomeBatteries
from hostcap.models.errors import InputError

HOUSEHOLD_MAX_KW = 30.0  # a larger residential load is split into homes of at most this size
# SimBench profile-name prefixes, longest first (HLS_ before H, APLS_ before A...)
_SIMBENCH_CLASS = (("HLS_", "home_charging"), ("APLS_", "workplace_charging"), ("Air_", "heat_pump"),
                   ("Soil_", "heat_pump"), ("H", "residential"), ("G", "commercial"), ("L", "agricultural"))
# round trip of an AC-coupled home battery where the feeder gives none: HTW Berlin, Stromspeicher-Inspektion
# 2023, median system efficiency of the tested AC systems about 0.90
DEFAULT_ROUND_TRIP = 0.90


@dataclass(frozen=True)
class Feeder:
    ref: str
    net: pp.pandapowerNet  # validated base case; treat as read-only (copy before changing it)
    connection_points: pd.DataFrame  # index cp: bus, load (-1 if none), share, customer_class, household, phase,
    # charging_point_kw (the feeder's own home charger there, 0 if none), lon, lat
    profiles: FeederProfiles
    has_coordinates: bool
    batteries: HomeBatteries  # PV home batteries per connection point (module docstring)
    heat_pumps: pd.DataFrame  # load, cp, p_el_rated_kw, ground: the households' own heat pumps (docstring)

    def cp_arrays(self, start: int, n_steps: int) -> dict[str, np.ndarray]:
        """Household demand and rooftop PV per connection point, shape (n_steps, n_cp), kW / kvar."""
        cps = self.connection_points
        n_cp, n_load = len(cps), len(self.net.load)
        of_load = np.flatnonzero(cps["load"].to_numpy() >= 0)
        load_pos = pd.Series(np.arange(n_load), index=self.net.load.index).loc[cps["load"].to_numpy()[of_load]]
        load_cp = sparse.csr_matrix((cps["share"].to_numpy()[of_load], (load_pos.to_numpy(), of_load)),
                                    shape=(n_load, n_cp))
        load_on = self.net.load["in_service"].to_numpy(float)
        p = self.profiles
        return {
            "p_load_kw": np.asarray((p.load_p.values(start, n_steps) * load_on) @ load_cp) * 1e3,
            "q_load_kvar": np.asarray((p.load_q.values(start, n_steps) * load_on) @ load_cp) * 1e3,
            "p_pv_kw": np.asarray(p.sgen_p.values(start, n_steps) @ self.sgen_cp) * 1e3,
        }

    @functools.cached_property
    def sgen_cp(self) -> sparse.csr_matrix:
        """(n_sgen, n_cp): each in-service sgen's share at each connection point (its bus's, equally)."""
        cps = self.connection_points
        sgen_bus = self.net.sgen["bus"].to_numpy()
        in_service = self.net.sgen["in_service"].to_numpy(bool)
        rows, cols, vals = [], [], []
        by_bus = cps.groupby("bus").groups
        for i, bus in enumerate(sgen_bus):
            if not in_service[i]:
                continue
            members = np.asarray(by_bus[bus])
            rows += [i] * len(members)
            cols += list(members)
            vals += [1.0 / len(members)] * len(members)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(sgen_bus), len(cps)))

    @property
    def pv_rated_kw(self) -> np.ndarray:
        """(n_cp,) the rated power of the rooftop PV at each connection point, kW."""
        return np.asarray(self.net.sgen["p_mw"].to_numpy() @ self.sgen_cp).ravel() * 1e3

    def with_slack_vm_pu(self, vm_pu: float) -> "Feeder":
        """The same feeder with its external grid held at `vm_pu` (a copy; this one is cached and shared)."""
        net = copy.deepcopy(self.net)
        net.ext_grid["vm_pu"] = vm_pu
        return dataclasses.replace(self, net=net)

    def standard_load_kw(self, index: pd.DatetimeIndex) -> np.ndarray:
        """The households' summed load as a standard load profile gives it at each stamp of `index`: the
        mean, over every day of the feeder's profiles in the same season and of the same day type, of the
        same time-of-day slot (a stamp between slots takes the slot it falls in). Seasons and day types are
        those of the BDEW standard load profiles (VDEW, "Repräsentative VDEW-Lastprofile", 1999): winter
        1 Nov - 20 Mar, summer 15 May - 14 Sep, transition otherwise; workday, Saturday, Sunday (public
        holidays are not singled out). A class absent from the profiles takes the mean of all days."""
        p = self.profiles
        cps = self.connection_points
        home = self.net.load.index.isin(cps.loc[cps["household"], "load"])
        per_column = np.bincount(p.load_p.column, weights=np.where(home, p.load_p.scale, 0.0) * 1e3,
                                 minlength=p.load_p.shapes.shape[1])
        total_kw = p.load_p.shapes @ per_column
        n_slots = int(round(86400.0 / p.dt_s))
        own, at = _slp_key(p.index, p.dt_s), _slp_key(index, p.dt_s)
        count = np.bincount(own, minlength=9 * n_slots)
        mean = np.bincount(own, weights=total_kw, minlength=9 * n_slots) / np.maximum(count, 1)
        slot_mean = (np.bincount(own % n_slots, weights=total_kw, minlength=n_slots)
                     / np.maximum(np.bincount(own % n_slots, minlength=n_slots), 1))
        return np.where(count[at] > 0, mean[at], slot_mean[at % n_slots])


def _slp_key(index: pd.DatetimeIndex, dt_s: float) -> np.ndarray:
    """(season * 3 + day type) * slots per day + time-of-day slot, for each stamp (see standard_load_kw)."""
    md = index.month * 100 + index.day
    season = np.where((md >= 1101) | (md <= 320), 0, np.where((md >= 515) & (md <= 914), 1, 2))
    day_type = np.minimum(index.weekday.to_numpy() - 4, 2).clip(0)  # Mon-Fri 0, Sat 1, Sun 2
    n_slots = int(round(86400.0 / dt_s))
    slot = ((index - index.normalize()) // pd.Timedelta(seconds=dt_s)).to_numpy()
    return (season * 3 + day_type) * n_slots + np.minimum(slot, n_slots - 1)


def load_feeder(ref: str = DEFAULT_FEEDER, profiles: str | None = None) -> Feeder:
    """Load, validate and describe a feeder. Cached per (ref, profiles) and the files' `files_stamp` (a file
    edited in a long session, a notebook's or a Dask worker's, is read again): callers must not mutate it."""
    ref, profiles = str(ref), None if profiles is None else str(profiles)
    return _load_feeder(ref, profiles, files_stamp(ref, profiles))


def files_stamp(*refs: str | None) -> tuple:
    """Size and modification time of each of the files a feeder reference, profiles or trips name (a
    `simbench:`/`pandapower:` reference or None names none; a missing file is stamped as missing): a key of
    every cache that is built from them, so an edited file is read again."""
    stamps = []
    for ref in refs:
        if ref is None or str(ref).startswith(("simbench:", "pandapower:")):
            continue
        try:
            st = Path(ref).stat()
            stamps.append((str(ref), st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append((str(ref), None, None))
    return tuple(stamps)


@functools.lru_cache(maxsize=4)
def _load_feeder(ref: str, profiles: str | None, stamp: tuple) -> Feeder:
    net, prof = _read(ref, profiles)
    check_values(net, ref)
    if not prof.flat and len(prof.index) < 2:
        raise InputError(f"feeder {ref}: profiles need at least two steps")
    cps, has_coords, heat_pumps = _connection_points(net)
    batteries = _batteries(net, cps, ref)
    net.storage["in_service"] = False  # the battery population is the storages' only power
    validate_net(net, ref)
    return Feeder(ref, net, cps, prof, has_coords, batteries, heat_pumps)


def _read(ref: str, profiles: str | None):
    if ref.startswith("simbench:"):
        net = simbench_net(ref.split(":", 1)[1])
        _simbench_storage_pv(net)
        return net, _profiles(net, profiles, simbench_profiles)
    if ref.startswith("pandapower:"):
        net = _network_builder(ref.split(":", 1)[1])
    else:
        net = _json_net(ref)
    net = _symmetric_loads(net, ref)
    return net, _profiles(net, profiles, standard_profiles)


def _profiles(net, profiles: str | None, own) -> FeederProfiles:
    """A profiles file, `flat` (rated power every step), or the feeder's own (`own(net)`: SimBench's, or the
    standard household profiles of `feeders/profiles.py`)."""
    if profiles == FLAT:
        return flat_profiles(net)
    return table_profiles(net, profiles) if profiles else own(net)


def _network_builder(name: str):
    """Call a network builder of pandapower.networks (a function defined there that needs no argument)."""
    func = getattr(pn, name, None)
    module = getattr(func, "__module__", "") or ""
    if not (inspect.isfunction(func) and module.startswith("pandapower.networks")) or name.startswith("_"):
        raise InputError(f"feeder: '{name}' is not a pandapower.networks network builder")
    required = [p for p in inspect.signature(func).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if required:
        raise InputError(f"feeder: pandapower.networks.{name} needs arguments ({required[0].name}); "
                         "save the net as pandapower JSON instead")
    try:
        net = func()
    except Exception as exc:  # noqa: BLE001 - a builder that fails is reported, not a traceback
        raise InputError(f"feeder: pandapower.networks.{name}() failed ({type(exc).__name__})") from None
    if not isinstance(net, pp.pandapowerNet):
        raise InputError(f"feeder: pandapower.networks.{name} does not return a pandapower net")
    return net


def _json_net(ref: str):
    """A pandapower net saved with pandapower.to_json; any other JSON is refused as such."""
    path = Path(ref)
    if not path.is_file():
        raise InputError(f"feeder: file not found: {ref}")
    try:
        head = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"feeder: {ref} is not a pandapower JSON net (not JSON)") from None
    if not (isinstance(head, dict) and head.get("_class") == "pandapowerNet"):
        raise InputError(f"feeder: {ref} is JSON but not a pandapower net (save one with pandapower.to_json)")
    try:
        net = pp.from_json(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
        raise InputError(f"feeder: {ref} is not a pandapower JSON net ({type(exc).__name__})") from None
    if not isinstance(net, pp.pandapowerNet):
        raise InputError(f"feeder: {ref} is not a pandapower JSON net")
    return net


def bus_coordinates(net) -> tuple[np.ndarray, np.ndarray]:
    """Bus coordinates from `net.bus.geo` (GeoJSON points, pandapower >= 3), in net.bus order. NaN where
    unknown. Geographic (lon, lat) or drawing coordinates: see `is_geographic`."""
    lon = np.full(len(net.bus), np.nan)
    lat = np.full(len(net.bus), np.nan)
    if "geo" in net.bus:
        for i, geo in enumerate(net.bus["geo"].to_numpy()):
            if isinstance(geo, str) and geo:
                coords = json.loads(geo).get("coordinates", [np.nan, np.nan])
                lon[i], lat[i] = coords[0], coords[1]
    return lon, lat


def is_geographic(lon: np.ndarray, lat: np.ndarray) -> bool:
    """WGS84 coordinates of a distribution feeder: every bus has one, within lon/lat ranges, and the feeder
    spans less than one degree (CIGRE LV's drawing coordinates span 7 x 11 "degrees": schematic)."""
    if not (len(lon) and np.isfinite(lon).all() and np.isfinite(lat).all()):
        return False
    in_range = (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all()
    return bool(in_range and np.ptp(lon) < 1.0 and np.ptp(lat) < 1.0)


def customer_classes(net) -> np.ndarray:
    """The customer class of each load (see the module docstring), in net.load order."""
    if "household" in net.load and net.load["household"].notna().all():
        return np.where(net.load["household"].astype(bool), "residential", "commercial")
    if "profile" in net.load and net.load["profile"].notna().all():
        return np.array([next((c for prefix, c in _SIMBENCH_CLASS if str(p).startswith(prefix)), "commercial")
                         for p in net.load["profile"]])
    return np.full(len(net.load), "residential")


def _simbench_storage_pv(net) -> None:
    """Add the PV system of each SimBench `PV_Storage` as an sgen with its named PV profile (module
    docstring)."""
    pv_profiles = set(net.profiles["renewables"].columns)
    for _, row in net.storage.iterrows():
        m = re.match(r"Storage_(PV\d+)_", str(row.get("profile", "")))
        if row.get("type") == "PV_Storage" and m and m.group(1) in pv_profiles:
            idx = pp.create_sgen(net, row["bus"], p_mw=abs(row["p_mw"]), name=f"{row['name']} PV",
                                 in_service=bool(row["in_service"]))
            net.sgen.loc[idx, ["profile", "type"]] = [m.group(1), "PV"]


def _batteries(net, cps: pd.DataFrame, ref: str) -> HomeBatteries:
    """The feeder's storages as home batteries per connection point (module docstring)."""
    bat = HomeBatteries.none(len(cps))
    st = net.storage[net.storage["in_service"].astype(bool)] if len(net.storage) else net.storage
    if not len(st):
        return bat
    cap, p_max, eta, e_min, e0, sd = (np.array(a, float) for a in (bat.capacity_kwh, bat.p_max_kw, bat.eta_ch,
                                                                     bat.e_min_kwh, bat.e_initial_kwh,
                                                                     bat.self_discharge_per_h))
    by_bus = cps.groupby("bus")
    for i, row in st.iterrows():
        if row["bus"] not in by_bus.groups:
            raise InputError(f"feeder {ref}: storage {i} at bus {row['bus']} has no customer on its bus; "
                             "hostcap models storage as home batteries behind a customer's meter")
        at = cps.loc[by_bus.groups[row["bus"]]]
        cp = int((at.index[at["household"]] if at["household"].any() else at.index)[0])
        e_max, e_low = row.get("max_e_mwh", np.nan) * 1e3, row.get("min_e_mwh", 0.0)
        e_low = 0.0 if not np.isfinite(e_low) else e_low * 1e3
        kw = row.get("sn_mva", np.nan) * 1e3
        kw = kw if np.isfinite(kw) and kw > 0 else abs(row["p_mw"]) * 1e3
        if not (np.isfinite(e_max) and e_max > e_low >= 0 and np.isfinite(kw) and kw > 0):
            raise InputError(f"feeder {ref}: storage {i} needs max_e_mwh > min_e_mwh >= 0 and a power "
                             "(sn_mva or p_mw), finite")
        rt = row.get("efficiency_percent", np.nan)
        rt = DEFAULT_ROUND_TRIP if not np.isfinite(rt) else rt / 100.0 if rt > 1.0 else rt
        soc = row.get("soc_percent", np.nan)
        day = row.get("self-discharge_percent_per_day", 0.0)
        if not (0 < rt <= 1 and (not np.isfinite(soc) or 0 <= soc <= 100) and np.isfinite(day) and 0 <= day < 100):
            raise InputError(f"feeder {ref}: storage {i}: efficiency_percent, soc_percent or "
                             "self-discharge_percent_per_day out of range")
        cap[cp] += e_max
        p_max[cp] += kw
        e_min[cp] += e_low
        e0[cp] += e_low + (0.5 if not np.isfinite(soc) else soc / 100.0) * (e_max - e_low)
        eta[cp], sd[cp] = np.sqrt(rt), day / 100.0 / 24.0
    return HomeBatteries(cap, p_max, eta, eta.copy(), e_min, e0, sd)


PHASE_NAMES = ("a", "b", "c", "abc")


def _symmetric_loads(net, ref: str):
    """The net with each in-service asymmetric load replaced by a load of its total power that keeps its
    phase in a `phase` column (module docstring); a JSON feeder's `phase` column checked."""
    if "phase" in net.load:
        given = net.load["phase"].where(net.load["phase"].notna(), "abc").astype(str).str.strip().str.lower()
        given = given.replace("", "abc")
        bad = given[~given.isin(PHASE_NAMES)]
        if len(bad):
            raise InputError(f"feeder {ref}: load {bad.index[0]}: phase '{bad.iloc[0]}' is not one of "
                             f"{', '.join(PHASE_NAMES)}")
        net.load["phase"] = given
    asym = net.asymmetric_load[net.asymmetric_load["in_service"]] if "asymmetric_load" in net else []
    if not len(asym):
        return net
    if (asym["type"] != "wye").any():
        raise InputError(f"feeder {ref}: asymmetric load {asym.index[asym['type'] != 'wye'][0]} is delta-"
                         "connected; hostcap takes phase-to-neutral (wye) loads")
    p = asym[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy() * asym[["scaling"]].to_numpy()
    q = asym[["q_a_mvar", "q_b_mvar", "q_c_mvar"]].to_numpy() * asym[["scaling"]].to_numpy()
    carries = (np.abs(p) + np.abs(q)) > 0
    phase = np.where(carries.sum(axis=1) == 1, np.array(["a", "b", "c"])[carries.argmax(axis=1)], "abc")
    net = copy.deepcopy(net)
    if "phase" not in net.load:
        net.load["phase"] = pd.Series("abc", index=net.load.index, dtype=object)
    for i, name in enumerate(asym.index):
        idx = pp.create_load(net, asym.at[name, "bus"], p_mw=p[i].sum(), q_mvar=q[i].sum(),
                             name=asym.at[name, "name"])
        net.load.at[idx, "phase"] = phase[i]
    net.asymmetric_load["in_service"] = False
    return net


def _connection_points(net) -> tuple[pd.DataFrame, bool]:
    lon, lat = bus_coordinates(net)
    real = is_geographic(lon, lat)
    pos = pd.Series(np.arange(len(net.bus)), index=net.bus.index)
    lv = net.bus["vn_kv"] < 1.0
    served = lv.loc[net.load["bus"]].to_numpy() & net.load["in_service"].to_numpy(bool)
    cls = np.where(served, customer_classes(net), "")
    homes = np.where(cls == "residential", np.ceil(net.load["p_mw"].to_numpy() * 1e3 / HOUSEHOLD_MAX_KW), 1)
    homes = np.maximum(homes, 1).astype(int)
    # a home charging point or a heat pump on a household's bus is that household's, no connection point
    # of its own (docstring)
    load_bus = net.load["bus"].to_numpy()
    at_home = np.isin(load_bus, load_bus[cls == "residential"])
    charger = (cls == "home_charging") & at_home
    heat_pump = (cls == "heat_pump") & at_home
    homes[charger | heat_pump] = 0
    loads = pd.DataFrame({
        "bus": np.repeat(net.load["bus"].to_numpy(), homes),
        "load": np.repeat(net.load.index.to_numpy(), homes),
        "share": np.repeat(1.0 / np.maximum(homes, 1), homes),
        "customer_class": np.repeat(cls, homes),
        "phase": np.repeat(net.load["phase"].to_numpy() if "phase" in net.load else
                           np.full(len(net.load), "abc"), homes),
    })
    pv_only = sorted(set(net.sgen["bus"][net.sgen["in_service"]]) - set(loads["bus"]))
    extra = pd.DataFrame({"bus": pv_only, "load": -1, "share": 0.0, "customer_class": "", "phase": "abc"})
    cps = pd.concat([loads, extra], ignore_index=True)
    cps["household"] = cps["customer_class"] == "residential"
    cps["charging_point_kw"] = 0.0
    first_home = cps[cps["household"]].groupby("bus").head(1)
    home_of_bus = pd.Series(first_home.index, index=first_home["bus"])
    for bus, p_mw in zip(load_bus[charger], net.load["p_mw"].to_numpy()[charger]):
        cps.loc[home_of_bus[bus], "charging_point_kw"] = max(cps.loc[home_of_bus[bus], "charging_point_kw"], p_mw * 1e3)
    hp = net.load[heat_pump]
    heat_pumps = pd.DataFrame({"load": hp.index, "cp": home_of_bus.loc[hp["bus"]].to_numpy(),
                               "p_el_rated_kw": hp["p_mw"].to_numpy() * 1e3,
                               "ground": hp.get("profile", pd.Series(index=hp.index, dtype=str)).astype(str)
                               .str.startswith("Soil_").to_numpy(bool)})
    at = pos.loc[cps["bus"]].to_numpy()
    cps["lon"] = lon[at] if real else np.nan
    cps["lat"] = lat[at] if real else np.nan
    cps.index.name = "cp"
    return cps, real, heat_pumps
