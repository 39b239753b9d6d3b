"""Time stamps a user gives in a file (price series, profiles, trip tables): ISO 8601 in the local clock of the
feeder's profiles, without a UTC offset. The profiles carry no time zone (SimBench's are German local time), so
an offset could only be guessed away, shifting prices or trips by an hour; and only ISO 8601 is read, as
11/01/2016 is 11 January to a European engineer and 1 November to a parser that guesses."""
import pandas as pd

from hostcap.models.errors import InputError


def local_stamps(values, what: str) -> pd.DatetimeIndex:
    """`values` as naive time stamps, or one line naming `what` (the file, or its column) and the problem."""
    values = pd.Index(values)
    try:
        stamps = pd.to_datetime(values, format="ISO8601")
    except (ValueError, TypeError):
        raise InputError(f"{what}: time stamps must be ISO 8601 (YYYY-MM-DD HH:MM), e.g. not '{values[0]}'") from None
    if not isinstance(stamps, pd.DatetimeIndex) or stamps.tz is not None:  # an offset, or offsets that change
        raise InputError(f"{what}: time stamps with a UTC offset ({values[0]}); give the local time of the feeder's "
                         "profiles, without an offset")
    return stamps
