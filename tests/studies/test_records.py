"""A run's record: every table reads back bit for bit, each stored once (not again in the file's Arrow schema),
and the layout is part of the key."""
import base64

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hostcap.studies import records
from hostcap.studies.records import RecordStore, record_key
from hostcap.studies.reinforce import SEVERITY
from hostcap.studies.scenario.settings import Scenario


def worst_steps(steps: list[int], n_bus: int, rng) -> pd.DataFrame:
    """A table shaped as `studies/reinforce.steps_table` writes it."""
    columns = ([f"p_mw:{i}" for i in range(n_bus)] + [f"q_mvar:{i}" for i in range(n_bus)]
               + [f"s:{c}" for c in SEVERITY])
    return pd.DataFrame(rng.normal(size=(len(steps), len(columns))), columns=columns,
                        index=pd.Index(np.asarray(steps, dtype=np.int64), name="step"))


@pytest.mark.parametrize("steps", [[0, 57, 417], [3], []])
def test_a_record_reads_back_bit_for_bit_and_stores_each_table_once(tmp_path, steps):
    rng = np.random.default_rng(0)
    elements = pd.DataFrame({"element": ["bus"] * 130 + ["line"] * 128, "index": np.arange(258),
                             "vm_min_pu": rng.uniform(0.9, 1.0, 258), "vm_max_pu": rng.uniform(1.0, 1.1, 258),
                             "max_loading_pct": rng.uniform(0, 120, 258), "violated": rng.random(258) < 0.1})
    homes = pd.DataFrame(rng.normal(size=(122, 20)), columns=[f"c{i}" for i in range(20)]).assign(
        household=[f"home {i} <&>" for i in range(122)])
    worst = worst_steps(steps, 130, rng)
    result = {"status": "ok", "error": "", "v_max_pu": 1.0712345678901234, "timeseries": {"res_bus/vm_pu": "ab"}}
    store = RecordStore(tmp_path)
    store.write("k", result, elements, homes, worst)
    rec = store.read("k")
    assert rec.result == result
    pd.testing.assert_frame_equal(rec.elements, elements)
    pd.testing.assert_frame_equal(rec.households, homes)
    pd.testing.assert_frame_equal(rec.worst_steps, worst)  # values, dtypes, the `step` index
    footer = pq.read_metadata(store.path("k")).metadata
    assert b"hostcap" not in base64.b64decode(footer[b"ARROW:schema"])  # the tables are not stored twice
    # the table with hundreds of columns costs about what its numbers do (zstd; base64 adds a third)
    assert len(footer[records.WORST_STEPS_KEY]) < 1.5 * worst.size * 8 + 8000


def test_a_failed_run_has_no_tables_but_its_error(tmp_path):
    store = RecordStore(tmp_path)
    store.write("k", {"status": "failed", "error": "ModelError: x"}, None)
    rec = store.read("k")
    assert rec.result["error"] == "ModelError: x" and rec.households is None and rec.worst_steps is None
    assert rec.elements.empty and list(rec.elements.columns) == list(records.ELEMENT_COLUMNS)


def test_the_records_layout_is_in_its_key(monkeypatch):
    scenario = Scenario(strategy="smart", penetration=0.5, seed=1)
    before = record_key(scenario, {"feeder": "x"}, "1.0")
    monkeypatch.setattr(records, "RECORD_LAYOUT", records.RECORD_LAYOUT + 1)
    assert record_key(scenario, {"feeder": "x"}, "1.0") != before
