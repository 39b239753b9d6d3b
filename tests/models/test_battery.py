import numpy as np

from hostcap.models.battery import HomeBatteries, battery_balance, battery_series, self_consumption_kw


def one(capacity_kwh=10.0, p_max_kw=5.0, eta=0.95, e0=5.0, sd=0.0, n=1):
    a = lambda v: np.full(n, float(v))  # noqa: E731
    return HomeBatteries(a(capacity_kwh), a(p_max_kw), a(eta), a(eta), a(0.0), a(e0), a(sd))


def test_it_charges_from_pv_surplus_discharges_into_the_homes_import_and_never_exceeds_its_limits():
    bat = one(n=5)
    e = np.array([5.0, 5.0, 5.0, 9.99, 0.0])
    meter = np.array([-3.0, 2.0, -8.0, -3.0, 2.0])  # surplus, import, big surplus, surplus when full, import when empty
    pv = np.array([4.0, 0.0, 9.0, 4.0, 0.0])
    p = self_consumption_kw(meter_kw=meter, pv_kw=pv, e_kwh=e, bat=bat, dt_h=0.25)
    np.testing.assert_allclose(p[:3], [3.0, -2.0, 5.0])  # the surplus, the import, the rating
    assert 0 < p[3] < 0.05 and p[4] == 0.0  # only the room left; nothing from an empty battery


def test_it_stores_pv_only_not_an_evs_export():
    p = self_consumption_kw(meter_kw=np.array([-7.0, -7.0]), pv_kw=np.array([0.0, 2.0]), e_kwh=np.array([1.0, 1.0]),
                            bat=one(n=2), dt_h=0.25)
    np.testing.assert_allclose(p, [0.0, 2.0])


def test_energy_balance_closes_with_losses_and_self_discharge():
    rng = np.random.default_rng(1)
    bat = one(sd=0.0013 / 24, n=4)
    meter = rng.normal(0.0, 4.0, (500, 4))
    pv = np.maximum(-meter, 0.0) + rng.random((500, 4))
    p, e = battery_series(meter_kw=meter, pv_kw=pv, bat=bat, dt_h=0.25)
    assert (e >= -1e-12).all() and (e <= 10.0 + 1e-12).all() and np.abs(p).max() <= 5.0 + 1e-12
    b = battery_balance(p_kw=p, e_kwh=e, bat=bat, dt_h=0.25)
    assert b["battery_charged_kwh"] > 100 and b["battery_discharged_kwh"] > 100 and b["battery_losses_kwh"] > 0
    # independent: stored energy from the first principles of the docstring, step by step
    now = bat.e_initial_kwh.copy()
    for t in range(len(p)):
        moved = 0.95 * np.maximum(p[t], 0) - np.maximum(-p[t], 0) / 0.95
        now = now * (1 - bat.self_discharge_per_h * 0.25) + moved * 0.25
    np.testing.assert_allclose(e[-1], now, atol=1e-9)
    assert abs(b["battery_balance_error_kwh"]) < 1e-9
