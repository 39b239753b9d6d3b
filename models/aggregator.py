"""`v2g_peak_shave`: a grid-aware aggregator that keeps the feeder transformer's import at or below a target.

Each step the aggregator reads the transformer's power of the previous step (time-shifted, through mosaik)
and the fleet's power it dispatched then; their difference is its persistence forecast of everything else
on the feeder (households, PV, losses). It gives the fleet bounds on its total power:

    hi = (1 - MARGIN) target - other     (charging up to hi fills the valley below the target; a negative hi asks for
                             discharge that shaves the peak)
    lo = -export_limit - other   (EV discharge never takes the transformer below -export_limit; when PV
                             alone reverses the flow, lo > 0 and the EVs at home charge to absorb it)

The fleet meets every EV's departure target first (`must`: what the remaining plugged steps could not
deliver at full power), then goes as close to `hi` as its flexibility allows and never below `lo` (unless
departures need it): extra charging is shared in proportion to each EV's energy headroom below its
target, discharge in proportion to each bidirectional EV's energy above its floor (reserve plus next
trip, and no lower than what it can still recharge before it leaves), both capped at charger ratings
(`water_fill`, vectorised).

MARGIN: the aggregator aims below its target by this share, its operating margin for the persistence
forecast's error (household demand can rise by 20 kW from one quarter-hour to the next on the default
feeder); without it the fleet fills valleys right up to the target and every rise of the households
overshoots it.

Target: a scenario parameter in kW, or `auto`: the highest no-EV demand of the previous day (the
households, PV and losses alone, as a day-ahead forecast from metering would give it); the first day of a
run uses its own no-EV peak.
"""
import numpy as np

from hostcap.models.fleet import Fleet

MARGIN = 0.15


def water_fill(total: float, cap: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x_i = min(cap_i, lam * weight_i) with sum(x) = total (clipped to [0, sum(cap)])."""
    cap = np.maximum(cap, 0.0)
    total = min(max(total, 0.0), float(cap.sum()))
    if total <= 0.0:
        return np.zeros_like(cap)
    if total >= cap.sum() * (1 - 1e-12):
        return cap.copy()
    w = np.where(cap > 0, np.maximum(weight, 1e-9), 0.0)
    with np.errstate(divide="ignore"):
        ratio = np.where(w > 0, cap / np.where(w > 0, w, 1.0), np.inf)
    order = np.argsort(ratio, kind="stable")
    r, c, ws = ratio[order], cap[order], w[order]
    capped_before = np.concatenate([[0.0], np.cumsum(c)[:-1]])
    weight_left = ws.sum() - np.concatenate([[0.0], np.cumsum(ws)[:-1]])
    reached = capped_before + np.where(np.isfinite(r), r, 0.0) * weight_left
    k = min(int(np.searchsorted(np.where(np.isfinite(r), reached, np.inf), total)),
            int(np.count_nonzero(weight_left > 0)) - 1)
    lam = (total - capped_before[k]) / weight_left[k]
    return np.minimum(cap, lam * w)


def fleet_bounds_kw(p_slack_kw: float, p_fleet_kw: float, target_kw: float, export_limit_kw: float) -> tuple[float, float]:
    """(lo, hi) bounds on the fleet's total power this step from the previous step's readings."""
    other = p_slack_kw - p_fleet_kw
    return -export_limit_kw - other, (1.0 - MARGIN) * target_kw - other


def dispatch(lo_kw: float, hi_kw: float, *, e_kwh: np.ndarray, plugged: np.ndarray, fleet: Fleet,
             floor_kwh: np.ndarray, steps_to_departure: np.ndarray, dt_h: float) -> np.ndarray:
    """Power per EV (grid side, >0 charging) whose total is as close to hi_kw as flexibility allows, not
    below lo_kw, after every EV's departure need."""
    step_kwh = fleet.eta_ch * fleet.p_ch_max_kw * dt_h
    need_kwh = np.maximum(fleet.target_kwh - e_kwh, 0.0)
    must = np.clip((need_kwh - (steps_to_departure - 1) * step_kwh) / (fleet.eta_ch * dt_h), 0.0,
                   fleet.p_ch_max_kw) * plugged
    max_ch = np.clip(need_kwh / (fleet.eta_ch * dt_h), 0.0, fleet.p_ch_max_kw) * plugged
    above_kwh = np.maximum(e_kwh - floor_kwh, 0.0)
    max_dis = np.where(plugged & (must == 0), np.minimum(fleet.p_dis_max_kw, above_kwh * fleet.eta_dis / dt_h), 0.0)
    total_must = float(must.sum())
    lower = max(lo_kw, total_must - float(max_dis.sum()))
    total = min(max(hi_kw, lower), float(max_ch.sum()))
    if total >= total_must:
        return must + water_fill(total - total_must, max_ch - must, need_kwh)
    return must - water_fill(total_must - total, max_dis, above_kwh)
