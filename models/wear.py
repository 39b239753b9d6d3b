"""Battery wear of each EV: capacity fade from its state-of-charge trace, with NREL's BLAST-Lite.

BLAST-Lite (Gasper, Smith et al., NREL; `blast-lite` on PyPI) holds semi-empirical ageing models of
commercial lithium-ion cells, fitted to calendar and cycle ageing tests. A model takes a time series of
state of charge and cell temperature and returns the remaining relative capacity `q`; this module gives it
each vehicle's trace of the run (the stored energy at the start and at the end of every step over the usable
capacity) and reports:

- `fade_run`: 1 - q at the end of the run (`simulate_battery_life` over the trace once);
- `fade_year`: 1 - q after a year of repeating the run's stressors (`simulate_battery_life` with
  `threshold_time=1` and `is_constant_input=True`, BLAST-Lite's own extrapolation; within about 2 % of
  repeating the whole trace 52 times for a week, measured, at a fortieth of the cost).

The extra fade that V2G or V2H causes is the fade of the run minus that of the same car on the same trips
charged `uncontrolled` (`strategies.charging_only`), and its cost is that difference times the usable
capacity times a battery replacement cost per kWh.

Defaults (`BatteryWear`), each an assumption to state in a study:
- cell model `Nmc622_Gr_DENSO50Ah_Battery`: NMC622-graphite automotive cells (Smith et al., J. Electrochem.
  Soc. 168 (2021) 100530), the chemistry of most European BEVs of 2020-24; `Lfp_Gr_250AhPrismatic` for LFP;
- cell temperature: the monthly mean air temperature of Germany, DWD area means for 1991-2020 (the feeders
  shipped are German; a parked battery's thermal mass damps the daily swing), linear between mid-months; or a
  constant `temperature_c`;
- replacement cost 115 USD/kWh: the volume-weighted average lithium-ion pack price of 2024, BloombergNEF
  Battery Price Survey (December 2024).

Each trace costs BLAST-Lite about 4 ms for a week plus 3 ms for the year (measured); identical traces (the
charging-only counterfactual is the same for every strategy and level of a sample) are computed once per
process.

BLAST-Lite 1.1.0 and earlier call `numpy.trapz`, which NumPy 2.4 removed (1.1.1 pins numpy<2 instead, which
the rest of this project's stack cannot take; BLAST-Lite issue #6): BLAST-Lite's modules are given a view of
NumPy with `trapz` as `numpy.trapezoid`, the same function under its NumPy 2.0 name, and nothing else changes.
"""
import functools
import sys
import types
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

CellModel = Literal[
    "Nmc622_Gr_DENSO50Ah_Battery", "Lfp_Gr_250AhPrismatic", "NMC_Gr_75Ah_A", "Nmc811_GrSi_LGM50_5Ah_Battery",
    "Nca_Gr_Panasonic3Ah_Battery", "Nmc111_Gr_Kokam75Ah_Battery", "Lfp_Gr_SonyMurata3Ah_Battery",
]
# Germany, area mean air temperature per month, degC, 1991-2020 (Deutscher Wetterdienst)
DWD_MONTHLY_MEAN_C = (0.9, 1.5, 4.7, 9.0, 13.1, 16.4, 18.3, 17.9, 13.8, 9.4, 4.8, 1.8)


class BatteryWear(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: CellModel = Field("Nmc622_Gr_DENSO50Ah_Battery", description="BLAST-Lite cell ageing model.")
    cost_per_kwh: float = Field(115.0, ge=0, description="Battery replacement cost per kWh of capacity.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    temperature_c: float | None = Field(None, description="Constant cell temperature, degC; none: the DWD "
                                        "monthly mean air temperature of Germany, 1991-2020.")


def cell_temperature_c(index: pd.DatetimeIndex, wear: BatteryWear) -> np.ndarray:
    """Cell temperature at each time stamp: constant, or the monthly means interpolated between mid-months."""
    if wear.temperature_c is not None:
        return np.full(len(index), wear.temperature_c)
    day = index.day.to_numpy() - 1 + index.hour.to_numpy() / 24.0
    month = index.month.to_numpy() - 1 + day / index.days_in_month.to_numpy()
    means = np.asarray(DWD_MONTHLY_MEAN_C)
    knots = np.arange(-1, 13) + 0.5  # mid-December of the year before .. mid-January of the next
    return np.interp(month, knots, np.concatenate([[means[-1]], means, [means[0]]]))


@functools.cache
def _blast_models():
    """BLAST-Lite's model classes, its modules seeing NumPy with `trapz` (see the module docstring)."""
    import blast.models

    view = types.ModuleType("numpy")
    view.__getattr__ = lambda name: getattr(np, name)
    view.trapz = getattr(np, "trapz", None) or np.trapezoid
    for name, mod in list(sys.modules.items()):
        if name.split(".")[0] == "blast" and getattr(mod, "np", None) is np:
            mod.np = view
    return blast.models


@functools.lru_cache(maxsize=8192)
def _fade(model: str, soc: bytes, temperature_c: bytes, dt_s: float) -> tuple[float, float]:
    s, temp = np.frombuffer(soc), np.frombuffer(temperature_c)
    series = {"Time_s": np.arange(len(s)) * dt_s, "SOC": s, "Temperature_C": temp}
    cls = getattr(_blast_models(), model)
    run = cls().simulate_battery_life(series)
    year = cls().simulate_battery_life(series, threshold_time=1, is_constant_input=True)
    return 1.0 - float(run.outputs["q"][-1]), 1.0 - float(year.outputs["q"][-1])


def capacity_fade(soc: np.ndarray, temperature_c: np.ndarray, dt_s: float, model: str) -> tuple[float, float]:
    """(fade over the trace, fade over a year of its stressors) of one battery: soc and temperature at
    times 0, dt_s, 2 dt_s, ..."""
    return _fade(model, np.ascontiguousarray(soc, float).tobytes(),
                 np.ascontiguousarray(temperature_c, float).tobytes(), float(dt_s))


def fleet_fade(e_kwh: np.ndarray, *, initial_e_kwh: np.ndarray, capacity_kwh: np.ndarray, index: pd.DatetimeIndex,
               dt_s: float, wear: BatteryWear) -> tuple[np.ndarray, np.ndarray]:
    """Per EV, (fade over the run, fade over a year) from the stored energy at the end of each step
    (steps x EVs), the run's steps starting at `index`."""
    soc = np.vstack([initial_e_kwh, e_kwh]) / capacity_kwh
    stamps = index.append(pd.DatetimeIndex([index[-1] + pd.Timedelta(seconds=dt_s)]))
    temp = cell_temperature_c(stamps, wear)
    out = np.array([capacity_fade(soc[:, i], temp, dt_s, wear.model) for i in range(soc.shape[1])]).reshape(-1, 2)
    return out[:, 0], out[:, 1]
