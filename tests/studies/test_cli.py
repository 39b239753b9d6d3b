import json
import subprocess

import pandas as pd
import pytest

from hostcap.studies.cli import main


def test_run_writes_metrics_manifest_and_timeseries(tmp_path):
    out = tmp_path / "run"
    rc = main(["run", "--strategy", "v2g", "--penetration", "0.6", "--v2g-share", "0.5", "--days", "1",
               "--seed", "3", "--band", "ansi", "--out", str(out)])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ["v_min_pu", "v_max_pu", "undervoltage_bus_hours", "overvoltage_bus_hours",
                 "trafo_max_loading_pct", "trafo_overload_hours", "line_max_loading_pct", "line_overload_hours",
                 "peak_demand_kw", "energy_import_kwh", "losses_kwh", "ev_charged_kwh", "ev_discharged_kwh",
                 "ev_unmet_kwh", "nonconverged_steps"]:
        assert isinstance(metrics[name], (int, float)), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["scenario"]["strategy"] == "v2g"
    assert manifest["band"]["v_min_pu"] == 0.95 and "pandapower" in manifest["versions"]
    vm = pd.read_parquet(out / "timeseries/res_bus/vm_pu.parquet")
    assert vm.shape == (96, 129) and isinstance(vm.index, pd.DatetimeIndex)
    vehicles = pd.read_parquet(out / "timeseries/ev/vehicles.parquet")
    soc = pd.read_parquet(out / "timeseries/ev/soc_kwh.parquet")
    assert list(soc.columns) == list(vehicles.index) and len(vehicles) == metrics["n_ev"] == round(0.6 * 118)
    assert vm.min().min() == pytest.approx(metrics["v_min_pu"])
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    for name in ["res_line/loading_percent", "res_trafo/loading_percent", "bus/p_mw", "bus/q_mvar", "ev/p_kw"]:
        assert (out / "timeseries" / f"{name}.parquet").is_file()


@pytest.mark.parametrize("args, field", [
    (["--penetration", "1.5"], "penetration"),
    (["--v2g-share", "-0.1"], "v2g_share"),
    (["--strategy", "greedy"], "strategy"),
    (["--band", "iec"], "band"),
    (["--start", "2016-13-45"], "start"),
    (["--start", "2019-01-01"], "start"),
    (["--days", "0"], "days"),
    (["--feeder", "nowhere.json"], "nowhere.json"),
    (["--trips", "nowhere.csv"], "nowhere.csv"),
    (["--penetration", "lots"], "penetration"),
])
def test_bad_arguments_one_line_exit_2_nothing_written(tmp_path, capsys, args, field):
    out = tmp_path / "run"
    assert main(["run", "--days", "1", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_console_script_exit_code():
    proc = subprocess.run(["hostcap", "run", "--penetration", "2"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "penetration" in proc.stderr
