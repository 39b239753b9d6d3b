"""The settings of one run (`Scenario`) and those a study passes to each of its runs unchanged
(`RunSettings`): a pydantic model, so that the CLI, a study sweep and a Dask worker all pass the same
JSON-safe description of a run."""
import re
from datetime import date
from typing import Annotated, Literal

import pandas as pd
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from hostcap.feeders import DEFAULT_FEEDER
from hostcap.models.choices import CLASSES, STRATEGIES
from hostcap.models.limits import BAND_NAMES
from hostcap.models.outage import Outages
from hostcap.models.population import MAX_EVS_PER_HOUSEHOLD
from hostcap.models.strategies import VoltWattCurve
from hostcap.models.tariff import PricedTariff
from hostcap.models.wear import BatteryWear


def _iso_date(v: str) -> str:
    """An ISO 8601 calendar date, YYYY-MM-DD, and nothing else: `11/01/2016` is 11 January to a European and
    1 November to pandas, so no other form is guessed at."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError
        pd.Timestamp(date.fromisoformat(v))  # a real day, within pandas' years 1677-2262
    except ValueError:
        raise ValueError(f"'{v}' is not an ISO 8601 date (YYYY-MM-DD)") from None
    return v


def _yaml_date(v):
    """YAML reads an unquoted 2016-01-11 as a date: it is the same ISO date."""
    return v.isoformat() if isinstance(v, date) else v


IsoDate = Annotated[str, BeforeValidator(_yaml_date), AfterValidator(_iso_date)]


def date_span(start: str, days: int) -> str:
    """The first and last day simulated, for the console: `2016-01-11 to 2016-01-17 (7 days)`."""
    last = pd.Timestamp(start) + pd.Timedelta(days=days - 1)
    return f"{start} to {last:%Y-%m-%d} ({days} day{'s' if days != 1 else ''})"


def check_setpoint_interval(setpoint_min: float, step_min: float) -> None:
    """v2g_optimal's setpoint interval must be a whole number of steps that divides a day."""
    k = setpoint_min / step_min
    if abs(k - round(k)) > 1e-9 or round(k) < 1 or abs(1440.0 / setpoint_min - round(1440.0 / setpoint_min)) > 1e-9:
        raise ValueError(f"optimal_setpoint_min: {setpoint_min:g} min is not a multiple of the {step_min:g} min "
                         "step that divides a day")


class RunSettings(BaseModel):
    """The settings a study passes to each of its scenarios unchanged: step, solver, limits, utility rules,
    tariff and strategy settings (one definition for `Scenario` and `studies.spec.StudySpec`)."""

    model_config = ConfigDict(allow_inf_nan=False)  # no setting is infinite or NaN (none: no limit)

    seed: int = Field(0, ge=0)
    band: Literal[BAND_NAMES] = Field("en50160", description="Voltage criterion (`models/limits.py`): "  # type: ignore[valid-type]
                                      "en50160 (the weekly 95 % statistic), en50160_strict, ansi_a, ansi_b.")
    slack_vm_pu: float | None = Field(None, ge=0.9, le=1.1, description="Voltage of the external grid (the MV "
                                      "side), pu; none: the feeder's own.")
    ev_at: list[Literal[CLASSES]] = Field(["residential"], min_length=1, description="Customer classes "  # type: ignore[valid-type]
                                          "whose connection points may get an EV (`feeders/load.py`).")
    line_limit_pct: float = Field(100.0, gt=0)
    trafo_limit_pct: float = Field(100.0, gt=0)
    trafo_criterion: Literal["loading", "thermal"] = Field(
        "loading", description="When the transformer breaks its limit: loading (above trafo_limit_pct at a step) "
        "or thermal (IEC 60076-7, `models/trafo_thermal.py`: its hot spot, top oil or current above the limits of "
        "normal cyclic loading, or ageing faster than rated over the period). Hosting capacity is given under both.")
    export_limit_kw: float | None = Field(None, ge=0, description="Meter export limit per connection point "
                                          "(EV discharge + PV - load), kW; 0: no export; none: no limit.")
    q_control: Literal["none", "volt_var"] = Field("none", description="Bidirectional chargers' reactive "
                                                   "power: IEEE 1547-2018 Cat. B volt-var, or none.")
    peak_target_kw: Annotated[float, Field(ge=0)] | Literal["auto"] = Field(
        "auto", description="v2g_peak_shave: transformer import target, kW, or auto (the previous day's no-EV "
        "peak).")
    trafo_export_limit_kw: float = Field(0.0, ge=0, description="v2g_peak_shave: EV discharge never takes the "
                                         "transformer below -this (reverse flow to the MV grid), kW.")
    tariff: PricedTariff | None = Field(None, description="A priced tariff (in a study file a mapping, or the "
                                        "path of a tariff YAML file): bills per household, and the strategies' "
                                        "price levels; none: the default time-of-use bands, no bills.")
    optimal_setpoint_min: float | None = Field(None, gt=0, description="v2g_optimal: how often the perfect "
                                               "aggregator sets each EV's power, min, a multiple of the step "
                                               "that divides a day (the bound for an aggregator that "
                                               "dispatches so often); none: every step, the bound.")
    plug_in_probability: float = Field(1.0, gt=0.0, le=1.0, description="Chance that a driver plugs the car in on "
                                       "returning home (always once the trips since the last plug-in took 40 % "
                                       "of the battery; models/mobility.py); 1: every return. Electric Nation "
                                       "(2019): about three plug-ins a week, 0.55 with the default trips.")
    outages: Outages | None = Field(None, description="Supply outages (windows, or SAIFI and CAIDI) and "
                                    "V2H backup; none: no outage, and no backup figures.")
    battery_wear: BatteryWear | None = Field(BatteryWear(), description="Battery wear per EV with BLAST-Lite "
                                             "(cell model, replacement cost, temperature); none: no wear figures.")
    heat_pump_share: float = Field(0.0, ge=0.0, le=1.0, description="Share of the households with a heat pump, "
                                   "0..1, the feeder's own counted (models/heat_pump.py); 0: the feeder's own only.")
    pv_share: float = Field(0.0, ge=0.0, le=1.0, description="Share of the households with rooftop PV, 0..1, the "
                            "feeder's own counted (models/pv.py); 0: the feeder's own only.")
    climate_region: int = Field(4, ge=1, le=15, description="DWD test reference year region of the outdoor "
                                "temperature the heat pumps see (feeders/heat.py): 1 Bremerhaven, 2 Rostock, "
                                "3 Hamburg, 4 Potsdam, 5 Essen, 6 Bad Marienberg, 7 Kassel, 8 Braunlage, "
                                "9 Chemnitz, 10 Hof, 11 Fichtelberg, 12 Mannheim, 13 Muehldorf, 14 Stoetten, "
                                "15 Garmisch-Partenkirchen.")
    step_min: float = Field(15.0, gt=0)
    solver: Literal["fast", "pandapower"] = "fast"
    phases: Literal["auto", "balanced", "unbalanced"] = Field("auto", description="Power flow: balanced "
                                                               "(positive sequence), unbalanced (three-phase, "
                                                               "each device on its phase: models/phases.py), "
                                                               "or auto: unbalanced where the feeder gives "
                                                               "single-phase connections, else balanced.")

    @model_validator(mode="after")
    def _setpoint_fits_the_step(self):
        if self.optimal_setpoint_min is not None:
            check_setpoint_interval(self.optimal_setpoint_min, self.step_min)
        return self


class Scenario(RunSettings):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = "run"
    feeder: str = DEFAULT_FEEDER
    feeder_name: str | None = None  # name in keys and seeds (a study's feeder name); default: `feeder`
    profiles: str | None = None
    trips: str | None = None
    strategy: str = "uncontrolled"
    penetration: float = Field(0.5, ge=0.0, le=MAX_EVS_PER_HOUSEHOLD, description="EVs per household, 0..2 "
                               "(above 1: second cars, models/population.py).")
    v2g_share: float = Field(0.5, ge=0.0, le=1.0, description="Bidirectional share of the EVs, 0..1 "
                             "(as a study's default `v2g_shares`).")
    start: IsoDate = "2016-01-11"
    days: int = Field(7, ge=1, le=366)
    sample: int = Field(0, ge=0)
    volt_watt_v_pu: tuple[float, ...] = VoltWattCurve.v_pu
    volt_watt_frac: tuple[float, ...] = VoltWattCurve.frac
    volt_watt_absorb_pu: tuple[float, float] = VoltWattCurve.v_absorb_pu
    volt_watt_smoothing: float = VoltWattCurve.smoothing
    start_delay_max_s: float = Field(600.0, ge=0.0, le=1800.0, description="smart, v2g_tou, v2h: longest "
                                     "randomised delay of a charger at the start of a price window, s.")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if v not in STRATEGIES:
            raise ValueError(f"unknown strategy '{v}', choose one of {', '.join(STRATEGIES)}")
        return v

    @property
    def setpoint_h(self) -> float | None:
        """v2g_optimal's setpoint interval, h (see `optimal_setpoint_min`); None: every step."""
        return None if self.optimal_setpoint_min is None else self.optimal_setpoint_min / 60.0

    @property
    def seed_name(self) -> str:
        return self.feeder_name or self.feeder

    def curve(self) -> VoltWattCurve:
        return VoltWattCurve(self.volt_watt_v_pu, self.volt_watt_frac, self.volt_watt_absorb_pu,
                             self.volt_watt_smoothing)
