"""A tariff given as files: the YAML tariff file (`load_tariff`) and a dynamic tariff's price series, a CSV
of `timestamp`, `price_per_kwh` (`read_price_series`), read and checked here; the tariff itself, its
levels, prices and bills are `models/tariff.py`. A bad file is refused with one line naming the file and
field."""
import functools
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from hostcap.models.errors import InputError
from hostcap.models.tariff import PricedTariff
from hostcap.models.timestamps import local_stamps
from hostcap.studies.yaml_input import load_yaml


def load_tariff(path: str | Path) -> PricedTariff:
    """A priced tariff from a YAML file (a price series relative to it); a bad file is refused with one line
    naming the field, a bad price series now rather than in a worker."""
    p = Path(path)
    try:
        data = load_yaml(p, "tariff file")
    except InputError as exc:
        raise InputError(f"tariff: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("price_series"), str):
        data["price_series"] = str((p.parent / data["price_series"]).resolve())
    try:
        tariff = PricedTariff.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        where = f"{field}: " if field else ""  # a model check names its field in its message
        raise InputError(f"tariff: {path}: {where}{err['msg'].removeprefix('Value error, ')}") from None
    read_price_series(tariff)
    return tariff


def tariff_prices(tariff: PricedTariff, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(price level, import price) of each step starting at `index`, a price series read from its file."""
    series = read_price_series(tariff)
    return tariff.levels(index, series), tariff.price_per_kwh(index, series)


def read_price_series(tariff: PricedTariff) -> pd.Series | None:
    """The tariff's price series read and checked (`models/tariff.py`'s docstring); None for a tariff of
    bands. Read once per process and version of the file (its size and modification time)."""
    if tariff.price_series is None:
        return None
    p = Path(tariff.price_series)
    if not p.is_file():
        raise InputError(f"tariff.price_series: file not found: {tariff.price_series}")
    st = p.stat()
    price = _read_price_series(str(p), st.st_size, st.st_mtime_ns)
    dearest = price.idxmax()
    try:
        tariff.check_per_kwh(f"at {dearest}", float(price[dearest]))
    except ValueError as exc:
        raise InputError(f"tariff.price_series: {tariff.price_series}: {exc}") from None
    return price


@functools.lru_cache(maxsize=8)
def _read_price_series(path: str, size: int, mtime_ns: int) -> pd.Series:
    try:
        df = pd.read_csv(path)
        stamps, price_per_kwh = df["timestamp"], df["price_per_kwh"].to_numpy(float)
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"tariff.price_series: {path}: needs columns timestamp (ISO 8601) and price_per_kwh "
                         f"({str(exc).splitlines()[0]})") from None
    price = pd.Series(price_per_kwh, index=local_stamps(stamps, f"tariff.price_series: {path}"))
    if (not np.isfinite(price.to_numpy()).all() or not price.index.is_monotonic_increasing
            or price.index.has_duplicates):
        raise InputError(f"tariff.price_series: {path}: prices must be finite numbers at increasing, distinct "
                         "time stamps")
    if price.empty:
        raise InputError(f"tariff.price_series: {path}: no prices")
    return price
