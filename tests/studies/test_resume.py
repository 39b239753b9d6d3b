"""Faults a study must survive: resume keyed per scenario, corrupt tables, records and kept series, SIGINT
and SIGTERM, a killed Dask worker, two studies at once, a full disk. Every case ends with the outputs of an
undisturbed run, value for value and dtype for dtype."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandapower as pp
import pandas as pd
import pytest
import yaml
from dask.distributed import Client, LocalCluster

from hostcap.studies.layout import StudyPaths
from hostcap.studies.runner import run_study, write_hosting
from hostcap.studies.spec import load_spec

STUDY = {"name": "tiny", "feeders": ["tiny.json"], "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}],
         "strategies": ["uncontrolled", "smart", "v2g_tou"], "penetrations": [0.0, 0.5, 1.0], "v2g_shares": [0.5],
         "samples": 6, "seed": 3, "band": "ansi_a", "keep_timeseries": ["res_bus/vm_pu"]}
N = 3 * (1 + 2 * 6)  # level 0 once per strategy: it has no random input
KEPT = N + 3  # and the extremes of each strategy's sample 0 at 100 %, for the report


def write_study(folder: Path, tiny_net, **change) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pp.to_json(tiny_net, str(folder / "tiny.json"))
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({**STUDY, **change}))
    return path


def tables(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    paths = StudyPaths(root)
    return (pd.read_parquet(paths.runs).drop(columns="wall_s"), pd.read_parquet(paths.elements),
            pd.read_parquet(paths.households))


def assert_same_outputs(root: Path, ref: Path) -> None:
    for a, b in zip(tables(root), tables(ref)):
        pd.testing.assert_frame_equal(a, b)  # values and dtypes
    for name in ("hosting_capacity.csv", "customer_value.csv"):
        assert (root / name).read_text() == (ref / name).read_text()
    kept = sorted(p.relative_to(root) for p in (root / "runs").rglob("*.parquet"))
    assert kept == sorted(p.relative_to(ref) for p in (ref / "runs").rglob("*.parquet")) and len(kept) == KEPT
    for rel in kept:
        pd.testing.assert_frame_equal(pd.read_parquet(root / rel), pd.read_parquet(ref / rel))


def hostcap(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hostcap.studies.cli", *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_net_factory):
    """The undisturbed study (one worker)."""
    folder = tmp_path_factory.mktemp("reference")
    study = write_study(folder, tiny_net_factory())
    counts = run_study(load_spec(study), folder / "out", workers=1, progress=False)
    assert counts["ran"] == N and counts["failed"] == 0
    return folder / "out" / "tiny"


def test_resume_is_keyed_per_scenario(tmp_path, tiny_net):
    base = {**STUDY, "feeders": ["a.json", "b.json"], "strategies": ["uncontrolled"], "penetrations": [0.0, 1.0],
            "samples": 2, "keep_timeseries": []}
    pp.to_json(tiny_net, str(tmp_path / "a.json"))
    pp.to_json(tiny_net, str(tmp_path / "b.json"))
    study = tmp_path / "study.yaml"

    def run(**change):
        study.write_text(yaml.safe_dump({**base, **change}))
        return run_study(load_spec(study), tmp_path / "out", workers=1, progress=False)

    assert run()["ran"] == 2 * (1 + 2)
    # a new strategy and a new sample run only the new scenarios
    more = {"strategies": ["uncontrolled", "smart"], "samples": 3}
    assert (c := run(**more))["ran"] == 2 * 2 * (1 + 3) - 6 and c["skipped"] == 6
    # post-processing and Dask settings run nothing, but the hosting outputs follow the new threshold
    c = run(**more, max_violation_probability=0.5, dask={"workers": 1})
    assert c["ran"] == 0
    assert (pd.read_csv(tmp_path / "out" / "tiny" / "hosting_capacity.csv")["threshold"] == 0.5).all()
    # an edited feeder file runs again exactly the scenarios that read it
    peak_before = pd.read_parquet(tmp_path / "out" / "tiny" / "runs.parquet").groupby("feeder")["peak_demand_kw"].max()
    tiny_net.load["p_mw"] *= 0.3
    pp.to_json(tiny_net, str(tmp_path / "a.json"))
    c = run(**more, max_violation_probability=0.5)
    assert c["ran"] == 8 and c["skipped"] == 8
    peak = pd.read_parquet(tmp_path / "out" / "tiny" / "runs.parquet").groupby("feeder")["peak_demand_kw"].max()
    assert peak["a.json"] < peak_before["a.json"] and peak["b.json"] == peak_before["b.json"]


def test_corrupt_tables_records_and_series_are_set_aside_and_recomputed(tmp_path, tiny_net, reference, caplog):
    study = write_study(tmp_path, tiny_net)
    spec = load_spec(study)
    run_study(spec, tmp_path / "out", workers=1, progress=False)
    root = tmp_path / "out" / "tiny"
    paths = StudyPaths(root)
    # a truncated runs.parquet and a deleted elements.parquet: the next step rebuilds them from the records
    paths.runs.write_bytes(paths.runs.read_bytes()[:100])
    paths.elements.unlink()
    write_hosting(spec, tmp_path / "out")
    assert "rebuilt from the records" in caplog.text
    assert_same_outputs(root, reference)
    # a truncated record and a truncated kept series: set aside with a warning, only their scenarios run again
    record = sorted(paths.records.glob("*.parquet"))[3]
    record.write_bytes(record.read_bytes()[:50])
    series = sorted(paths.timeseries.rglob("*.parquet"))[7]
    series.write_bytes(series.read_bytes()[:50])
    caplog.clear()
    counts = run_study(spec, tmp_path / "out", workers=1, progress=False)
    assert counts["ran"] == 2 and counts["skipped"] == N - 2
    assert "unreadable" in caplog.text and "differs from its checksum" in caplog.text
    assert len(list((paths.records / "corrupt").iterdir())) == 2
    assert_same_outputs(root, reference)
    # result folders are readable by the group
    assert all(p.stat().st_mode & 0o040 for p in [root, paths.runs, paths.records, record, series])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_study_keeps_finished_runs_and_resumes(tmp_path, tiny_net, reference, sig):
    study = write_study(tmp_path, tiny_net)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "hostcap.studies.cli", "study", str(study), "--out", str(out),
                             "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = out / "tiny" / "records"
    deadline = time.monotonic() + 120
    while len(list(records.glob("*.parquet"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    kept = len([p for p in records.glob("*.parquet") if not p.name.startswith(".")])  # not a write's temporary
    assert 3 <= kept < N
    done = hostcap("study", str(study), "--out", str(out), "--workers", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{kept} already done, {N - kept} run" in done.stdout
    assert not list(records.glob(".*"))  # what an interrupted write may have left is gone
    # and ends with the answer, a line per strategy
    assert re.search(r"^tiny\.json \| uncontrolled \(50% bidirectional\): hosting capacity .*; binding: ",
                     done.stdout, flags=re.M), done.stdout
    assert_same_outputs(out / "tiny", reference)


def test_killed_worker_is_survived(tmp_path, tiny_net, reference):
    study = write_study(tmp_path, tiny_net)
    records = tmp_path / "out" / "tiny" / "records"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(run_study(
            load_spec(study), tmp_path / "out", scheduler=cluster.scheduler_address, progress=False)))
        runner.start()
        deadline = time.monotonic() + 120
        while len(list(records.glob("*.parquet"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)
        runner.join(timeout=300)
    assert outcome["ran"] == N and outcome["failed"] == 0
    assert_same_outputs(tmp_path / "out" / "tiny", reference)


def test_second_study_into_the_same_folder_is_refused_while_the_first_runs(tmp_path, tiny_net):
    study = write_study(tmp_path, tiny_net)
    other = write_study(tmp_path / "other", tiny_net, samples=1)  # a different study of the same name
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "hostcap.studies.cli", "study", str(study), "--out", str(out),
                              "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = out / "tiny" / ".lock"
        deadline = time.monotonic() + 120
        while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = hostcap("study", str(other), "--out", str(out), "--workers", "1")
        assert second.returncode == 2
        assert second.stderr.count("\n") == 1 and "is in use by hostcap pid" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)]).returncode:
        pytest.skip("mounting a tmpfs needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)])


def test_full_disk_then_rerun(small_disk, tmp_path, tiny_net, reference):
    study = write_study(tmp_path / "study", tiny_net)
    full = hostcap("study", str(study), "--out", str(small_disk), "--workers", "1")
    assert full.returncode != 0
    lines = full.stderr.strip().splitlines()
    assert "No space left on device" in full.stderr and not any("Traceback" in line for line in lines)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    done = hostcap("study", str(study), "--out", str(small_disk), "--workers", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_outputs(small_disk / "tiny", reference)
    manifest = json.loads((small_disk / "tiny" / "manifest.json").read_text())
    assert len(manifest["kept_timeseries"]) == KEPT and manifest["failed"] == 0
