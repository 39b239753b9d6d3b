"""On a real single-node SLURM cluster (the one `.ci/run` starts, or `.ci/slurm-cluster start` as root): a
study on a dask-jobqueue SLURMCluster gives the outputs of a local run, one whose jobs cannot be scheduled
fails within a minute naming why, and the Snakemake pipeline runs to the end through the shipped SLURM
profile (with the account and partition a user fills in). Without a cluster up they are skipped, and fail
under CI (HOSTCAP_CI=1)."""
import subprocess
import time
from pathlib import Path

import pandapower as pp
import pandas as pd
import pytest
import yaml

from hostcap.studies.cluster import SLURM_START_TIMEOUT_S
from hostcap.studies.runner import run_study
from hostcap.studies.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / ".ci" / "slurm-cluster"
STUDY = {"name": "tiny", "feeders": ["tiny.json"], "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}],
         "strategies": ["uncontrolled", "v2g_tou"], "penetrations": [0.0, 1.0], "samples": 3, "seed": 2,
         "band": "ansi_a"}
SLURM = {"partition": "debug", "jobs": 1, "cores": 2, "memory": "4GB", "walltime": "00:20:00", "interface": "lo"}


@pytest.fixture(scope="module")
def slurm(missing):
    """A SLURM cluster that is up; this test starts none (that installs packages and writes /etc/slurm)."""
    if subprocess.run([str(CLUSTER), "status"], capture_output=True).returncode != 0:
        missing("no SLURM cluster is up: `.ci/run` starts one, or `.ci/slurm-cluster start` (root)")


def job_ids() -> set[str]:
    out = subprocess.run(["scontrol", "show", "jobs", "-o"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith("JobId=")}


def job_names(ids: set[str]) -> list[str]:
    out = subprocess.run(["scontrol", "show", "jobs", "-o"], capture_output=True, text=True).stdout
    return [next(f.split("=", 1)[1] for f in line.split() if f.startswith("JobName="))
            for line in out.splitlines() if line.split()[0] in ids]


def test_study_on_slurm_cluster_equals_local_run(slurm, tmp_path, tiny_net):
    pp.to_json(tiny_net, str(tmp_path / "tiny.json"))
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(STUDY))
    (tmp_path / "slurm.yaml").write_text(yaml.safe_dump({**STUDY, "dask": {"slurm": SLURM}}))
    local = run_study(load_spec(tmp_path / "local.yaml"), tmp_path / "local", workers=1, progress=False)
    before = job_ids()
    proc = subprocess.run(["hostcap", "study", str(tmp_path / "slurm.yaml"), "--slurm", "--out",
                           str(tmp_path / "slurm")], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert local["ran"] == 8 and "8 run, 0 failed" in proc.stdout
    new = job_ids() - before
    assert new and all("dask" in name for name in job_names(new)), job_names(new)  # the workers were SLURM jobs
    a, b = tmp_path / "local" / "tiny", tmp_path / "slurm" / "tiny"
    pd.testing.assert_frame_equal(pd.read_parquet(a / "runs.parquet").drop(columns="wall_s"),
                                  pd.read_parquet(b / "runs.parquet").drop(columns="wall_s"))
    pd.testing.assert_frame_equal(pd.read_parquet(a / "elements.parquet"), pd.read_parquet(b / "elements.parquet"))
    assert (a / "hosting_capacity.csv").read_text() == (b / "hosting_capacity.csv").read_text()


def test_a_job_that_cannot_be_scheduled_fails_within_a_minute_naming_why(slurm, tmp_path, tiny_net):
    cpus = max(int(n) for n in subprocess.run(["sinfo", "-h", "-N", "-o", "%c"], capture_output=True,
                                              text=True, check=True).stdout.split())
    pp.to_json(tiny_net, str(tmp_path / "tiny.json"))
    (tmp_path / "big.yaml").write_text(yaml.safe_dump({**STUDY, "dask": {"slurm": {**SLURM, "cores": cpus + 1}}}))
    before = job_ids()
    t0 = time.monotonic()
    proc = subprocess.run(["hostcap", "study", str(tmp_path / "big.yaml"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    took = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.count("\n") == 1 and "cannot start: PartitionConfig" in proc.stderr, proc.stderr[-3000:]
    assert f"{cpus + 1} cores" in proc.stderr
    assert took < SLURM_START_TIMEOUT_S  # the reason is known at once: no need to wait it out
    new = job_ids() - before
    assert len(new) == 1  # it was submitted, and is not left queued
    queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    assert not new & set(queued)


def user_profile(tmp_path: Path, **changes) -> Path:
    """The shipped profile with what a user fills in for this cluster: its partition, no account, a study job
    that fits the node; without an accounting database (slurmdbd) job status comes from squeue. It keeps the
    jobs' logs, which `run_pipeline` counts."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"].update(slurm_partition="debug", mem_mb=1500)
    profile["default-resources"].pop("slurm_account")
    profile.update({"slurm-no-account": True, "slurm-status-command": "squeue",
                    "slurm-init-seconds-before-status-checks": 1, "seconds-between-status-checks": 2,
                    "set-threads": {"study": 2, "check_feeders": 2}, "slurm-keep-successful-logs": True,
                    **changes})
    profile["set-resources"]["study"].update(cpus_per_task=2, mem_mb=4000)
    profile["set-resources"]["check_feeders"].update(cpus_per_task=2, mem_mb=3000)
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    return tmp_path / "profile"


def run_pipeline(tmp_path: Path, study: dict, profile: Path, timeout_s: float) -> list[Path]:
    """Snakemake on the study through the profile (which keeps the logs); the log of every SLURM job it
    submitted (Slurm itself forgets a finished job after `MinJobAge`, 5 minutes)."""
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(study))
    proc = subprocess.run(["snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile",
                           str(tmp_path / "fleet.yaml"), "--profile", str(profile)],
                          capture_output=True, text=True, timeout=timeout_s, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return sorted((tmp_path / ".snakemake" / "slurm_logs").glob("*/*.log"))


def group_jobs(logs: list[Path], group: str) -> list[Path]:
    return [p for p in logs if p.parent.name.startswith(f"group_{group}_")]


def test_fleet_pipeline_runs_to_the_end_with_the_slurm_profile(slurm, tmp_path, tiny_net_factory):
    """A feeder set (two feeders of a glob) through the shipped profile: the checkpoint, the per-feeder steps
    batched as groups, the fleet outputs. (The 18 SimBench LV grids: `test_the_18_simbench_lv_grids_...`.)"""
    (tmp_path / "grids").mkdir()
    pp.to_json(tiny_net_factory(), str(tmp_path / "grids" / "a.json"))
    pp.to_json(tiny_net_factory(line_km=0.3), str(tmp_path / "grids" / "b.json"))
    study = {**STUDY, "name": "fleet_ci", "feeders": [{"glob": "grids/*.json"}], "samples": 1,
             "strategies": ["uncontrolled"], "penetrations": [1.0], "reinforcement": True, "headroom": True}
    logs = run_pipeline(tmp_path, study, user_profile(tmp_path), 900)
    res = tmp_path / "results" / "fleet_ci"
    fleet = pd.read_csv(res / "fleet.csv")
    assert list(fleet["feeder"]) == ["grids/a.json", "grids/b.json"] and fleet["status"].eq("ok").all()
    assert set(pd.read_parquet(res / "headroom.parquet")["feeder"]) == set(fleet["feeder"])
    assert (res / "maps" / "fleet.html").stat().st_size > 0 and (res / "fleet_statistics.csv").is_file()
    html = (res / "report.html").read_text()
    assert html.index("<h2>The fleet</h2>") < html.index("Hosting capacity per feeder")  # the fleet comes first
    # check, prepare (one batch), study, hosting, outputs (one batch: both feeders' GIS, maps, web maps),
    # fleet map, report
    assert len(logs) == 7, logs
    assert len(group_jobs(logs, "prepare")) == 1 and len(group_jobs(logs, "outputs")) == 1


@pytest.mark.fleet_scale
def test_the_18_simbench_lv_grids_run_end_to_end_on_slurm(slurm, tmp_path):
    """Issue 35's scale check, which `.ci/run` runs after the suite (`-m fleet_scale`; 7.5 minutes on
    CI's two cores): SimBench's six LV grids in its three scenarios (three `simbench` sets) over a day, with
    heat pumps, reinforcement and headroom, through the shipped profile with the per-feeder steps in batches
    of 9 feeders (two Slurm jobs side by side on the node's two cores)."""
    study = {"name": "fleet18", "feeders": [{"simbench": "lv", "scenario": s} for s in (0, 1, 2)],
             "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}], "strategies": ["uncontrolled"],
             "penetrations": [1.0], "v2g_shares": [0.5], "heat_pump_share": 0.3, "samples": 1, "seed": 42,
             "band": "en50160", "battery_wear": None, "reinforcement": True, "headroom": True}
    profile = user_profile(tmp_path, **{"group-components": ["prepare=9", "outputs=9"]})
    logs = run_pipeline(tmp_path, study, profile, 1800)
    res = tmp_path / "results" / "fleet18"
    fleet = pd.read_csv(res / "fleet.csv")
    codes = [f"simbench:1-LV-{g}--{s}-sw" for s in (0, 1, 2)
             for g in ("rural1", "rural2", "rural3", "semiurb4", "semiurb5", "urban6")]
    assert sorted(fleet["feeder"]) == sorted(codes) and fleet["status"].eq("ok").all(), fleet
    assert set(pd.read_parquet(res / "headroom.parquet")["feeder"]) == set(codes)
    stats = pd.read_csv(res / "fleet_statistics.csv")
    assert stats["n_feeders"].eq(18).all(), stats
    html = (res / "report.html").read_text()
    assert html.index("<h2>The fleet</h2>") < html.index("Hosting capacity per feeder")
    fleet_map = (res / "maps" / "fleet.html").read_text()
    assert all(code in fleet_map for code in codes)
    assert len(list((res / "maps").glob("*.html"))) == 19  # 18 web maps and the fleet map
    assert len(group_jobs(logs, "prepare")) == 2 and len(group_jobs(logs, "outputs")) == 2
    assert len(logs) == 9, logs
