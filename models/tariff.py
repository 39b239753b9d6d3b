"""Tariffs: the price levels the strategies schedule by, and priced tariffs that give each household a bill.

Without a priced tariff the strategies use the project's default band shape (`Tariff`): peak 17:00-21:00,
off-peak 22:00-06:00, shoulder otherwise, a three-band residential time-of-use shape such as those offered to
EV owners (e.g. UK "Economy 7"-style night rates); only the order of the bands matters then, and no bill is
computed.

A priced tariff (`PricedTariff`, a `tariff:` block in a study or a YAML file, see `studies/tariffs/`,
read by `studies/tariff_file.py`) has a
currency, an import price per band with the band's hours on weekdays and at weekends, a fixed charge per
day, and an export rule:

- `net_metering`: each exported kWh is credited at the import price of the same step (time-of-use net
  metering; the credit may exceed the charges, as a carried-over credit);
- `feed_in`: each exported kWh earns `export.price_per_kwh`;
- `none`: exports earn nothing.

The strategies then schedule by its price levels (the bands ranked by price, cheapest 0); with one price
there is no peak to shift from: `v2g_tou` never discharges and `v2h` gives back only stored PV surplus.

A dynamic tariff gives a `price_series` instead of bands: a CSV file (relative to the tariff file) with
columns `timestamp` and `price_per_kwh`, each price holding until the next time stamp (for example a
day-ahead market price plus the retail adders, as dynamic tariffs under EU Directive 2019/944 art. 11 pass
it on). Its price levels for the strategies are the quintiles of the run's prices (0 cheapest to 4
dearest), so the strategies see a handful of price bands rather than every distinct price. Its time
stamps are ISO 8601 (`2016-01-11 00:00` or `2016-01-11T00:00`) in the local wall-clock time of the feeder's
profiles, without a UTC offset: the profiles carry no time zone (SimBench's are German local time, a user's
table is as written), so there is no zone to convert an offset to, and a series with offsets (`+01:00`, `Z`)
is refused rather than shifted by a guess. The series must price every step of the run.

Every price (band, export, series) is a finite number per kWh, at least 0 and at most the tariff's
`max_price_per_kwh`, `MAX_PRICE_PER_KWH` by default; a larger one is refused as a price per MWh.
"""
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hostcap.models.errors import InputError, ModelError

OFF_PEAK, SHOULDER, PEAK = 0, 1, 2
SLOT_H = 0.25  # band hours are checked and looked up on quarter hours
# The dearest an hour of the EU day-ahead market can cost is SDAC's harmonised maximum clearing price, 4,000
# EUR/MWh (4 EUR/kWh; HMMCP methodology, ACER Decision 01/2023, annex I): with a retailer's adders and VAT a
# dynamic tariff stays below 10 EUR/kWh (USD, GBP, CHF alike), while a price per MWh exceeds 10 in any hour
# dearer than 1 ct/kWh. A tariff in a currency of smaller unit (JPY, HUF, KRW) sets its own max_price_per_kwh.
MAX_PRICE_PER_KWH = 10.0


@dataclass(frozen=True)
class Tariff:
    peak_start_h: float = 17.0
    peak_end_h: float = 21.0
    off_peak_start_h: float = 22.0
    off_peak_end_h: float = 6.0

    def levels(self, hour_of_day: np.ndarray) -> np.ndarray:
        """Price level (OFF_PEAK, SHOULDER, PEAK) for each hour-of-day value (float hours, 0 <= h < 24)."""
        h = np.asarray(hour_of_day, dtype=float)
        level = np.full(h.shape, SHOULDER, dtype=np.int8)
        level[(h >= self.peak_start_h) & (h < self.peak_end_h)] = PEAK
        if self.off_peak_start_h > self.off_peak_end_h:  # wraps midnight
            off = (h >= self.off_peak_start_h) | (h < self.off_peak_end_h)
        else:
            off = (h >= self.off_peak_start_h) & (h < self.off_peak_end_h)
        level[off] = OFF_PEAK
        return level


Hours = list[tuple[float, float]]  # [start, end) in hours of the day; end < start wraps midnight


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    price_per_kwh: float = Field(ge=0)
    weekday: Hours = []
    weekend: Hours = []

    @field_validator("weekday", "weekend")
    @classmethod
    def _hours(cls, v: Hours) -> Hours:
        for start, end in v:
            if not (0 <= start <= 24 and 0 <= end <= 24) or start == end:
                raise ValueError(f"[{start}, {end}] is not a span of hours within 0-24")
        return v


class Export(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    rule: Literal["net_metering", "feed_in", "none"]
    price_per_kwh: float = Field(0.0, ge=0)


class PricedTariff(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    source: str = Field(description="Where the prices come from (publisher, document, date).")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    fixed_per_day: float = Field(0.0, ge=0)
    bands: list[Band] = []
    price_series: str | None = Field(None, description="CSV of timestamp, price_per_kwh (a dynamic tariff), "
                                     "relative to the tariff file; replaces the bands.")
    export: Export
    max_price_per_kwh: float = Field(MAX_PRICE_PER_KWH, gt=0, description="Prices above "
                                     "it are refused as prices per MWh; default: 10, for currencies of about a "
                                     "euro's worth (models/tariff.py).")

    @model_validator(mode="after")
    def _prices_per_kwh(self):
        for where, price in ([(f"bands.{i}.price_per_kwh", b.price_per_kwh) for i, b in enumerate(self.bands)]
                             + [("export.price_per_kwh", self.export.price_per_kwh)]):
            self.check_per_kwh(where, price)
        return self

    def check_per_kwh(self, where: str, price_per_kwh: float) -> None:
        """Refuse a price above `max_price_per_kwh` as a price per MWh (module docstring)."""
        if price_per_kwh > self.max_price_per_kwh:
            raise ValueError(f"{where}: {price_per_kwh:g} {self.currency} per kWh is above "
                             f"{self.max_price_per_kwh:g}: it looks like a price per MWh (divide by 1000; a "
                             "currency of smaller unit sets max_price_per_kwh)")

    @model_validator(mode="after")
    def _every_quarter_hour_in_one_band(self):
        if self.price_series is not None:
            if self.bands:
                raise ValueError("bands: give bands or a price_series, not both")
            return self
        if not self.bands:
            raise ValueError("bands: give at least one band, or a price_series")
        for day in ("weekday", "weekend"):
            count = np.zeros(int(24 / SLOT_H), int)
            for band in self.bands:
                count += _mask(getattr(band, day))
            bad = np.flatnonzero(count != 1)
            if bad.size:
                h = bad[0] * SLOT_H
                what = "in no band" if count[bad[0]] == 0 else "in more than one band"
                raise ValueError(f"bands: {day} {int(h):02d}:{round(h % 1 * 60):02d} is {what}")
        return self

    def _slot_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(weekday, weekend) arrays of the band index of each quarter hour."""
        tables = []
        for day in ("weekday", "weekend"):
            band = np.zeros(int(24 / SLOT_H), int)
            for i, b in enumerate(self.bands):
                band[_mask(getattr(b, day))] = i
            tables.append(band)
        return tables[0], tables[1]

    def band_index(self, index: pd.DatetimeIndex) -> np.ndarray:
        """The band of each step starting at `index`."""
        weekday, weekend = self._slot_table()
        slot = ((index.hour * 60 + index.minute) // int(SLOT_H * 60)).to_numpy()
        return np.where(index.weekday.to_numpy() >= 5, weekend[slot], weekday[slot])

    def price_per_kwh(self, index: pd.DatetimeIndex, series: pd.Series | None = None) -> np.ndarray:
        """The import price of each step starting at `index`; for a price series, `series` holds its prices
        (`studies/tariff_file.read_price_series` reads them)."""
        if self.price_series is not None:
            return series_prices(self._series(series), index, self.price_series)
        return np.array([b.price_per_kwh for b in self.bands])[self.band_index(index)]

    def levels(self, index: pd.DatetimeIndex, series: pd.Series | None = None) -> np.ndarray:
        """Price level per step for the strategies: the band prices ranked, cheapest 0 (equal prices equal);
        for a price series (`series`, as in `price_per_kwh`) its quintile over these steps."""
        if self.price_series is not None:
            price = series_prices(self._series(series), index, self.price_series)
            edges = np.unique(np.quantile(price, [0.2, 0.4, 0.6, 0.8]))
            return np.searchsorted(edges, price, side="right").astype(np.int8)
        prices = np.array([b.price_per_kwh for b in self.bands])
        rank = np.unique(prices, return_inverse=True)[1]
        return rank[self.band_index(index)].astype(np.int8)

    def _series(self, series: pd.Series | None) -> pd.Series:
        if series is None:
            raise ModelError(f"tariff {self.name}: its price_series is not read; pass its prices as `series`")
        return series


def series_prices(price: pd.Series, index: pd.DatetimeIndex, path: str) -> np.ndarray:
    """The price in force at each step start: the last time stamp at or before it; a series (read from
    `path`) that does not cover `index` is refused."""
    pos = price.index.searchsorted(index, side="right") - 1
    if len(index) and (pos[0] < 0 or index[-1] - price.index[-1] > pd.Timedelta(days=1)):
        raise InputError(f"tariff.price_series: {path} covers {price.index[0]} to {price.index[-1]}, not "
                         f"{index[0]} to {index[-1]}")
    return price.to_numpy()[pos]


def _mask(hours: Hours) -> np.ndarray:
    h = np.arange(0, 24, SLOT_H)
    out = np.zeros(h.size, bool)
    for start, end in hours:
        out |= ((h >= start) & (h < end)) if start < end else ((h >= start) | (h < end))
    return out


def bills(*, import_kwh: np.ndarray, export_kwh: np.ndarray, price_per_kwh: np.ndarray, tariff: PricedTariff,
          days: float) -> dict[str, np.ndarray]:
    """Per connection point, from energy per step (steps x connection points, kWh): the import charge, the
    export credit, the fixed charge and the bill (charge - credit + fixed), in the tariff's currency."""
    charge = price_per_kwh @ import_kwh
    rule = tariff.export.rule
    if rule == "net_metering":
        credit = price_per_kwh @ export_kwh
    elif rule == "feed_in":
        credit = export_kwh.sum(axis=0) * tariff.export.price_per_kwh
    else:
        credit = np.zeros_like(charge)
    fixed = np.full_like(charge, tariff.fixed_per_day * days)
    return {"import_charge": charge, "export_credit": credit, "fixed_charge": fixed,
            "bill": charge - credit + fixed}
