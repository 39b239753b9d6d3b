"""Run a study: sweep -> Dask -> one record per scenario -> runs, elements and households tables -> hosting
capacity and customer value. An adaptive study (`studies/adaptive.py`) runs in rounds on one Dask cluster.

Each Dask task co-simulates a batch: up to `dask.samples_per_run` samples of one feeder, period, strategy
and level in one mosaik world (`cosim/world.run_batch`; each sample's numbers are those of a run of its own,
so batching changes no output). It returns each sample's metrics and per-element summaries (and writes the
time series the study keeps under <study>/runs/<key>/: those the study file asks for, and `feeder/extremes`
of the runs the report draws duration curves of, `sweep.curve_keys`). The client writes each sample's
record the moment its batch arrives (`studies/records.py`), so an interrupt (Ctrl-C, SIGTERM, a killed job)
loses only the batches in flight, and the next run of the study resumes sample by sample from the records.
A batch that raises runs its samples one by one, and a sample that raises is recorded as failed with its
error; the study goes on. A killed worker's tasks are recomputed by Dask (`retries=1`). One study folder is
used by one process at a time (an OS lock on the folder itself, `_locked`).
"""
import contextlib
import fcntl
import functools
import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from hostcap.feeders import load_feeder
from hostcap.cosim.scenario import Scenario
from hostcap.models.errors import InputError
from hostcap.models.metrics import NONCONVERGED_MAX_SHARE
from hostcap.studies.adaptive import first_round, next_round
from hostcap.studies.atomic import check_writable, write_parquet, write_text
from hostcap.studies.customer_value import customer_value
from hostcap.studies.hosting import hosting_capacity, locational, violation_probability
from hostcap.studies.outputs import package_versions
from hostcap.studies.records import RecordStore, build_tables, file_sha256, kept_ok, record_keys
from hostcap.studies.spec import Slurm, StudySpec, safe_name
from hostcap.studies.sweep import curve_keys, plan

log = logging.getLogger(__name__)
RETRIES = 1
CONNECT_TIMEOUT_S = 10
WORKER_START_TIMEOUT_S = 120  # local workers import numba, pandapower and mosaik: slow on a busy machine
CLOSE_TIMEOUT_S = 20
SLURM_START_TIMEOUT_S = 60  # jobs gone from the queue with no worker by then have failed
SLURM_POLL_S = 5
UNSCHEDULABLE = ("PartitionConfig", "ReqNodeNotAvail", "PartitionNodeLimit", "PartitionTimeLimit",
                 "BadConstraints")  # squeue reasons of a request that cannot be scheduled as configured
POLL_S = 0.05
INTERRUPTED = threading.Event()  # set by the CLI's SIGINT and SIGTERM handlers


def run_samples(scenario_jsons: list[str], series_dirs: list[str | None], keeps: list[list[str]]) -> list[dict]:
    """Worker task: a batch of samples of one scenario, each writing its kept time series (`keeps`) under its
    folder. Returns per sample {"result": metrics and status, "elements": DataFrame, "households": DataFrame}.
    If the batch raises, its samples run one by one, and a sample that raises gets {"result": {"status":
    "failed", "error": ...}}."""
    import warnings

    from hostcap.cosim.world import run_batch

    warnings.filterwarnings("ignore")
    scenarios = [Scenario.model_validate_json(s) for s in scenario_jsons]
    t0 = time.perf_counter()
    try:
        results = run_batch(scenarios)
    except Exception as exc:  # noqa: BLE001 - find the sample that fails; the others still count
        if len(scenarios) == 1:
            return [_failed(exc)]
        return [out for s, d, k in zip(scenario_jsons, series_dirs, keeps) for out in run_samples([s], [d], [k])]
    wall = (time.perf_counter() - t0) / len(scenarios)  # a batch's wall time, shared by its samples
    return [_outputs(r, wall, d, k) for r, d, k in zip(results, series_dirs, keeps)]


def _failed(exc: BaseException) -> dict:
    return {"result": {"status": "failed", "error": _error_line(exc)}, "elements": None}


def _outputs(result, wall_s: float, series_dir: str | None, keep: list[str]) -> dict:
    from hostcap.studies.outputs import timeseries_tables

    sums = {}
    if keep and series_dir:
        tables = timeseries_tables(result)
        for name in (n for n in keep if n in tables):  # a balanced run has no three-phase tables, and back
            path = Path(series_dir) / f"{name}.parquet"
            write_parquet(tables[name], path)
            sums[name] = file_sha256(path)
    return {"result": {"status": "ok", "error": "", **result.metrics, "wall_s": wall_s, "timeseries": sums},
            "elements": result.element_summaries(), "households": result.customers()}


def kept_series(spec: StudySpec, planned: list) -> dict[str, list[str]]:
    """Key -> the time series its run keeps: the study file's `keep_timeseries`, and `feeder/extremes` for the
    report's duration curves."""
    keep = {c["key"]: list(spec.keep_timeseries) for _, c in planned}
    for key in curve_keys(spec, [c for _, c in planned]):
        keep[key] = list(dict.fromkeys([*keep[key], "feeder/extremes"]))
    return keep


def batches(scenarios: list[Scenario], size: int) -> list[list[Scenario]]:
    """The scenarios in runs of at most `size` samples that differ only in their sample, in the given order."""
    groups: dict[str, list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault(s.model_dump_json(exclude={"key", "sample"}), []).append(s)
    return [g[i:i + size] for g in groups.values() for i in range(0, len(g), size)]


AUTO_MAX_SAMPLES = 16
AUTO_MEMORY_SHARE = 0.4
FLOAT_BYTES = 8
TRIP_BYTES_PER_EV_STEP = 26  # `Mobility`: two bools, two floats and an int64 per vehicle and step


def auto_samples_per_run(spec: StudySpec, worker_memory_bytes: float | None) -> int:
    """Samples per run such that a run's arrays fit in AUTO_MEMORY_SHARE of a worker's memory; at most
    AUTO_MAX_SAMPLES, at least 1. Per sample they are its recordings (float64 per step: bus voltages and
    P/Q, line and transformer loading, per connection point PV curtailment, home batteries' power and energy
    and, with outages, supply and backup; per EV power, reactive power and energy; three-phase runs also the
    voltage, P and Q of every phase, the unbalance factor and the lines' neutral current) and its trips (`Mobility`), with one EV per
    connection point at most. The share leaves room for the previous run's trips while the next is built
    and for the process itself: on a year of the default feeder at S = 10, 0.40 GB per sample measured
    against 0.49 GB estimated."""
    from hostcap.cosim.scenario import build_inputs

    if worker_memory_bytes is None:
        return AUTO_MAX_SAMPLES
    per_sample = 0.0
    for entry in spec.feeders:
        period = max(spec.periods_of(entry), key=lambda p: p.days)
        inp = build_inputs(Scenario(feeder=entry.ref, profiles=entry.profiles, start=period.start, days=period.days,
                                    step_min=spec.step_min, penetration=0.0, phases=spec.phases))
        net, n_cp = inp.feeder.net, len(inp.cp_bus_pos)
        per_bus, per_line = (12, 2) if inp.unbalanced else (3, 1)
        batteries = 2 * n_cp if inp.households.batteries.present else 0
        columns = (per_bus * len(net.bus) + per_line * len(net.line) + len(net.trafo) + 4 * n_cp + 3 * n_cp + 4
                   + batteries)
        per_sample = max(per_sample, inp.n_steps * (columns * FLOAT_BYTES + n_cp * TRIP_BYTES_PER_EV_STEP))
    fit = int(AUTO_MEMORY_SHARE * worker_memory_bytes // per_sample)
    return max(1, min(AUTO_MAX_SAMPLES, fit))


@dataclass
class StudyPaths:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.runs = self.root / "runs.parquet"
        self.elements = self.root / "elements.parquet"
        self.households = self.root / "households.parquet"
        self.customer_value = self.root / "customer_value.csv"
        self.hosting = self.root / "hosting_capacity.csv"
        self.probability = self.root / "violation_probability.csv"
        self.locational = self.root / "locational.parquet"
        self.manifest = self.root / "manifest.json"
        self.timeseries = self.root / "runs"
        self.records = self.root / "records"
        self.lock = self.root / ".lock"

    def outputs(self) -> list[Path]:
        return [*self.tables, *self.hosting_outputs, self.manifest]

    @property
    def tables(self) -> list[Path]:
        """What the study step writes from the records."""
        return [self.runs, self.elements, self.households]

    @property
    def hosting_outputs(self) -> list[Path]:
        return [self.hosting, self.probability, self.locational, self.customer_value]

    def series_dir(self, key: str) -> Path:
        return self.timeseries / safe_name(key)


def study_paths(spec: StudySpec, out_root: str | Path) -> StudyPaths:
    """Where a study's results go: <out_root>/<study name>/."""
    return StudyPaths(Path(out_root) / spec.name)


@contextlib.contextmanager
def study_lock(spec: StudySpec, paths: StudyPaths):
    """Hold the study folder for this process; a second study into the same folder is refused."""
    created = [p for p in (paths.root, *paths.root.parents) if not p.exists()]  # the study's, then --out's
    paths.root.mkdir(parents=True, exist_ok=True)
    try:
        with _locked(spec, paths):
            yield
    except BaseException:
        for folder in created:  # nothing was written: leave nothing behind
            if any(folder.iterdir()):
                break
            folder.rmdir()
        raise


@contextlib.contextmanager
def _locked(spec: StudySpec, paths: StudyPaths):
    """flock(2) on the study folder's own directory descriptor, so that deleting or replacing the `.lock`
    file does not free the folder (the kernel releases the lock when the descriptor closes, also when the
    process is killed). `.lock` only names the holder for the refusal message, and goes when the study ends."""
    fd = os.open(paths.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = paths.lock.read_text().strip()
            except OSError:
                holder = ""
            raise InputError(f"study {spec.name}: {paths.root} is in use by {holder or 'another process'}; wait "
                             "for it to finish or choose another --out") from None
        paths.lock.write_text(f"hostcap pid {os.getpid()} on {socket.gethostname()}\n")
        try:
            yield
        finally:
            paths.lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def validate_inputs(spec: StudySpec) -> None:
    """Load every feeder and check one no-EV scenario per feeder x period (feeder, profiles, trips, period,
    step, and the base case's plausibility), then each feeder's periods together (tariff prices, outage
    windows: `cosim.scenario.check_inputs`, as `hostcap run` does), so bad input is refused before anything
    runs."""
    from hostcap.cosim.base_case import check_base_case
    from hostcap.cosim.scenario import check_inputs

    firsts = {}
    for scenario, coords in plan(spec):
        firsts.setdefault((coords["feeder"], coords["period"]), scenario)
    for scenario in firsts.values():
        check_base_case(scenario.model_copy(update={"penetration": 0.0, "strategy": "uncontrolled"}))
    for feeder in dict.fromkeys(f for f, _ in firsts):
        check_inputs([sc for (f, _), sc in firsts.items() if f == feeder])


def slurm_cluster(settings: Slurm):
    """A dask-jobqueue SLURMCluster (not yet scaled): one single-threaded worker process per core."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(cores=settings.cores, processes=settings.cores, memory=settings.memory,
                        walltime=settings.walltime, account=settings.account, queue=settings.partition,
                        interface=settings.interface, scheduler_options={"dashboard_address": ":0"})


def open_slurm(settings: Slurm):
    """A client of a SLURMCluster scaled to `settings.jobs` jobs, and its closer, once a worker has started.
    While none has, the pending jobs' reasons are read from squeue (`%r`; the codes:
    https://slurm.schedmd.com/job_reason_codes.html) every SLURM_POLL_S: a request the partition cannot hold
    as configured (UNSCHEDULABLE) stops the study at once with one line naming the reason (an InputError), as
    do jobs that left the queue with no worker after SLURM_START_TIMEOUT_S (a TimeoutError); a busy cluster
    (Priority, Resources) is waited for, and said so once. Either way the cluster is closed: its jobs are
    cancelled, none is left queued."""
    from dask.distributed import Client

    cluster = slurm_cluster(settings)
    try:
        cluster.scale(jobs=settings.jobs)
        client = Client(cluster)
        t0, told = time.monotonic(), False
        while True:
            try:
                client.wait_for_workers(1, timeout=SLURM_POLL_S)
                break
            except TimeoutError:
                pass
            ids = [job.job_id for job in cluster.workers.values() if job.job_id]
            job, reason = _pending_reason(ids)
            waited_s = time.monotonic() - t0
            if reason.split(",")[0] in UNSCHEDULABLE:  # e.g. "ReqNodeNotAvail, UnavailableNodes:node1"
                client.close()
                raise InputError(f"slurm: job {job} cannot start: {reason} (the request, {settings.cores} cores "
                                 f"and {settings.memory} per job, does not fit partition "
                                 f"{settings.partition or 'default'}; ask for less under dask.slurm)")
            if reason == "not in squeue" and waited_s > SLURM_START_TIMEOUT_S:
                client.close()
                raise TimeoutError(f"slurm: jobs {job} left the queue and no Dask worker started within "
                                   f"{SLURM_START_TIMEOUT_S} s; see the jobs' output files")
            if not told and waited_s > SLURM_START_TIMEOUT_S:
                log.warning("slurm: waiting for job %s to start: pending (%s)", job, reason)
                told = True
    except BaseException:
        cluster.close(timeout=CLOSE_TIMEOUT_S)
        raise
    return client, cluster.close


def _pending_reason(ids: list[str]) -> tuple[str, str]:
    """The first of the jobs `ids` still in the queue and its squeue reason, or ("ids", "not in squeue")."""
    out = subprocess.run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i %r"], capture_output=True, text=True,
                         timeout=CONNECT_TIMEOUT_S).stdout.splitlines() if ids else []
    return tuple(out[0].split(maxsplit=1)) if out else (",".join(ids) or "none", "not in squeue")


def open_client(spec: StudySpec, *, scheduler: str | None, scheduler_file: str | None, slurm: bool,
                workers: int | None):
    """A Dask client and a closer of the cluster this study started (None for an existing scheduler): an
    existing scheduler, a SLURM cluster from the study file, or a local cluster (worker processes, one
    thread each, one worker per core by default; `studies/local_cluster.py`). Unreachable schedulers fail
    within CONNECT_TIMEOUT_S with one line, SLURM jobs that cannot start too (`open_slurm`)."""
    from dask.distributed import Client

    from hostcap.studies.local_cluster import close_local_cluster, local_cluster

    quiet = not logging.getLogger("hostcap").isEnabledFor(logging.INFO)  # no -v
    if quiet:  # importing distributed has just set its logger to INFO (dask's logging config)
        logging.getLogger("distributed").setLevel(logging.WARNING)
    d = spec.dask
    scheduler = scheduler or d.scheduler
    scheduler_file = scheduler_file or d.scheduler_file
    if scheduler or scheduler_file:
        where = scheduler or scheduler_file
        try:
            client = Client(scheduler, scheduler_file=scheduler_file if not scheduler else None,
                            timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise InputError(f"scheduler: cannot reach {where} within {CONNECT_TIMEOUT_S} s "
                             f"({type(exc).__name__})") from None
        return client, None
    if slurm or d.slurm:
        return open_slurm(d.slurm or Slurm())
    n = workers or d.workers or os.cpu_count() or 1
    cluster = local_cluster(n, quiet)
    client = Client(cluster)
    client.wait_for_workers(n, timeout=WORKER_START_TIMEOUT_S)
    if quiet:
        from hostcap.studies.quiet import QuietWorkers

        client.register_plugin(QuietWorkers())
    return client, functools.partial(close_local_cluster, cluster)


def _error_line(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]


def run_study(spec: StudySpec, out_root: str | Path = "results", *, scheduler: str | None = None,
              scheduler_file: str | None = None, slurm: bool = False, workers: int | None = None,
              samples_per_run: int | None = None, progress: bool = True, hosting: bool = True) -> dict:
    """Run the chosen scenarios that have no valid record, round by round, then (re)write the tables, the
    manifest and (unless hosting=False) the hosting-capacity outputs. Returns counts (total: the scenarios the
    study chose, max_everywhere: with `max` samples at every level, skipped, ran, failed, unreliable) and
    `errors`: each distinct error of a failed scenario with its count."""
    paths = study_paths(spec, out_root)
    check_writable(paths.root)
    given_file = scheduler_file or spec.dask.scheduler_file
    if given_file and not (scheduler or spec.dask.scheduler) and not Path(given_file).is_file():
        raise InputError(f"scheduler-file: file not found: {given_file}")
    validate_inputs(spec)
    planned = plan(spec)
    rkeys = dict(zip((c["key"] for _, c in planned), record_keys(spec, planned)))
    store = RecordStore(paths.records)
    keep = kept_series(spec, planned)
    ran = 0
    with study_lock(spec, paths), _dask(spec, scheduler=scheduler, scheduler_file=scheduler_file, slurm=slurm,
                                        workers=workers) as client:
        records = _read_records(paths, store, planned, rkeys, keep)

        def run(pending: list[Scenario]) -> None:
            nonlocal ran
            if pending:
                _run_pending(spec, paths, client(), pending, rkeys, store, records, keep, progress=progress,
                             samples_per_run=samples_per_run)
                ran += len(pending)

        chosen = chosen_scenarios(spec, planned, records, run)
        counts = {"total": len(chosen), "max_everywhere": spec.n_scenarios(), "skipped": len(chosen) - ran,
                  "ran": ran}
        if not ran and _outputs_current(spec, paths, hosting):
            return {**counts, **_failures(pd.read_parquet(paths.runs))}
        runs, elements, households = build_tables(chosen, records)
        _write_tables(paths, runs, elements, households)
        if hosting and (runs["status"] == "ok").any():
            _write_hosting_tables(spec, paths, runs, elements, households)
        _write_manifest(spec, paths, runs, records, counts)
    return {**counts, **_failures(runs)}


def chosen_scenarios(spec: StudySpec, planned: list, records: dict, run=None) -> list:
    """The scenarios the study chooses, round by round (`studies/adaptive.py`). With `run`, each round's
    scenarios that have no finished record, or whose run failed, are handed to it first (it adds their
    records); without, the rounds are replayed from the records and stop at the first that lacks one."""
    round_ = first_round(spec, planned)
    chosen = list(round_)
    while round_:
        if run is not None:
            run([s for s, c in round_ if c["key"] not in records or records[c["key"]].result["status"] != "ok"])
        elif any(c["key"] not in records for _, c in round_):
            break
        round_ = next_round(spec, planned, chosen, {k: r.result for k, r in records.items()})
        chosen += round_
    return chosen


@contextlib.contextmanager
def _dask(spec: StudySpec, **how):
    """A getter of the study's Dask client, opened on first use (a study with nothing to run starts none) and
    closed within bounded time: an interrupted study must end even if a worker does not answer."""
    held = []

    def client():
        if not held:
            held.extend(open_client(spec, **how))
        return held[0]

    try:
        yield client
    finally:
        if held:
            try:
                held[0].close(timeout=CLOSE_TIMEOUT_S)
                if held[1] is not None:
                    held[1](timeout=CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("the Dask cluster did not close within %s s; its processes end with this one",
                            CLOSE_TIMEOUT_S)


def _read_records(paths: StudyPaths, store: RecordStore, planned: list, rkeys: dict[str, str],
                  keep: dict[str, list[str]]) -> dict:
    """Key -> readable record of every planned scenario that has one. A finished record whose kept time
    series (`keep`: key -> names) are missing or changed is set aside, so its scenario runs again."""
    records = {}
    for _, coords in planned:
        key = coords["key"]
        rec = store.read(rkeys[key])
        if rec is not None and rec.result["status"] == "ok" and keep.get(key):
            why = kept_ok(rec, paths.series_dir(key), keep[key])
            if why:
                store.set_aside(rkeys[key], why)
                rec = None
        if rec is not None:
            records[key] = rec
    return records


def _failures(runs: pd.DataFrame) -> dict:
    """Failed scenarios, their distinct errors, and finished runs whose power flow failed too often to trust
    (`nonconverged_share` above NONCONVERGED_MAX_SHARE; they still count as violating `nonconverged`)."""
    failed = runs[runs["status"] != "ok"]
    share = runs["nonconverged_share"] if "nonconverged_share" in runs else pd.Series(0.0, index=runs.index)
    return {"failed": len(failed), "errors": dict(Counter(failed["error"]).most_common()),
            "unreliable": int((share > NONCONVERGED_MAX_SHARE).sum())}


def _run_pending(spec, paths, client, pending, rkeys, store, records, keep, *, progress,
                 samples_per_run=None) -> None:
    """Submit the pending scenarios in batches and record each sample as its batch finishes. The loop polls
    (POLL_S) and ends with KeyboardInterrupt as soon as INTERRUPTED is set (the CLI sets it on SIGINT and
    SIGTERM), even where a library on the way swallowed the signal's own exception: a Ctrl-C also stops the
    local workers, and a study waiting for them would wait for ever."""
    from dask.distributed import as_completed

    size = samples_per_run or spec.dask.samples_per_run
    if size == "auto":
        limits = [w.get("memory_limit") or 0 for w in client.scheduler_info().get("workers", {}).values()]
        size = auto_samples_per_run(spec, min(limits) if limits and min(limits) > 0 else None)
    futures = {}
    for batch in batches(pending, size):
        dirs = [str(paths.series_dir(s.key).resolve()) if keep[s.key] else None for s in batch]
        fut = client.submit(run_samples, [s.model_dump_json() for s in batch], dirs, [keep[s.key] for s in batch],
                            retries=RETRIES, pure=False, key=f"run-{rkeys[batch[0].key]}-{len(batch)}")
        futures[fut] = [s.key for s in batch]
    done = as_completed(futures)
    with tqdm(total=len(pending), desc=spec.name, unit="run", disable=not progress) as bar:
        while not done.is_empty():
            if INTERRUPTED.is_set():
                raise KeyboardInterrupt
            finished = done.next_batch(block=False)
            if not finished:
                time.sleep(POLL_S)
            for future in finished:
                keys = futures.pop(future)
                try:
                    outs = future.result()
                except Exception as exc:  # noqa: BLE001 - a failing batch is recorded, the study goes on
                    if INTERRUPTED.is_set():  # cancelled because the study is being stopped
                        raise KeyboardInterrupt from None
                    outs = [_failed(exc)] * len(keys)
                for key, out in zip(keys, outs):
                    store.write(rkeys[key], out["result"], out["elements"], out.get("households"))
                    records[key] = store.read(rkeys[key])  # as read back: tables equal a resumed study's
                bar.update(len(keys))


def _checksums(paths: StudyPaths, files: list[Path]) -> dict[str, str]:
    return {str(p.relative_to(paths.root)): file_sha256(p) for p in files if p.is_file()}


def _write_tables(paths: StudyPaths, runs: pd.DataFrame, elements: pd.DataFrame, households: pd.DataFrame) -> None:
    write_parquet(runs, paths.runs)
    write_parquet(elements, paths.elements)
    write_parquet(households, paths.households)


def _write_manifest(spec: StudySpec, paths: StudyPaths, runs: pd.DataFrame, records: dict, counts: dict) -> None:
    tables = paths.tables + paths.hosting_outputs
    kept = {str((paths.series_dir(k) / f"{name}.parquet").relative_to(paths.root)): sha
            for k, rec in records.items() for name, sha in (rec.result.get("timeseries") or {}).items()}
    failed = runs[runs["status"] != "ok"]
    manifest = {
        "study": spec.name, "spec": spec.model_dump(mode="json", exclude={"dask"}), "spec_hash": spec.spec_hash(),
        "seed": spec.seed, "scenarios": len(runs), "max_everywhere": counts["max_everywhere"],
        "failed": len(failed),
        "failed_keys": failed[["key", "error"]].to_dict("records"),
        "profiles": {f.name: load_feeder(f.ref, f.profiles).profiles.source for f in spec.feeders},
        "checksums": _checksums(paths, tables), "kept_timeseries": dict(sorted(kept.items())),
        "versions": package_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text(json.dumps(manifest, indent=2) + "\n", paths.manifest)


def _manifest(paths: StudyPaths) -> dict | None:
    try:
        return json.loads(paths.manifest.read_text())
    except (OSError, ValueError):
        return None


def _outputs_current(spec: StudySpec, paths: StudyPaths, hosting: bool) -> bool:
    """The study's outputs exist, were written for this spec, and match their checksums."""
    manifest = _manifest(paths)
    if manifest is None or manifest.get("spec") != spec.model_dump(mode="json", exclude={"dask"}):
        return False
    files = paths.outputs()[:-1] if hosting else paths.tables
    return _intact(paths, manifest, files)


def _intact(paths: StudyPaths, manifest: dict | None, files: list[Path]) -> bool:
    """Every file exists and matches the checksum the manifest holds for it."""
    sums = (manifest or {}).get("checksums", {})
    return all(f.is_file() and sums.get(str(f.relative_to(paths.root))) == file_sha256(f) for f in files)


def read_tables(spec: StudySpec, out_root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """runs, elements and households of a finished study, checked against the manifest's checksums. A
    corrupt or missing table is rebuilt from the records (with a one-line warning)."""
    paths = study_paths(spec, out_root)
    manifest = _manifest(paths)
    if manifest is None and not paths.records.is_dir():
        raise InputError(f"study {spec.name}: no results in {paths.root}; run `hostcap study` on the study "
                         "file first")
    if _intact(paths, manifest, paths.tables):
        return tuple(pd.read_parquet(p) for p in paths.tables)
    log.warning("study %s: runs.parquet, elements.parquet or households.parquet is missing or differs from "
                "its checksum; rebuilt from the records", spec.name)
    planned = plan(spec)
    rkeys = dict(zip((c["key"] for _, c in planned), record_keys(spec, planned)))
    records = _read_records(paths, RecordStore(paths.records), planned, rkeys, keep={})
    chosen = chosen_scenarios(spec, planned, records)
    missing = sum(c["key"] not in records for _, c in chosen)
    if missing:
        raise InputError(f"study {spec.name}: {missing} scenarios have no record in "
                         f"{paths.records}; run `hostcap study` on the study file first")
    runs, elements, households = build_tables(chosen, records)
    _write_tables(paths, runs, elements, households)
    _write_manifest(spec, paths, runs, records, {"max_everywhere": spec.n_scenarios()})
    return runs, elements, households


def _write_hosting_tables(spec: StudySpec, paths: StudyPaths, runs: pd.DataFrame, elements: pd.DataFrame,
                          households: pd.DataFrame) -> None:
    if not (runs["status"] == "ok").any():
        raise InputError(f"study {spec.name}: no scenario finished, see {paths.manifest}")
    hc = hosting_capacity(runs, spec.max_violation_probability, band=spec.band, exact_baseline=spec.exact_baseline)
    write_text(hc.to_csv(index=False), paths.hosting)
    write_text(violation_probability(runs, spec.exact_baseline).to_csv(index=False), paths.probability)
    write_parquet(locational(runs, elements), paths.locational)
    write_text(customer_value(households).to_csv(index=False), paths.customer_value)


def write_hosting(spec: StudySpec, out_root: str | Path = "results") -> None:
    """hosting_capacity.csv, violation_probability.csv and locational.parquet from the study's tables."""
    paths = study_paths(spec, out_root)
    _write_hosting_tables(spec, paths, *read_tables(spec, out_root))
