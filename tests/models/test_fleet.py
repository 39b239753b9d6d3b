import numpy as np

from hostcap.models.fleet import FleetParams, depart, draw_vehicle_parameters, integrate, limit_power, make_fleet


def small_fleet(n=50, bidirectional=True, seed=1):
    cand = draw_vehicle_parameters(np.random.default_rng(seed), n)
    return make_fleet(cand, pick=np.arange(n), cp=np.arange(n), bidirectional=np.full(n, bidirectional),
                      ids=[f"ev{i}" for i in range(n)])


def test_energy_balance_and_bounds_over_random_setpoints():
    fleet = small_fleet()
    rng = np.random.default_rng(2)
    e = fleet.initial_e_kwh.copy()
    e0 = e.copy()
    dt_h = 0.25
    charged = discharged = driven = np.zeros(fleet.n)
    for _ in range(500):
        e, _, d = depart(e, rng.random(fleet.n) < 0.05, rng.uniform(0, 30, fleet.n), fleet.target_kwh)
        p = limit_power(rng.uniform(-30, 30, fleet.n), e, rng.random(fleet.n) < 0.7, fleet, dt_h)
        e, c, x = integrate(e, p, fleet, dt_h)
        assert (e >= 0).all() and (e <= fleet.capacity_kwh + 1e-9).all()
        assert (p <= fleet.p_ch_max_kw + 1e-12).all() and (-p <= fleet.p_dis_max_kw + 1e-12).all()
        charged, discharged, driven = charged + c, discharged + x, driven + d
    expected = e0 + fleet.eta_ch * charged - discharged / fleet.eta_dis - driven
    np.testing.assert_allclose(e, expected, atol=1e-9)


def test_unidirectional_never_discharges():
    fleet = small_fleet(bidirectional=False)
    p = limit_power(np.full(fleet.n, -5.0), fleet.initial_e_kwh, np.ones(fleet.n, bool), fleet, 0.25)
    assert (p == 0).all()


def test_unplugged_draws_nothing_and_full_battery_takes_nothing():
    fleet = small_fleet()
    p = limit_power(np.full(fleet.n, 5.0), fleet.initial_e_kwh, np.zeros(fleet.n, bool), fleet, 0.25)
    assert (p == 0).all()
    p = limit_power(np.full(fleet.n, 5.0), fleet.capacity_kwh, np.ones(fleet.n, bool), fleet, 0.25)
    assert (p == 0).all()


def test_departure_records_shortfall_and_never_goes_below_zero():
    target = np.array([40.0, 40.0, 40.0])
    e = np.array([45.0, 30.0, 5.0])
    e2, unmet, driven = depart(e, np.array([True, True, True]), np.array([10.0, 10.0, 10.0]), target)
    np.testing.assert_allclose(unmet, [0.0, 10.0, 35.0])
    np.testing.assert_allclose(e2, [35.0, 20.0, 0.0])
    np.testing.assert_allclose(driven, [10.0, 10.0, 5.0])


def test_parameter_distributions_follow_params():
    params = FleetParams()
    cand = draw_vehicle_parameters(np.random.default_rng(0), 20000, params)
    shares = [np.mean(cand["capacity_kwh"] == c) for c in params.capacity_kwh]
    np.testing.assert_allclose(shares, params.capacity_share, atol=0.02)
    soc0 = cand["initial_e_kwh"] / cand["capacity_kwh"]
    assert soc0.min() >= params.initial_soc_range[0] and soc0.max() <= params.initial_soc_range[1]
