"""Priced tariffs: prices per step, levels for the strategies, bills by hand."""

import numpy as np
import pandas as pd
import pytest

from hostcap.models.customers import meter_energy
from hostcap.models.tariff import PricedTariff

NIGHT_DAY = dict(name="night-day", source="test", currency="EUR", fixed_per_day=0.5,
                 bands=[{"name": "night", "price_per_kwh": 0.10, "weekday": [[0, 6]], "weekend": [[0, 6]]},
                        {"name": "day", "price_per_kwh": 0.30, "weekday": [[6, 24]], "weekend": [[6, 24]]}])


@pytest.mark.parametrize("export, bill_a", [
    ({"rule": "net_metering"}, 4.2 - 18 * 0.30 + 0.5),  # exports credited at the day price of that step
    ({"rule": "feed_in", "price_per_kwh": 0.08}, 4.2 - 18 * 0.08 + 0.5),
    ({"rule": "none"}, 4.2 + 0.5),
])
def test_two_households_one_day_bill_by_hand(export, bill_a):
    tariff = PricedTariff(**NIGHT_DAY, export=export)
    index = pd.date_range("2016-01-11", periods=4, freq="6h")  # a Monday, four 6-hour steps
    price = tariff.price_per_kwh(index)
    assert list(price) == [0.10, 0.30, 0.30, 0.30]
    # home A: 1 kW load, 4 kW PV at noon (net -3 kW); home B: 2 kW load, no PV
    load = np.array([[1.0, 2.0]] * 4)
    pv = np.array([[0, 0], [0, 0], [4, 0], [0, 0]], float)
    e = meter_energy(load, pv, np.zeros_like(load), np.zeros_like(load), dt_h=6.0, tariff=tariff,
                     price_per_kwh=price)
    # A imports 6 kWh at night (0.60) and 6 + 6 kWh by day (3.60): 4.20; exports 18 kWh at noon
    assert e["import_charge_EUR"][0] == pytest.approx(4.2)
    assert e["bill_EUR"][0] == pytest.approx(bill_a)
    # B: 12 kWh at night and 36 kWh by day, whatever the export rule
    assert e["bill_EUR"][1] == pytest.approx(12 * 0.10 + 36 * 0.30 + 0.5)
    assert e["fixed_charge_EUR"] == pytest.approx([0.5, 0.5])


def test_levels_rank_the_band_prices_and_weekends_have_their_own_hours():
    tariff = PricedTariff(**{**NIGHT_DAY, "bands": [
        {"name": "night", "price_per_kwh": 0.10, "weekday": [[22, 6]], "weekend": [[0, 24]]},
        {"name": "peak", "price_per_kwh": 0.40, "weekday": [[17, 21]]},
        {"name": "day", "price_per_kwh": 0.30, "weekday": [[6, 17], [21, 22]]}]}, export={"rule": "none"})
    index = pd.DatetimeIndex(["2016-01-11 03:00", "2016-01-11 12:00", "2016-01-11 18:30", "2016-01-16 18:30"])
    assert list(tariff.levels(index)) == [0, 1, 2, 0]  # Saturday evening is night price
