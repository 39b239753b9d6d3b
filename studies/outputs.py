"""Write one run to a directory, all or nothing: metrics.json, manifest.json and timeseries/ in pandapower's
OutputWriter layout (one wide Parquet table per variable, index = timestamp, columns = element index)."""
import json
import platform
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from hostcap.cosim.world import RunResult
from hostcap.models.limits import voltage_band
from hostcap.studies.plots import run_summary

PACKAGES = ["v2g-hostcap", "pandapower", "simbench", "mosaik", "mosaik-api-v3", "numpy", "scipy", "pandas",
            "pyarrow", "networkx", "pydantic"]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def timeseries_tables(result: RunResult) -> dict[str, pd.DataFrame]:
    """Relative path (without .parquet) -> wide table."""
    s, inp = result.series, result.inputs
    net, index = inp.feeder.net, pd.DatetimeIndex(inp.index, name="timestamp")

    def wide(values, columns):
        return pd.DataFrame(values, index=index, columns=[str(c) for c in columns])

    ev_ids = inp.fleet.vehicle_id
    return {
        "res_bus/vm_pu": wide(s["vm_pu"], net.bus.index),
        "res_line/loading_percent": wide(s["line_loading_pct"], net.line.index),
        "res_trafo/loading_percent": wide(s["trafo_loading_pct"], net.trafo.index),
        "res_ext_grid/p_mw": wide(s["p_slack_mw"][:, None], ["slack"]),
        "res_ext_grid/q_mvar": wide(s["q_slack_mvar"][:, None], ["slack"]),
        "bus/p_mw": wide(s["p_bus_mw"], net.bus.index),
        "bus/q_mvar": wide(s["q_bus_mvar"], net.bus.index),
        "ev/soc_kwh": wide(s["ev_e_kwh"], ev_ids),
        "ev/p_kw": wide(s["ev_p_kw"], ev_ids),
    }


def write_run(result: RunResult, out: Path, *, wall_s: float) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        metrics = dict(result.metrics)
        bad = ~result.series["converged"]
        metrics["nonconverged_times"] = [str(t) for t in result.inputs.index[bad]]
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        band = voltage_band(result.scenario.band)
        manifest = {
            "scenario": result.scenario.model_dump(mode="json"),
            "seed": result.scenario.seed,
            "band": {"name": band.name, "v_min_pu": band.v_min_pu, "v_max_pu": band.v_max_pu,
                     "source": band.source},
            "period": {"start": str(result.inputs.index[0]), "steps": result.inputs.n_steps,
                       "dt_s": result.inputs.dt_s},
            "versions": package_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_s": round(wall_s, 3),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for name, table in timeseries_tables(result).items():
            path = tmp / "timeseries" / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_parquet(path)
        result.vehicles().to_parquet(tmp / "timeseries" / "ev" / "vehicles.parquet")
        run_summary(result, tmp / "summary.png")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(Path(out) / "timeseries" / f"{name}.parquet")
