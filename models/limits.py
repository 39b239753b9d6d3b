"""Voltage criteria and thermal limits from named standards.

Voltage criteria (`band` in a run or study), each judged per bus:
- `en50160`: EN 50160:2010 cl. 4.2.2.2 (LV supply voltage variations) as written: in each period of one week,
  95 % of the 10-minute mean values within Un +/- 10 % (0.90-1.10 pu) and all of them within +10 % / -15 %
  (0.85-1.10 pu). The 10-minute means are the means of the run's steps when the step divides 10 minutes;
  with a longer step (15 min by default) the statistic is taken on the step's values, and the outputs say
  so (`statistic_note`). Weeks are counted from the run's start; a run shorter than a week, or the days left
  after its last whole week, are judged as one period of their own length.
- `en50160_strict`: every value of every step within 0.90-1.10 pu (a hard limit, stricter than the standard).
- `ansi_a`: ANSI C84.1-2020 Range A, service voltage: 114-126 V on 120 V, 0.95-1.05 pu, every step.
- `ansi_b`: ANSI C84.1-2020 Range B, service voltage: 110-127 V on 120 V, 0.9167-1.0583 pu, every step.
Non-converged steps and de-energised buses (NaN) are left out.

Voltage unbalance (`unbalance`, three-phase runs): EN 50160:2010 cl. 4.2.5: in each week, 95 % of the
10-minute mean values of the negative-sequence voltage within 0-2 % of the positive-sequence voltage (the
voltage unbalance factor, VUF), weeks and means as for `en50160` above.

Thermal limits: 100 % of the line's rated current (max_i_ka) and of the transformer's rated power (sn_mva),
pandapower's loading_percent definitions.
"""
import warnings
from dataclasses import dataclass

import numpy as np

from hostcap.models.errors import InputError

WEEK_S = 7 * 86400.0
MEAN_S = 600.0  # EN 50160's 10-minute mean


@dataclass(frozen=True)
class VoltageBand:
    name: str
    v_min_pu: float  # the limits every value (strict) or 95 % of the values (statistic) must keep
    v_max_pu: float
    source: str
    weekly_share: float = 1.0  # share of a week's values that must lie within v_min..v_max
    v_min_all_pu: float | None = None  # with weekly_share < 1: the limit every value must keep

    def statistic_note(self, dt_s: float) -> str:
        """How the criterion is evaluated at this step, for reports and summaries."""
        if self.weekly_share == 1.0:
            return f"every {dt_s / 60:g}-min value within {self.v_min_pu:g}-{self.v_max_pu:g} pu"
        values = "10-min means" if dt_s <= MEAN_S and MEAN_S % dt_s == 0 else \
            f"{dt_s / 60:g}-min values (the step is longer than EN 50160's 10 min)"
        return (f"per week, {self.weekly_share:.0%} of the {values} within {self.v_min_pu:g}-{self.v_max_pu:g} pu, "
                f"all within {self.v_min_all_pu:g}-{self.v_max_pu:g} pu")


BANDS = {
    "en50160": VoltageBand("en50160", 0.90, 1.10, "EN 50160:2010 cl. 4.2.2.2, weekly 95 % of 10-min means within "
                           "Un +/- 10 %, all within +10 %/-15 %", weekly_share=0.95, v_min_all_pu=0.85),
    "en50160_strict": VoltageBand("en50160_strict", 0.90, 1.10, "EN 50160:2010 limits Un +/- 10 % as a hard "
                                  "limit on every value"),
    "ansi_a": VoltageBand("ansi_a", 0.95, 1.05, "ANSI C84.1-2020 Range A service voltage, +/- 5 %"),
    "ansi_b": VoltageBand("ansi_b", 110 / 120, 127 / 120, "ANSI C84.1-2020 Range B service voltage, 110-127 V"),
}
BAND_NAMES = tuple(BANDS)


def voltage_band(name: str) -> VoltageBand:
    try:
        return BANDS[name]
    except KeyError:
        raise InputError(f"band: unknown '{name}', choose one of {', '.join(BANDS)}") from None


def _periods(vm_pu: np.ndarray, dt_s: float) -> list[np.ndarray]:
    """The run's values as EN 50160 judges them: 10-minute means where the step divides 10 minutes, split
    into weeks from the start (a remainder shorter than a week is a period of its own)."""
    per_mean = int(round(MEAN_S / dt_s)) if dt_s <= MEAN_S and MEAN_S % dt_s == 0 else 1
    if per_mean > 1:
        n = len(vm_pu) // per_mean * per_mean
        with np.errstate(invalid="ignore"):
            vm_pu = np.nanmean(vm_pu[:n].reshape(-1, per_mean, vm_pu.shape[1]), axis=1) if n else vm_pu[:0]
    per_week = max(int(round(WEEK_S / (dt_s * per_mean))), 1)
    return [vm_pu[i:i + per_week] for i in range(0, len(vm_pu), per_week)]


VUF_LIMIT_PCT = 2.0
VUF_SHARE = 0.95


def unbalance_statistic(vuf_pct: np.ndarray, dt_s: float) -> np.ndarray:
    """Per bus, the highest over the run's weeks of the 95th percentile of its VUF values (EN 50160 cl.
    4.2.5's statistic; steps x buses in, NaN where never energised and converged)."""
    out = np.full(vuf_pct.shape[1], np.nan)
    for week in _periods(vuf_pct, dt_s):
        if np.isfinite(week).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                out = np.fmax(out, np.nanpercentile(week, 100 * VUF_SHARE, axis=0, method="inverted_cdf"))
    return out


def unbalance_violations(vuf_pct: np.ndarray, dt_s: float) -> np.ndarray:
    """Per bus, whether more than 5 % of a week's VUF values exceed 2 % (EN 50160 cl. 4.2.5)."""
    out = np.zeros(vuf_pct.shape[1], bool)
    for week in _periods(vuf_pct, dt_s):
        with np.errstate(invalid="ignore"):
            out |= (week > VUF_LIMIT_PCT).sum(axis=0) > (1.0 - VUF_SHARE) * np.isfinite(week).sum(axis=0)
    return out


def voltage_violations(vm_pu: np.ndarray, dt_s: float, band: VoltageBand) -> tuple[np.ndarray, np.ndarray]:
    """(under, over): per bus, whether it breaks the criterion low or high over the run (steps x buses, or
    steps x buses x phases: a bus breaks it when one of its phases does)."""
    if vm_pu.ndim == 3:
        under, over = voltage_violations(vm_pu.reshape(len(vm_pu), -1), dt_s, band)
        return under.reshape(vm_pu.shape[1:]).any(axis=1), over.reshape(vm_pu.shape[1:]).any(axis=1)
    with np.errstate(invalid="ignore"):
        if band.weekly_share == 1.0:
            return (vm_pu < band.v_min_pu).any(axis=0), (vm_pu > band.v_max_pu).any(axis=0)
        under = np.zeros(vm_pu.shape[1], bool)
        over = np.zeros(vm_pu.shape[1], bool)
        for week in _periods(vm_pu, dt_s):
            n = np.isfinite(week).sum(axis=0)
            low, high = (week < band.v_min_pu).sum(axis=0), (week > band.v_max_pu).sum(axis=0)
            outside = (low + high) > (1.0 - band.weekly_share) * n
            over |= high > 0  # every value must stay at or below the upper limit
            under |= (outside & (low > 0)) | (week < band.v_min_all_pu).any(axis=0)
    return under, over
