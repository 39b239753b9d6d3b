from pathlib import Path

import demandlib.vdi
import numpy as np
import pandas as pd
import pytest

from hostcap.feeders.heat import heat_shapes, temperature_c
from hostcap.models.errors import InputError


def _try_by_hand(region: int, month: int, day: int, hour_ending: int) -> float:
    """The TRY file's air temperature (column t) of one hour, read without pandas or demandlib's reader."""
    path = Path(demandlib.vdi.__file__).parent / "resources_weather" / f"TRY2010_{region:02d}_Jahr.dat"
    lines = path.read_text(encoding="latin-1").splitlines()
    rows = lines[[i for i, line in enumerate(lines) if line.startswith("***")][0] + 1:]
    for row in rows:
        f = row.split()
        if (int(f[2]), int(f[3]), int(f[4])) == (month, day, hour_ending):
            return float(f[8])
    raise AssertionError("hour not in the file")


@pytest.mark.parametrize("region", [4, 11])
def test_temperature_is_the_try_hour_that_holds_the_step(region):
    steps = pd.DatetimeIndex(["2016-01-04 07:15", "2016-07-20 13:45", "2016-02-29 00:00", "2017-12-31 23:00"])
    got = temperature_c(steps, region)
    want = [_try_by_hand(region, 1, 4, 8), _try_by_hand(region, 7, 20, 14), _try_by_hand(region, 2, 28, 1),
            _try_by_hand(region, 12, 31, 24)]
    np.testing.assert_array_equal(got, want)


def test_heat_shapes_hold_a_years_heat_and_follow_the_cold():
    year = pd.date_range("2015-01-01", "2016-01-01", freq="15min", inclusive="left")
    space, water = heat_shapes(year)
    # 1 kWh of annual heat (BDEW normalises the daily values; its hourly factors move the sum by < 0.01 %)
    assert (space.sum() + water.sum()) * 0.25 == pytest.approx(1.0, rel=1e-4)
    assert 0.05 < water.sum() / (space.sum() + water.sum()) < 0.2  # hot water, about a tenth of a home's heat
    day = pd.Series(space, index=year).resample("D").sum()
    t_day = pd.Series(temperature_c(year), index=year).resample("D").mean()
    assert np.corrcoef(day, t_day)[0, 1] < -0.9  # space heating rises as the days get colder
    assert day[t_day > 20].sum() < 0.01 * day.sum()


def test_unknown_region_is_refused():
    with pytest.raises(InputError, match="climate_region: 16"):
        temperature_c(pd.DatetimeIndex(["2016-01-01"]), 16)
