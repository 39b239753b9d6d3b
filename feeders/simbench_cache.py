"""SimBench nets read once per machine: `simbench.get_simbench_net` parses the CSV tables of the whole SimBench
data set for every grid (about 4 s for one LV grid), and a study reads a feeder in every step of the pipeline and
on every worker. The first read writes the net as pandapower JSON (0.1 s) under the cache folder, keyed by the
simbench and pandapower versions; every read, the first included, returns the net as read back from that JSON
(0.7 s), so a study's numbers never depend on whether the cache was warm (the round trip keeps every float
exactly: `tests/feeders/test_simbench_cache.py` checks it on rural3 of scenario 2).

The cache folder is `HOSTCAP_CACHE` if set, else the user's cache folder (`platformdirs.user_cache_dir`, e.g.
`~/.cache/hostcap`). A file that cannot be read is read again from SimBench and rewritten; a folder that
cannot be written costs only the speed.
"""
import os
import re
import tempfile
from pathlib import Path

import pandapower as pp

from hostcap.models.errors import InputError

CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]*$")  # a SimBench code, e.g. 1-LV-rural3--0-sw: safe as a file name


def cache_dir() -> Path:
    if os.environ.get("HOSTCAP_CACHE"):
        return Path(os.environ["HOSTCAP_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("hostcap"))


def cache_path(code: str) -> Path:
    import simbench as sb

    return cache_dir() / f"simbench-{sb.__version__}-pandapower-{pp.__version__}" / f"{code}.json"


def simbench_net(code: str):
    """The SimBench net of `code`, through the cache (module docstring). An unknown code is an InputError."""
    if not CODE.match(code):
        raise InputError(f"feeder: unknown SimBench code '{code}'")
    path = cache_path(code)
    if path.is_file():
        try:
            return pp.from_json(str(path))
        except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt below
            pass
    text = pp.to_json(_from_simbench(code))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{code}.", suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # whole or not at all: parallel first reads each write their own and one wins
    except OSError:
        pass
    return pp.from_json_string(text)


def _from_simbench(code: str):
    import simbench as sb

    try:
        return sb.get_simbench_net(code)
    except Exception as exc:  # noqa: BLE001 - simbench raises bare errors for unknown codes
        raise InputError(f"feeder: unknown SimBench code '{code}' ({type(exc).__name__})") from None
