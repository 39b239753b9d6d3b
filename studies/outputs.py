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

from hostcap.cosim.world import RunResult
from hostcap.models.errors import InputError
from hostcap.studies.atomic import check_writable, ordinary_mode
from hostcap.models.limits import voltage_band
from hostcap.studies.plots import run_summary

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
    """Relative path (without .parquet) -> wide table. An unbalanced run's bus voltages, line and
    transformer loading are pandapower's three-phase results (`res_bus_3ph/vm_a_pu` ..., loading on the
    worst phase), with the unbalance factor, the lines' neutral current and the demand per phase
    (`bus/p_a_mw` ...) beside the totals. `feeder/extremes`: per step the lowest and highest bus voltage (over
    buses and phases) and the highest transformer loading, NaN where the feeder is dark or the step diverged
    (the report's duration curves)."""
    s, inp = result.series, result.inputs
    net, index = inp.feeder.net, pd.DatetimeIndex(inp.index, name="timestamp")

    def wide(values, columns):
        return pd.DataFrame(values, index=index, columns=[str(c) for c in columns])

    ev_ids = inp.fleet.vehicle_id
    res = "_3ph" if inp.unbalanced else ""
    tables = {
        f"res_line{res}/loading_percent": wide(s["line_loading_pct"], net.line.index),
        f"res_trafo{res}/loading_percent": wide(s["trafo_loading_pct"], net.trafo.index),
        "res_ext_grid/p_mw": wide(s["p_slack_mw"][:, None], ["slack"]),
        "res_ext_grid/q_mvar": wide(s["q_slack_mvar"][:, None], ["slack"]),
        "bus/p_mw": wide(s["p_bus_mw"], net.bus.index),
        "bus/q_mvar": wide(s["q_bus_mvar"], net.bus.index),
        "ev/soc_kwh": wide(s["ev_e_kwh"], ev_ids),
        "ev/p_kw": wide(s["ev_p_kw"], ev_ids),
    }
    if "battery_p_kw" in s:  # home batteries (`models/battery.py`), columns = connection point
        cps = inp.feeder.connection_points.index
        tables["storage/p_kw"] = wide(s["battery_p_kw"], cps)
        tables["storage/e_kwh"] = wide(s["battery_e_kwh"], cps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps
        vm, trafo = result.vm_phases, s["trafo_loading_pct"]
        tables["feeder/extremes"] = pd.DataFrame({
            "vm_min_pu": np.nanmin(vm, axis=(1, 2)), "vm_max_pu": np.nanmax(vm, axis=(1, 2)),
            "trafo_loading_max_pct": np.nanmax(trafo, axis=1) if trafo.shape[1] else np.full(len(index), np.nan)},
            index=index)
    if not inp.unbalanced:
        return {"res_bus/vm_pu": wide(s["vm_pu"], net.bus.index), **tables}
    for k, ph in enumerate("abc"):
        tables[f"res_bus_3ph/vm_{ph}_pu"] = wide(s["vm_abc_pu"][:, :, k], net.bus.index)
        tables[f"bus/p_{ph}_mw"] = wide(s["p_abc_bus_mw"][:, :, k], net.bus.index)
        tables[f"bus/q_{ph}_mvar"] = wide(s["q_abc_bus_mvar"][:, :, k], net.bus.index)
    tables["res_bus_3ph/unbalance_percent"] = wide(s["vuf_pct"], net.bus.index)
    tables["res_line_3ph/i_n_ka"] = wide(s["line_i_n_ka"], net.line.index)
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
