"""The v2g_peak_shave aggregator's pure parts: bounds from the transformer reading, and the fleet dispatch."""
import numpy as np
import pytest

from hostcap.models.aggregator import deadline_fill_level_kw, dispatch, fill_level_kw, fleet_bounds_kw, water_fill
from hostcap.models.fleet import Fleet


def fleet_of(e0, target, p_ch, p_dis):
    n = len(e0)
    one = np.ones(n)
    return Fleet(vehicle_id=[str(i) for i in range(n)], cp=np.arange(n), capacity_kwh=60 * one,
                 p_ch_max_kw=np.asarray(p_ch, float), p_dis_max_kw=np.asarray(p_dis, float),
                 bidirectional=np.asarray(p_dis) > 0, eta_ch=one, eta_dis=one, reserve_kwh=10 * one,
                 target_kwh=np.asarray(target, float), initial_e_kwh=np.asarray(e0, float), start_offset=0 * one)


def test_water_fill_is_proportional_capped_and_exact():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        n = rng.integers(1, 9)
        cap = rng.uniform(0, 5, n) * (rng.random(n) > 0.2)
        w = rng.uniform(0.1, 3, n)
        total = rng.uniform(0, 1.2 * cap.sum())
        x = water_fill(total, cap, w)
        assert (x >= -1e-12).all() and (x <= cap + 1e-9).all()
        assert x.sum() == pytest.approx(min(total, cap.sum()), abs=1e-7)
        free = (x < cap - 1e-9) & (cap > 0)
        if free.sum() > 1:
            ratio = x[free] / w[free]
            assert np.ptp(ratio) <= 1e-6 * max(ratio.max(), 1.0)


def test_bounds_follow_the_transformer_reading():
    lo, hi = fleet_bounds_kw(p_slack_kw=120.0, p_fleet_kw=20.0, target_kw=200.0, export_limit_kw=0.0)
    assert (lo, hi) == (-100.0, 60.0)  # the rest draws 100 kW: discharge at most 100, charge up to 0.8 x 200
    # the day-ahead forecast of the rest (130 kW) is above the persistence reading: charge only up to it
    assert fleet_bounds_kw(p_slack_kw=120.0, p_fleet_kw=20.0, target_kw=200.0, export_limit_kw=0.0,
                           forecast_kw=130.0)[1] == 30.0
    lo, hi = fleet_bounds_kw(p_slack_kw=-30.0, p_fleet_kw=0.0, target_kw=150.0, export_limit_kw=0.0)
    assert lo == 30.0  # PV reverses the flow by 30 kW: the fleet may not discharge and absorbs what it can


def test_dispatch_meets_departures_first_then_shaves_and_fills_by_flexibility():
    # EV0 leaves after 2 steps and needs 20 kWh at 11 kW: it must take 9 kW now. EV1 (bidirectional) needs
    # 8 kWh and holds 20 kWh above its floor. EV2 needs 10 kWh and leaves much later.
    f = fleet_of(e0=[28, 40, 38], target=[48, 48, 48], p_ch=[11, 11, 11], p_dis=[0, 11, 0])
    kw = dict(e_kwh=f.initial_e_kwh, plugged=np.ones(3, bool), fleet=f, next_trip_kwh=np.array([0.0, 10.0, 0.0]),
              steps_to_departure=np.array([2, 40, 40]), dt_h=1.0)
    # 5 kW over target: shave as far as flexibility allows (EV0's 9 kW stay, EV1 gives its 11 kW)
    assert dispatch(-1e9, -5.0, **kw) == pytest.approx([9.0, -11.0, 0.0])
    # ... but never below lo (here: no export past the transformer)
    assert dispatch(-1.0, -5.0, **kw) == pytest.approx([9.0, -10.0, 0.0])
    # a valley of 20 kW: 9 must, the other 11 shared by energy headroom (EV0 capped at its rating)
    assert dispatch(-1e9, 20.0, **kw) == pytest.approx([11.0, 4.0, 5.0])
    # a deep valley: every EV to its target at most
    assert dispatch(-1e9, 100.0, **kw) == pytest.approx([11.0, 8.0, 10.0])
    # unplugged EVs get nothing
    # an EV that leaves after this step charges what it needs instead of shaving
    assert dispatch(-1e9, -5.0, **{**kw, "steps_to_departure": np.array([2, 1, 40])})[1] == pytest.approx(8.0)
    # at its target two steps before leaving, it gives at most what one full-power step can put back
    at_target = fleet_of(e0=[48], target=[48], p_ch=[11], p_dis=[20])
    one = dict(plugged=np.ones(1, bool), fleet=at_target, next_trip_kwh=np.zeros(1), dt_h=1.0)
    assert dispatch(-1e9, -50.0, e_kwh=at_target.initial_e_kwh, steps_to_departure=np.array([2]), **one) == \
        pytest.approx([-11.0])
    p = dispatch(-1e9, 100.0, **{**kw, "plugged": np.array([True, False, True])})
    assert p[1] == 0.0


def test_fill_level_holds_the_needed_energy_in_the_valleys():
    forecast = np.array([50.0, 20.0, 10.0, 30.0, 80.0])
    assert fill_level_kw(forecast, 0.0, 1.0) == -np.inf
    # 25 kWh: 10 -> 20 takes 10, then two steps (10, 20) rise together 7.5 more: level 27.5
    level = fill_level_kw(forecast, 25.0, 1.0)
    assert level == pytest.approx(27.5)
    assert np.maximum(level - forecast, 0).sum() == pytest.approx(25.0)
    # more than every valley up to the highest step holds: all five steps rise together
    level = fill_level_kw(forecast, 400.0, 0.5)
    assert np.maximum(level - forecast, 0).sum() * 0.5 == pytest.approx(400.0)
    assert fill_level_kw(np.array([np.nan, 10.0]), 5.0, 1.0) == pytest.approx(15.0)  # no forecast: skipped


def test_the_deadline_fill_level_holds_what_is_due_before_each_deadline():
    """20 kWh due within 2 steps and 10 more later: one level for all 30 kWh over the whole forecast would
    leave the early leavers short; the deadline level holds 20 kWh in the first two steps."""
    forecast = np.array([10.0, 30.0, 0.0, 0.0])
    due = np.array([20.0, 30.0])  # cumulative: by step 2, by step 4
    level = deadline_fill_level_kw(forecast, due, np.array([2, 4]), 1.0)
    assert np.maximum(level - forecast[:2], 0).sum() == pytest.approx(20.0)
    assert level == pytest.approx(fill_level_kw(forecast[:2], 20.0, 1.0)) == pytest.approx(30.0)
    assert fill_level_kw(forecast, 30.0, 1.0) < level  # the single level over everything is lower
    assert deadline_fill_level_kw(forecast, np.zeros(2), np.array([2, 4]), 1.0) == -np.inf


def test_extra_charging_goes_first_to_the_ev_that_leaves_soonest():
    fleet = fleet_of([30.0, 30.0], [40.0, 40.0], [11.0, 11.0], [0.0, 0.0])
    p = dispatch(-1e9, 6.0, e_kwh=np.full(2, 30.0), plugged=np.ones(2, bool), fleet=fleet,
                 next_trip_kwh=np.zeros(2), steps_to_departure=np.array([8, 40]), dt_h=0.25)
    assert p == pytest.approx([5.0, 1.0])  # in proportion to the mean power each needs: 10 kWh in 2 h or in 10 h
