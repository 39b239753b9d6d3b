"""Per-scenario run records: the store a study resumes from and builds its tables from.

A record is one Parquet file, `<study>/records/<record key>.parquet`, written (atomically) as soon as its
run finishes: the table is the run's per-element summary, the file's footer metadata holds the run's metrics,
status, error and the SHA-256 of every time series it kept (JSON), its households table (one row per connection
point, `RunResult.customers`) and its worst steps (`studies/reinforce.py`, stored transposed: a few steps of
hundreds of columns, each column of which would carry its own schema), both as zstd-compressed Arrow IPC in
base64, so every value reads back bit for bit. The footer's entries are not repeated in the Arrow schema the
file stores (`ARROW:schema`), which would hold them a second time. A record of the default study: about 33 kB,
against 263 kB in the first layout (`RECORD_LAYOUT` 1). The record key is a
hash of what decides the run's numbers and nothing else:

- the scenario's own inputs (strategy, level, sample, seed, period, band, limits, curves, ...), without its
  key and without the paths of the files it reads;
- the content hash of every file it reads (feeder JSON, profiles, trips, a tariff's price series), or the
  package version that ships the feeder (`simbench:`, `pandapower:`);
- the tool's version and the record's layout (`RECORD_LAYOUT`).

So adding a strategy, level or sample runs only the new scenarios; an edited feeder, profile or trip file
runs again exactly what reads it; post-processing settings (`max_violation_probability`) and Dask settings
run nothing. runs.parquet and elements.parquet are a pure function of the records, so a resumed study
writes the same tables (values and dtypes) as an undisturbed one. A record that cannot be read, or whose
kept time series are missing or differ from their checksum, is set aside (moved to `records/corrupt/`)
with a one-line warning and its scenario runs again.
"""
import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hostcap.studies.atomic import atomic_path
from hostcap.studies.outputs import json_safe
from hostcap.studies.scenario.settings import Scenario
from hostcap.studies.spec import FeederEntry, StudySpec

log = logging.getLogger(__name__)
META_KEY = b"hostcap.record"
HOUSEHOLDS_KEY = b"hostcap.households"
WORST_STEPS_KEY = b"hostcap.worst_steps"
RECORD_LAYOUT = 2  # the file's layout; in the key, so a record of another layout is never read as this one
ELEMENT_COLUMNS = {"element": "object", "index": "int64", "vm_min_pu": "float64", "vm_max_pu": "float64",
                   "max_loading_pct": "float64", "violated": "bool"}


def tool_version() -> str:
    try:
        return metadata.version("v2g-hostcap")
    except metadata.PackageNotFoundError:
        return "unknown"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=64)
def _cached_sha(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def content_hash(path: str) -> str:
    """SHA-256 of a file (cached on path, size and modification time)."""
    st = Path(path).stat()
    return _cached_sha(str(path), st.st_size, st.st_mtime_ns)


def feeder_fingerprint(entry: FeederEntry) -> dict:
    """What identifies a feeder's data: content hashes of its files, or the package that ships it."""
    if entry.ref.startswith("simbench:"):
        source = f"{entry.ref} simbench {metadata.version('simbench')}"
    elif entry.ref.startswith("pandapower:"):
        source = f"{entry.ref} pandapower {metadata.version('pandapower')}"
    else:
        source = content_hash(entry.ref)
    return {"feeder": source, "profiles": entry.profiles and content_hash(entry.profiles),
            "trips": entry.trips and content_hash(entry.trips)}


def record_key(scenario: Scenario, fingerprint: dict, version: str) -> str:
    inputs = scenario.model_dump(mode="json", exclude={"key", "feeder", "profiles", "trips"})
    if scenario.tariff is not None and scenario.tariff.price_series is not None:  # its content, not its path
        inputs["tariff"]["price_series"] = content_hash(scenario.tariff.price_series)
    blob = json.dumps({"scenario": inputs, "files": fingerprint, "version": version, "layout": RECORD_LAYOUT},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def record_keys(spec: StudySpec, planned: list[tuple[Scenario, dict]]) -> list[str]:
    """The record key of every planned scenario (files hashed once per feeder)."""
    version = tool_version()
    prints = {f.name: feeder_fingerprint(f) for f in spec.feeders}
    return [record_key(s, prints[c["feeder"]], version) for s, c in planned]


@dataclass
class Record:
    result: dict  # metrics, status, error, wall_s, timeseries {name: sha256}
    elements: pd.DataFrame
    households: pd.DataFrame | None = None  # one row per connection point; None for a failed run
    worst_steps: pd.DataFrame | None = None  # its worst steps' power per bus (`studies/reinforce.py`)


def _to_ipc(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes())


def _from_ipc(data: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(base64.b64decode(data)).read_all().to_pandas()


class RecordStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, rkey: str) -> Path:
        return self.folder / f"{rkey}.parquet"

    def remove_unfinished(self) -> None:
        """Remove the temporary files of writes a killed study left (`atomic_path`'s hidden names); call it
        holding the study's lock."""
        for tmp in self.folder.glob(".*.parquet"):
            tmp.unlink(missing_ok=True)

    def write(self, rkey: str, result: dict, elements: pd.DataFrame | None,
              households: pd.DataFrame | None = None, worst_steps: pd.DataFrame | None = None) -> None:
        table = pa.Table.from_pandas(_elements_frame(elements), preserve_index=False)
        meta = {META_KEY: json.dumps(json_safe(result), sort_keys=True).encode()}
        if households is not None:
            meta[HOUSEHOLDS_KEY] = _to_ipc(households)
        if worst_steps is not None:
            meta[WORST_STEPS_KEY] = _to_ipc(worst_steps.T)
        with atomic_path(self.path(rkey), suffix=".parquet") as tmp:
            with pq.ParquetWriter(tmp, table.schema, compression="zstd") as writer:
                writer.write_table(table)
                writer.add_key_value_metadata(meta)  # the footer's alone, not in the stored Arrow schema

    def read(self, rkey: str) -> Record | None:
        """The record, or None if there is none; a corrupt one is set aside with a warning."""
        path = self.path(rkey)
        if not path.exists():
            return None
        try:
            with pq.ParquetFile(path) as f:
                meta = f.metadata.metadata
                elements = f.read().to_pandas()
            result = json.loads(meta[META_KEY])
            households = _from_ipc(meta[HOUSEHOLDS_KEY]) if HOUSEHOLDS_KEY in meta else None
            worst = _from_ipc(meta[WORST_STEPS_KEY]).T if WORST_STEPS_KEY in meta else None
            if list(elements.columns) != list(ELEMENT_COLUMNS) or "status" not in result:
                raise ValueError("unexpected layout")
        except Exception as exc:  # noqa: BLE001 - any unreadable record is recomputed
            self.set_aside(rkey, f"unreadable ({type(exc).__name__})")
            return None
        return Record(result, elements, households, worst)

    def set_aside(self, rkey: str, why: str) -> None:
        path = self.path(rkey)
        bad = self.folder / "corrupt" / path.name
        bad.parent.mkdir(parents=True, exist_ok=True)
        path.replace(bad)
        log.warning("record %s %s: set aside in %s, its scenario runs again", path.name, why, bad.parent)


def _elements_frame(elements: pd.DataFrame | None) -> pd.DataFrame:
    if elements is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ELEMENT_COLUMNS.items()})
    return elements[list(ELEMENT_COLUMNS)].astype(ELEMENT_COLUMNS)


def kept_ok(record: Record, folder: Path, wanted: list[str]) -> str:
    """'' if the record kept every wanted time series under `folder` with its checksum, else why not."""
    sums = record.result.get("timeseries") or {}
    for name in wanted:
        path = folder / f"{name}.parquet"
        if name not in sums:
            return f"did not keep {name}"
        if not path.is_file():
            return f"kept series {path} is missing"
        if file_sha256(path) != sums[name]:
            return f"kept series {path} differs from its checksum"
    return ""


def build_tables(planned: list[tuple[Scenario, dict]], records: dict[str, Record]
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """runs, elements and households tables, sorted by key, from the records of the planned scenarios that
    have one. runs has the sweep coordinates, the period's first day and days, then the record's columns;
    households has the sweep coordinates, then `cp` (the connection point) and its columns."""
    rows, parts, homes = [], [], []
    for scenario, coords in sorted(planned, key=lambda sc: sc[1]["key"]):
        rec = records.get(coords["key"])
        if rec is None:
            continue
        result = {k: v for k, v in rec.result.items() if k != "timeseries"}
        rows.append({**coords, "start": scenario.start, "days": scenario.days, **result})
        if len(rec.elements):
            parts.append(rec.elements.assign(key=coords["key"]))
        if rec.households is not None:
            homes.append(rec.households.rename_axis("cp").reset_index().assign(**coords))
    runs = pd.DataFrame(rows)
    for col in runs.columns:  # a metric that is null in every record is a float column of NaN
        if runs[col].dtype == object and runs[col].isna().all():
            runs[col] = runs[col].astype(float)
    columns = ["key", *ELEMENT_COLUMNS]
    elements = (pd.concat(parts, ignore_index=True)[columns] if parts
                else _elements_frame(None).assign(key=pd.Series(dtype=object))[columns])
    households = pd.concat(homes, ignore_index=True) if homes else pd.DataFrame({"key": pd.Series(dtype=object)})
    lead = [c for c in ["key", "feeder", "period", "strategy", "penetration", "v2g_share", "sample", "cp"]
            if c in households]
    households = households[lead + [c for c in households.columns if c not in lead]]
    return runs.reset_index(drop=True), elements.reset_index(drop=True), households
