"""Battery wear: the adapter gives what BLAST-Lite gives, cycling wears, the temperature profile."""
import numpy as np
import pandas as pd
import pytest

from hostcap.models.wear import BatteryWear, _blast_models, _fade, capacity_fade, cell_temperature_c, fleet_fade

DT_S = 900.0
WEEK = 7 * 96


def trace(cycles_per_day: float, depth: float = 0.3) -> np.ndarray:
    """Stored energy of a 60 kWh battery at the end of each step: between 80 % and 80 % - depth."""
    t = np.arange(1, WEEK + 1) / 96.0
    soc = 0.8 - depth * 0.5 * (1 - np.cos(2 * np.pi * cycles_per_day * t))
    return 60.0 * soc


def test_one_vehicle_equals_blast_lite_called_directly():
    index = pd.date_range("2016-01-11", periods=WEEK, freq="15min")
    e = trace(1.0)
    run, year = fleet_fade(e[:, None], initial_e_kwh=np.array([48.0]), capacity_kwh=np.array([60.0]), index=index,
                           dt_s=DT_S, wear=BatteryWear())
    soc = np.concatenate([[0.8], e / 60.0])
    temp = cell_temperature_c(index.append(pd.DatetimeIndex([index[-1] + pd.Timedelta(minutes=15)])), BatteryWear())
    series = {"Time_s": np.arange(WEEK + 1) * DT_S, "SOC": soc, "Temperature_C": temp}
    cell = _blast_models().Nmc622_Gr_DENSO50Ah_Battery
    direct_run = cell().simulate_battery_life(series)
    direct_year = cell().simulate_battery_life(series, threshold_time=1, is_constant_input=True)
    assert run[0] == 1.0 - direct_run.outputs["q"][-1]
    assert year[0] == 1.0 - direct_year.outputs["q"][-1]
    assert 0 < run[0] < year[0] < 0.2


@pytest.mark.parametrize("model", ["Nmc622_Gr_DENSO50Ah_Battery", "Lfp_Gr_250AhPrismatic"])
def test_more_v2g_cycling_wears_more(model):
    temp = np.full(WEEK + 1, 10.0)
    fades = [capacity_fade(np.concatenate([[0.8], trace(n) / 60.0]), temp, DT_S, model) for n in (1, 2, 3)]
    assert fades[0][0] < fades[1][0] < fades[2][0]
    assert fades[0][1] < fades[1][1] < fades[2][1]


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
