"""Tariff files: the shipped tariffs, a dynamic tariff's price series, bad files refused in one line."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hostcap.models.errors import InputError, ModelError
from hostcap.models.tariff import PricedTariff
from hostcap.studies.tariff_file import load_tariff, tariff_prices

TARIFFS = Path(__file__).parents[2] / "studies" / "tariffs"
DEFAULT_TARIFF = TARIFFS / "de_household_2024.yaml"
US_TARIFF = TARIFFS / "us_sun_prairie_rg2.yaml"
NIGHT_DAY = dict(name="night-day", source="test", currency="EUR", fixed_per_day=0.5,
                 bands=[{"name": "night", "price_per_kwh": 0.10, "weekday": [[0, 6]], "weekend": [[0, 6]]},
                        {"name": "day", "price_per_kwh": 0.30, "weekday": [[6, 24]], "weekend": [[6, 24]]}])


@pytest.mark.parametrize("change, field", [
    ({"bands": [{"name": "a", "price_per_kwh": 0.3, "weekday": [[0, 12]], "weekend": [[0, 24]]}]},
     "weekday 12:00 is in no band"),
    ({"bands": [{"name": "a", "price_per_kwh": 0.3, "weekday": [[0, 24]], "weekend": [[0, 24]]},
                {"name": "b", "price_per_kwh": 0.2, "weekday": [[1, 2]], "weekend": []}]},
     "weekday 01:00 is in more than one band"),
    ({"bands": [{"name": "a", "price_per_kwh": -0.3, "weekday": [[0, 24]], "weekend": [[0, 24]]}]},
     "bands.0.price_per_kwh"),
    ({"currency": "euro"}, "currency"),
    ({"bands": [{"name": "a", "price_per_kwh": float("inf"), "weekday": [[0, 24]], "weekend": [[0, 24]]}]},
     "bands.0.price_per_kwh: Input should be a finite number"),
    ({"bands": [{"name": "a", "price_per_kwh": 301.5, "weekday": [[0, 24]], "weekend": [[0, 24]]}]},
     "bands.0.price_per_kwh: 301.5 EUR per kWh is above 10: it looks like a price per MWh"),
    ({"export": {"rule": "feed_in", "price_per_kwh": 81.1}}, "export.price_per_kwh: 81.1 EUR per kWh is above 10"),
    ({"export": {"rule": "sell_everything"}}, "export.rule"),
])
def test_bad_tariff_files_are_refused_naming_the_field(tmp_path, change, field):
    import yaml

    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({**NIGHT_DAY, "export": {"rule": "none"}, **change}))
    with pytest.raises(InputError) as err:
        load_tariff(path)
    assert field in str(err.value) and str(err.value).count("\n") == 0


def test_the_shipped_default_names_its_source():
    t = load_tariff(DEFAULT_TARIFF)
    assert "Destatis" in t.source and "EEG" in t.source
    assert t.export.rule == "feed_in" and t.export.price_per_kwh == 0.0811


def test_the_shipped_us_time_of_use_rate_prices_weekdays_and_weekends():
    t = load_tariff(US_TARIFF)
    assert "Sun Prairie" in t.source and t.currency == "USD" and t.export.rule == "none"
    index = pd.DatetimeIndex(["2016-01-11 07:45", "2016-01-11 08:00", "2016-01-11 19:45", "2016-01-11 20:00",
                              "2016-01-16 12:00"])  # Monday around the peak, then a Saturday noon
    levels, price = tariff_prices(t, index)
    assert list(price) == [0.0510, 0.1600, 0.1600, 0.0510, 0.0510] and list(levels) == [0, 1, 1, 0, 0]


def test_a_dynamic_price_series_prices_each_step_and_ranks_it_in_quintiles(tmp_path):
    hours = pd.date_range("2016-01-11", periods=48, freq="h")
    prices = np.round(0.20 + 0.01 * (np.arange(48) % 24), 4)
    pd.DataFrame({"timestamp": hours, "price_per_kwh": prices}).to_csv(tmp_path / "prices.csv", index=False)
    (tmp_path / "dyn.yaml").write_text("name: dyn\nsource: test\ncurrency: EUR\nprice_series: prices.csv\n"
                                       "export: {rule: net_metering}\n")
    t = load_tariff(tmp_path / "dyn.yaml")
    assert Path(t.price_series).is_absolute()  # relative to the tariff file
    index = pd.date_range("2016-01-11", periods=4 * 48, freq="15min")
    levels, price = tariff_prices(t, index)
    assert price[0] == price[3] == 0.20 and price[4] == 0.21 and price[-1] == prices[-1]  # held to the next stamp
    assert levels.min() == 0 and levels.max() == 4 and np.all(np.diff(levels[:96]) >= 0)  # rises with price
    with pytest.raises(InputError, match="covers 2016-01-11 00:00:00 to 2016-01-12 23:00:00"):
        tariff_prices(t, pd.date_range("2016-02-01", periods=4, freq="15min"))


@pytest.mark.parametrize("csv, message", [
    ("when,price\n2016-01-11,0.2\n", "needs columns timestamp \\(ISO 8601\\) and price_per_kwh"),
    ("timestamp,price_per_kwh\n2016-01-11 01:00,0.2\n2016-01-11 00:00,0.3\n", "increasing, distinct"),
    ("timestamp,price_per_kwh\n2016-01-11 00:00,\n", "prices must be finite numbers"),
    ("timestamp,price_per_kwh\n2016-01-11 00:00,0.2\n2016-01-11 01:00,inf\n", "prices must be finite numbers"),
    ("timestamp,price_per_kwh\n11/01/2016 00:00,0.2\n", "ISO 8601"),
    ("timestamp,price_per_kwh\n2016-01-11T00:00+01:00,0.2\n2016-01-11T01:00+01:00,0.2\n", "with a UTC offset"),
    ("timestamp,price_per_kwh\n2016-03-27T01:00+01:00,0.2\n2016-03-27T03:00+02:00,0.2\n", "with a UTC offset"),
    ("timestamp,price_per_kwh\n2016-01-11 00:00,0.2\n2016-01-11 01:00,85.3\n",
     "at 2016-01-11 01:00:00: 85.3 EUR per kWh is above 10: it looks like a price per MWh"),
])
def test_bad_price_series_are_refused_in_one_line(tmp_path, csv, message):
    (tmp_path / "p.csv").write_text(csv)
    (tmp_path / "t.yaml").write_text("name: d\nsource: s\ncurrency: EUR\nprice_series: p.csv\nexport: {rule: none}\n")
    with pytest.raises(InputError, match=f"^tariff.price_series: .*{message}") as err:
        load_tariff(tmp_path / "t.yaml")
    assert "\n" not in str(err.value)
    (tmp_path / "both.yaml").write_text(
        "name: d\nsource: s\ncurrency: EUR\nprice_series: p.csv\nexport: {rule: none}\n"
        "bands: [{name: a, price_per_kwh: 0.3, weekday: [[0, 24]], weekend: [[0, 24]]}]\n")
    with pytest.raises(InputError, match="bands: give bands or a price_series, not both"):
        load_tariff(tmp_path / "both.yaml")


def test_a_currency_of_small_unit_sets_its_own_ceiling(tmp_path):
    """30 JPY/kWh is a real price, not one per MWh: the tariff says so with max_price_per_kwh."""
    import yaml

    jpy = {**NIGHT_DAY, "currency": "JPY", "export": {"rule": "none"},
           "bands": [{"name": "a", "price_per_kwh": 31.0, "weekday": [[0, 24]], "weekend": [[0, 24]]}]}
    (tmp_path / "jpy.yaml").write_text(yaml.safe_dump(jpy))
    with pytest.raises(InputError, match="31 JPY per kWh is above 10"):
        load_tariff(tmp_path / "jpy.yaml")
    (tmp_path / "jpy.yaml").write_text(yaml.safe_dump({**jpy, "max_price_per_kwh": 1000.0}))
    assert load_tariff(tmp_path / "jpy.yaml").bands[0].price_per_kwh == 31.0


def test_a_tariff_file_that_is_not_text_or_too_large_is_refused_in_one_line(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(bytes(range(256)))
    with pytest.raises(InputError, match=r"^tariff: .*bin.yaml: not a text file \(UTF-8\)"):
        load_tariff(tmp_path / "bin.yaml")
    (tmp_path / "big.yaml").write_text("# padding\n" * 200_000)
    with pytest.raises(InputError, match=r"^tariff: .*big.yaml: larger than 1000 kB"):
        load_tariff(tmp_path / "big.yaml")


def test_the_model_reads_no_file_a_series_tariff_wants_its_prices_given(tmp_path):
    t = PricedTariff(name="d", source="s", currency="EUR", price_series=str(tmp_path / "p.csv"),
                     export={"rule": "none"})
    with pytest.raises(ModelError, match="price_series is not read"):
        t.price_per_kwh(pd.date_range("2016-01-11", periods=4, freq="15min"))
