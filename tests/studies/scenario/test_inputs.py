"""A run's inputs: the heat-pump population and second cars."""
import numpy as np
import pytest

from hostcap.studies.scenario.inputs import build_inputs
from hostcap.studies.scenario.settings import Scenario

DAY = dict(days=1, step_min=60.0)


def test_heat_pumps_join_the_homes_nested_one_draw_per_feeder_and_seed():
    base = build_inputs(Scenario(**DAY)).households
    homes = np.flatnonzero(build_inputs(Scenario(**DAY)).feeder.connection_points["household"].to_numpy())
    at = {}
    for share in (0.3, 0.6):
        hh = build_inputs(Scenario(heat_pump_share=share, **DAY)).households
        hp = hh.heat_pumps
        assert hp.n == round(share * len(homes)) and set(hp.cp) <= set(homes)
        # the heat pumps add to the homes' demand, and nothing else changes
        np.testing.assert_allclose(hh.p_load_kw - hh.p_heat_pump_kw, base.p_load_kw, atol=1e-12)
        np.testing.assert_allclose(hh.q_load_kvar - base.q_load_kvar, hh.p_heat_pump_kw * hp.tan_phi, atol=1e-12)
        assert hp.tan_phi == pytest.approx(np.tan(np.arccos(0.97)))
        assert (hh.p_heat_pump_kw[:, hp.cp] > 0).all() and not hh.p_heat_pump_kw[:, np.setdiff1d(homes, hp.cp)].any()
        at[share] = set(hp.cp)
    assert at[0.3] <= at[0.6]
    same = build_inputs(Scenario(heat_pump_share=0.3, sample=4, penetration=0.7, **DAY)).households.heat_pumps
    assert set(same.cp) == at[0.3]  # every sample and level of a feeder sees the same heat pumps
    other = build_inputs(Scenario(heat_pump_share=0.3, seed=9, **DAY)).households.heat_pumps
    assert set(other.cp) != at[0.3]


def test_second_cars_above_one_ev_per_household():
    homes = np.flatnonzero(build_inputs(Scenario(**DAY)).feeder.connection_points["household"].to_numpy())
    one = build_inputs(Scenario(penetration=1.0, **DAY))
    more = {pen: build_inputs(Scenario(penetration=pen, **DAY)) for pen in (1.2, 1.5)}
    for pen, inp in more.items():
        f = inp.fleet
        per_home = np.bincount(f.cp, minlength=homes.max() + 1)[homes]
        assert f.n == round(pen * len(homes)) and per_home.min() == 1 and per_home.max() == 2
        # the first cars are those of penetration 1, with their draws and trips
        first = ~np.char.endswith(np.array(f.vehicle_id), "_2")
        assert list(np.array(f.vehicle_id)[first]) == one.fleet.vehicle_id
        np.testing.assert_array_equal(f.capacity_kwh[first], one.fleet.capacity_kwh)
        np.testing.assert_array_equal(inp.mobility.plugged[:, first], one.mobility.plugged)
        assert (f.home_share == 1.0 / np.bincount(f.cp)[f.cp]).all()
    assert set(more[1.2].fleet.vehicle_id) <= set(more[1.5].fleet.vehicle_id)


def test_households_add_rooftop_pv_nested_the_feeders_own_counted():
    from hostcap.feeders.profiles import pv_shape

    inp0 = build_inputs(Scenario(start="2016-07-04", **DAY))
    homes = np.flatnonzero(inp0.feeder.connection_points["household"].to_numpy())
    own = inp0.feeder.pv_rated_kw[homes] > 0
    added = {}
    for share in (0.3, 0.6):
        inp = build_inputs(Scenario(start="2016-07-04", pv_share=share, **DAY))
        extra = inp.households.p_pv_kw - inp0.households.p_pv_kw
        new = np.flatnonzero(extra.max(axis=0) > 0)
        assert set(new) <= set(homes[~own]) and len(new) + own.sum() == round(share * len(homes))
        kwp = extra[:, new].max(axis=0) / pv_shape(inp.index, inp.dt_s).max()
        assert (kwp > 1.0).all() and (kwp <= 30.0 + 1e-9).all()
        np.testing.assert_allclose(extra[:, new], np.outer(pv_shape(inp.index, inp.dt_s), kwp))
        added[share] = set(new)
    assert added[0.3] <= added[0.6]


def test_pv_shape_is_simbench_pv3_averaged_over_each_step():
    """Rows of SimBench's table are one regular quarter-hourly year from 1 January (as `simbench_profiles`
    reads it: its summer wall-clock stamps are an hour ahead), so 4 July starts at row 185 x 96."""
    from pathlib import Path

    import pandas as pd
    import simbench

    from hostcap.feeders.profiles import pv_shape

    folder = Path(simbench.__file__).parent / "networks" / "1-complete_data-mixed-all-0-sw"
    raw = pd.read_csv(folder / "RESProfile.csv", sep=";", usecols=["PV3"])["PV3"].to_numpy(float)
    quarter = raw[185 * 96:186 * 96]
    idx = pd.date_range("2016-07-04", periods=24, freq="h")
    np.testing.assert_allclose(pv_shape(idx, 3600.0), quarter.reshape(24, 4).mean(axis=1))
    np.testing.assert_allclose(pv_shape(idx.shift(5 * 365 + 1, "D"), 3600.0), quarter.reshape(24, 4).mean(axis=1))
