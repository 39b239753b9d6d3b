import numpy as np
import pytest

from hostcap.models.heat_pump import (
    DESIGN_T_C,
    FULL_LOAD_H,
    HeatPumps,
    annual_heat_of_rating,
    cop,
    draw_heat_pumps,
)
from hostcap.models.population import nested_adoption


def test_a_home_at_minus_five_gets_its_heat_over_the_published_cop():
    """By hand, Ruhnau et al. (2019) eq. 3 times 0.85: air source at -5 degC, radiators at 40 + 5 = 45 degC,
    dT = 50 K: 6.08 - 4.5 + 1.25 = 2.83 -> 2.4055; hot water at 50 degC, dT = 55 K: 6.08 - 4.95 + 1.5125 =
    2.6425 -> 2.246125. Ground source (brine 5 degC): space dT = 40 K: 10.29 - 8.4 + 1.92 = 3.81 -> 3.2385."""
    assert cop(-5.0, False) == pytest.approx(2.4055)
    assert cop(-5.0, False, 50.0) == pytest.approx(2.246125)
    assert cop(-5.0, True) == pytest.approx(3.2385)
    # a 15,000 kWh/a air-source home at -5 degC drawing 4 kW of space heat and 0.5 kW of hot water (rated heat
    # output 7.5 kW: no heating rod)
    hp = HeatPumps(cp=np.array([3]), ground=np.array([False]), annual_heat_kwh=np.array([15000.0]))
    p = hp.electric_kw(np.array([4.0 / 15000.0]), np.array([0.5 / 15000.0]), np.array([-5.0]))
    assert p[0, 0] == pytest.approx(4.0 / 2.4055 + 0.5 / 2.246125)
    assert hp.p_th_rated_kw[0] == 15000.0 / FULL_LOAD_H == 7.5
    # sized at the design temperature: 7.5 kW of heat at -12 degC (radiators at 52 degC, dT 64 K)
    assert hp.p_el_rated_kw[0] == pytest.approx(7.5 / (0.85 * (6.08 - 0.09 * 64 + 0.0005 * 64 ** 2)))


def test_heat_above_the_rating_comes_from_the_heating_rod():
    hp = HeatPumps(cp=np.array([0]), ground=np.array([False]), annual_heat_kwh=np.array([15000.0]))
    q_space_kw, t = 9.0, -12.0  # 1.5 kW above the 7.5 kW rated output: the rod, at COP 1
    p = hp.electric_kw(np.array([q_space_kw / 15000.0]), np.array([0.0]), np.array([t]))[0, 0]
    assert p == pytest.approx(7.5 / cop(t, False) + 1.5)
    assert hp.electric_kw(np.zeros(1), np.zeros(1), np.array([t]))[0, 0] == 0.0


def test_sizing_rule_inverts_and_types_differ():
    ground = np.array([False, True])
    hp = HeatPumps(cp=np.arange(2), ground=ground, annual_heat_kwh=annual_heat_of_rating([4.0, 4.0], ground))
    np.testing.assert_allclose(hp.p_el_rated_kw, [4.0, 4.0])
    assert hp.annual_heat_kwh[1] > hp.annual_heat_kwh[0]  # a ground source heats more per electric kW
    assert cop(DESIGN_T_C, True) > cop(DESIGN_T_C, False)


def test_adoption_is_nested_counts_the_feeders_own_and_rounds():
    cand = draw_heat_pumps(np.random.default_rng(5), 40)
    own = np.zeros(40, bool)
    own[[2, 7]] = True
    before = set()
    for share in (0.0, 0.05, 0.2, 0.45, 1.0):
        at = nested_adoption(cand.order, share, own)
        assert len(at) == max(round(share * 40), 2) and set(np.flatnonzero(own)) <= set(at)
        assert before <= set(at)
        before = set(at)
    # the documented shares and sizes: 10 % ground source, median 15,000 kWh/a, sigma 0.35
    many = draw_heat_pumps(np.random.default_rng(6), 20000)
    assert many.ground.mean() == pytest.approx(0.10, abs=0.01)
    assert np.median(many.annual_heat_kwh) == pytest.approx(15000.0, rel=0.02)
    assert np.log(many.annual_heat_kwh).std() == pytest.approx(0.35, rel=0.02)
