import numpy as np
import pytest

from hostcap.models.dimming import (
    COMFORT_K,
    DIM_KW,
    INDOOR_C,
    TAU_H,
    Dimmer,
    HeatPumpDimming,
    device_cap_kw,
)
from hostcap.models.heat_pump import DESIGN_T_C


def test_caps_follow_the_rule():
    np.testing.assert_allclose(device_cap_kw([3.7, 11.0, 22.0], heat_pump=False), [3.7, 4.2, 4.2])
    # heat pumps above 11 kW keep 40 % of their rating
    np.testing.assert_allclose(device_cap_kw([3.0, 6.0, 11.0, 20.0], heat_pump=True), [3.0, 4.2, 4.2, 8.0])


def test_operator_dims_on_congestion_holds_and_lifts_when_calm():
    d = Dimmer(n_samples=2, dt_s=900.0, trafo_limit_pct=100.0, v_min_pu=0.90)
    assert not d.step(np.array([90.0, 90.0]), np.array([0.95, 0.95])).any()
    # sample 0 reaches 95 % of the limit, sample 1 comes within 0.01 pu of the lower voltage limit
    assert d.step(np.array([96.0, 50.0]), np.array([0.95, 0.905])).all()
    calm = (np.array([50.0, 50.0]), np.array([0.97, 0.97]))
    for _ in range(3):  # held for an hour (four quarter hours) however calm
        assert d.step(*calm).all()
    assert not d.step(*calm).any()
    # not calm enough (85 % >= 80 %): held on past the hour
    d.step(np.array([99.0, 99.0]), np.array([0.97, 0.97]))
    for _ in range(6):
        assert d.step(np.array([85.0, 85.0]), np.array([0.97, 0.97])).all()
    # a diverged step (NaN) dims
    d2 = Dimmer(n_samples=1, dt_s=900.0, trafo_limit_pct=100.0, v_min_pu=0.90)
    assert d2.step(np.array([np.nan]), np.array([np.nan])).all()


def test_a_dimmed_heat_pump_owes_its_home_heat_within_the_comfort_bound():
    p_th, p_el = np.array([30.0]), np.array([15.0])  # a large heat pump: dimmed to 40 % = 6 kW
    hp = HeatPumpDimming.of(p_el, p_th)
    c = TAU_H * 30.0 / (INDOOR_C - DESIGN_T_C)
    assert hp.capacity_kwh_per_k[0] == pytest.approx(c) and hp.cap_kw[0] == pytest.approx(6.0)
    heat, el, dt = np.array([20.0]), np.array([8.0]), 0.25  # COP 2.5
    p, deficit = hp.step(np.zeros(1), heat, el, np.array([True]), dt)
    assert p[0] == pytest.approx(6.0) and deficit[0] == pytest.approx((20.0 - 6.0 * 2.5) * dt)
    # undimmed it makes the deficit up at up to its rated output
    p2, deficit2 = hp.step(deficit, heat, el, np.array([False]), dt)
    assert deficit2[0] == 0.0 and p2[0] == pytest.approx((20.0 + deficit[0] / dt) / 2.5)
    # dimmed for long, the home never cools by more than COMFORT_K
    d = np.zeros(1)
    for _ in range(400):
        p, d = hp.step(d, heat, el, np.array([True]), dt)
        assert d[0] <= COMFORT_K * c + 1e-9
    assert d[0] == pytest.approx(COMFORT_K * c) and p[0] == pytest.approx(el[0])  # at the bound: its demand
    # a small heat pump is never held below its demand
    small = HeatPumpDimming.of(np.array([3.0]), np.array([7.5]))
    p, d = small.step(np.zeros(1), np.array([6.0]), np.array([2.5]), np.array([True]), dt)
    assert p[0] == pytest.approx(2.5) and d[0] == 0.0 and small.cap_kw[0] == pytest.approx(3.0) and 3.0 <= DIM_KW


def test_devices_resume_one_by_one_after_a_lift():
    from hostcap.models.dimming import StaggeredRelease

    r = StaggeredRelease(n_samples=1, dt_s=900.0)  # 30 min spread: delays of 0, 1 or 2 quarter hours
    sample, delay = np.zeros(3, int), np.array([0.1, 0.5, 0.9])
    r.step(np.array([False]))
    assert not r.capped(sample, delay).any()  # never dimmed: nothing held
    r.step(np.array([True]))
    assert r.capped(sample, delay).all()
    held = []
    for _ in range(3):
        r.step(np.array([False]))
        held.append(r.capped(sample, delay).tolist())
    assert held == [[False, True, True], [False, False, True], [False, False, False]]
