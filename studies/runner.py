"""Run a study: sweep -> Dask -> one record per scenario -> runs, elements and households tables -> hosting
capacity and customer value. An adaptive study (`studies/adaptive.py`) runs in rounds on one Dask cluster.

Each Dask task co-simulates a batch: up to `dask.samples_per_run` samples of one feeder, period, strategy
and level in one mosaik world (`studies/worker.py`; each sample's numbers are those of a run of its own,
so batching changes no output; `studies/memory.py` sizes "auto"). It returns each sample's metrics and
per-element summaries (and writes the time series the study keeps under <study>/runs/<key>/: those the
study file asks for, and `feeder/extremes` of the runs the report draws duration curves of,
`sweep.curve_keys`). The client writes each sample's record the moment its batch arrives
(`studies/records.py`), so an interrupt (Ctrl-C, SIGTERM, a killed job) loses only the batches in flight,
and the next run of the study resumes sample by sample from the records. A sample that raises is recorded
as failed with its error; the study goes on. A killed worker's tasks are recomputed by Dask (`retries=1`).
One study folder is used by one process at a time (`studies/lock.py`); where its files go is
`studies/layout.py`; the Dask cluster is `studies/cluster.py`.
"""
import json
import logging
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from hostcap.feeders import load_feeder
from hostcap.models.errors import InputError
from hostcap.models.metrics import NONCONVERGED_MAX_SHARE
from hostcap.studies.adaptive import first_round, next_round
from hostcap.studies.atomic import check_writable, write_parquet, write_text
from hostcap.studies.cluster import dask_client, local_workers
from hostcap.studies.customer_value import customer_value
from hostcap.studies.fleet import fleet_statistics, fleet_table
from hostcap.studies.flexibility import design_samples, pathway_value, reinforcement_table
from hostcap.studies.headroom import headroom_table
from hostcap.studies.hosting import (
    first_violation_years,
    group_of,
    hosting_capacity,
    in_study_order,
    locational,
    violation_probability,
)
from hostcap.studies.layout import RESULTS, StudyPaths, study_paths
from hostcap.studies.lock import study_lock
from hostcap.studies.memory import auto_samples_per_run
from hostcap.studies.outputs import package_versions
from hostcap.studies.plans import plan_rows, write_reinforced
from hostcap.studies.progress import StudyProgress
from hostcap.studies.records import RecordStore, build_tables, file_sha256, kept_ok, record_keys
from hostcap.studies.scenario.settings import Scenario
from hostcap.studies.spec import StudySpec
from hostcap.studies.sweep import curve_keys, plan
from hostcap.studies.worker import failed, run_samples

log = logging.getLogger(__name__)
RETRIES = 1
POLL_S = 0.05
INTERRUPTED = threading.Event()  # set by the CLI's SIGINT and SIGTERM handlers


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


POOL_MIN_FEEDERS = 8  # a process pool's start (2-4 s of imports per process) pays from about this many feeders


def validate_inputs(spec: StudySpec, processes: int = 1) -> list[dict]:
    """Load every feeder and check one no-EV scenario per feeder x period (feeder, profiles, trips, period,
    step, and the base case's plausibility), then each feeder's periods together (tariff prices, outage
    windows: `scenario.inputs.check_inputs`, as `hostcap run` does), so bad input is refused before anything
    runs. A feeder of a feeder set (`studies/feeder_sets.py`) that fails is returned (feeder, ref, source,
    error) and the study goes on without it; a feeder named alone that fails stops the study, as does a set
    of which every feeder fails. With `processes` > 1 and at least `POOL_MIN_FEEDERS` feeders the feeders are
    checked side by side in that many processes; the verdicts do not depend on it."""
    singles = [spec.model_copy(update={"feeders": [feeder]}) for feeder in spec.feeders]
    if processes > 1 and len(singles) >= POOL_MIN_FEEDERS:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(processes, len(singles)), mp_context=multiprocessing.get_context("spawn")) as pool:
            errors = list(pool.map(_feeder_error, singles))
    else:
        errors = map(_feeder_error, singles)
    failed = []
    for feeder, error in zip(spec.feeders, errors):
        if error is None:
            continue
        if feeder.source is None:
            raise InputError(error)
        failed.append({"feeder": feeder.name, "ref": feeder.ref, "source": feeder.source, "error": error})
    if failed and len(failed) == len(spec.feeders):
        raise InputError(f"feeders: every feeder fails its checks, e.g. {failed[0]['feeder']}: {failed[0]['error']}")
    return failed


def _feeder_error(spec: StudySpec) -> str | None:
    """Why a study of one feeder fails its input checks (None: it passes)."""
    try:
        _check_feeder(spec)
    except InputError as exc:
        return str(exc)
    return None


def _check_feeder(spec: StudySpec) -> None:
    """validate_inputs for a study of one feeder."""
    from hostcap.studies.scenario.base_case import check_base_case
    from hostcap.studies.scenario.inputs import check_inputs

    firsts = {}
    for scenario, coords in plan(spec):
        firsts.setdefault((coords["feeder"], coords["period"]), scenario)
    for scenario in firsts.values():
        check_base_case(scenario.model_copy(update={"penetration": 0.0, "strategy": "uncontrolled"}))
    check_inputs(list(firsts.values()))


def spec_digest(spec: StudySpec) -> str:
    """SHA-256 of the study's `spec_hash` (all that changes a run) and of every file its feeders read (a missing
    one as missing): what a feeder check (`hostcap check-feeders`) is valid for."""
    import hashlib

    files = {p: file_sha256(p) if Path(p).is_file() else "missing" for f in spec.feeders for p in f.files()}
    return hashlib.sha256((spec.spec_hash() + json.dumps(files, sort_keys=True)).encode()).hexdigest()


def checked_failures(spec: StudySpec, check_file: str | Path | None) -> list[dict] | None:
    """The failed feeders a check of this very study recorded (`hostcap check-feeders --out`), or None if there
    is no such check (no file, or one made for another study, or before a feeder file changed): the study then
    checks itself."""
    if not check_file or not Path(check_file).is_file():
        return None
    try:
        check = json.loads(Path(check_file).read_text())
    except ValueError:
        return None
    if not (isinstance(check, dict) and isinstance(check.get("failed"), list)):
        return None
    return check["failed"] if check.get("spec") == spec_digest(spec) else None


def without_failed(spec: StudySpec, failed: list[dict]) -> StudySpec:
    """The study without the feeders that failed their checks."""
    names = {f["feeder"] for f in failed}
    return spec.model_copy(update={"feeders": [f for f in spec.feeders if f.name not in names]}) if names else spec


def study_spec(spec: StudySpec, out_root: str | Path) -> StudySpec:
    """The study as it ran: without the feeders its manifest records as failed."""
    manifest = _manifest(study_paths(spec, out_root))
    return without_failed(spec, (manifest or {}).get("failed_feeders", []))


def run_study(spec: StudySpec, out_root: str | Path = RESULTS, *, scheduler: str | None = None,
              scheduler_file: str | None = None, slurm: bool = False, workers: int | None = None,
              samples_per_run: int | None = None, progress: bool = True, hosting: bool = True,
              checked: str | Path | None = None) -> dict:
    """Run the chosen scenarios that have no valid record, round by round, then (re)write the tables, the
    manifest and (unless hosting=False) the hosting-capacity outputs. Returns counts (total: the scenarios the
    study chose, max_everywhere: with `max` samples at every level, skipped, ran, failed, unreliable) and
    `errors`: each distinct error of a failed scenario with its count. `checked`: the feeder check of this study
    (`hostcap check-feeders --out`; the pipeline's checkpoint), whose verdicts are taken instead of checking every
    feeder again, when it was made for this very study."""
    paths = study_paths(spec, out_root)
    check_writable(paths.root)
    given_file = scheduler_file or spec.dask.scheduler_file
    if given_file and not (scheduler or spec.dask.scheduler) and not Path(given_file).is_file():
        raise InputError(f"scheduler-file: file not found: {given_file}")
    given = spec
    failed_feeders = checked_failures(spec, checked)
    if failed_feeders is None:
        # a local study's checks may take the cores its workers will
        failed_feeders = validate_inputs(spec, local_workers(spec, scheduler=scheduler, scheduler_file=scheduler_file,
                                                             slurm=slurm, workers=workers) or 1)
    spec = without_failed(spec, failed_feeders)
    planned = plan(spec)
    rkeys = dict(zip((c["key"] for _, c in planned), record_keys(spec, planned)))
    store = RecordStore(paths.records)
    keep = kept_series(spec, planned)
    ran = 0
    with study_lock(spec, paths), dask_client(spec, scheduler=scheduler, scheduler_file=scheduler_file, slurm=slurm,
                                        workers=workers) as client:
        store.remove_unfinished()
        records = _read_records(paths, store, planned, rkeys, keep)
        bar = StudyProgress(spec.name, enabled=progress)

        def run(pending: list[Scenario]) -> None:
            nonlocal ran
            if pending:
                dask = client()  # a cluster that cannot start fails here, before any bar is drawn
                bar.next_round(len(pending))
                _run_pending(spec, paths, dask, pending, rkeys, store, records, keep, bar=bar,
                             samples_per_run=samples_per_run)
                ran += len(pending)

        try:
            chosen = chosen_scenarios(spec, planned, records, run)
        finally:
            bar.close()
        counts = {"total": len(chosen), "max_everywhere": spec.n_scenarios(), "skipped": len(chosen) - ran,
                  "ran": ran}
        counts["failed_feeders"] = failed_feeders
        if not ran and _outputs_current(given, paths, hosting):
            return {**counts, **_failures(pd.read_parquet(paths.runs))}
        runs, elements, households = build_tables(chosen, records)
        _write_tables(paths, runs, elements, households)
        if hosting and (runs["status"] == "ok").any():
            _write_hosting_tables(spec, paths, runs, elements, households,
                                  steps_of=lambda key: records[key].worst_steps if key in records else None,
                                  client=client, given=given, failed=failed_feeders)
        _write_manifest(spec, paths, runs, records, counts, given)
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


def _run_pending(spec, paths, client, pending, rkeys, store, records, keep, *, bar: "StudyProgress",
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
                outs = [failed(exc)] * len(keys)
            for key, out in zip(keys, outs):
                store.write(rkeys[key], out["result"], out["elements"], out.get("households"), out.get("worst_steps"))
                records[key] = store.read(rkeys[key])  # as read back: tables equal a resumed study's
            bar.update(len(keys))


def _checksums(paths: StudyPaths, files: list[Path]) -> dict[str, str]:
    return {str(p.relative_to(paths.root)): file_sha256(p) for p in files if p.is_file()}


def _write_tables(paths: StudyPaths, runs: pd.DataFrame, elements: pd.DataFrame, households: pd.DataFrame) -> None:
    write_parquet(runs, paths.runs)
    write_parquet(elements, paths.elements)
    write_parquet(households, paths.households)


def _write_manifest(spec: StudySpec, paths: StudyPaths, runs: pd.DataFrame, records: dict, counts: dict,
                    given: StudySpec | None = None) -> None:
    """manifest.json; `spec` the study as it ran, `given` as its file gives it (with the feeders that failed)."""
    tables = paths.tables + paths.hosting_outputs + paths.reinforcement_outputs + [paths.headroom]
    kept = {str((paths.series_dir(k) / f"{name}.parquet").relative_to(paths.root)): sha
            for k, rec in records.items() for name, sha in (rec.result.get("timeseries") or {}).items()}
    failed = runs[runs["status"] != "ok"]
    manifest = {
        "study": spec.name, "spec": (given or spec).model_dump(mode="json", exclude={"dask"}),
        "spec_hash": (given or spec).spec_hash(), "failed_feeders": counts.get("failed_feeders", []),
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
    if hosting and spec.reinforcement is not None:
        files = files + paths.reinforcement_outputs
    if hosting and spec.headroom:
        files = files + [paths.headroom]
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
    given, failed = spec, (manifest or {}).get("failed_feeders", [])
    spec = without_failed(spec, failed)
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
    _write_manifest(spec, paths, runs, records, {"max_everywhere": spec.n_scenarios(), "failed_feeders": failed},
                    given)
    return runs, elements, households


def _write_hosting_tables(spec: StudySpec, paths: StudyPaths, runs: pd.DataFrame, elements: pd.DataFrame,
                          households: pd.DataFrame, steps_of=None, client=None, given: StudySpec | None = None,
                          failed: list[dict] = ()) -> None:
    """The hosting outputs; with `reinforcement`, the plans (`steps_of(key)`: a run's kept worst steps; `client`:
    a callable giving the study's Dask client to plan on, or None to plan here); the fleet's tables (`given`: the
    study as its file gives it, `failed`: its feeders that failed their checks)."""
    if not (runs["status"] == "ok").any():
        raise InputError(f"study {spec.name}: no scenario finished, see {paths.manifest}")
    hc = hosting_capacity(runs, spec.max_violation_probability, band=spec.band, exact_baseline=spec.exact_baseline,
                          trafo_criterion=spec.trafo_criterion)
    write_text(hc.to_csv(index=False), paths.hosting)
    prob = violation_probability(runs, spec.exact_baseline, spec.trafo_criterion)
    write_text(prob.to_csv(index=False), paths.probability)
    steps_of = steps_of or _record_steps(spec, paths)
    needs, value = _write_reinforcement(spec, paths, runs, steps_of, client)
    fv = None
    if spec.pathway is not None:
        fv = first_violation_years(prob, spec.level_years, spec.max_violation_probability)
        for col, key in (("heat_pump_share", "heat_pump"), ("pv_share", "pv")):
            share = {y: getattr(a, key) for y, a in spec.pathway.items()}
            fv[col] = fv["first_violation_year"].map(share).astype(float)
        if value is not None and not value.empty:
            fv = fv.merge(value, on=[c for c in group_of(fv) if c in value], how="left")
        write_text(in_study_order(spec, fv).to_csv(index=False), paths.first_violation)
    write_parquet(locational(runs, elements), paths.locational)
    headroom = headroom_table(spec, runs, steps_of, client) if spec.headroom else None
    if headroom is None:
        paths.headroom.unlink(missing_ok=True)  # a former study's
    else:
        write_parquet(headroom, paths.headroom)
    write_text(customer_value(households).to_csv(index=False), paths.customer_value)
    fleet = fleet_table(given or spec, list(failed), hc, fv, needs, headroom)
    write_text(fleet.to_csv(index=False), paths.fleet)
    write_text(fleet_statistics(spec, fleet, needs).to_csv(index=False), paths.fleet_statistics)


def _record_steps(spec: StudySpec, paths: StudyPaths):
    """key -> the worst steps a run's record kept (None if none), read from the record store."""
    planned = plan(spec)
    rkeys = dict(zip((c["key"] for _, c in planned), record_keys(spec, planned)))
    store = RecordStore(paths.records)

    def steps_of(key: str):
        rec = store.read(rkeys[key]) if key in rkeys else None
        return None if rec is None else rec.worst_steps
    return steps_of


def _write_reinforcement(spec: StudySpec, paths: StudyPaths, runs: pd.DataFrame, steps_of, client
                         ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """reinforcement.csv, reinforcement_measures.csv and the reinforced feeders (`studies/plans.py`,
    `studies/flexibility.py`); returns reinforcement.csv's table and the pathway's value per group (None
    without `reinforcement`, or without a pathway). Without `reinforcement`, a former study's reinforcement
    outputs are removed."""
    shutil.rmtree(paths.reinforced, ignore_errors=True)
    if spec.reinforcement is None:
        for f in paths.reinforcement_outputs:
            f.unlink(missing_ok=True)
        return None, None
    rows = plan_rows(spec, runs, steps_of, client)
    table = reinforcement_table(spec, runs, rows)
    write_text(rows.to_csv(index=False), paths.reinforcement_measures)
    write_text(table.to_csv(index=False), paths.reinforcement)
    designs = design_samples(spec, runs, rows, table) if not table.empty else pd.DataFrame()
    write_reinforced(spec, paths, designs, runs, steps_of)
    value = pathway_value(spec, table, rows, designs) if spec.pathway is not None and not table.empty else None
    return table, value


def write_hosting(spec: StudySpec, out_root: str | Path = RESULTS) -> None:
    """hosting_capacity.csv, violation_probability.csv and locational.parquet from the study's tables."""
    paths = study_paths(spec, out_root)
    tables = read_tables(spec, out_root)
    failed = (_manifest(paths) or {}).get("failed_feeders", [])
    _write_hosting_tables(without_failed(spec, failed), paths, *tables, given=spec, failed=failed)
