"""Heat pumps, a population of the homes: per home a space-heating and hot-water heat pump whose electric demand
follows its heat demand and the outdoor temperature, vectorised over all heat pumps and steps.

Heat demand: the home's annual heat (space heating and hot water) times the BDEW/SigLinDe standard heat load
profile of a single-family house for the outdoor temperature (`feeders/heat.py`, computed with demandlib from a
DWD test reference year). The profile is that of the average house, so it carries the diversity of many homes
within an hour but no single home's cycling.

Electric demand at each step: heat up to the heat pump's rated heat output divided by its COP, plus what lies
above that from its electric heating rod (COP 1), the monovalent-with-rod design that most new German heat
pumps follow:
    p_el = min(q_th, P_th_rated) / COP_mix + max(q_th - P_th_rated, 0),
    COP_mix = q_th / (q_space / COP(T_sink) + q_water / COP(WATER_SINK_C)),
the space heating (the profile without hot water) and the hot water (the rest) each at its own flow temperature.

COP (Ruhnau, Hirth, Praktiknjo, "Time series of heat demand and heat pump efficiency for energy system
modeling", Scientific Data 6:189, 2019, eq. 3, their regression of manufacturers' data, times their 0.85 for
real-world operation), with dT = T_sink - T_source in K:
    air source:    COP = 0.85 (6.08 - 0.09 dT + 0.0005 dT^2), T_source the outdoor air;
    ground source: COP = 0.85 (10.29 - 0.21 dT + 0.0012 dT^2), T_source `GROUND_SOURCE_C`;
    T_sink = 40 - 1.0 T_out for space heating (their radiator heating curve; floor heating would run cooler and
    more efficiently: radiators are the conservative choice for the grid, and the usual one in a retrofit), and
    `WATER_SINK_C` for hot water (theirs).

Sizing (VDI 4645 / the German practice of sizing on full-load hours): the rated heat output is the annual heat
over `FULL_LOAD_H`; the rated electric power is that heat output over the COP at `DESIGN_T_C`. A feeder's own heat
pump (SimBench's `Air_*`/`Soil_*` loads at a household, `feeders/load.py`) keeps its rated electric power and type,
and its annual heat follows from them.

Who gets one (`draw_heat_pumps`): the households in a random adoption order drawn from the study seed and the
feeder's name alone (not the Monte Carlo sample: every sample of a level sees the same heat pumps, so the homes'
demand and the no-EV baseline are one per level), nested over shares; type and annual heat drawn per household
whether it adopts or not, so a household's heat pump is the same at every share. Defaults (`HeatPumpParams`):
- air source for 90 % of them, ground source for 10 % (BWP, Absatzzahlen 2023: air-to-water about 90 % of the
  heat pumps for heating sold in Germany);
- annual heat lognormal, median 15,000 kWh, sigma 0.35 (about 8,400-26,700 kWh for 90 % of homes: a 120 m2
  house at the German residential average of about 125 kWh/m2 for heating and hot water, dena-Gebaeudereport 2024);
- power factor 0.97 inductive (inverter-driven compressors).
"""
from dataclasses import dataclass

import numpy as np

FULL_LOAD_H = 2000.0  # rated heat output = annual heat / this (VDI 4645 guidance for existing houses: 1800-2400 h)
DESIGN_T_C = -12.0  # outdoor design temperature of the electric rating (DIN EN 12831-1 NA: -10..-16 degC in Germany)
GROUND_SOURCE_C = 5.0  # brine temperature from a borehole in the heating season (VDI 4640: about 0-10 degC)
REAL_WORLD = 0.85  # Ruhnau et al. 2019: manufacturers' COP times this
WATER_SINK_C = 50.0  # hot water's flow temperature (Ruhnau et al. 2019)


@dataclass(frozen=True)
class HeatPumpParams:
    ground_share: float = 0.10
    heat_median_kwh: float = 15000.0
    heat_sigma: float = 0.35
    cos_phi: float = 0.97


def sink_c(t_out_c):
    """Flow temperature of the radiator heating curve, degC (Ruhnau et al. 2019)."""
    return 40.0 - 1.0 * np.asarray(t_out_c, float)


def cop(t_out_c, ground, t_sink_c=None):
    """COP of air-source (`ground` False) or ground-source heat pumps at outdoor temperature t_out_c and flow
    temperature t_sink_c (default: the heating curve's), module docstring; broadcasts."""
    t_out_c, ground = np.asarray(t_out_c, float), np.asarray(ground, bool)
    t_sink_c = sink_c(t_out_c) if t_sink_c is None else t_sink_c
    d_air = t_sink_c - t_out_c
    d_ground = t_sink_c - GROUND_SOURCE_C
    air = 6.08 - 0.09 * d_air + 0.0005 * d_air ** 2
    soil = 10.29 - 0.21 * d_ground + 0.0012 * d_ground ** 2
    return REAL_WORLD * np.where(ground, soil, air)


@dataclass(frozen=True)
class HeatPumps:
    """The heat pumps of one feeder: per heat pump its connection point, type and size."""

    cp: np.ndarray  # connection point (a household)
    ground: np.ndarray  # ground source; else air source
    annual_heat_kwh: np.ndarray
    cos_phi: float = HeatPumpParams.cos_phi

    @property
    def n(self) -> int:
        return len(self.cp)

    @property
    def p_th_rated_kw(self) -> np.ndarray:
        return self.annual_heat_kwh / FULL_LOAD_H

    @property
    def p_el_rated_kw(self) -> np.ndarray:
        return self.p_th_rated_kw / cop(DESIGN_T_C, self.ground)

    def heat_kw(self, space_per_kwh: np.ndarray, water_per_kwh: np.ndarray) -> np.ndarray:
        """Heat demand of each heat pump's home at each step (steps x heat pumps), kW."""
        return (space_per_kwh + water_per_kwh)[:, None] * self.annual_heat_kwh[None, :]

    def electric_kw(self, space_per_kwh: np.ndarray, water_per_kwh: np.ndarray, t_out_c: np.ndarray) -> np.ndarray:
        """Electric power of each heat pump at each step (steps x heat pumps), kW, from the space-heating and
        hot-water demand per kWh of annual heat (`feeders/heat.py`, kW per kWh/a) and the outdoor temperature
        at each step."""
        heat = self.annual_heat_kwh[None, :]
        q_space, q_water = space_per_kwh[:, None] * heat, water_per_kwh[:, None] * heat
        t = t_out_c[:, None]
        el_all = q_space / cop(t, self.ground) + q_water / cop(t, self.ground, WATER_SINK_C)  # at any output
        q_th = q_space + q_water
        rated = self.p_th_rated_kw[None, :]
        served = np.minimum(q_th, rated)
        frac = np.divide(served, q_th, out=np.zeros_like(q_th), where=q_th > 0)
        return el_all * frac + (q_th - served)

    def per_cp(self, p_kw: np.ndarray, n_cp: int) -> np.ndarray:
        """Steps x heat pumps to steps x connection points (summed where a home has more than one)."""
        out = np.zeros((p_kw.shape[0], n_cp))
        np.add.at(out, (slice(None), self.cp), p_kw)
        return out

    @property
    def tan_phi(self) -> float:
        return float(np.tan(np.arccos(self.cos_phi)))


def annual_heat_of_rating(p_el_rated_kw, ground) -> np.ndarray:
    """Annual heat of a heat pump of rated electric power p_el_rated_kw (the sizing rule inverted)."""
    return np.asarray(p_el_rated_kw, float) * cop(DESIGN_T_C, ground) * FULL_LOAD_H


@dataclass(frozen=True)
class HeatPumpCandidates:
    order: np.ndarray  # adoption order over households (indices into `households`)
    ground: np.ndarray  # per household
    annual_heat_kwh: np.ndarray  # per household


def draw_heat_pumps(rng: np.random.Generator, n_households: int,
                    params: HeatPumpParams = HeatPumpParams()) -> HeatPumpCandidates:
    """Every household's candidate heat pump and the adoption order (module docstring)."""
    order = rng.permutation(n_households)
    ground = rng.random(n_households) < params.ground_share
    heat = params.heat_median_kwh * np.exp(params.heat_sigma * rng.standard_normal(n_households))
    return HeatPumpCandidates(order, ground, heat)
