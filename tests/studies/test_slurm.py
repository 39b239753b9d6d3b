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


def test_fleet_pipeline_runs_to_the_end_with_the_slurm_profile(slurm, tmp_path, tiny_net_factory):
    """A feeder set (two feeders of a glob) through the shipped profile, with what a user fills in for this
    cluster: the checkpoint, the per-feeder steps as job arrays, the fleet outputs. (The 18 SimBench LV grids
    take about 15 minutes this way on this 2-core node, most of it Snakemake's start-up in 72 per-feeder jobs:
    measured, not run here; docs/measurements.md.)"""
    (tmp_path / "grids").mkdir()
    pp.to_json(tiny_net_factory(), str(tmp_path / "grids" / "a.json"))
    pp.to_json(tiny_net_factory(line_km=0.3), str(tmp_path / "grids" / "b.json"))
    study = {**STUDY, "name": "fleet_ci", "feeders": [{"glob": "grids/*.json"}], "samples": 1,
             "strategies": ["uncontrolled"], "penetrations": [1.0], "reinforcement": True, "headroom": True}
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(study))
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    # what a user fills in for this cluster: its partition, no account, a study job that fits the node;
    # without an accounting database (slurmdbd) job status comes from squeue
    profile["default-resources"].update(slurm_partition="debug", mem_mb=1500)
    profile["default-resources"].pop("slurm_account")
    profile.update({"slurm-no-account": True, "slurm-status-command": "squeue",
                    "slurm-init-seconds-before-status-checks": 1, "seconds-between-status-checks": 2,
                    "set-threads": {"study": 2}})
    profile["set-resources"]["study"].update(cpus_per_task=2, mem_mb=4000)
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    before = job_ids()
    proc = subprocess.run(["snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile",
                           str(tmp_path / "fleet.yaml"), "--profile", str(tmp_path / "profile")],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    res = tmp_path / "results" / "fleet_ci"
    fleet = pd.read_csv(res / "fleet.csv")
    assert list(fleet["feeder"]) == ["grids/a.json", "grids/b.json"] and fleet["status"].eq("ok").all()
    assert set(pd.read_parquet(res / "headroom.parquet")["feeder"]) == set(fleet["feeder"])
    assert (res / "maps" / "fleet.html").stat().st_size > 0 and (res / "fleet_statistics.csv").is_file()
    html = (res / "report.html").read_text()
    assert html.index("<h2>The fleet</h2>") < html.index("Hosting capacity per feeder")  # the fleet comes first
    assert len(job_ids() - before) >= 9  # every rule a SLURM job (per-feeder rules one job array each)
    arrays = [p.name for p in (tmp_path / ".snakemake" / "slurm_logs" / "rule_gis").iterdir()]
    assert sorted(a.split("_")[1] for a in arrays) == ["1.log", "2.log"], arrays  # one array, two tasks
