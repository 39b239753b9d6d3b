"""Write one run to a directory, all or nothing: metrics.json, manifest.json, customers.parquet (one row per
connection point, `RunResult.customers`) and timeseries/ in pandapower's
OutputWriter layout (one wide Parquet table per variable, index = timestamp, columns = element index)."""
import json
import math
import platform
import shutil
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from hostcap.models.errors import InputError
from hostcap.models.limits import voltage_band
from hostcap.models.series import EXTREMES, SERIES
from hostcap.studies.atomic import check_writable, ordinary_mode
from hostcap.studies.plots import run_summary
from hostcap.studies.scenario.result import RunResult

MARKER = ".hostcap-run"
PACKAGES = ["v2g-hostcap", "pandapower", "simbench", "mosaik", "mosaik-api-v3", "numpy", "scipy", "pandas",
            "pyarrow", "networkx", "pydantic"]


def json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return value


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def timeseries_tables(result: RunResult) -> dict[str, pd.DataFrame]:
    """Relative path (without .parquet) -> wide table, one per recorded series that has an OutputWriter
    table (`models/series.py`), columns the elements of its dimension. An unbalanced run's bus voltages, line
    and transformer loading are pandapower's three-phase results (`res_bus_3ph/vm_a_pu` ..., loading on the
    worst phase), with the unbalance factor, the lines' neutral current and the demand per phase
    (`bus/p_a_mw` ...) beside the totals. `feeder/extremes`: per step the lowest and highest bus voltage (over
    buses and phases) and the highest transformer loading, NaN where the feeder is dark or the step diverged
    (the report's duration curves)."""
    s, inp = result.series, result.inputs
    net, index = inp.feeder.net, pd.DatetimeIndex(inp.index, name="timestamp")
    columns = {"ev": inp.fleet.vehicle_id, "cp": inp.feeder.connection_points.index, "bus": net.bus.index,
               "line": net.line.index, "trafo": net.trafo.index}

    def wide(values, dim):
        labels = columns[dim] if dim else ["slack"]
        return pd.DataFrame(values.reshape(len(index), -1), index=index, columns=[str(c) for c in labels])

    tables = {}
    for series in SERIES:
        if series.name not in s or series.table is None:
            continue
        values, dims = s[series.name], series.dims
        names = series.tables(inp.unbalanced)
        if "phase" in dims:
            for k, name in enumerate(names):
                tables[name] = wide(values[..., k], dims[0])
        else:
            tables[names[0]] = wide(values, dims[0] if dims else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps
        vm, trafo = result.vm_phases, s["trafo_loading_pct"]
        tables[EXTREMES] = pd.DataFrame({
            "vm_min_pu": np.nanmin(vm, axis=(1, 2)), "vm_max_pu": np.nanmax(vm, axis=(1, 2)),
            "trafo_loading_max_pct": np.nanmax(trafo, axis=1) if trafo.shape[1] else np.full(len(index), np.nan)},
            index=index)
    return tables


def check_out(out: Path) -> None:
    """Refuse, before any work, an --out that is a file, a non-empty folder that is not a previous run's
    output (it has no MARKER file), or not writable. Nothing is created."""
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InputError(f"out: {out} is a folder with other files in it (not a hostcap run output); "
                         "choose a new or empty folder")
    check_writable(out)  # also refuses a file in the way


def write_run(result: RunResult, out: Path, *, wall_s: float) -> None:
    """Write the run into `out`, all or nothing: everything goes to a hidden folder inside `out` first, then
    each entry is renamed into place. A previous run's files are replaced; nobody else's are touched."""
    out = Path(out)
    check_out(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".hostcap-tmp-", dir=out))
    try:
        _write_run_files(result, tmp, wall_s)
        for entry in sorted(tmp.iterdir()):
            target = out / entry.name
            if target.is_dir():
                target.rename(tmp / f".old-{entry.name}")
            entry.replace(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    ordinary_mode(out)


def _write_run_files(result: RunResult, tmp: Path, wall_s: float) -> None:
    metrics = dict(result.metrics)
    bad = ~result.series["converged"]
    metrics["nonconverged_times"] = [str(t) for t in result.inputs.index[bad]]
    (tmp / "metrics.json").write_text(json_text(metrics))
    band = voltage_band(result.scenario.band)
    manifest = {
        "scenario": result.scenario.model_dump(mode="json"),
        "seed": result.scenario.seed,
        "band": {"name": band.name, "v_min_pu": band.v_min_pu, "v_max_pu": band.v_max_pu,
                 "source": band.source},
        "period": {"start": str(result.inputs.index[0]), "steps": result.inputs.n_steps,
                   "dt_s": result.inputs.dt_s},
        "profiles": result.inputs.feeder.profiles.source,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(wall_s, 3),
    }
    (tmp / "manifest.json").write_text(json_text(manifest))
    for name, table in timeseries_tables(result).items():
        path = tmp / "timeseries" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(path)
    result.vehicles().to_parquet(tmp / "timeseries" / "ev" / "vehicles.parquet")
    result.sessions().to_parquet(tmp / "timeseries" / "ev" / "sessions.parquet")
    result.customers().to_parquet(tmp / "customers.parquet")
    run_summary(result, tmp / "summary.png")
    (tmp / MARKER).write_text("written by hostcap run; this folder may be overwritten by the next run\n")
    for path in tmp.rglob("*"):
        ordinary_mode(path)


def json_text(data) -> str:
    """JSON with NaN and infinities as null (valid JSON, unlike Python's default)."""
    return json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"


def read_table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(Path(out) / "timeseries" / f"{name}.parquet")
