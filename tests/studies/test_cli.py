import json
import subprocess
import sys
from pathlib import Path

import pandapower as pp
import pandas as pd
import pytest

from hostcap.models.errors import InputError
from hostcap.studies.cli import main
from hostcap.studies.hosting import CRITERIA


def test_run_writes_metrics_manifest_and_timeseries(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", "--strategy", "v2g_tou", "--penetration", "0.6", "--v2g-share", "0.5", "--days", "1",
               "--seed", "3", "--band", "ansi_a", "--out", str(out)])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # it ends with the answer: the criteria the run breaks, as hosting capacity counts them
    broken = [c for c, m in CRITERIA.items() if metrics[m] > 0]
    said = "broken: " + ", ".join(broken) if broken else "none broken"
    printed = capsys.readouterr().out.splitlines()
    assert f"limits (ansi_a, 100 % lines, 100 % transformer): {said}" in printed
    assert printed[1] == "dates: 2016-01-11 to 2016-01-11 (1 day)"  # the days simulated, right after the answer
    for name in ["v_min_pu", "v_max_pu", "undervoltage_bus_hours", "overvoltage_bus_hours",
                 "trafo_max_loading_pct", "trafo_overload_hours", "line_max_loading_pct", "line_overload_hours",
                 "peak_demand_kw", "energy_import_kwh", "losses_kwh", "ev_charged_kwh", "ev_discharged_kwh",
                 "ev_unmet_kwh", "nonconverged_steps"]:
        assert isinstance(metrics[name], (int, float)), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["scenario"]["strategy"] == "v2g_tou"
    assert manifest["band"]["v_min_pu"] == 0.95 and "pandapower" in manifest["versions"]
    vm = pd.read_parquet(out / "timeseries/res_bus/vm_pu.parquet")
    assert vm.shape == (96, 129) and isinstance(vm.index, pd.DatetimeIndex)
    vehicles = pd.read_parquet(out / "timeseries/ev/vehicles.parquet")
    soc = pd.read_parquet(out / "timeseries/ev/soc_kwh.parquet")
    assert list(soc.columns) == list(vehicles.index) and len(vehicles) == metrics["n_ev"] == round(0.6 * 113)
    assert vm.min().min() == pytest.approx(metrics["v_min_pu"])
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    customers = pd.read_parquet(out / "customers.parquet")
    assert len(customers) == 118 and customers["household"].sum() == 113  # one row per connection point
    assert customers["n_ev"].sum() == metrics["n_ev"]
    for name in ["res_line/loading_percent", "res_trafo/loading_percent", "bus/p_mw", "bus/q_mvar", "ev/p_kw"]:
        assert (out / "timeseries" / f"{name}.parquet").is_file()


def test_unbalanced_run_writes_three_phase_timeseries_and_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", "--strategy", "uncontrolled", "--penetration", "1.0", "--days", "1", "--phases", "unbalanced",
               "--out", str(out)])
    assert rc == 0
    said = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unbalanced"] is True and metrics["vuf_max_pct"] > 0
    assert f"phases: unbalanced (three-phase power flow): VUF max {metrics['vuf_max_pct']:.2f} %" in said
    ts = out / "timeseries"
    vm = [pd.read_parquet(ts / f"res_bus_3ph/vm_{ph}_pu.parquet") for ph in "abc"]
    assert all(v.shape == (96, 129) for v in vm) and not (ts / "res_bus/vm_pu.parquet").exists()
    assert min(v.min().min() for v in vm) == pytest.approx(metrics["v_min_pu"])
    vuf = pd.read_parquet(ts / "res_bus_3ph/unbalance_percent.parquet")
    assert vuf.max().max() == pytest.approx(metrics["vuf_max_pct"])
    total = pd.read_parquet(ts / "bus/p_mw.parquet")
    phases = sum(pd.read_parquet(ts / f"bus/p_{ph}_mw.parquet") for ph in "abc")
    pd.testing.assert_frame_equal(phases, total, atol=1e-12)
    assert (ts / "res_line_3ph/i_n_ka.parquet").is_file() and (ts / "res_trafo_3ph/loading_percent.parquet").is_file()


@pytest.mark.parametrize("args, field", [
    (["--penetration", "2.5"], "penetration"),
    (["--v2g-share", "-0.1"], "v2g_share"),
    (["--strategy", "greedy"], "strategy"),
    (["--strategy", "v2g_tuo"], "--strategy': unknown strategy 'v2g_tuo', choose one of uncontrolled, "),
    (["--band", "iec"], "band"),
    (["--start", "2016-13-45"], "start"),
    (["--start", "2019-01-01"], "start"),
    (["--days", "0"], "days"),
    (["--feeder", "nowhere.json"], "nowhere.json"),
    (["--trips", "nowhere.csv"], "nowhere.csv"),
    (["--penetration", "lots"], "penetration"),
    (["--outage", "2016-01-11T18:00,3x"], "--outage"),
    (["--outage", "2016-01-11T18:00,3h,99999"], "outages.windows.0.buses: bus 99999"),
    (["--outage", "2016-01-11T18:00,3h", "--critical-load-share", "0"], "critical_load_share"),
    (["--tariff", "nowhere.yaml"], "nowhere.yaml"),
    (["--heat-pump-share", "1.5"], "heat_pump_share"),
    (["--climate-region", "0"], "climate_region"),
    (["--pv-share", "2"], "pv_share"),
])
def test_bad_arguments_one_line_exit_2_nothing_written(tmp_path, capsys, args, field):
    out = tmp_path / "run"
    assert main(["run", "--days", "1", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_an_unknown_strategy_is_refused_at_once_with_the_likeliest_name():
    """Refused while the command line is read: one line, exit 2, before any model or simulator is imported."""
    code = ("import sys; from hostcap.studies.cli import main; rc = main(['run', '--strategy', 'v2g_tuo', '--days', "
            "'1']); print(rc, sorted(m for m in ('pandapower', 'mosaik', 'dask', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "2 []"
    assert out.stderr.count("\n") == 1 and out.stderr.rstrip().endswith("did you mean 'v2g_tou'?")
    assert out.stderr.startswith("error: Invalid value for '--strategy': unknown strategy 'v2g_tuo'")


def test_a_study_file_with_a_misspelt_strategy_names_the_likeliest(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("name: s\nperiods: [{name: d, start: '2016-01-11', days: 1}]\n"
                                     "strategies: [uncontrolled, v2g_peakshave]\npenetrations: [0.5]\n")
    assert main(["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "strategies.1:" in err and err.rstrip().endswith("did you mean 'v2g_peak_shave'?")
    assert not (tmp_path / "out").exists()


def test_run_makes_half_the_evs_bidirectional_by_default_as_the_api_does():
    from hostcap.studies import api
    from hostcap.studies.cli import cli

    default = {p.name: p.default for p in cli.commands["run"].params}
    assert default["v2g_share"] == api.Scenario.model_fields["v2g_share"].default == 0.5
    assert api.Scenario(strategy="v2g_tou").v2g_share == 0.5  # what hostcap.run(strategy=...) runs


def test_outages_on_the_command_line_parse_and_bad_ones_name_the_flag():
    from hostcap.models.outage import OutageWindow
    from hostcap.studies.cli import parse_outage

    assert parse_outage("2016-01-12T18:00,3h") == OutageWindow(start="2016-01-12T18:00", hours=3.0)
    assert parse_outage("2016-01-12T18:00,90min,3;9") == OutageWindow(start="2016-01-12T18:00", hours=1.5,
                                                                       buses=[3, 9])
    for bad, why in [("2016-01-12T18:00", "is not START,DURATION"), ("2016-01-12T18:00,3x", "could not convert"),
                     ("noon,3h", "start: 'noon' is not an ISO 8601 date and time"),
                     ("12/01/2016 18:00,3h", "start: '12/01/2016 18:00' is not an ISO 8601 date and time"),
                     ("2016-01-12T18:00+01:00,3h", "has a UTC offset"),
                     ("2016-01-12T18:00,-1h", "hours: Input should be greater than 0"),
                     ("2016-01-12T18:00,infh", "hours: Input should be a finite number"),
                     ("2016-01-12T18:00,nanh", "hours: Input should be a finite number"),
                     ("2016-01-12T18:00,3h,a;b", "invalid literal for int")]:
        with pytest.raises(InputError, match="^--outage: ") as err:
            parse_outage(bad)
        assert "\n" not in str(err.value) and why in str(err.value)


def test_console_script_exit_code():
    proc = subprocess.run(["hostcap", "run", "--penetration", "2.5"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "penetration" in proc.stderr


def weak_feeder(path, factory):
    """15 households behind 4.5 km of small cable: fine without EVs, collapsing when their EVs charge."""
    import pandapower as pp

    net = factory(line_km=1.5, line_type="NAYY 4x50 SE", loads_per_bus=5, p_mw=0.0005, q_mvar=0.0001, pv_mw=0)
    pp.to_json(net, str(path))
    return str(path)


def strict_json(text):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_run_with_too_many_nonconverged_steps_exits_1_and_writes_valid_json(tmp_path, capsys, monkeypatch,
                                                                             tiny_net_factory):
    monkeypatch.chdir(tmp_path)  # the feeder's name as given ("weak.json") seeds the fleet
    weak_feeder(tmp_path / "weak.json", tiny_net_factory)
    out = tmp_path / "run"
    rc = main(["run", "--feeder", "weak.json", "--profiles", "flat", "--penetration", "1", "--days", "1", "--seed",
               "20", "--out", str(out)])  # every home at its rating: the feeder collapses as the EVs charge
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did not converge at" in err and "not trustworthy" in err
    metrics = strict_json((out / "metrics.json").read_text())
    assert metrics["nonconverged_steps"] == 7 and len(metrics["nonconverged_times"]) == metrics["nonconverged_steps"]
    assert metrics["nonconverged_share"] == pytest.approx(metrics["nonconverged_steps"] / 96)


def test_metrics_of_a_run_that_never_converged_are_nan_not_zero():
    import numpy as np

    from hostcap.models.limits import voltage_band
    from hostcap.models.metrics import GRID_METRICS, run_metrics
    from hostcap.studies.outputs import json_text

    nan = np.full((4, 3), np.nan)
    m = run_metrics(vm_pu=nan, line_loading_pct=nan, trafo_loading_pct=nan[:, :1], p_slack_mw=np.full(4, np.nan),
                    p_bus_mw=nan, ev_p_kw=np.ones((4, 2)), ev_unmet_kwh=0.0, dt_h=0.25, band=voltage_band("ansi_a"))
    assert all(np.isnan(m[k]) for k in GRID_METRICS)
    assert m["nonconverged_steps"] == 4 and m["nonconverged_share"] == 1.0 and m["ev_charged_kwh"] == 2.0
    assert strict_json(json_text(m))["energy_import_kwh"] is None


def test_a_study_names_the_days_of_each_period(tmp_path, tiny_feeder):
    """Explicit periods as written; `seasons` from the feeder's profiles; one line when every feeder agrees."""
    from hostcap.studies.answer import study_dates
    from hostcap.studies.spec import parse_spec

    spec = parse_spec({"name": "s", "feeders": [tiny_feeder], "strategies": ["uncontrolled"], "penetrations": [1.0],
                       "periods": [{"name": "jan", "start": "2016-01-11", "days": 7}, "seasons"]})
    assert study_dates(spec) == ["dates: jan 2016-01-11 to 2016-01-17 (7 days), winter 2016-01-04 to 2016-01-10 "
                                  "(7 days), spring 2016-04-04 to 2016-04-10 (7 days), summer 2016-07-04 to "
                                  "2016-07-10 (7 days), autumn 2016-10-03 to 2016-10-09 (7 days)"]


def test_study_whose_every_scenario_fails_names_each_error_and_exits_1(tmp_path, tiny_net, capsys):
    import pandapower as pp

    pp.create_gen(tiny_net, 2, p_mw=0.001, vm_pu=1.0)  # the fast solver refuses generators at run time
    pp.to_json(tiny_net, str(tmp_path / "gen.json"))
    (tmp_path / "s.yaml").write_text("name: allfail\nfeeders: [gen.json]\nperiods: [{name: d, start: '2016-01-11', "
                                     "days: 1}]\nstrategies: [uncontrolled, smart]\npenetrations: [0.0, 1.0]\n"
                                     "samples: 1\nstep_min: 60\n")  # pandapower checks its base case: hourly
    rc = main(["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert rc == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "|" not in line]
    assert err == ["failed: 4 x InputError: solver fast: the feeder has generators or wards; set solver: pandapower"]
    runs = pd.read_parquet(tmp_path / "out" / "allfail" / "runs.parquet")
    assert len(runs) == 4 and (runs["status"] == "failed").all()


def test_run_with_a_tariff_prints_the_households_bills_and_writes_them(tmp_path, capsys):
    tariff = Path(__file__).parents[2] / "studies" / "tariffs" / "de_household_2024.yaml"
    out = tmp_path / "run"
    assert main(["run", "--days", "1", "--penetration", "0.5", "--tariff", str(tariff), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    line = next(x for x in lines if x.startswith("households (de_household_2024): bills "))
    assert "EUR per EV home" in line and "saving against uncontrolled charging" in line
    assert lines[-1].startswith("battery wear (Nmc622_Gr_DENSO50Ah_Battery): median fade ")
    c = pd.read_parquet(out / "customers.parquet")
    assert c["bill_EUR"].sum() > c["bill_no_ev_EUR"].sum() > 0
    assert c.loc[c["n_ev"] == 0, "ev_charging_cost_EUR"].abs().max() < 1e-9  # homes without an EV pay nothing for one


def test_run_with_an_outage_prints_the_backup_and_writes_the_wear(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--strategy", "v2h", "--days", "1", "--penetration", "1", "--v2g-share", "1",
                 "--outage", "2016-01-11T18:00,3h", "--out", str(out)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("outage: "))
    assert line.startswith("outage: 354.0 home-hours without supply; V2H backup served ")
    assert "kWh without V2H" in line and "trips short of energy afterwards" in line
    c = pd.read_parquet(out / "customers.parquet")
    assert (c["outage_h"] == 3.0).all() and c["outage_unserved_kwh"].sum() < c["outage_unserved_no_v2h_kwh"].sum()
    v = pd.read_parquet(out / "timeseries" / "ev" / "vehicles.parquet")
    assert len(v) == 113 and (v["fade_year_pct"] > v["fade_run_pct"]).all()
    assert {"fade_uncontrolled_year_pct", "extra_fade_year_pct", "extra_wear_cost_year_USD"} <= set(v.columns)


def test_a_thermal_run_recomputes_from_its_written_loading_and_judges_the_transformer_thermally(tmp_path, capsys):
    """A cold January evening with every home an EV and half a heat pump overloads the default transformer by
    its rating; its IEC 60076-7 hot spot, recomputed from the written loading series and the TRY's temperature,
    is the run's, and the thermal criterion does not count the overload."""
    from hostcap.feeders.heat import temperature_c
    from hostcap.models.trafo_thermal import thermal_metrics

    out = tmp_path / "run"
    assert main(["run", "--penetration", "1.5", "--heat-pump-share", "0.5", "--start", "2016-01-04", "--days", "1",
                 "--trafo-criterion", "thermal", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    loading = pd.read_parquet(out / "timeseries/res_trafo/loading_percent.parquet")
    again = thermal_metrics(loading.to_numpy(), temperature_c(loading.index, 4), 0.25)
    assert all(metrics[k] == pytest.approx(v, rel=1e-12) for k, v in again.items())
    assert metrics["trafo_overload_hours"] > 0 and metrics["trafo_thermal_limits_broken"] == 0
    assert metrics["trafo_hot_spot_max_c"] < 98  # a cold kiosk: below the rated hot spot
    printed = capsys.readouterr().out
    assert "limits (en50160, 100 % lines, transformer thermal limits): none broken" in printed
    assert "transformer (IEC 60076-7, ONAN): hot spot at most" in printed


def test_run_reinforce_plans_the_next_transformer_and_the_written_feeder_holds(tmp_path, capsys):
    """A cold January day with 1.5 EVs per home and half the homes on heat pumps overloads the default feeder's
    400 kVA transformer: the plan is the 630 kVA type (10,000 EUR, eDisGo's figure), and the written feeder,
    read back, holds every limit at each worst step with the power the run recorded at its buses."""
    out = tmp_path / "run"
    assert main(["run", "--penetration", "1.5", "--heat-pump-share", "0.5", "--start", "2016-01-04", "--days", "1",
                 "--reinforce", "--out", str(out)]) == 0
    plan = pd.read_csv(out / "reinforcement.csv")
    assert list(plan["element"]) == ["trafo 0"] and plan["cost_eur"].sum() == 10_000
    assert "400 kVA -> 1 x 630 kVA" in plan["detail"].iloc[0]
    assert "reinforcement (rural costs" in capsys.readouterr().out
    net = pp.from_json(str(out / "reinforced.json"))
    p = pd.read_parquet(out / "timeseries/bus/p_mw.parquet")
    q = pd.read_parquet(out / "timeseries/bus/q_mvar.parquet")
    loading = pd.read_parquet(out / "timeseries/res_trafo/loading_percent.parquet").max(axis=1)
    rows = net.load.index[net.load["name"].eq("step")]
    worst = loading.idxmax()
    net.load.loc[rows, "p_mw"], net.load.loc[rows, "q_mvar"] = p.loc[worst].to_numpy(), q.loc[worst].to_numpy()
    pp.runpp(net, numba=False)
    assert loading.max() > 100 and net.res_trafo["loading_percent"].max() <= 100
    assert net.res_line["loading_percent"].max() <= 100 and net.res_bus["vm_pu"].between(0.9, 1.1).all()


def test_run_reinforce_refuses_a_bad_cost_file_before_running(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("name: c\ncurrency: EUR\nlv_cable_keur_per_km: {rural: 60000, urban: 100}\n"
                   "mv_lv_transformer_keur: 10\n")
    assert main(["run", "--days", "1", "--reinforce", "--costs", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lv_cable_keur_per_km.rural" in err and not (tmp_path / "o").exists()
