"""The household's meter and PV use, on cases small enough to count by hand."""
import numpy as np
import pytest

from hostcap.models.customers import customer_energy, meter_energy


def test_meter_energy_by_hand():
    # one home, four hours: load 1 kW; PV 0, 3, 3, 0 kW; its EV charges 2 kW in hour 0 and gives 1 kW in hour 2
    load = np.full((4, 1), 1.0)
    pv = np.array([[0.0], [3.0], [3.0], [0.0]])
    ev = np.array([[2.0], [0.0], [-1.0], [0.0]])
    e = meter_energy(load, pv, ev, np.maximum(ev, 0.0), dt_h=1.0)
    # net: 3, -2, -3, 1 -> import 4, export 5; PV 6, of which exported min(2,3) + min(3,3) = 5, used 1
    assert e["import_kwh"][0] == 4.0 and e["export_kwh"][0] == 5.0
    assert e["pv_exported_kwh"][0] == 5.0 and e["pv_used_kwh"][0] == 1.0
    assert e["consumption_kwh"][0] == 6.0  # load 4 + EV charging 2
    assert e["self_consumption"][0] == pytest.approx(1 / 6)
    assert e["self_sufficiency"][0] == pytest.approx(1 / 6)


def test_without_the_ev_and_under_a_zero_export_limit():
    load = np.array([[1.0, 2.0], [1.0, 2.0]])
    pv = np.array([[3.0, 0.0], [0.0, 0.0]])  # the second home has no PV
    ev = np.array([[2.0, 0.0], [0.0, 0.0]])
    e = customer_energy(load_kw=load, pv_kw=pv, pv_curtailed_kw=np.zeros_like(pv), ev_kw=ev,
                        ev_charge_kw=ev, export_limit_kw=None, dt_h=1.0)
    assert e["pv_used_kwh"][0] == 3.0 and e["self_consumption"][0] == 1.0  # the EV soaks up the surplus
    assert e["pv_used_kwh_no_ev"][0] == 1.0 and e["export_kwh_no_ev"][0] == 2.0
    assert np.isnan(e["self_consumption"][1]) and e["self_sufficiency"][1] == 0.0
    # zero export: without the EV the surplus is curtailed, so nothing is exported and all PV left is used
    z = customer_energy(load_kw=load, pv_kw=pv, pv_curtailed_kw=np.zeros_like(pv), ev_kw=ev,
                        ev_charge_kw=ev, export_limit_kw=0.0, dt_h=1.0)
    assert z["export_kwh_no_ev"][0] == 0.0 and z["pv_kwh_no_ev"][0] == 1.0
    assert z["self_consumption_no_ev"][0] == 1.0


def test_saving_against_uncontrolled_by_hand():
    from hostcap.models.tariff import PricedTariff

    tariff = PricedTariff(name="t", source="test", currency="EUR", export={"rule": "none"},
                          bands=[{"name": "flat", "price_per_kwh": 0.5, "weekday": [[0, 24]], "weekend": [[0, 24]]}])
    price = np.array([0.2, 0.5, 0.5])  # as if the first hour were cheaper
    load = np.full((3, 1), 1.0)
    zero = np.zeros_like(load)
    smart = np.array([[4.0], [0.0], [0.0]])  # 4 kWh in the cheap hour
    uncontrolled = np.array([[0.0], [3.0], [3.0]])  # 6 kWh at the dear price, ending 2 kWh fuller (grid side)
    e = customer_energy(load_kw=load, pv_kw=zero, pv_curtailed_kw=zero, ev_kw=smart, ev_charge_kw=smart,
                        export_limit_kw=None, dt_h=1.0, tariff=tariff, price_per_kwh=price,
                        ev_uncontrolled_kw=uncontrolled, stored_gain_kwh=np.array([-2.0]))
    assert e["bill_EUR"][0] == pytest.approx(5 * 0.2 + 0.5 + 0.5)
    assert e["bill_uncontrolled_EUR"][0] == pytest.approx(0.2 + 4 * 0.5 + 4 * 0.5)
    # 4.2 - 2.0 = 2.2, less the 2 kWh it has yet to buy at the lowest price: 2.2 - 0.4
    assert e["saving_vs_uncontrolled_EUR"][0] == pytest.approx(1.8)
