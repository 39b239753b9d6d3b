"""Run a study: sweep -> Dask -> runs.parquet, elements.parquet -> hosting capacity -> results/<name>/.

Workers run one scenario each and return its metrics and per-element summaries (not time series unless the
study keeps some, which workers then write themselves under results/<name>/runs/). A scenario that raises
is tried once more, then recorded as failed with its error; the study goes on. Scenarios already finished
with the same key and spec hash are skipped when the study runs again.
"""
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from hostcap.cosim.scenario import Scenario, build_inputs
from hostcap.models.errors import InputError
from hostcap.studies.atomic import write_parquet, write_text
from hostcap.studies.hosting import hosting_capacity, locational, violation_probability
from hostcap.studies.outputs import package_versions, timeseries_tables
from hostcap.studies.spec import Slurm, StudySpec
from hostcap.studies.sweep import scenario_fields, sweep

log = logging.getLogger(__name__)
CHECKPOINT_S = 30.0


def run_one(scenario_json: str, period: str, runs_dir: str | None, keep: list[str]) -> dict:
    """Worker task: one scenario, tried at most twice. Returns {"row": ..., "elements": DataFrame | None}."""
    import warnings

    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    with threadpool_limits(limits=1):  # one thread per worker (Snakemake sets OMP/BLAS threads to its cores)
        return _run_one(scenario_json, period, runs_dir, keep)


def _run_one(scenario_json: str, period: str, runs_dir: str | None, keep: list[str]) -> dict:
    from hostcap.cosim.world import run_scenario

    scenario = Scenario.model_validate_json(scenario_json)
    row = scenario_fields(scenario, period)
    error = ""
    for attempt in (1, 2):
        try:
            t0 = time.perf_counter()
            result = run_scenario(scenario)
            wall = time.perf_counter() - t0
            if keep and runs_dir:
                tables = timeseries_tables(result)
                folder = Path(runs_dir) / safe_name(scenario.key)
                for name in keep:
                    write_parquet(tables[name], folder / f"{name}.parquet")
            elements = result.element_summaries()
            elements.insert(0, "key", scenario.key)
            return {"row": {**row, **result.metrics, "status": "ok", "error": "", "attempts": attempt,
                            "wall_s": wall}, "elements": elements}
        except Exception as exc:  # noqa: BLE001 - a failing scenario is recorded, the study goes on
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return {"row": {**row, "status": "failed", "error": error, "attempts": 2, "wall_s": float("nan")},
            "elements": None}


def safe_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


@dataclass
class StudyPaths:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.runs = self.root / "runs.parquet"
        self.elements = self.root / "elements.parquet"
        self.hosting = self.root / "hosting_capacity.csv"
        self.probability = self.root / "violation_probability.csv"
        self.locational = self.root / "locational.parquet"
        self.manifest = self.root / "manifest.json"
        self.timeseries = self.root / "runs"

    def outputs(self) -> list[Path]:
        return [self.runs, self.elements, self.hosting, self.probability, self.locational, self.manifest]


def study_paths(spec: StudySpec, out_root: str | Path) -> StudyPaths:
    """Where a study's results go: <out_root>/<study name>/."""
    return StudyPaths(Path(out_root) / spec.name)


def validate_inputs(spec: StudySpec) -> None:
    """Load every feeder and build one scenario per feeder x period, so bad feeders, periods outside the
    profiles or a bad step are refused before anything runs."""
    for scenario in {(s.feeder, s.start, s.days): s for s in sweep(spec)}.values():
        build_inputs(scenario.model_copy(update={"penetration": 0.0}))


def slurm_cluster(settings: Slurm):
    """A dask-jobqueue SLURMCluster (not yet scaled): one single-threaded worker process per core."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(cores=settings.cores, processes=settings.cores, memory=settings.memory,
                        walltime=settings.walltime, account=settings.account, queue=settings.partition,
                        scheduler_options={"dashboard_address": ":0"})


def open_client(spec: StudySpec, *, scheduler: str | None, scheduler_file: str | None, slurm: bool,
                workers: int | None):
    """A Dask client: an existing scheduler, a SLURM cluster from the study file, or a LocalCluster
    (processes, one thread each, one worker per core by default)."""
    from dask.distributed import Client, LocalCluster

    d = spec.dask
    scheduler = scheduler or d.scheduler
    scheduler_file = scheduler_file or d.scheduler_file
    if scheduler:
        return Client(scheduler), None
    if scheduler_file:
        return Client(scheduler_file=scheduler_file), None
    if slurm or d.slurm:
        s = d.slurm or Slurm()
        cluster = slurm_cluster(s)
        cluster.scale(jobs=s.jobs)
        return Client(cluster), cluster
    n = workers or d.workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster), cluster


def run_study(spec: StudySpec, out_root: str | Path = "results", *, scheduler: str | None = None,
              scheduler_file: str | None = None, slurm: bool = False, workers: int | None = None,
              progress: bool = True, hosting: bool = True) -> dict:
    """Run what is missing and (re)write the outputs (with the hosting-capacity tables unless
    hosting=False). Returns counts: total, skipped, ran, failed."""
    paths = study_paths(spec, out_root)
    spec_hash = spec.spec_hash()
    validate_inputs(spec)
    scenarios = sweep(spec)
    period_of = {(p.start, p.days): p.name for p in spec.periods}
    old_runs, old_elements = _previous(paths, spec_hash)
    done = set(old_runs.loc[old_runs["status"] == "ok", "key"]) if len(old_runs) else set()
    pending = [s for s in scenarios if s.key not in done]
    counts = {"total": len(scenarios), "skipped": len(scenarios) - len(pending), "ran": len(pending), "failed": 0}
    expected = paths.outputs() if hosting else [paths.runs, paths.elements, paths.manifest]
    if not pending and all(p.exists() for p in expected):
        return counts

    new_rows, new_elements = [], []
    if pending:
        client, cluster = open_client(spec, scheduler=scheduler, scheduler_file=scheduler_file, slurm=slurm,
                                      workers=workers)
        try:
            from dask.distributed import as_completed

            runs_dir = str(paths.timeseries) if spec.keep_timeseries else None
            futures = [client.submit(run_one, s.model_dump_json(), period_of[(s.start, s.days)], runs_dir,
                                     list(spec.keep_timeseries), key=f"run-{spec_hash}-{safe_name(s.key)}",
                                     pure=False) for s in pending]
            last = time.monotonic()
            for future in tqdm(as_completed(futures), total=len(futures), desc=spec.name, unit="run",
                               disable=not progress):
                out = future.result()
                new_rows.append(out["row"])
                if out["elements"] is not None:
                    new_elements.append(out["elements"])
                if time.monotonic() - last > CHECKPOINT_S:
                    _write_tables(paths, old_runs, old_elements, new_rows, new_elements, spec_hash)
                    last = time.monotonic()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    runs, elements = _write_tables(paths, old_runs, old_elements, new_rows, new_elements, spec_hash)
    counts["failed"] = int((runs["status"] != "ok").sum())
    _write_manifest(paths, spec, spec_hash, runs, counts)
    if hosting:
        write_hosting(spec, paths.root.parent)
    return counts


def _previous(paths: StudyPaths, spec_hash: str):
    if not paths.runs.exists():
        return pd.DataFrame(), pd.DataFrame()
    runs = pd.read_parquet(paths.runs)
    runs = runs[(runs["spec_hash"] == spec_hash) & (runs["status"] == "ok")]
    elements = pd.read_parquet(paths.elements) if paths.elements.exists() else pd.DataFrame()
    if len(elements):
        elements = elements[elements["key"].isin(runs["key"])]
    return runs, elements


def _write_tables(paths, old_runs, old_elements, new_rows, new_elements, spec_hash):
    new = pd.DataFrame(new_rows)
    if len(new):
        new["spec_hash"] = spec_hash
    runs = pd.concat([df for df in (old_runs, new) if len(df)], ignore_index=True)
    runs = runs.sort_values("key", kind="stable").reset_index(drop=True)
    elements = pd.concat([df for df in (old_elements, *new_elements) if len(df)], ignore_index=True)
    elements = elements.sort_values(["key", "element", "index"], kind="stable").reset_index(drop=True)
    write_parquet(runs, paths.runs)
    write_parquet(elements, paths.elements)
    return runs, elements


def write_hosting(spec: StudySpec, out_root: str | Path = "results") -> None:
    """hosting_capacity.csv, violation_probability.csv and locational.parquet from the runs on disk."""
    paths = study_paths(spec, out_root)
    runs, elements = pd.read_parquet(paths.runs), pd.read_parquet(paths.elements)
    if not (runs["status"] == "ok").any():
        raise InputError(f"study {spec.name}: no scenario finished, see {paths.manifest}")
    write_text(hosting_capacity(runs, spec.max_violation_probability).to_csv(index=False), paths.hosting)
    write_text(violation_probability(runs).to_csv(index=False), paths.probability)
    write_parquet(locational(runs, elements), paths.locational)


def _write_manifest(paths, spec, spec_hash, runs, counts) -> None:
    manifest = {
        "study": spec.name, "spec": spec.model_dump(mode="json"), "spec_hash": spec_hash, "seed": spec.seed,
        "scenarios": counts["total"], "failed": counts["failed"],
        "failed_keys": runs.loc[runs["status"] != "ok", ["key", "error"]].to_dict("records"),
        "versions": package_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text(json.dumps(manifest, indent=2) + "\n", paths.manifest)
