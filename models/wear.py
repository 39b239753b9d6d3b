"""Battery wear of each EV: capacity fade from its state-of-charge trace, with NREL's BLAST-Lite.

BLAST-Lite (Gasper, Smith et al., NREL; `blast-lite` on PyPI) holds semi-empirical ageing models of
commercial lithium-ion cells, fitted to calendar and cycle ageing tests. A model's capacity loss has a
calendar term, growing with time at a rate set by temperature and mean state of charge (SOC), and a cycling
term, growing with charge throughput in equivalent full cycles (EFC) at a rate set by depth of discharge
(DoD), C-rates, mean SOC and temperature; both follow power laws (the default NMC622 model: loss = b x^0.5,
x the days or the EFC; `_update_power_state` steps them). `simulate_battery_life` cuts a trace of SOC and cell
temperature into segments of at most a day or one EFC ending at rainflow turning points (`_find_breakpoints`),
takes each segment's stressors (`_extract_stressors`; the DoD is the segment's highest minus lowest SOC),
turns them into rates (`update_rates`) and steps the states over the segment (`update_states`).

This module gives it each vehicle's trace of the run (the stored energy at the start and at the end of
every step over the usable capacity) and reports the capacity lost, 1 - q (`Fade`; in % as `fade_run_pct`,
`fade_year_pct` and `fade_10_years_pct` in `RunResult.vehicles`):

- run: at the end of the run;
- year: after the first year of a new cell whose days are the run's days;
- ten years: after ten such years (what a fleet owner has left is 100 % minus it).

The run is simulated once (`_simulate`): BLAST-Lite's segments and steps, with one difference. BLAST-Lite
1.1.0 starts each segment one step after the previous one's end (since its issue #3), leaving that step out,
and then runs the trace again from its start until the trace's time is reached (a 2-day trace is simulated for
3.0 days, a week for 7.95); here a segment starts where the one before ends. A run longer than a day is cut at
the end of its first day, which is left out of the horizons: it starts from the fleet's drawn initial state of
charge, not from the strategy's routine (v2g_tou in January, median: 3.68 %/year from that day alone, 4.3-4.5
from the days after it).

The horizons repeat the run's days: the segments after the first day, each with its own rates, days and EFC,
are applied to a new cell pass after pass through the model's own `update_states` until 365 (3,650) days. A
pass applies every segment once, all scaled alike, and ages the cell by `REPEAT_STEP` (1/16) of its age per
segment the days and EFC are spread over (1 / sum of squared shares), at least by the run's own length; the
last pass lands on the horizon. Against applying every segment at its own length for ten years this is within
0.8 % (measured on the seven models and six traces: a power-law step takes the rate at its start, as
BLAST-Lite's do). As with BLAST-Lite's `is_constant_input`, the rates stay those of the young cell: BLAST-Lite
run on ten years of a repeated daily V2G trace itself, whose default `is_conserve_energy_throughput` widens
the SOC swing by 1/q as capacity fades, gives 2.7 % more fade after ten years at 10 degC (13.23 against
12.87 %) and 4.1 % more at 1 degC; keeping the swing instead gives 6.6 % less. The horizons repeat the run's
cell temperatures with its duty: a winter week's year is a year of winter weeks.

Why not `simulate_battery_life(trace, threshold_time=1, is_constant_input=True)`, the year figure before: it
takes the stressors once over the whole trace, as one segment, so the DoD is the span of the entire run, which
grows as a longer run samples more unusual days, and it steps the power laws by whole traces, stopping at the
first whole repeat past the year (392 days for a 28-day trace). Measured on `v2g_tou` in January (default
feeder, every home an EV, all bidirectional, seed 0), median of 113 EVs: 4.24, 4.70 and 5.03 %/year from 2, 7
and 28 days; now 4.51, 4.33 and 4.37. Where the days differ much, a short run samples few of them and, the
laws being square roots, reads lower than a long one (the `uncontrolled` counterfactual of the same runs:
1.79, 2.27 and 2.49 %/year): a week or more is the run to read wear from.

The extra fade that V2G or V2H causes is the fade of the run minus that of the same car on the same trips
charged `uncontrolled` (`home.uncontrolled_counterfactual`), and its cost is that difference times the usable
capacity times a battery replacement cost per kWh.

Calibrated temperatures: each model declares the cell temperatures its ageing tests covered,
`experimental_range["cycling_temperature"]` (BLAST-Lite 1.1.0); outside them the figures are extrapolations,
and `outside_range_h` counts the hours a trace spends there. Per model, with its docstring's own account:
- `Nmc622_Gr_DENSO50Ah_Battery` 10-60 degC (calendar and cycle tests 10-60 degC, Smith et al. 2021): the DWD
  means lie below from 12 October to 23 April (0.9 degC in January);
- `Lfp_Gr_250AhPrismatic` 10-45 degC (cycling 10-45 degC; calendar temperatures not stated);
- `NMC_Gr_75Ah_A` 10-45 degC (no temperature stated);
- `Nmc811_GrSi_LGM50_5Ah_Battery` 0-25 degC (calendar 0-60 degC, cycling 0-25 degC);
- `Nca_Gr_Panasonic3Ah_Battery` 15-35 degC (docstring: calendar 25-50 degC, cycling modelled at 25, 35 and
  45 degC);
- `Nmc111_Gr_Kokam75Ah_Battery` 0-45 degC (docstring: calendar and cycle tests 0-55 degC);
- `Lfp_Gr_SonyMurata3Ah_Battery` 20-40 degC (docstring: cycling at 25 and 45 degC only; calendar not stated).

Defaults (`BatteryWear`), each an assumption to state in a study:
- cell model `Nmc622_Gr_DENSO50Ah_Battery`: NMC622-graphite automotive cells (Smith et al., J. Electrochem.
  Soc. 168 (2021) 100530), the chemistry of most European BEVs of 2020-24; `Lfp_Gr_250AhPrismatic` for LFP;
- cell temperature: the monthly mean air temperature of Germany, DWD area means for 1991-2020 (the feeders
  shipped are German; a parked battery's thermal mass damps the daily swing), linear between mid-months; or a
  constant `temperature_c`;
- replacement cost 115 USD/kWh: the volume-weighted average lithium-ion pack price of 2024, BloombergNEF
  Battery Price Survey (December 2024).

Each trace of a week costs about 8-10 ms, the run's simulation most of it and the horizons about 130 state
updates (measured); identical traces (the charging-only counterfactual is the same for every strategy and
level of a sample) are computed once per process.

BLAST-Lite 1.1.0 and earlier call `numpy.trapz`, which NumPy 2.4 removed (1.1.1 pins numpy<2 instead, which
the rest of this project's stack cannot take; BLAST-Lite issue #6): BLAST-Lite's modules are given a view of
NumPy with `trapz` as `numpy.trapezoid`, the same function under its NumPy 2.0 name, and nothing else changes.
"""
import functools
import sys
import types
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

CellModel = Literal[
    "Nmc622_Gr_DENSO50Ah_Battery", "Lfp_Gr_250AhPrismatic", "NMC_Gr_75Ah_A", "Nmc811_GrSi_LGM50_5Ah_Battery",
    "Nca_Gr_Panasonic3Ah_Battery", "Nmc111_Gr_Kokam75Ah_Battery", "Lfp_Gr_SonyMurata3Ah_Battery",
]
# Germany, area mean air temperature per month, degC, 1991-2020 (Deutscher Wetterdienst)
DWD_MONTHLY_MEAN_C = (0.9, 1.5, 4.7, 9.0, 13.1, 16.4, 18.3, 17.9, 13.8, 9.4, 4.8, 1.8)
HORIZONS_DAYS = (365.0, 3650.0)  # the first year and ten years of a new cell
SPIN_UP_S = 86400.0  # the first day of a longer run, left out of the horizons
REPEAT_STEP = 1 / 16  # the horizons' passes: the cell's age grows by this share per segment of the duty


class BatteryWear(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    model: CellModel = Field("Nmc622_Gr_DENSO50Ah_Battery", description="BLAST-Lite cell ageing model.")
    cost_per_kwh: float = Field(115.0, ge=0, description="Battery replacement cost per kWh of capacity.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    temperature_c: float | None = Field(None, description="Constant cell temperature, degC; none: the DWD "
                                        "monthly mean air temperature of Germany, 1991-2020.")


class Fade(NamedTuple):
    """Capacity lost, 1 - q (a share; per EV in `fleet_fade`): over the run, after one and ten years."""
    run: np.ndarray
    year: np.ndarray
    ten_years: np.ndarray


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


@functools.cache
def calibrated_temperature_c(model: str) -> tuple[float, float]:
    """The cell temperatures a model's ageing tests covered, degC: BLAST-Lite's
    `experimental_range["cycling_temperature"]` (see the module docstring)."""
    low, high = getattr(_blast_models(), model)().experimental_range["cycling_temperature"]
    return float(low), float(high)


def outside_range_h(temperature_c: np.ndarray, dt_s: float, model: str) -> float:
    """Hours of a trace (temperatures at times 0, dt_s, 2 dt_s, ...; each step counted at its end) with the
    cell outside the model's calibrated temperatures."""
    low, high = calibrated_temperature_c(model)
    temp = np.asarray(temperature_c)[1:]
    return float(np.count_nonzero((temp < low) | (temp > high))) * dt_s / 3600.0


def _repeat(cls, rates: list[dict], days: np.ndarray, efc: np.ndarray) -> list[float]:
    """Fade of a new cell after each of `HORIZONS_DAYS` of a duty given as segments (each with BLAST-Lite's
    rates, days and EFC), repeated in passes (module docstring). `update_states` integrates each state over
    the step from the model's latest rates, `rates[k][-1]`."""
    cell, period = cls(), days.sum()
    shares = [x**2 / x.sum() ** 2 for x in (days, efc) if x.sum() > 0]
    n_effective = 1.0 / max(s.sum() for s in shares)  # the segments among which each pass's ageing is spread
    age, fades = 0.0, []
    for horizon in HORIZONS_DAYS:
        while horizon - age > 1e-9 * horizon:
            step = min(max(period, REPEAT_STEP * n_effective * age), horizon - age)
            for r, dt, de in zip(rates, days * (step / period), efc * (step / period)):
                cell.rates = r
                cell.update_states({"delta_t_days": dt, "delta_efc": de})
            age += step
        cell.update_outputs({})
        fades.append(1.0 - float(cell.outputs["q"][-1]))
    return fades


def _simulate(cell, soc: np.ndarray, temperature_c: np.ndarray, dt_s: float) -> int:
    """BLAST-Lite's `simulate_battery_life` (default arguments) over a trace once, each segment starting where
    the one before ends (module docstring): a trace longer than `SPIN_UP_S` in two parts, that first day and the
    rest, each cut as BLAST-Lite cuts a trace, the cell going on from one to the other. Returns the number of
    segments of the first day (0: the trace is not longer)."""
    from blast.utils.functions import rescale_soc
    from blast.utils.rainflow import extract_cycles

    t_s, n = np.arange(len(soc)) * dt_s, len(soc) - 1
    k = round(SPIN_UP_S / dt_s)
    bounds = [0, k, n] if 0 < k < n else [0, n]
    n_segments = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        t, s, temp = t_s[a:b + 1], soc[a:b + 1], temperature_c[a:b + 1]
        turning = np.unique([cycle[-1] for cycle in extract_cycles(s)]).astype(int)
        ends = cell._find_breakpoints(t, np.cumsum(np.abs(np.ediff1d(s, to_begin=0))) / 2, turning)
        if not ends or ends[-1] != b - a:
            ends.append(b - a)
        start = 0
        for end in ends:  # the SOC swing widened by 1/q: `is_conserve_energy_throughput`
            part = slice(start, end + 1)
            cell.update_battery_state(t[part], rescale_soc(s[part], 1 / cell.outputs["q"][-1]), temp[part])
            start = end
        n_segments.append(len(ends))
    return n_segments[0] if len(n_segments) == 2 else 0


@functools.lru_cache(maxsize=8192)
def _fade(model: str, soc: bytes, temperature_c: bytes, dt_s: float) -> tuple[float, float, float]:
    s, temp = np.frombuffer(soc), np.frombuffer(temperature_c)
    cls = getattr(_blast_models(), model)
    cell = cls()
    spin_up = _simulate(cell, s, temp, dt_s)
    seg = range(1 + spin_up, len(cell.stressors["t_days"]))  # entry i >= 1 of stressors and rates: segment i
    rates = [{k: v[i:i + 1] for k, v in cell.rates.items()} for i in seg]
    year, ten_years = _repeat(cls, rates, np.asarray(cell.stressors["delta_t_days"][1 + spin_up:], float),
                              np.asarray(cell.stressors["delta_efc"][1 + spin_up:], float))
    return 1.0 - float(cell.outputs["q"][-1]), year, ten_years


def capacity_fade(soc: np.ndarray, temperature_c: np.ndarray, dt_s: float, model: str) -> tuple[float, float, float]:
    """(fade over the trace, after one year and after ten years of its duty) of one battery: soc and
    temperature at times 0, dt_s, 2 dt_s, ..."""
    return _fade(model, np.ascontiguousarray(soc, float).tobytes(),
                 np.ascontiguousarray(temperature_c, float).tobytes(), float(dt_s))


def fleet_fade(e_kwh: np.ndarray, *, initial_e_kwh: np.ndarray, capacity_kwh: np.ndarray, index: pd.DatetimeIndex,
               dt_s: float, wear: BatteryWear) -> Fade:
    """Per EV, the fade over the run, after one year and after ten years, from the stored energy at the end of
    each step (steps x EVs), the run's steps starting at `index`."""
    soc = np.vstack([initial_e_kwh, e_kwh]) / capacity_kwh
    temp = cell_temperature_c(_stamps(index, dt_s), wear)
    out = np.array([capacity_fade(soc[:, i], temp, dt_s, wear.model) for i in range(soc.shape[1])]).reshape(-1, 3)
    return Fade(*out.T)


def run_outside_range_h(index: pd.DatetimeIndex, dt_s: float, wear: BatteryWear) -> float:
    """Hours of the run, steps starting at `index`, with the cells outside the model's calibrated temperatures."""
    return outside_range_h(cell_temperature_c(_stamps(index, dt_s), wear), dt_s, wear.model)


def _stamps(index: pd.DatetimeIndex, dt_s: float) -> pd.DatetimeIndex:
    """The times of a trace: each step's start and the end of the last."""
    return index.append(pd.DatetimeIndex([index[-1] + pd.Timedelta(seconds=dt_s)]))


V2G_DUTY_SOC = (0.8, 0.4)  # the daily cycle that prices discharge: from 80 % down to 40 % and back


@functools.lru_cache(maxsize=16)
def discharge_wear_cost(wear: "BatteryWear | None") -> float:
    """Battery wear per kWh discharged, in the wear settings' currency (default settings where None), that
    `v2g_optimal` prices each kWh of discharge at: the first-year fade (`capacity_fade`, as `fade_year_pct`) of
    a daily V2G cycle (`V2G_DUTY_SOC`: down by 10 % of capacity per hour from 17:00, back from 22:00) minus
    that of the same cell resting at the cycle's top, over the energy a year of the cycle discharges (0.4
    capacities a day), times the replacement cost per kWh of capacity; at the year's mean cell temperature
    (`cell_temperature_c`). For the default cell and the DWD temperatures about 0.03 USD per kWh (a test
    recomputes it from BLAST-Lite)."""
    wear = wear or BatteryWear()
    dt_s, days = 900.0, 3
    hour = np.arange(96 * days + 1) * dt_s / 3600.0 % 24.0
    top, low = V2G_DUTY_SOC
    soc = np.clip(np.where(hour >= 17.0, top - 0.1 * (hour - 17.0), top), low, top)
    soc = np.where(hour >= 22.0, low + 0.1 * (hour - 22.0), np.where(hour < 2.0, low + 0.1 * (hour + 2.0), soc))
    year = pd.date_range("2016-01-01", "2016-12-31 23:45", freq="15min")
    temp = np.full(len(soc), cell_temperature_c(year, wear).mean())
    fade = [capacity_fade(s, temp, dt_s, wear.model)[1] for s in (soc, np.full(len(soc), top))]
    return max(fade[0] - fade[1], 0.0) / ((top - low) * 365) * wear.cost_per_kwh
