"""Feeder profiles: per-element active/reactive power over time, stored as shape profiles times a scale.

p_mw[t, i] = shapes[t, column[i]] * scale[i]. SimBench's relative profiles fit this directly (a few dozen
shape columns for hundreds of loads); user tables of absolute MW use one column per element and scale 1;
flat profiles use one column of ones and the element's rated power. Only the steps of a run are expanded.

A feeder that comes without profiles (a pandapower JSON or builder net without a profiles file) gets standard
ones (`standard_profiles`): SimBench's household profiles H0-A, H0-B and H0-C (SimBench 2016 year, quarter-
hourly, relative to the load's rated power: p = shape x p_mw, q = q-shape x q_mvar), taken in turn by the
loads in table order so that neighbours do not peak at the same quarter hour, and SimBench's rooftop PV profile
PV3 for every sgen. They are read from the simbench package's own data (Meinecke et al., "SimBench - A
Benchmark Dataset of Electric Power Systems", Energies 13(12) 3290, 2020), nothing is downloaded. Rated power
every step (`flat`) is a choice the user makes (`--profiles flat`, `profiles: flat`): a village feeder run
flat sees every load at its rating at once.
"""
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.models.errors import InputError
from hostcap.models.timestamps import local_stamps


@dataclass(frozen=True)
class ElementProfile:
    shapes: np.ndarray  # (n_steps, n_columns)
    column: np.ndarray  # (n_elements,) column index into shapes
    scale: np.ndarray  # (n_elements,) MW or Mvar

    def values(self, start: int, n: int) -> np.ndarray:
        """Absolute values (MW or Mvar), shape (n, n_elements), for steps start .. start+n-1."""
        return self.shapes[start:start + n][:, self.column] * self.scale

    @classmethod
    def flat(cls, n_steps: int, rated: np.ndarray) -> "ElementProfile":
        return cls(np.ones((n_steps, 1)), np.zeros(len(rated), dtype=np.int64), np.asarray(rated, float))


@dataclass(frozen=True)
class FeederProfiles:
    """Profiles of load p, load q and sgen p on one regular time index. `flat` profiles fit any period.
    `source` says in words where they come from (the outputs and the report name it)."""

    index: pd.DatetimeIndex
    load_p: ElementProfile
    load_q: ElementProfile
    sgen_p: ElementProfile
    source: str
    flat: bool = False

    @property
    def dt_s(self) -> float:
        return float((self.index[1] - self.index[0]).total_seconds())

    def locate(self, start: pd.Timestamp, n_steps: int) -> int:
        """Row of `start`, checking that the period lies inside the profiles (flat ones start at row 0)."""
        if self.flat:
            if n_steps > len(self.index):
                raise InputError(f"days: flat profiles cover at most {len(self.index)} steps")
            return 0
        first, last = self.index[0], self.index[-1]
        pos = self.index.get_indexer([start])[0]
        if pos < 0 or pos + n_steps > len(self.index):
            raise InputError(
                f"start/days: period {start:%Y-%m-%d} + {n_steps} steps lies outside the feeder's profiles "
                f"({first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M})")
        return int(pos)


def check_profile_values(name: str, shapes: np.ndarray) -> None:
    if not np.isfinite(shapes).all():
        raise InputError(f"{name}: profile contains NaN or infinite values")


def _simbench_index(times: pd.Series) -> pd.DatetimeIndex:
    """SimBench times are local wall-clock strings that repeat an hour at the end of DST; the data are one
    regular quarter-hourly year, so the index is rebuilt from the first two stamps."""
    stamps = pd.to_datetime(times.iloc[:2], format="%d.%m.%Y %H:%M")
    return pd.date_range(stamps.iloc[0], periods=len(times), freq=stamps.iloc[1] - stamps.iloc[0])


def simbench_profiles(net) -> FeederProfiles:
    """SimBench relative profiles (net.profiles) times each element's rated power, as simbench's
    get_absolute_values does, without expanding the whole year for every element."""
    load_rel = net.profiles["load"]
    index = _simbench_index(load_rel["time"])
    sgen_rel = pd.concat([net.profiles["renewables"].drop(columns="time"),
                          net.profiles["powerplants"].drop(columns="time")], axis=1)

    def element(rel: pd.DataFrame, names: pd.Series, rated: pd.Series, what: str) -> ElementProfile:
        cols = list(rel.columns)
        missing = sorted(set(names) - set(cols))
        if missing:
            raise InputError(f"{what}: SimBench profile(s) {', '.join(missing[:5])} not found")
        shapes = rel.to_numpy(float)
        check_profile_values(what, shapes)
        return ElementProfile(shapes, np.array([cols.index(n) for n in names]), rated.to_numpy(float))

    load_rel = load_rel.drop(columns="time")
    return FeederProfiles(
        pd.DatetimeIndex(index),
        element(load_rel, net.load["profile"] + "_pload", net.load["p_mw"], "load profiles"),
        element(load_rel, net.load["profile"] + "_qload", net.load["q_mvar"], "load profiles"),
        element(sgen_rel, net.sgen["profile"], net.sgen["p_mw"], "sgen profiles"),
        "SimBench profiles of the feeder",
    )


FLAT = "flat"  # the profiles value that asks for rated power every step
HOUSEHOLD_SHAPES = ("H0-A", "H0-B", "H0-C")  # SimBench household load profiles, taken in turn
PV_SHAPE = "PV3"  # SimBench rooftop PV profile
STANDARD_SOURCE = (f"standard profiles (the feeder has none): SimBench households {', '.join(HOUSEHOLD_SHAPES)} "
                   f"in turn, times each load's rating; SimBench {PV_SHAPE} for every sgen")


@functools.lru_cache(maxsize=1)
def _simbench_standard_shapes() -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Index, household p and q shapes (n_steps, 3) and the PV shape (n_steps, 1) from the simbench
    package's data (its scenario-0 profile tables, which every LV grid of scenario 0 uses)."""
    from pathlib import Path

    import simbench

    folder = Path(simbench.__file__).parent / "networks" / "1-complete_data-mixed-all-0-sw"
    loads = pd.read_csv(folder / "LoadProfile.csv", sep=";", usecols=["time", *(
        f"{h}_{pq}load" for h in HOUSEHOLD_SHAPES for pq in "pq")])
    pv = pd.read_csv(folder / "RESProfile.csv", sep=";", usecols=["time", PV_SHAPE])
    return (_simbench_index(loads["time"]), loads[[f"{h}_pload" for h in HOUSEHOLD_SHAPES]].to_numpy(float),
            loads[[f"{h}_qload" for h in HOUSEHOLD_SHAPES]].to_numpy(float), pv[[PV_SHAPE]].to_numpy(float))


def pv_shape(index: pd.DatetimeIndex, dt_s: float) -> np.ndarray:
    """SimBench's rooftop PV profile PV3 (relative to the rated power) at each step of `index`, on the same
    calendar day and time of its year (2016), averaged over each step: the PV that a household adds (a PV
    system a pathway gives it, `models/pv.py`)."""
    idx, _, _, pv = _simbench_standard_shapes()
    series = pd.Series(pv[:, 0], index=idx)
    k = max(int(round(dt_s / 900.0)), 1)  # quarter hours per step
    starts = pd.to_datetime(dict(year=2016, month=index.month, day=index.day, hour=index.hour,
                                 minute=index.minute // 15 * 15))
    at = pd.DatetimeIndex(np.repeat(starts.to_numpy(), k)) + np.tile(pd.to_timedelta(np.arange(k) * 15, "min"),
                                                                      len(index))
    return series.reindex(at, method="nearest").to_numpy().reshape(len(index), k).mean(axis=1)


def standard_profiles(net) -> FeederProfiles:
    """The profiles of a feeder that has none (the module docstring)."""
    index, p_shapes, q_shapes, pv = _simbench_standard_shapes()
    turn = np.arange(len(net.load)) % len(HOUSEHOLD_SHAPES)
    return FeederProfiles(index, ElementProfile(p_shapes, turn, net.load["p_mw"].to_numpy(float)),
                          ElementProfile(q_shapes, turn, net.load["q_mvar"].to_numpy(float)),
                          ElementProfile(pv, np.zeros(len(net.sgen), dtype=np.int64), net.sgen["p_mw"].to_numpy(float)),
                          STANDARD_SOURCE)


def flat_profiles(net, n_steps: int = 35136, dt_s: float = 900.0) -> FeederProfiles:
    """Rated power every step, asked for with `profiles: flat`."""
    index = pd.date_range("2016-01-01", periods=n_steps, freq=pd.Timedelta(seconds=dt_s))
    return FeederProfiles(index, ElementProfile.flat(n_steps, net.load["p_mw"].to_numpy()),
                          ElementProfile.flat(n_steps, net.load["q_mvar"].to_numpy()),
                          ElementProfile.flat(n_steps, net.sgen["p_mw"].to_numpy()),
                          "flat: every load and sgen at its rated power every step (asked for)", flat=True)


def table_profiles(net, path) -> FeederProfiles:
    """Absolute profiles from a CSV or Parquet file: first column (or the index) the timestamps, then
    columns named `load.p_mw.<index>`, `load.q_mvar.<index>`, `sgen.p_mw.<index>` in MW / Mvar.
    Elements without a column keep their rated power."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InputError(f"profiles: file not found: {path}")
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, index_col=0)
        table = table.apply(pd.to_numeric, errors="raise")
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
        raise InputError(f"profiles: cannot read {path}: {exc}".splitlines()[0]) from None
    table.index = local_stamps(table.index, f"profiles: {path}")
    if len(table) < 2:
        raise InputError(f"profiles: {path} needs at least two rows")
    steps = np.diff(table.index.asi8)
    if (steps <= 0).any() or (steps != steps[0]).any():
        raise InputError(f"profiles: {path} timestamps must be increasing and equally spaced")
    if 86400e9 % steps[0]:
        raise InputError(f"profiles: {path} step of {steps[0] / 60e9:g} min does not divide a day")
    if len(table) % round(86400e9 / steps[0]):
        raise InputError(f"profiles: {path} has {len(table)} rows, not a whole number of days")
    check_profile_values(f"profiles: {path}", table.to_numpy(float))
    known = {f"{elm}.{col}.{i}" for elm, col in (("load", "p_mw"), ("load", "q_mvar"), ("sgen", "p_mw"))
             for i in net[elm].index}
    unknown = sorted(set(table.columns) - known)
    if unknown:
        raise InputError(f"profiles: {path} column '{unknown[0]}' names no load or sgen of the feeder")

    def element(elm: str, col: str) -> ElementProfile:
        rated = net[elm][col].to_numpy(float)
        names = [f"{elm}.{col}.{i}" for i in net[elm].index]
        shapes = np.column_stack([table[n].to_numpy(float) if n in table else np.ones(len(table))
                                  for n in names] or [np.ones(len(table))])
        scale = np.array([1.0 if n in table else r for n, r in zip(names, rated)])
        return ElementProfile(shapes, np.arange(len(names)), scale)

    rated = [f"{sum(f'{elm}.{col}.{i}' not in table for i in net[elm].index)} of {len(net[elm])} {elm} {col}"
             for elm, col in (("load", "p_mw"), ("load", "q_mvar"), ("sgen", "p_mw"))]
    return FeederProfiles(pd.DatetimeIndex(table.index), element("load", "p_mw"),
                          element("load", "q_mvar"), element("sgen", "p_mw"),
                          f"profiles file {path.name} (at rated power, without a column: {', '.join(rated)})")
