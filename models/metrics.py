"""Metrics of one run from its recorded arrays (steps x elements). Non-converged steps are NaN rows and
are left out of voltage and loading figures but counted in `nonconverged_steps`.

The slack is the MV side of the feeder's transformer: `energy_import_kwh` and `export_kwh` are the energy
drawn from and fed into the MV grid, `reverse_flow_max_kw` the highest export (0 if none). Compare
strategies' imports together with `ev_energy_delta_kwh` (the fleet's stored energy at the end minus the
start, in `studies/scenario/result.py`): a fleet that ends emptier imported less only by borrowing from its batteries.

Hours above a limit are element-hours: a bus (line, transformer) outside its limit for one hour counts one;
for voltage, the limits are the run's criterion's (`models/limits.py`; for `en50160` those its 95 % must keep).
Whether the run breaks the voltage criterion is `undervoltage_buses` / `overvoltage_buses` (buses that break
it, low / high: for `en50160` its weekly statistic, for the others any value outside); `buses_outside_<band>`
counts the buses that break each of the four criteria, so a study can say how the answer moves with it.
Unbalanced (three-phase) runs pass voltages per phase (steps x buses x 3): a bus is outside a limit when
one of its phases is, and `v_min_pu` / `v_max_pu` are over all phases. They add the voltage unbalance factor
(`models/limits.py`, EN 50160 cl. 4.2.5): `vuf_max_pct` (the highest value), `vuf_p95_pct` (the highest
weekly 95th percentile of a bus), `unbalance_buses` (buses above 2 % in more than 5 % of a week) and the
highest neutral current of a line, `neutral_max_ka`. Balanced runs cannot see unbalance: their VUF figures
are NaN and `unbalance_buses` is 0 (the outputs name the power flow each run used, `unbalanced`).
When no step converged, every grid metric is NaN (nothing is known), never 0. A run with more than
`NONCONVERGED_MAX_SHARE` of its steps non-converged is not trustworthy: `hostcap run` exits 1 and a study
flags it (`nonconverged_share` above the limit).
"""
import numpy as np

from hostcap.models.limits import BANDS, VoltageBand, unbalance_statistic, unbalance_violations, voltage_violations

NONCONVERGED_MAX_SHARE = 0.05
GRID_METRICS = ("v_min_pu", "v_max_pu", "undervoltage_bus_hours", "overvoltage_bus_hours", "undervoltage_buses",
                "overvoltage_buses", *(f"buses_outside_{b}" for b in BANDS), "trafo_max_loading_pct",
                "trafo_overload_hours", "line_max_loading_pct", "line_overload_hours", "peak_demand_kw",
                "energy_import_kwh", "export_kwh", "reverse_flow_max_kw", "losses_kwh", "vuf_max_pct", "vuf_p95_pct",
                "unbalance_buses", "neutral_max_ka")


def _hours(mask: np.ndarray, dt_h: float) -> float:
    return float(np.count_nonzero(mask) * dt_h)


def _nanmax(a: np.ndarray) -> float:
    return float(np.nanmax(a)) if a.size and np.isfinite(a).any() else float("nan")


def _nanmin(a: np.ndarray) -> float:
    return float(np.nanmin(a)) if a.size and np.isfinite(a).any() else float("nan")


def run_metrics(*, vm_pu, line_loading_pct, trafo_loading_pct, p_slack_mw, p_bus_mw, ev_p_kw,
                ev_unmet_kwh: float, dt_h: float, band: VoltageBand, line_limit_pct: float = 100.0,
                trafo_limit_pct: float = 100.0, vuf_pct=None, line_i_n_ka=None) -> dict[str, float]:
    ok = np.isfinite(p_slack_mw)
    with np.errstate(invalid="ignore"):
        under = vm_pu < band.v_min_pu
        over = vm_pu > band.v_max_pu
        if vm_pu.ndim == 3:  # per phase: a bus-hour is outside when one of its phases is
            under, over = under.any(axis=2), over.any(axis=2)
        trafo_over = trafo_loading_pct > trafo_limit_pct
        line_over = line_loading_pct > line_limit_pct
    p_slack_kw = p_slack_mw[ok] * 1e3
    losses_kw = p_slack_kw - p_bus_mw[ok].sum(axis=1) * 1e3
    by_band = {name: voltage_violations(vm_pu, dt_h * 3600.0, b) for name, b in BANDS.items()}
    under_bus, over_bus = by_band[band.name]
    metrics = {
        "v_min_pu": _nanmin(vm_pu),
        "v_max_pu": _nanmax(vm_pu),
        "undervoltage_bus_hours": _hours(under, dt_h),
        "overvoltage_bus_hours": _hours(over, dt_h),
        "undervoltage_buses": int(under_bus.sum()),
        "overvoltage_buses": int(over_bus.sum()),
        **{f"buses_outside_{name}": int(np.logical_or(*flags).sum()) for name, flags in by_band.items()},
        "trafo_max_loading_pct": _nanmax(trafo_loading_pct),
        "trafo_overload_hours": _hours(trafo_over, dt_h),
        "line_max_loading_pct": _nanmax(line_loading_pct),
        "line_overload_hours": _hours(line_over, dt_h),
        "peak_demand_kw": _nanmax(p_slack_kw),
        "energy_import_kwh": float(np.maximum(p_slack_kw, 0.0).sum() * dt_h),
        "export_kwh": float(np.maximum(-p_slack_kw, 0.0).sum() * dt_h),
        "reverse_flow_max_kw": float(np.maximum(-p_slack_kw, 0.0).max(initial=0.0)),
        "losses_kwh": float(losses_kw.sum() * dt_h),
        "ev_charged_kwh": float(np.maximum(ev_p_kw, 0.0).sum() * dt_h),
        "ev_discharged_kwh": float(np.maximum(-ev_p_kw, 0.0).sum() * dt_h),
        "ev_unmet_kwh": float(ev_unmet_kwh),
        "nonconverged_steps": int(np.count_nonzero(~ok)),
        "nonconverged_share": float(np.count_nonzero(~ok) / max(len(ok), 1)),
        "unbalanced": vuf_pct is not None,
        "vuf_max_pct": float("nan"), "vuf_p95_pct": float("nan"), "unbalance_buses": 0, "neutral_max_ka": float("nan"),
    }
    if vuf_pct is not None:
        metrics.update(vuf_max_pct=_nanmax(vuf_pct), vuf_p95_pct=_nanmax(unbalance_statistic(vuf_pct, dt_h * 3600.0)),
                       unbalance_buses=int(unbalance_violations(vuf_pct, dt_h * 3600.0).sum()),
                       neutral_max_ka=_nanmax(line_i_n_ka))
    if not ok.any():
        metrics.update(dict.fromkeys(GRID_METRICS, float("nan")))
    return metrics
