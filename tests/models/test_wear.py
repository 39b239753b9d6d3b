"""Battery wear: the adapter gives what BLAST-Lite gives, cycling wears, the horizons do not depend on the run's
length, the temperature profile and its calibrated range."""
import numpy as np
import pandas as pd
import pytest

from hostcap.models.wear import (
    BatteryWear,
    _blast_models,
    _fade,
    _simulate,
    calibrated_temperature_c,
    capacity_fade,
    cell_temperature_c,
    fleet_fade,
    outside_range_h,
    run_outside_range_h,
)

DT_S = 900.0
WEEK = 7 * 96


def trace(cycles_per_day: float, depth: float = 0.3) -> np.ndarray:
    """Stored energy of a 60 kWh battery at the end of each step: between 80 % and 80 % - depth."""
    t = np.arange(1, WEEK + 1) / 96.0
    soc = 0.8 - depth * 0.5 * (1 - np.cos(2 * np.pi * cycles_per_day * t))
    return 60.0 * soc


def test_one_vehicle_equals_blast_lite_called_directly():
    """BLAST-Lite's `simulate_battery_life` where it needs one segment (under a day, under one EFC); on a week
    its fade at the week's end (BLAST-Lite 1.1.0 simulates a week for 7.95 days, leaving a step out at each
    segment's start and running the trace again to make the time up; the adapter for 7)."""
    cls = _blast_models().Nmc622_Gr_DENSO50Ah_Battery
    soc, temp = 0.8 - 0.3 * np.sin(np.linspace(0, np.pi, 81)), np.full(81, 5.0)
    direct = cls().simulate_battery_life({"Time_s": np.arange(81) * DT_S, "SOC": soc, "Temperature_C": temp})
    assert len(direct.stressors["t_days"]) == 2  # one segment
    assert capacity_fade(soc, temp, DT_S, "Nmc622_Gr_DENSO50Ah_Battery")[0] == 1.0 - direct.outputs["q"][-1]

    index = pd.date_range("2016-01-11", periods=WEEK, freq="15min")
    e = trace(1.0)
    fade = fleet_fade(e[:, None], initial_e_kwh=np.array([48.0]), capacity_kwh=np.array([60.0]), index=index,
                      dt_s=DT_S, wear=BatteryWear())
    soc = np.concatenate([[0.8], e / 60.0])
    temp = cell_temperature_c(index.append(pd.DatetimeIndex([index[-1] + pd.Timedelta(minutes=15)])), BatteryWear())
    direct = cls().simulate_battery_life({"Time_s": np.arange(WEEK + 1) * DT_S, "SOC": soc, "Temperature_C": temp})
    assert direct.stressors["t_days"][-1] == pytest.approx(7.95, abs=0.01)
    cell = cls()
    _simulate(cell, soc, temp, DT_S)
    assert cell.stressors["t_days"][-1] == pytest.approx(7.0)
    assert fade.run[0] == 1.0 - cell.outputs["q"][-1]
    assert fade.run[0] == pytest.approx(1.0 - np.interp(7.0, direct.stressors["t_days"], direct.outputs["q"]), rel=0.01)
    assert 0 < fade.run[0] < fade.year[0] < fade.ten_years[0] < 0.2


@pytest.mark.parametrize("model", ["Nmc622_Gr_DENSO50Ah_Battery", "Lfp_Gr_250AhPrismatic"])
def test_more_v2g_cycling_wears_more(model):
    temp = np.full(WEEK + 1, 10.0)
    fades = [capacity_fade(np.concatenate([[0.8], trace(n) / 60.0]), temp, DT_S, model) for n in (1, 2, 3)]
    for horizon in range(3):  # the run, a year, ten years
        assert fades[0][horizon] < fades[1][horizon] < fades[2][horizon]


def test_identical_traces_are_computed_once():
    soc, temp = np.linspace(0.8, 0.5, 97), np.full(97, 5.0)
    first = capacity_fade(soc, temp, DT_S, "Lfp_Gr_250AhPrismatic")
    before = _fade.cache_info().hits
    assert capacity_fade(soc.copy(), temp.copy(), DT_S, "Lfp_Gr_250AhPrismatic") == first
    assert _fade.cache_info().hits == before + 1


def test_cell_temperature_follows_the_dwd_monthly_means_or_a_constant():
    stamps = pd.DatetimeIndex(["2016-01-16 12:00", "2016-07-16 12:00", "2016-01-01 00:00"])
    temp = cell_temperature_c(stamps, BatteryWear())
    assert temp[0] == pytest.approx(0.9, abs=0.05) and temp[1] == pytest.approx(18.3, abs=0.05)
    assert temp[2] == pytest.approx((0.9 + 1.8) / 2, abs=0.1)  # New Year: between December and January
    assert (cell_temperature_c(stamps, BatteryWear(temperature_c=25.0)) == 25.0).all()


def daily_duty(days: list[tuple[float, float]], start_soc: float = 0.4) -> np.ndarray:
    """State of charge at 0, 15 min, ... of a routine V2G day, one (trip each way, V2G) per day: charge over
    00:00-06:00 to make up the day, drive 07:00-08:00 and 16:00-17:00, plugged in at 17:00, discharge to the
    grid over 17:00-21:00; the same SOC at every midnight."""
    h = np.arange(1, 97) / 4.0
    steps = []
    for trip, v2g in days:
        d = np.zeros(96)
        d[(h > 7) & (h <= 8)] = d[(h > 16) & (h <= 17)] = -trip / 4
        d[(h > 17) & (h <= 21)] = -v2g / 16
        d[h <= 6] = (2 * trip + v2g) / 24
        steps.append(d)
    return start_soc + np.concatenate([[0.0], np.cumsum(np.concatenate(steps))])


ROUTINE = (0.08, 0.24)  # 8 % of capacity each way, 24 % to the grid
LONG_TRIP = (0.3, 0.0)  # a Sunday out: 30 % each way, no V2G


def fade_of(soc: np.ndarray, wear: BatteryWear):
    index = pd.date_range("2016-01-04", periods=len(soc) - 1, freq="15min")
    return fleet_fade(60.0 * soc[1:, None], initial_e_kwh=60.0 * soc[:1], capacity_kwh=np.array([60.0]),
                      index=index, dt_s=DT_S, wear=wear)


@pytest.mark.parametrize("wear", [BatteryWear(), BatteryWear(temperature_c=25.0)], ids=["dwd_january", "25C"])
def test_fade_per_year_does_not_depend_on_run_length(wear):
    """The same day 2 and 28 times: the same year and ten years. The issue asks for 10 %; the same duty must
    agree to the horizons' passes (under 1 %) and January's drift of the DWD temperature (1.0 to 1.5 degC), so
    2 %. Before, BLAST-Lite's `is_constant_input` on the whole trace gave 4.70 and 4.84 %/year (DWD) and 4.15
    and 4.39 (25 degC): its steps as long as the trace stop at 392 days for 28 days, 366 for 2."""
    short, long = fade_of(daily_duty([ROUTINE] * 2), wear), fade_of(daily_duty([ROUTINE] * 28), wear)
    assert long.year[0] == pytest.approx(short.year[0], rel=0.02)
    assert long.ten_years[0] == pytest.approx(short.ten_years[0], rel=0.02)
    assert 0.03 < short.year[0] < short.ten_years[0] / 2 < 0.1


def test_one_unusual_day_weighs_as_one_day():
    """A 28-day run with one long trip among its days reads within 10 % of 2 routine days (the issue's test for
    runs of the same kind of duty). Before, the whole trace's span (40-100 % instead of 40-80 %) was the depth of
    discharge of every day of the year: 5.12 against 4.06 %/year (+26 %); now 4.16 against 4.07."""
    wear = BatteryWear(temperature_c=10.0)
    routine = fade_of(daily_duty([ROUTINE] * 2), wear)
    with_trip = fade_of(daily_duty([ROUTINE] * 14 + [LONG_TRIP] + [ROUTINE] * 13), wear)
    assert with_trip.year[0] == pytest.approx(routine.year[0], rel=0.10)
    assert routine.year[0] < with_trip.year[0] < fade_of(daily_duty([LONG_TRIP] * 28), wear).year[0]


def test_ten_years_lie_between_blast_lites_two_throughput_assumptions():
    """BLAST-Lite run on ten years of the repeated day itself (3,650 days of 15 minutes), under each of its two
    assumptions of how the SOC swing evolves as capacity fades: widened by 1/q to conserve the energy
    throughput (its default, `is_conserve_energy_throughput`) or kept (throughput shrinks). The horizons hold
    the young cell's rates, as BLAST-Lite's `is_constant_input` does: their ten years must lie between the two,
    near the first (measured: 12.87 % against 13.23 and 12.02 at 10 degC); the first year within 2 % of it."""
    wear = BatteryWear(temperature_c=10.0)
    fade = fade_of(daily_duty([ROUTINE] * 2), wear)
    cls = getattr(_blast_models(), wear.model)
    direct = {}
    for days in (365, 3650):
        soc = daily_duty([ROUTINE] * days)
        series = {"Time_s": np.arange(len(soc)) * DT_S, "SOC": soc, "Temperature_C": np.full(len(soc), 10.0)}
        direct[days] = [1.0 - cls().simulate_battery_life(series, is_conserve_energy_throughput=c).outputs["q"][-1]
                        for c in (True, False)]
    assert fade.year[0] == pytest.approx(direct[365][0], rel=0.02)
    assert direct[3650][1] < fade.ten_years[0] < direct[3650][0]
    assert fade.ten_years[0] == pytest.approx(direct[3650][0], rel=0.05)


def test_cell_temperature_outside_the_calibrated_range_is_counted():
    """BLAST-Lite's `experimental_range`: NMC622 (Smith et al. 2021) 10-60 degC, so a January week at the DWD
    means (about 1 degC) lies below throughout and a July week (18 degC) within; LFP Sony-Murata 20-40 degC."""
    assert calibrated_temperature_c("Nmc622_Gr_DENSO50Ah_Battery") == (10.0, 60.0)
    assert calibrated_temperature_c("Lfp_Gr_SonyMurata3Ah_Battery") == (20.0, 40.0)
    january = pd.date_range("2016-01-11", periods=WEEK, freq="15min")
    july = pd.date_range("2016-07-04", periods=WEEK, freq="15min")
    assert run_outside_range_h(january, DT_S, BatteryWear()) == 168.0
    assert run_outside_range_h(july, DT_S, BatteryWear()) == 0.0
    assert run_outside_range_h(july, DT_S, BatteryWear(model="Lfp_Gr_SonyMurata3Ah_Battery")) == 168.0
    assert run_outside_range_h(january, DT_S, BatteryWear(temperature_c=25.0)) == 0.0
    assert outside_range_h(np.array([5.0, 9.0, 10.0, 61.0]), 3600.0, "Nmc622_Gr_DENSO50Ah_Battery") == 2.0


def test_the_price_of_discharge_is_blast_lites_extra_fade_of_a_year_of_v2g_cycles():
    """discharge_wear_cost against BLAST-Lite called directly on a whole year of the daily cycle and of the
    resting cell (its own extrapolation-free simulation), per kWh discharged at 115 USD per kWh."""
    from hostcap.models.wear import DWD_MONTHLY_MEAN_C, _blast_models, discharge_wear_cost

    time_s = np.arange(96 * 365 + 1) * 900.0
    hour = time_s / 3600.0 % 24.0
    cycle = np.interp(hour, [0, 2, 17, 21, 22, 24], [0.6, 0.8, 0.8, 0.4, 0.4, 0.6])
    temp = np.full(len(time_s), np.mean(DWD_MONTHLY_MEAN_C))
    fade = [1 - _blast_models().Nmc622_Gr_DENSO50Ah_Battery().simulate_battery_life(
        {"Time_s": time_s, "SOC": soc, "Temperature_C": temp}).outputs["q"][-1]
        for soc in (cycle, np.full(len(time_s), 0.8))]
    direct = (fade[0] - fade[1]) / (0.4 * 365) * 115.0
    assert 0.01 < direct < 0.06
    assert discharge_wear_cost(None) == pytest.approx(direct, rel=0.1)
