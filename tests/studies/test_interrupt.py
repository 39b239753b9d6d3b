"""A `hostcap study` on its local Dask cluster, stopped the ways a user or a system stops it: killed
(SIGKILL), every process it started ends within seconds; Ctrl-C of its process group, it exits within 5 s
with code 130 and no warning; and its lock holds when the lock file is deleted."""
import os
import signal
import subprocess
import sys
import time

import pandapower as pp
import psutil
import pytest
import yaml

# long enough to be stopped while it runs: 3 strategies x 3 levels x 40 samples of a two-day tiny feeder
STUDY = {"name": "tiny", "feeders": ["tiny.json"], "periods": [{"name": "d2", "start": "2016-01-11", "days": 2}],
         "strategies": ["uncontrolled", "v2g_tou", "smart"], "penetrations": [0.0, 0.5, 1.0], "samples": 40,
         "seed": 1, "band": "ansi_a", "dask": {"samples_per_run": 1}}
WORKERS = 2
NO_ORPHAN_S = 10
CTRL_C_EXIT_S = 5


@pytest.fixture
def study(tmp_path, tiny_net):
    pp.to_json(tiny_net, str(tmp_path / "tiny.json"))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    return path


def start(study_file, out) -> subprocess.Popen:
    """`hostcap study` in a session (and process group) of its own, as a terminal starts a command."""
    return subprocess.Popen([sys.executable, "-m", "hostcap.studies.cli", "study", str(study_file), "--out",
                             str(out), "--workers", str(WORKERS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=study_file.parent, start_new_session=True)


def running(proc: subprocess.Popen, out) -> list[psutil.Process]:
    """Wait until the study has written a record (its cluster is up and computing); its descendants then."""
    records = out / "tiny" / "records"
    deadline = time.monotonic() + 180
    while not any(records.glob("*.parquet")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    return psutil.Process(proc.pid).children(recursive=True)


def semaphores(procs: list[psutil.Process]) -> set[str]:
    """The multiprocessing semaphores (files in /dev/shm) the processes have open."""
    return {m.path for p in procs for m in p.memory_maps() if "/sem.mp-" in m.path}


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (is_running also checks the start time, so a reused PID is not counted)."""
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def wait_gone(procs: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(procs)


def end(proc: subprocess.Popen, procs: list[psutil.Process]) -> None:
    """Whatever the test saw, nothing it started outlives it."""
    for p in [psutil.Process(proc.pid), *procs] if proc.poll() is None else procs:
        if p.is_running():
            p.kill()
    proc.communicate()


def test_killed_study_leaves_no_process_behind(study, tmp_path):
    proc = start(study, tmp_path / "out")
    procs = []
    try:
        procs = running(proc, tmp_path / "out")
        assert len(procs) >= 1 + 2 * WORKERS  # the scheduler, and a nanny and a worker per worker
        os.kill(proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        proc.wait()
        left = wait_gone(procs, NO_ORPHAN_S)
        assert not left, [(p.pid, p.cmdline()[:4]) for p in left]
        print(f"no process left {time.monotonic() - t0:.1f} s after the SIGKILL")
    finally:
        end(proc, procs)


def test_ctrl_c_of_the_process_group_exits_at_once_without_warnings(study, tmp_path):
    proc = start(study, tmp_path / "out")
    procs = []
    try:
        procs = running(proc, tmp_path / "out")
        sems = semaphores(procs)
        assert sems  # a nanny's, for its worker's start
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
        print(f"exit {took:.1f} s after Ctrl-C")
        assert proc.returncode == 130, err[-2000:]
        assert took < CTRL_C_EXIT_S, err[-2000:]
        assert "warning" not in err.lower() and "leaked" not in err.lower(), err[-2000:]
        assert err.strip().splitlines()[-1].startswith("interrupted: finished runs are kept")
        assert not wait_gone(procs, 1)
        assert not [s for s in sems if os.path.exists(s)]  # released, not left in /dev/shm
    finally:
        end(proc, procs)


def test_the_study_lock_holds_when_its_file_is_deleted(study, tmp_path):
    out = tmp_path / "out"
    first = start(study, out)
    procs = []
    try:
        procs = running(first, out)
        (out / "tiny" / ".lock").unlink()
        second = subprocess.run([sys.executable, "-m", "hostcap.studies.cli", "study", str(study), "--out",
                                 str(out), "--workers", "1"], capture_output=True, text=True, cwd=tmp_path,
                                timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        # the holder's name went with the file
        assert second.stderr.count("\n") == 1 and "tiny is in use by another process" in second.stderr
        assert first.poll() is None  # the refused study stopped nothing of the first
    finally:
        end(first, procs)
