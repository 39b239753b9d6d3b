"""Feeder profiles: per-element active/reactive power over time, stored as shape profiles times a scale.

p_mw[t, i] = shapes[t, column[i]] * scale[i]. SimBench's relative profiles fit this directly (a few dozen
shape columns for hundreds of loads); user tables of absolute MW use one column per element and scale 1;
flat profiles use one column of ones and the element's rated power. Only the steps of a run are expanded.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.models.errors import InputError


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
    """Profiles of load p, load q and sgen p on one regular time index. `flat` profiles fit any period."""

    index: pd.DatetimeIndex
    load_p: ElementProfile
    load_q: ElementProfile
    sgen_p: ElementProfile
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


def simbench_profiles(net) -> FeederProfiles:
    """SimBench relative profiles (net.profiles) times each element's rated power, as simbench's
    get_absolute_values does, without expanding the whole year for every element."""
    load_rel = net.profiles["load"]
    # SimBench times are local wall-clock strings that repeat an hour at the end of DST; the data are one
    # regular quarter-hourly year, so the index is rebuilt from the first two stamps
    stamps = pd.to_datetime(load_rel["time"].iloc[:2], format="%d.%m.%Y %H:%M")
    index = pd.date_range(stamps.iloc[0], periods=len(load_rel), freq=stamps.iloc[1] - stamps.iloc[0])
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
    )


def flat_profiles(net, n_steps: int = 35136, dt_s: float = 900.0) -> FeederProfiles:
    index = pd.date_range("2016-01-01", periods=n_steps, freq=pd.Timedelta(seconds=dt_s))
    return FeederProfiles(index, ElementProfile.flat(n_steps, net.load["p_mw"].to_numpy()),
                          ElementProfile.flat(n_steps, net.load["q_mvar"].to_numpy()),
                          ElementProfile.flat(n_steps, net.sgen["p_mw"].to_numpy()), flat=True)


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
        table.index = pd.to_datetime(table.index)
        table = table.apply(pd.to_numeric, errors="raise")
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
        raise InputError(f"profiles: cannot read {path}: {exc}".splitlines()[0]) from None
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

    return FeederProfiles(pd.DatetimeIndex(table.index), element("load", "p_mw"),
                          element("load", "q_mvar"), element("sgen", "p_mw"))
