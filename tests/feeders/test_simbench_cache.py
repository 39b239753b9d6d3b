"""The SimBench cache: the net read back from it is SimBench's to the last bit; a second read does not parse
SimBench's tables; a damaged file is rebuilt; an unknown code writes nothing."""
import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import simbench as sb

from hostcap.feeders import simbench_cache
from hostcap.feeders.simbench_cache import cache_path, simbench_net
from hostcap.models.errors import InputError

CODE = "1-LV-rural3--2-sw"  # scenario 2: heat pumps, charging points, storage


def _float_columns_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return all(np.array_equal(a[c].to_numpy(float), b[c].to_numpy(float), equal_nan=True)
               for c in a.columns if a[c].dtype.kind == "f")


def test_cached_net_equals_simbench_exactly_and_is_read_without_simbench(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTCAP_CACHE", str(tmp_path))
    raw, net = sb.get_simbench_net(CODE), simbench_net(CODE)
    assert cache_path(CODE).is_file() and str(tmp_path) in str(cache_path(CODE))
    for table in ["bus", "line", "trafo", "load", "sgen", "storage", "ext_grid"]:
        assert len(raw[table]) == len(net[table]) > 0 or table == "storage"
        assert _float_columns_equal(raw[table], net[table][raw[table].columns]), table
    for name, prof in raw.profiles.items():
        assert _float_columns_equal(prof, net.profiles[name][prof.columns]), name

    def parse(code):
        raise AssertionError("SimBench parsed again")

    monkeypatch.setattr(simbench_cache, "_from_simbench", parse)
    again = simbench_net(CODE)
    pd.testing.assert_frame_equal(again.line, net.line)


def test_damaged_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTCAP_CACHE", str(tmp_path))
    cache_path(CODE).parent.mkdir(parents=True)
    cache_path(CODE).write_text('{"_class": "pandapowerNet", "cut off')
    net = simbench_net(CODE)
    assert len(pp.from_json(str(cache_path(CODE))).bus) == len(net.bus) > 0  # rewritten whole


@pytest.mark.parametrize("code", ["1-LV-nowhere--0-sw", "../../etc/passwd", ""])
def test_unknown_code_is_refused_and_writes_nothing(tmp_path, monkeypatch, code):
    monkeypatch.setenv("HOSTCAP_CACHE", str(tmp_path))
    with pytest.raises(InputError, match="unknown SimBench code"):
        simbench_net(code)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
