"""Top-oil and hot-spot temperature, relative ageing and loss of life of an oil-immersed distribution
transformer from its loading, by IEC 60076-7:2018 ("Loading guide for mineral-oil-immersed power
transformers"): the exponential solution of its heat-transfer equations for a load held constant over each
step (exact for any step length, where the standard's difference equations need steps of at most half the
winding time constant):

- top oil: its ultimate rise over ambient is Δθor · ((1 + R·K²) / (1 + R))^x, approached with the time
  constant k11 · τo;
- hot spot: its rise over the top oil is Δθh1 - Δθh2, where Δθh1 approaches k21 · Δθhr · K^y with k22 · τw
  and Δθh2 approaches (k21 - 1) · Δθhr · K^y with τo / k22 (the oil's slower flow after a load rise);
- relative ageing rate of non-thermally upgraded paper V = 2^((θh - 98 °C) / 6 K): 1 at the rated hot spot
  of 98 °C (20 °C ambient, rated load); loss of life L = Σ V · Δt, in hours of rated ageing.

K is the load factor (the run's `trafo_loading_pct` / 100, the loading of the transformer's more loaded side).
Defaults (`ThermalSpec`): the standard's thermal characteristics of an ONAN distribution transformer, and its
current and temperature limits for normal cyclic loading of a distribution transformer: 1.5 pu, hot spot
120 °C, top oil 105 °C. Ambient: the run's outdoor temperature (the DWD test reference year, `feeders/heat.py`)
plus a surcharge for the enclosure (a transformer in a kiosk or compact substation sees a warmer ambient; 10 K,
as Alliander's `transformer-thermal-model` assumes for distribution transformers, mostly indoors).

Before the first step the transformer is in the steady state of the first step's load and ambient; a step
whose power flow diverged keeps the previous step's load."""
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

REFERENCE_HOT_SPOT_C = 98.0  # V = 1 (non-thermally upgraded paper, eq. 2)
AGEING_DOUBLING_K = 6.0
CYCLIC_HOT_SPOT_LIMIT_C = 120.0  # Table 5, distribution transformers, normal cyclic loading
CYCLIC_TOP_OIL_LIMIT_C = 105.0
CYCLIC_CURRENT_LIMIT_PU = 1.5
HOURS_PER_YEAR = 8766.0


@dataclass(frozen=True)
class ThermalSpec:
    """An oil-immersed transformer's thermal characteristics (IEC 60076-7:2018 Table 4, ONAN distribution
    transformer) and the enclosure's ambient surcharge (K)."""

    top_oil_rise_k: float = 55.0  # Δθor at rated load
    hot_spot_gradient_k: float = 23.0  # Δθhr = H · gr, hot spot over top oil at rated load
    loss_ratio: float = 5.0  # R, load losses / no-load losses at rated load
    oil_exponent: float = 0.8  # x
    winding_exponent: float = 1.6  # y
    oil_time_constant_min: float = 180.0  # τo
    winding_time_constant_min: float = 4.0  # τw
    k11: float = 1.0
    k21: float = 1.0
    k22: float = 2.0
    enclosure_surcharge_k: float = 10.0


@dataclass(frozen=True)
class Temperatures:
    """Per step (at its end) and transformer: top-oil and hot-spot temperature (°C)."""

    top_oil_c: np.ndarray
    hot_spot_c: np.ndarray


def _lag(ultimate: np.ndarray, start: np.ndarray, dt_min: float, tau_min: float) -> np.ndarray:
    """y[n] = u[n] + (y[n-1] - u[n]) · exp(-dt / τ) along axis 0, from y[-1] = start."""
    a = np.exp(-dt_min / tau_min)
    return lfilter([1.0 - a], [1.0, -a], ultimate, axis=0, zi=(a * start)[None])[0]


def temperatures(k_pu: np.ndarray, ambient_c: np.ndarray, dt_min: float, spec: ThermalSpec = ThermalSpec(),
                 top_oil_start_c: np.ndarray | None = None) -> Temperatures:
    """Temperatures at the end of each step for the load factor `k_pu` (steps x transformers, held over each
    step) and the outdoor temperature `ambient_c` (steps); `top_oil_start_c`: the top oil before the first step
    (its hot spot equal to it), default the steady state of the first step (the module docstring)."""
    k = np.asarray(k_pu, float)
    k = k.reshape(len(k), -1)
    ambient = np.asarray(ambient_c, float)[:, None] + spec.enclosure_surcharge_k
    r = spec.loss_ratio
    oil = ambient + spec.top_oil_rise_k * ((1.0 + r * k**2) / (1.0 + r)) ** spec.oil_exponent
    rise = spec.hot_spot_gradient_k * k**spec.winding_exponent
    winding, oil_flow = spec.k21 * rise, (spec.k21 - 1.0) * rise
    if top_oil_start_c is None:
        starts = oil[0], winding[0], oil_flow[0]
    else:
        starts = np.broadcast_to(np.asarray(top_oil_start_c, float), k.shape[1:]), np.zeros(k.shape[1]), \
            np.zeros(k.shape[1])
    top_oil = _lag(oil, starts[0], dt_min, spec.k11 * spec.oil_time_constant_min)
    h1 = _lag(winding, starts[1], dt_min, spec.k22 * spec.winding_time_constant_min)
    h2 = _lag(oil_flow, starts[2], dt_min, spec.oil_time_constant_min / spec.k22)
    return Temperatures(top_oil_c=top_oil, hot_spot_c=top_oil + h1 - h2)


def ageing_rate(hot_spot_c: np.ndarray) -> np.ndarray:
    """Relative ageing rate V of non-thermally upgraded paper (IEC 60076-7:2018 eq. 2)."""
    return 2.0 ** ((np.asarray(hot_spot_c, float) - REFERENCE_HOT_SPOT_C) / AGEING_DOUBLING_K)


def _held(loading_pct: np.ndarray) -> np.ndarray:
    """The loading with each diverged step (NaN) holding the previous step's (the first finite one before it)."""
    x = np.asarray(loading_pct, float).reshape(len(loading_pct), -1)
    ok = np.isfinite(x)
    if ok.all() or not ok.any():
        return x
    idx = np.where(ok, np.arange(len(x))[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    first = ok.argmax(axis=0)
    idx = np.where(np.arange(len(x))[:, None] < first, first, idx)
    return np.take_along_axis(x, idx, axis=0)


def thermal_metrics(trafo_loading_pct: np.ndarray, ambient_c: np.ndarray, dt_h: float,
                    spec: ThermalSpec = ThermalSpec()) -> dict[str, float]:
    """A run's transformer figures (the highest over its transformers): `trafo_hot_spot_max_c`,
    `trafo_top_oil_max_c`, `trafo_ageing_rate` (V averaged over the run: above 1 the transformer ages faster
    than at its rating), `trafo_loss_of_life_days` (days of rated ageing the run consumed),
    `trafo_loss_of_life_days_per_year` (at the run's average rate all year) and
    `trafo_thermal_overload_hours` (hours above a normal-cyclic-loading limit: hot spot, top oil or current) and
    `trafo_thermal_limits_broken` (1 for those limits passed at some step, plus 1 for ageing faster than rated).
    NaN when no step converged."""
    load = _held(trafo_loading_pct)
    nan = dict.fromkeys(("trafo_hot_spot_max_c", "trafo_top_oil_max_c", "trafo_ageing_rate", "trafo_loss_of_life_days",
                         "trafo_loss_of_life_days_per_year", "trafo_thermal_overload_hours",
                         "trafo_thermal_limits_broken"), float("nan"))
    if load.size == 0 or not np.isfinite(load).all():
        return nan
    k = load / 100.0
    t = temperatures(k, ambient_c, dt_h * 60.0, spec)
    v = ageing_rate(t.hot_spot_c)
    over = (t.hot_spot_c > CYCLIC_HOT_SPOT_LIMIT_C) | (t.top_oil_c > CYCLIC_TOP_OIL_LIMIT_C) \
        | (k > CYCLIC_CURRENT_LIMIT_PU)
    rate = v.mean(axis=0)
    hours = float(over.any(axis=1).sum() * dt_h)
    return {"trafo_hot_spot_max_c": float(t.hot_spot_c.max()), "trafo_top_oil_max_c": float(t.top_oil_c.max()),
            "trafo_ageing_rate": float(rate.max()),
            "trafo_loss_of_life_days": float((v.sum(axis=0) * dt_h / 24.0).max()),
            "trafo_loss_of_life_days_per_year": float(rate.max() * HOURS_PER_YEAR / 24.0),
            "trafo_thermal_overload_hours": hours,
            "trafo_thermal_limits_broken": int(hours > 0) + int(rate.max() > 1.0)}
