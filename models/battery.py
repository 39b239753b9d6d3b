"""PV home batteries in self-consumption mode, one per connection point at most, vectorised over all of them.

A home battery behind the meter (AC-coupled, as most retrofitted PV home storage in Germany) measures the
meter's net demand and works against it: it discharges to bring the home's import to zero and charges to
bring its export to zero, within its power rating, its usable energy and its efficiencies. It stores only
PV: its charging never exceeds the home's PV output of the step, so it does not soak up an EV's V2G export
(a battery that did would turn V2G into a loop through two sets of losses). This is the default operating
mode of German PV home storage ("Eigenverbrauchsoptimierung"; HTW Berlin, "Stromspeicher-Inspektion",
2018-2024, tests every system in it).

Energy: e(t + dt) = e(t) (1 - sd dt) + eta_ch p_ch dt - p_dis dt / eta_dis, with sd the self-discharge per
hour; power in load sign (p > 0 charging, from the home's side of the inverter). Where a feeder states one
efficiency (SimBench's `efficiency_percent`, pandapower has none), it is the round trip and each direction
takes its square root.
"""
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class HomeBatteries:
    """Per connection point (zero capacity and power where there is none)."""

    capacity_kwh: np.ndarray
    p_max_kw: np.ndarray
    eta_ch: np.ndarray
    eta_dis: np.ndarray
    e_min_kwh: np.ndarray
    e_initial_kwh: np.ndarray
    self_discharge_per_h: np.ndarray

    @classmethod
    def none(cls, n_cp: int) -> "HomeBatteries":
        zero, one = np.zeros(n_cp), np.ones(n_cp)
        return cls(zero, zero, one, one, zero, zero, zero)

    @property
    def present(self) -> bool:
        return bool((self.capacity_kwh > 0).any())

    def tile(self, n_samples: int) -> "HomeBatteries":
        """The same batteries for each of n_samples samples (connection points numbered sample-major)."""
        return HomeBatteries(**{f.name: np.tile(getattr(self, f.name), n_samples) for f in fields(self)})


def self_consumption_kw(*, meter_kw: np.ndarray, pv_kw: np.ndarray, e_kwh: np.ndarray, bat: HomeBatteries,
                        dt_h: float) -> np.ndarray:
    """Battery power (load sign) that brings the meter's net demand `meter_kw` (load - PV + EV, without the
    battery) towards zero, charging from PV only (at most `pv_kw`), from stored energy `e_kwh`."""
    kept = e_kwh * (1.0 - bat.self_discharge_per_h * dt_h)
    can_charge = np.minimum(np.maximum(bat.capacity_kwh - kept, 0.0) / (bat.eta_ch * dt_h), bat.p_max_kw)
    can_discharge = np.minimum(np.maximum(kept - bat.e_min_kwh, 0.0) * bat.eta_dis / dt_h, bat.p_max_kw)
    return np.clip(-meter_kw, -can_discharge, np.minimum(can_charge, np.maximum(pv_kw, 0.0)))


def stored_kwh(e_kwh: np.ndarray, p_kw: np.ndarray, bat: HomeBatteries, dt_h: float) -> np.ndarray:
    """Stored energy after a step at power p_kw (load sign), with self-discharge."""
    kept = e_kwh * (1.0 - bat.self_discharge_per_h * dt_h)
    return kept + (bat.eta_ch * np.maximum(p_kw, 0.0) - np.maximum(-p_kw, 0.0) / bat.eta_dis) * dt_h


def battery_series(*, meter_kw: np.ndarray, pv_kw: np.ndarray, bat: HomeBatteries,
                   dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """(power, stored energy at the end of each step), steps x connection points, of the batteries under a
    given series of the meter's net demand without them (the same step as the co-simulation's)."""
    p, e = np.zeros_like(meter_kw), np.zeros_like(meter_kw)
    if not bat.present:
        e[:] = bat.e_initial_kwh
        return p, e
    now = bat.e_initial_kwh
    for t in range(len(meter_kw)):
        p[t] = self_consumption_kw(meter_kw=meter_kw[t], pv_kw=pv_kw[t], e_kwh=now, bat=bat, dt_h=dt_h)
        e[t] = now = stored_kwh(now, p[t], bat, dt_h)
    return p, e


def battery_balance(*, p_kw: np.ndarray, e_kwh: np.ndarray, bat: HomeBatteries, dt_h: float) -> dict[str, float]:
    """Energy balance of the batteries over a run (kWh): charged and discharged at the home's side, the change
    in stored energy, conversion and self-discharge losses, and what does not close (charged - discharged -
    change - losses; zero up to rounding)."""
    before = np.vstack([bat.e_initial_kwh[None], e_kwh[:-1]])
    charged = np.maximum(p_kw, 0.0)
    discharged = np.maximum(-p_kw, 0.0)
    losses = ((1 - bat.eta_ch) * charged + (1 / bat.eta_dis - 1) * discharged
              + before * bat.self_discharge_per_h).sum() * dt_h
    delta = float(e_kwh[-1].sum() - bat.e_initial_kwh.sum()) if len(e_kwh) else 0.0
    out = {"battery_charged_kwh": float(charged.sum() * dt_h), "battery_discharged_kwh": float(discharged.sum() * dt_h),
           "battery_energy_delta_kwh": delta, "battery_losses_kwh": float(losses)}
    out["battery_balance_error_kwh"] = (out["battery_charged_kwh"] - out["battery_discharged_kwh"] - delta
                                        - out["battery_losses_kwh"])
    return out
