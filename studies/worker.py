"""The Dask worker's task: co-simulate a batch of samples of one scenario (`studies/scenario/run.py`) and
return what the study records of each: its metrics and status, its element summaries and its customers;
write the time series it keeps; each also returns its worst steps for the reinforcement planner and the
buses' headroom. A batch that raises runs its samples one by one, and a sample that raises
is returned as failed with its error, so one bad sample never costs the others."""
import time
from pathlib import Path

from hostcap.studies.atomic import write_parquet
from hostcap.studies.records import file_sha256
from hostcap.studies.scenario.settings import Scenario


def run_samples(scenario_jsons: list[str], series_dirs: list[str | None], keeps: list[list[str]]) -> list[dict]:
    """Worker task: a batch of samples of one scenario, each writing its kept time series (`keeps`) under its
    folder. Returns per sample {"result": metrics and status, "elements": DataFrame, "households": DataFrame}.
    If the batch raises, its samples run one by one, and a sample that raises gets {"result": {"status":
    "failed", "error": ...}}."""
    import warnings

    from hostcap.studies.scenario.run import run_batch

    warnings.filterwarnings("ignore")
    scenarios = [Scenario.model_validate_json(s) for s in scenario_jsons]
    t0 = time.perf_counter()
    try:
        results = run_batch(scenarios)
    except Exception as exc:  # noqa: BLE001 - find the sample that fails; the others still count
        if len(scenarios) == 1:
            return [failed(exc)]
        return [out for s, d, k in zip(scenario_jsons, series_dirs, keeps) for out in run_samples([s], [d], [k])]
    wall = (time.perf_counter() - t0) / len(scenarios)  # a batch's wall time, shared by its samples
    return [_outputs(r, wall, d, k) for r, d, k in zip(results, series_dirs, keeps)]


def failed(exc: BaseException) -> dict:
    return {"result": {"status": "failed", "error": error_line(exc)}, "elements": None}


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
            "elements": result.element_summaries(), "households": result.customers(),
            "worst_steps": _worst_steps(result)}


def _worst_steps(result):
    """The run's worst steps (`studies/reinforce.py`), for the reinforcement planner and the buses' headroom."""
    from hostcap.studies.reinforce import steps_table

    return steps_table(result.series)


def error_line(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]
