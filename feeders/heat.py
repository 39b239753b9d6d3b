"""Outdoor temperature and heat demand at each step of a run, from data shipped in pip-installable packages
(nothing is downloaded):

- temperature: the DWD test reference year (TRY 2010, "mittleres Jahr", observations 1988-2007) of one of
  Germany's 15 climate regions, hourly, as shipped by demandlib (`demandlib/vdi/resources_weather`);
  default region 4, Potsdam (Nordostdeutsches Tiefland), the reference climate of DIN V 18599-10. A TRY is a
  typical year of calendar days: a run's step takes the TRY's value at the same month, day and hour (29
  February takes the 28th's); it is not the weather of the profiles' own year.
- heat demand: the BDEW/SigLinDe standard heat load profile of a single-family house (`EFH`, building class 1,
  a sheltered site: wind class 0; BDEW/VKU/GEODE, "Abwicklung von Standardlastprofilen Gas", 2018) for that
  temperature, computed by demandlib's `bdew.HeatBuilding` over the calendar year of the step, normalised to
  1 kWh of annual heat, split into space heating and hot water (the profile's temperature-independent part).

Used by the heat-pump population (`models/heat_pump.py`)."""
import functools
from pathlib import Path

import numpy as np
import pandas as pd

from hostcap.models.errors import InputError

TRY_REGIONS = range(1, 16)
DEFAULT_REGION = 4


@functools.lru_cache(maxsize=4)
def _try_table(region: int) -> pd.Series:
    """The TRY's hourly temperature, indexed by (month, day, hour 0-23), degC."""
    import demandlib.vdi
    from demandlib.vdi.dwd_try import read_dwd_weather_file

    if region not in TRY_REGIONS:
        raise InputError(f"climate_region: {region} is not a DWD TRY region (1-15)")
    path = Path(demandlib.vdi.__file__).parent / "resources_weather" / f"TRY2010_{region:02d}_Jahr.dat"
    t = read_dwd_weather_file(str(path))["TAMB"]
    months, days, hours = (t.index.get_level_values(k).to_numpy() for k in ("MM", "DD", "HH"))
    # HH is the hour ending (1-24): the hour that starts at HH - 1
    return pd.Series(t.to_numpy(float), index=pd.MultiIndex.from_arrays([months, days, hours - 1]))


def temperature_c(index: pd.DatetimeIndex, region: int = DEFAULT_REGION) -> np.ndarray:
    """Outdoor temperature at each step (the TRY's hour that holds the step's start), degC."""
    table = _try_table(region)
    day = np.where((index.month == 2) & (index.day == 29), 28, index.day)
    return table.reindex(pd.MultiIndex.from_arrays([index.month, day, index.hour])).to_numpy()


@functools.lru_cache(maxsize=8)
def _year_shapes(year: int, region: int) -> tuple[pd.Series, pd.Series]:
    """Space heating and hot water per kWh of annual heat, kW (hourly, over the calendar year)."""
    from demandlib import bdew

    hours = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", inclusive="left")
    temp = pd.Series(temperature_c(hours, region), index=hours)

    def profile(**ww) -> np.ndarray:
        building = bdew.HeatBuilding(hours, temperature=temp, shlp_type="EFH", building_class=1, wind_class=0,
                                     annual_heat_demand=1.0, **ww)
        return building.get_bdew_profile().to_numpy(float)

    total, space, water = profile(ww_incl=True), profile(ww_incl=False), profile(ww_only=True)
    # total = a * space + b * water exactly (the same hourly and weekday factors; each profile normalised)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([space, water]), total, rcond=None)
    assert np.allclose(a * space + b * water, total, rtol=1e-9, atol=1e-12), "BDEW profile split"
    return pd.Series(a * space, index=hours), pd.Series(b * water, index=hours)


def heat_shapes(index: pd.DatetimeIndex, region: int = DEFAULT_REGION) -> tuple[np.ndarray, np.ndarray]:
    """(space heating, hot water) per kWh of annual heat at each step, kW: the value of the step's hour."""
    hour = index.floor("h")
    space, water = np.empty(len(index)), np.empty(len(index))
    for year in np.unique(index.year):
        at = index.year == year
        s, w = _year_shapes(int(year), region)
        space[at], water[at] = s.reindex(hour[at]).to_numpy(), w.reindex(hour[at]).to_numpy()
    return space, water
