"""Outages of the supply and what a V2H home does in one: which buses are de-energised at each step, and
how an islanded home's EV serves it.

Outages (`Outages`, an `outages:` block in a study or scenario; `hostcap run --outage` builds its windows
in studies/cli.py):

- explicit windows: a start, a duration in hours, and the buses it takes out (their connection points'
  homes lose supply; what lies downstream of them is not derived: list every bus that goes dark), or the
  whole feeder when no buses are given;
- or drawn with the scenario's seed from reliability indices as IEEE 1366-2022 defines them: `saifi` (the
  interruptions a customer sees per year) and `caidi_h` (their mean duration). Over a run of D days the
  number of whole-feeder interruptions is Poisson with mean saifi x D / 365, each starting uniformly in the
  run and lasting an exponential time of mean caidi_h (at least one step): the usual model of sustained
  interruptions as a Poisson process (Billinton and Allan, Reliability Evaluation of Power Systems, 2nd ed.,
  1996, ch. 7).

A step is de-energised when its start lies in a window. During it nothing flows at the bus: household load,
PV and EV power at its connection points are zero to the grid. Rooftop PV stops with the grid (anti-islanding,
IEEE 1547-2018 clause 8.1; VDE-AR-N 4105 in Germany) unless the home islands. A home islands when its EV is
bidirectional, V2H-capable (a `v2h_share` of the bidirectional EVs: the home has the transfer switch and
gateway that backup needs) and plugged in: the EV then serves the home's demand, all of it or a
`critical_load_share`, from its battery down to its driving reserve, together with the home's PV; PV
beyond the demand recharges the EV up to the charger's rating and is curtailed beyond that.

Checked before a run or study starts: a window's start is an ISO 8601 date and time in the local time of the
feeder's profiles (no UTC offset, as a tariff's price series: `models/tariff.py`), its duration finite; each
window lies at least partly in the run (in a study: in one of its periods) and takes out buses of the feeder
(`check_windows`); the shares are in their ranges whether or not an outage is given (`BackupShares`).
"""
from datetime import datetime

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hostcap.models.errors import InputError


class OutageWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start: str = Field(description="Start of the outage, ISO 8601 date and time (e.g. 2016-01-12T18:00), "
                       "local time of the feeder's profiles.")
    hours: float = Field(gt=0, le=366 * 24, description="Duration, h (at most the "
                         "longest run, 366 days).")
    buses: list[int] | None = Field(None, description="Buses (the feeder's bus indices) de-energised; "
                                    "none: the whole feeder.")

    @field_validator("start")
    @classmethod
    def _timestamp(cls, v: str) -> str:
        try:
            at = datetime.fromisoformat(v)
            pd.Timestamp(at)  # within pandas' years 1677-2262
        except ValueError:
            raise ValueError(f"'{v}' is not an ISO 8601 date and time (YYYY-MM-DDTHH:MM)") from None
        if at.tzinfo is not None:
            raise ValueError(f"'{v}' has a UTC offset; give the local time of the feeder's profiles, without one")
        return v

    @property
    def span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """[start, end) of the window."""
        t0 = pd.Timestamp(self.start)
        return t0, t0 + pd.Timedelta(hours=self.hours)


class BackupShares(BaseModel):
    """What V2H backup an outage meets; checked on the command line even without an outage."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    critical_load_share: float = Field(1.0, gt=0, le=1, description="Share of the home's demand an "
                                       "islanded EV serves.")
    v2h_share: float = Field(1.0, ge=0, le=1, description="Share of bidirectional EVs whose home can island "
                             "(V2H-capable).")


class Outages(BackupShares):
    windows: list[OutageWindow] = Field([], description="Explicit outages.")
    saifi: float | None = Field(None, ge=0, description="Interruptions per customer and "
                                "year (IEEE 1366), drawn with the scenario's seed.")
    caidi_h: float | None = Field(None, gt=0, description="Mean duration of an "
                                  "interruption, h (IEEE 1366).")

    @model_validator(mode="after")
    def _something_to_draw(self):
        if (self.saifi is None) != (self.caidi_h is None):
            raise ValueError("saifi and caidi_h go together")
        if not self.windows and self.saifi is None:
            raise ValueError("give windows, or saifi and caidi_h")
        return self


def check_windows(outages: Outages, *, periods: list[tuple[pd.Timestamp, pd.Timestamp]],
                  bus_index: np.ndarray) -> None:
    """Refuse a window that lies outside every period ([start, end) each: a run's one, a study's all) or
    takes out a bus not in `bus_index` (the feeder's)."""
    for i, w in enumerate(outages.windows):
        t0, t1 = w.span
        if not any(t0 < end and t1 > start for start, end in periods):
            spans = ", ".join(f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}" for start, end in periods[:3])
            raise InputError(f"outages.windows.{i}: {w.start} + {w.hours:g} h lies outside the simulated "
                             f"period{'s' if len(periods) > 1 else ''} ({spans}{' ...' if len(periods) > 3 else ''})")
        missing = sorted(set(w.buses or []) - set(bus_index.tolist()))
        if missing:
            raise InputError(f"outages.windows.{i}.buses: bus {missing[0]} is not in the feeder")


def deenergised(outages: Outages, *, index: pd.DatetimeIndex, dt_s: float, bus_index: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """(steps, buses) True where a bus is de-energised during the step starting at `index`; the windows'
    buses are those of the feeder (`check_windows`)."""
    out = np.zeros((len(index), len(bus_index)), bool)
    pos = pd.Series(np.arange(len(bus_index)), index=bus_index)
    start_ns = index.asi8
    for w in outages.windows:
        t0, t1 = (t.value for t in w.span)
        steps = (start_ns >= t0) & (start_ns < t1)
        if w.buses is None:
            out[steps] = True
            continue
        out[np.ix_(steps, pos.loc[w.buses].to_numpy())] = True
    if outages.saifi is not None:
        n_steps = len(index)
        mean_n = outages.saifi * n_steps * dt_s / (365.0 * 86400.0)
        for _ in range(rng.poisson(mean_n)):
            first = int(rng.integers(n_steps))
            n = max(int(round(rng.exponential(outages.caidi_h) * 3600.0 / dt_s)), 1)
            out[first:first + n] = True
    return out


def island(*, demand_kw: np.ndarray, pv_kw: np.ndarray, e_kwh: np.ndarray, floor_kwh: np.ndarray,
           p_ch_max_kw: np.ndarray, p_dis_max_kw: np.ndarray, eta_ch: np.ndarray, eta_dis: np.ndarray,
           capacity_kwh: np.ndarray, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """One step of islanded homes, one EV each (arrays per home): the EV's power (kW, >0 charging from PV
    surplus, <0 serving the home) and the demand served (kW), from the EV above `floor_kwh` and the PV."""
    deficit = np.maximum(demand_kw - pv_kw, 0.0)
    avail_kw = np.maximum(e_kwh - floor_kwh, 0.0) * eta_dis / dt_h
    discharge = np.minimum(np.minimum(deficit, p_dis_max_kw), avail_kw)
    room_kw = np.maximum(capacity_kwh - e_kwh, 0.0) / (eta_ch * dt_h)
    charge = np.minimum(np.minimum(np.maximum(pv_kw - demand_kw, 0.0), p_ch_max_kw), room_kw)
    served = np.minimum(demand_kw, pv_kw + discharge)
    return charge - discharge, served


def island_fleet(fleet, isl: np.ndarray, *, demand_kw: np.ndarray, pv_kw: np.ndarray, e_kwh: np.ndarray,
                 dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """`island` for the EVs `isl` (a mask over the fleet) of a `fleet.Fleet`; demand_kw, pv_kw and e_kwh
    are already those of the islanded EVs and their homes."""
    return island(demand_kw=demand_kw, pv_kw=pv_kw, e_kwh=e_kwh, floor_kwh=fleet.reserve_kwh[isl],
                  p_ch_max_kw=fleet.p_ch_max_kw[isl], p_dis_max_kw=fleet.p_dis_max_kw[isl], eta_ch=fleet.eta_ch[isl],
                  eta_dis=fleet.eta_dis[isl], capacity_kwh=fleet.capacity_kwh[isl], dt_h=dt_h)


def backup_energy(*, load_kw: np.ndarray, powered: np.ndarray, islanded: np.ndarray, served_kw: np.ndarray,
                  critical_load_share: float, dt_h: float) -> dict[str, np.ndarray]:
    """Per home (arrays are steps x homes): hours without supply, the demand left unserved with its V2H
    backup and without any (all of its demand then), the hours its islanded EV served the critical load in
    full, and their share of the outage hours."""
    dark = ~powered
    demand_kwh = (load_kw * dark).sum(axis=0) * dt_h
    covered = dark & islanded & (served_kw >= critical_load_share * load_kw - 1e-9)
    outage_h = dark.sum(axis=0) * dt_h
    backup_h = covered.sum(axis=0) * dt_h
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "outage_h": outage_h,
            "outage_unserved_kwh": demand_kwh - (served_kw * dark).sum(axis=0) * dt_h,
            "outage_unserved_no_v2h_kwh": demand_kwh,
            "backup_h": backup_h,
            "outage_covered_share": np.where(outage_h > 0, backup_h / outage_h, np.nan),
        }
