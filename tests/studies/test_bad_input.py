"""The bad-input corpus: every case is refused with one line naming the field or file, exit code 2, and
nothing written (the output folder and the working folder are unchanged)."""
import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import yaml

from hostcap.studies.cli import main

STUDY = {"name": "t", "feeders": ["tiny.json"], "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}],
         "strategies": ["uncontrolled"], "penetrations": [0.0, 1.0], "samples": 1}


@pytest.fixture
def inputs(tmp_path, tiny_net):
    """A folder of inputs: the tiny feeder, good and bad profiles, a valid study file."""
    d = tmp_path / "inputs"
    d.mkdir()
    pp.to_json(tiny_net, str(d / "tiny.json"))
    (d / "not_a_net.json").write_text('{"buses": [1, 2, 3]}')
    idx = pd.date_range("2016-01-11", periods=96, freq="15min")
    kw = pd.DataFrame({f"load.p_mw.{i}": np.full(96, 4.0) for i in tiny_net.load.index}, index=idx)  # 4 "MW"
    kw.to_csv(d / "kw.csv")
    two_day = pd.DataFrame({"load.p_mw.0": [0.004, 0.004]}, index=pd.date_range("2016-01-01", periods=2, freq="2D"))
    two_day.to_csv(d / "two_day.csv")
    us = pd.DataFrame({"load.p_mw.0": np.full(96, 0.004)}, index=idx.strftime("%m/%d/%Y %H:%M"))
    us.to_csv(d / "us_dates.csv")  # 11 January as an American writes it
    pd.DataFrame({"load.p_mw.0": np.full(96, 0.004)}, index=idx.tz_localize("Europe/Berlin")).to_csv(d / "tz.csv")
    pd.DataFrame({"vehicle": [0], "departure": ["11.01.2016 07:00"], "arrival": ["11.01.2016 17:00"],
                  "energy_kwh": [10.0]}).to_csv(d / "de_trips.csv", index=False)
    for name, change in {"no_vehicle_trips": {"vehicle": ["0"]}, "huge_trips": {"energy_kwh": [1e9]},
                         "tz_trips": {"departure": ["2016-01-11T07:00+01:00"], "arrival": ["2016-01-11T17:00+01:00"]}
                         }.items():
        pd.DataFrame({"vehicle": ["ev1"], "departure": ["2016-01-11 07:00"], "arrival": ["2016-01-11 17:00"],
                      "energy_kwh": [10.0], **change}).to_csv(d / f"{name}.csv", index=False)
    huge = copy.deepcopy(tiny_net)
    huge.load.loc[huge.load.index[0], "p_mw"] = 1e300
    pp.to_json(huge, str(d / "huge_load.json"))
    (d / "study.yaml").write_text(yaml.safe_dump(STUDY))
    wrong_phase = copy.deepcopy(tiny_net)
    wrong_phase.load["phase"] = ["a", "d", "abc"]
    pp.to_json(wrong_phase, str(d / "wrong_phase.json"))
    star = copy.deepcopy(tiny_net)
    star.trafo["vector_group"] = "Yy"
    pp.to_json(star, str(d / "star.json"))
    for name, kw in {"storage_mv": dict(bus=0, max_e_mwh=0.01), "storage_empty": dict(bus=3, max_e_mwh=0.0),
                     "storage_eta": dict(bus=3, max_e_mwh=0.01, efficiency_percent=250.0)}.items():
        net = copy.deepcopy(tiny_net)
        pp.create_storage(net, p_mw=-0.005, **kw)
        pp.to_json(net, str(d / f"{name}.json"))
    (d / "eur_costs.yaml").write_text(yaml.safe_dump({  # a transformer at 10,000 "kEUR": EUR, a wrong unit
        "name": "eur", "currency": "EUR", "lv_cable_keur_per_km": {"rural": 60, "urban": 100},
        "mv_lv_transformer_keur": 10000}))
    (d / "gap_tariff.yaml").write_text(yaml.safe_dump({
        "name": "gap", "source": "test", "currency": "EUR", "export": {"rule": "none"},
        "bands": [{"name": "day", "price_per_kwh": 0.3, "weekday": [[0, 12]], "weekend": [[0, 24]]}]}))
    for name, (column, value) in {"nan_line": ("r_ohm_per_km", np.nan), "negative_line": ("length_km", -0.05),
                                  "zero_line": ("x_ohm_per_km", 0.0), "nan_load": ("p_mw", np.nan)}.items():
        net = copy.deepcopy(tiny_net)
        table = net.load if column == "p_mw" else net.line
        table.loc[1, column] = value
        if name == "zero_line":
            table.loc[1, "r_ohm_per_km"] = 0.0
        pp.to_json(net, str(d / f"{name}.json"))
    for name, (table, column, value) in {"zero_trafo": ("trafo", "sn_mva", 0.0), "nan_bus": ("bus", "vn_kv", np.nan),
                                         "nan_vk": ("trafo", "vk_percent", np.nan)}.items():
        net = copy.deepcopy(tiny_net)
        net[table].loc[net[table].index[0], column] = value
        pp.to_json(net, str(d / f"{name}.json"))
    for name, price in {"inf_band": float("inf"), "mwh_band": 301.5}.items():
        (d / f"{name}.yaml").write_text(yaml.safe_dump({**TARIFF, "bands": [
            {"name": "all", "price_per_kwh": price, "weekday": [[0, 24]], "weekend": [[0, 24]]}]}))
    (d / "binary.yaml").write_bytes(bytes(range(256)))
    hours = pd.date_range("2016-01-04", periods=21 * 24, freq="h")
    for name, stamps, price in [("tz_series", hours.tz_localize("Europe/Berlin"), 0.3),
                                ("inf_series", hours, np.where(np.arange(len(hours)) == 200, np.inf, 0.3)),
                                ("mwh_series", hours, 85.3), ("short_series", hours[:48], 0.3)]:
        pd.DataFrame({"timestamp": stamps, "price_per_kwh": price}).to_csv(d / f"{name}.csv", index=False)
        (d / f"{name}.yaml").write_text(yaml.safe_dump({**TARIFF, "price_series": f"{name}.csv"}))
    (d / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    return d


TARIFF = {"name": "t", "source": "test", "currency": "EUR", "export": {"rule": "none"}}


def study_file(inputs: Path, text: str | None = None, **change) -> str:
    path = inputs / "bad.yaml"
    path.write_text(text if text is not None else yaml.safe_dump({**STUDY, **change}))
    return str(path)


def files(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


RUN = ["run", "--days", "1"]
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(20))
# 81 aliases, within the limit on aliases, that expand to 9 ** 10 (3.5 billion) nodes
WIDE_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))

CASES = {
    # hostcap run
    "pandapower:from_json": (RUN + ["--feeder", "pandapower:from_json"], "network builder"),
    "pandapower:Point": (RUN + ["--feeder", "pandapower:Point"], "network builder"),
    "builder needing arguments": (RUN + ["--feeder", "pandapower:create_dickert_lv_feeders"], "needs arguments"),
    "JSON that is not a net": (RUN + ["--feeder", "{in}/not_a_net.json"], "not a pandapower net"),
    "profiles at a 2-day step": (RUN + ["--feeder", "{in}/tiny.json", "--profiles", "{in}/two_day.csv"],
                                 "does not divide a day"),
    "profiles in kW": (RUN + ["--feeder", "{in}/tiny.json", "--profiles", "{in}/kw.csv"], "look like kW"),
    "out is a file": (RUN + ["--out", "{in}/tiny.json"], "is a file"),
    "out is read-only": (RUN + ["--out", "/proc/hostcap-out"], "cannot write to /proc/hostcap-out"),
    "out is somebody's folder": (RUN + ["--out", "{in}"], "other files in it"),
    "run: step that fits no profile": (RUN + ["--step-min", "7"], "step_min"),
    "run: tariff with a gap": (RUN + ["--tariff", "{in}/gap_tariff.yaml"], "weekday 12:00 is in no band"),
    "run: storage on a bus without a customer": (RUN + ["--feeder", "{in}/storage_mv.json"], "has no customer"),
    "run: storage of no energy": (RUN + ["--feeder", "{in}/storage_empty.json"], "max_e_mwh > min_e_mwh"),
    "run: storage efficiency of 250 %": (RUN + ["--feeder", "{in}/storage_eta.json"], "efficiency_percent"),
    "run: plug-in probability 1.5": (RUN + ["--plug-in-probability", "1.5"], "plug_in_probability"),
    "run: plug-in probability 0": (RUN + ["--plug-in-probability", "0"], "plug_in_probability"),
    "run: tariff file missing": (RUN + ["--tariff", "{in}/nowhere.yaml"], "nowhere.yaml"),
    "run: an MV feeder": (RUN + ["--feeder", "pandapower:mv_oberrhein"],
                          "feeder pandapower:mv_oberrhein: no residential customer on a bus below 1 kV"),
    "run: unknown voltage criterion": (RUN + ["--band", "ansi"], "'ansi' is not one of"),
    "run: MV voltage of 1.5 pu": (RUN + ["--slack-vm-pu", "1.5"], "slack_vm_pu"),
    "run: unknown phases": (RUN + ["--phases", "two"], "'two' is not one of"),
    "run: a load on phase d": (RUN + ["--feeder", "{in}/wrong_phase.json"], "load 1: phase 'd' is not one of"),
    "run: unbalanced behind an unearthed transformer": (RUN + ["--feeder", "{in}/star.json", "--phases", "unbalanced"],
                                                        "no earthed LV star point"),
    "run: tariff band price .inf": (RUN + ["--tariff", "{in}/inf_band.yaml"],
                                    "bands.0.price_per_kwh: Input should be a finite number"),
    "run: tariff band price per MWh": (RUN + ["--tariff", "{in}/mwh_band.yaml"],
                                       "bands.0.price_per_kwh: 301.5 EUR per kWh is above 10: it looks like a "
                                       "price per MWh"),
    "run: tariff that is a binary file": (RUN + ["--tariff", "{in}/binary.yaml"], "binary.yaml: not a text file"),
    "run: price series with a UTC offset": (RUN + ["--tariff", "{in}/tz_series.yaml"],
                                            "tz_series.csv: time stamps with a UTC offset"),
    "run: price series with an infinite price": (RUN + ["--tariff", "{in}/inf_series.yaml"],
                                                 "inf_series.csv: prices must be finite numbers"),
    "run: price series in EUR/MWh": (RUN + ["--tariff", "{in}/mwh_series.yaml"],
                                     "mwh_series.csv: at 2016-01-04 00:00:00: 85.3 EUR per kWh is above 10: it "
                                     "looks like a price per MWh"),
    "run: outage of infinite hours": (RUN + ["--outage", "2016-01-11T18:00,infh"],
                                      "hours: Input should be a finite number"),
    "run: outage before the run": (RUN + ["--outage", "2016-01-10T18:00,3h"],
                                   "outages.windows.0: 2016-01-10T18:00 + 3 h lies outside the simulated period "
                                   "(2016-01-11 00:00 to 2016-01-12 00:00)"),
    "run: outage after the run": (RUN + ["--outage", "2016-01-12T00:00,3h"], "lies outside the simulated period"),
    "run: critical load share 5 without an outage": (RUN + ["--critical-load-share", "5"],
                                                     "critical_load_share: Input should be less than or equal to 1"),
    "run: v2h share -1 without an outage": (RUN + ["--v2h-share", "-1"],
                                            "v2h_share: Input should be greater than or equal to 0"),
    "run: line of NaN impedance": (RUN + ["--feeder", "{in}/nan_line.json"],
                                   "line 1: r_ohm_per_km is nan; it must be finite and at least 0"),
    "run: line of zero impedance": (RUN + ["--feeder", "{in}/zero_line.json"],
                                    "line 1: r_ohm_per_km and x_ohm_per_km are both 0"),
    "run: negative line length": (RUN + ["--feeder", "{in}/negative_line.json"],
                                  "line 1: length_km is -0.05; it must be finite and above 0"),
    "run: load of 1e300 MW": (RUN + ["--feeder", "{in}/huge_load.json"],
                              "load 0: p_mw is 1e+300; it must be a finite number of at most 1000 MW"),
    "run: trips of a vehicle the feeder has not": (RUN + ["--feeder", "{in}/tiny.json", "--trips",
                                                          "{in}/no_vehicle_trips.csv", "--penetration", "1"],
                                                   "trip table: vehicle '0' is no EV of this feeder"),
    "run: trip longer than a battery": (RUN + ["--feeder", "{in}/tiny.json", "--trips", "{in}/huge_trips.csv",
                                               "--penetration", "1"], "trip table: a trip of 1e+09 kWh by ev1"),
    "run: trips with a UTC offset": (RUN + ["--feeder", "{in}/tiny.json", "--trips", "{in}/tz_trips.csv"],
                                     "trip table, departure: time stamps with a UTC offset"),
    "run: peak target NaN": (RUN + ["--strategy", "v2g_peak_shave", "--peak-target-kw", "nan"],
                             "peak_target_kw: Input should be a finite number"),
    "run: peak target negative": (RUN + ["--strategy", "v2g_peak_shave", "--peak-target-kw=-5"],
                                  "peak_target_kw: Input should be greater than or equal to 0"),
    "study: feeder name of 5000 characters": (["study", "@long name"], "a feeder name is at most 150 bytes"),
    "study: feeder names of one file name": (["study", "@same file"],
                                             "feeder names 'a/b' and 'a_b' give the same file"),
    "run: transformer of 0 MVA": (RUN + ["--feeder", "{in}/zero_trafo.json"],
                                  "trafo 0: sn_mva is 0; it must be finite and above 0"),
    "run: transformer of NaN short-circuit voltage": (RUN + ["--feeder", "{in}/nan_vk.json"],
                                                      "trafo 0: vk_percent is nan"),
    "run: bus of NaN voltage": (RUN + ["--feeder", "{in}/nan_bus.json"], "bus 0: vn_kv is nan"),
    "run: NaN load": (RUN + ["--feeder", "{in}/nan_load.json"], "load 1: p_mw is nan; it must be a finite number"),
    "run: start 11/01/2016": (RUN + ["--start", "11/01/2016"], "start: '11/01/2016' is not an ISO 8601 date"),
    "run: profiles stamped 01/11/2016": (RUN + ["--feeder", "{in}/tiny.json", "--profiles", "{in}/us_dates.csv"],
                                         "time stamps must be ISO 8601 (YYYY-MM-DD HH:MM), e.g. not '01/11/2016"),
    "run: profiles with a UTC offset": (RUN + ["--feeder", "{in}/tiny.json", "--profiles", "{in}/tz.csv"],
                                        "tz.csv: time stamps with a UTC offset"),
    "run: trips stamped 11.01.2016": (RUN + ["--feeder", "{in}/tiny.json", "--trips", "{in}/de_trips.csv"],
                                      "trip table, departure: time stamps must be ISO 8601 (YYYY-MM-DD HH:MM), "
                                      "e.g. not '11.01.2016"),
    # hostcap study: the study file
    "study: slurm partition with a newline": (["study", "@slurm partition"], "dask.slurm.partition"),
    "study: slurm account with a quote": (["study", "@slurm account"], "dask.slurm.account"),
    "study named ..": (["study", "@name=.."], "name"),
    "study named a/b": (["study", "@name=a/b"], "name"),
    "study named .hidden": (["study", "@name=.hidden"], "name"),
    "same period name twice": (["study", "@periods"], "period name 'd1' is listed twice"),
    "same strategy twice": (["study", "@strategies"], "'uncontrolled' is listed twice"),
    "same feeder twice": (["study", "@feeders"], "feeder name 'tiny.json' is listed twice"),
    "repeated YAML key": (["study", "@repeated"], "key 'samples' appears twice"),
    "alias bomb": (["study", "@bomb"], "more than 100 aliases"),
    "alias bomb of few aliases": (["study", "@wide_bomb"], "its aliases expand to more than 100,000 nodes"),
    "start 04.07.2016": (["study", "@dotted_date"], "periods.0.start: '04.07.2016' is not an ISO 8601 date"),
    "a billion samples": (["study", "@samples"], "samples"),
    "phases: three": (["study", "@phases"], "phases: Input should be 'auto', 'balanced' or 'unbalanced'"),
    "adaptive max below min": (["study", "@samples_range"], "samples: max (10) is below min (20)"),
    "unknown whole period": (["study", "@period_kind"], "periods.0: Input should be 'year' or 'seasons'"),
    "seasons named twice": (["study", "@seasons_twice"], "period name 'winter' is listed twice"),
    "study of an MV feeder": (["study", "@mv_feeder"], "no residential customer on a bus below 1 kV"),
    "v2g_optimal setpoints off the step": (["study", "@setpoint"], "optimal_setpoint_min: 20 min"),
    "study tariff with a gap": (["study", "@tariff_gap"], "weekday 12:00 is in no band"),
    "study tariff missing": (["study", "@tariff_missing"], "nowhere.yaml"),
    "study tariff band price per MWh": (["study", "@tariff_mwh"], "it looks like a price per MWh"),
    "study price series with a UTC offset": (["study", "@tz_series"], "tz_series.csv: time stamps with a UTC offset"),
    "study price series that is no price series": (["study", "@passwd_series"],
                                                   "tariff.price_series: {in}/passwd: needs columns timestamp"),
    "study price series short of the period": (["study", "@short_series"],
                                               "short_series.csv covers 2016-01-04 00:00:00 to 2016-01-05 23:00:00, "
                                               "not 2016-01-11 00:00:00"),
    "study outage on an unknown bus": (["study", "@outage_bus"],
                                       "outages.windows.0.buses: bus 99 is not in the feeder"),
    "study outage outside every period": (["study", "@outage_outside"],
                                          "outages.windows.0: 2016-03-01T18:00 + 3 h lies outside the simulated "
                                          "periods (2016-01-11 00:00 to 2016-01-12 00:00, 2016-07-04 00:00"),
    "study outage of infinite hours": (["study", "@outage_inf"], "outages.windows.0.hours: Input should be a finite"),
    "study line of NaN impedance": (["study", "@nan_line"], "line 1: r_ohm_per_km is nan"),
    "study cost file missing": (["study", "@costs_missing"], "reinforcement.costs: cost file not found"),
    "study cost file in EUR": (["study", "@costs_eur"], "reinforcement.costs: {in}/eur_costs.yaml: "
                                                        "mv_lv_transformer_keur: 10000 is in kEUR? it looks like EUR"),
    "study cost density unknown": (["study", "@costs_density"], "reinforcement.density: Input should be 'auto'"),
    "study discount rate in percent": (["study", "@discount_pct"],
                                       "reinforcement.discount_rate: Input should be less than or equal to 0.3"),
    "study reinforcement yes": (["study", "@reinforce_yes"], "reinforcement: Input should be a valid dictionary"),
    "study NaN load": (["study", "@nan_load"], "load 1: p_mw is nan; it must be a finite number"),
    "feeder file missing": (["study", "@missing_feeder"], "nowhere.json"),
    "per-feeder profiles in kW": (["study", "@kw_profiles"], "look like kW"),
    "study out is a file": (["study", "{in}/study.yaml", "--out", "{in}/tiny.json"], "is a file"),
    "study out is read-only": (["study", "{in}/study.yaml", "--out", "/proc/hostcap-out"], "cannot write"),
    # hostcap study: the command line
    "workers 0": (["study", "{in}/study.yaml", "--workers", "0"], "workers"),
    "workers -1": (["study", "{in}/study.yaml", "--workers", "-1"], "workers"),
    "missing scheduler file": (["study", "{in}/study.yaml", "--scheduler-file", "{in}/missing.json"],
                               "missing.json"),
    "missing scheduler file in the study file": (["study", "@dask_file"], "scheduler-file: file not found"),
    # pipeline steps before the study
    "hosting before the study": (["hosting", "{in}/study.yaml"], "run `hostcap study`"),
    "gis before the study": (["gis", "{in}/study.yaml", "--feeder", "tiny.json"], "run `hostcap hosting`"),
    "map before the study": (["map", "{in}/study.yaml", "--feeder", "tiny.json", "--variant", "uncontrolled",
                              "--kind", "voltage"], "run `hostcap gis`"),
    "report before the study": (["report", "{in}/study.yaml"], "run `hostcap study`"),
    "gis of an unknown feeder": (["gis", "{in}/study.yaml", "--feeder", "nowhere"], "nowhere"),
}
STUDY_TEXTS = {
    "long name": dict(feeders=[{"ref": "tiny.json", "name": "x" * 5000}]),
    "same file": dict(feeders=[{"ref": "tiny.json", "name": "a/b"}, {"ref": "kerber.json", "name": "a_b"}]),
    "slurm partition": dict(dask={"slurm": {"partition": "debug\nsrun rm -rf ~"}}),  # into the job script
    "slurm account": dict(dask={"slurm": {"account": "x'; touch PWNED; '"}}),
    "name=..": dict(name=".."), "name=a/b": dict(name="a/b"), "name=.hidden": dict(name=".hidden"),
    "periods": dict(periods=[{"name": "d1", "start": "2016-01-11", "days": 1},
                             {"name": "d1", "start": "2016-07-04", "days": 1}]),
    "strategies": dict(strategies=["uncontrolled", "smart", "uncontrolled"]),
    "feeders": dict(feeders=["tiny.json", "tiny.json"]),
    "samples": dict(samples=1_000_000_000),
    "phases": dict(phases="three"),
    "samples_range": dict(samples={"min": 20, "max": 10}),
    "period_kind": dict(periods=["years"]),
    "seasons_twice": dict(periods=["seasons", {"name": "winter", "start": "2016-01-11", "days": 1}]),
    "mv_feeder": dict(feeders=["pandapower:mv_oberrhein"]),
    "setpoint": dict(optimal_setpoint_min=20),
    "tariff_gap": dict(tariff="gap_tariff.yaml"),
    "tariff_missing": dict(tariff="nowhere.yaml"),
    "missing_feeder": dict(feeders=["nowhere.json"]),
    "kw_profiles": dict(feeders=[{"ref": "tiny.json", "profiles": "kw.csv"}]),
    "dask_file": dict(dask={"scheduler_file": "missing.json"}),
    "repeated": yaml.safe_dump(STUDY) + "samples: 3\n",
    "bomb": ALIAS_BOMB,
    "wide_bomb": WIDE_BOMB,
    "dotted_date": dict(periods=[{"name": "d1", "start": "04.07.2016", "days": 1}]),
    "tariff_mwh": dict(tariff="mwh_band.yaml"),
    "tz_series": dict(tariff={**TARIFF, "price_series": "tz_series.csv"}),
    "passwd_series": dict(tariff={**TARIFF, "price_series": "passwd"}),
    "short_series": dict(tariff={**TARIFF, "price_series": "short_series.csv"}),
    "outage_bus": dict(outages={"windows": [{"start": "2016-01-11T18:00", "hours": 3, "buses": [99]}]}),
    "outage_outside": dict(periods=[{"name": "d1", "start": "2016-01-11", "days": 1},
                                    {"name": "d2", "start": "2016-07-04", "days": 1}],
                           outages={"windows": [{"start": "2016-03-01T18:00", "hours": 3}]}),
    "outage_inf": dict(outages={"windows": [{"start": "2016-01-11T18:00", "hours": float("inf")}]}),
    "nan_line": dict(feeders=["nan_line.json"]),
    "costs_missing": dict(reinforcement={"costs": "nowhere_costs.yaml"}),
    "costs_eur": dict(reinforcement={"costs": "eur_costs.yaml"}),
    "costs_density": dict(reinforcement={"density": "suburban"}),
    "discount_pct": dict(reinforcement={"discount_rate": 5}),
    "reinforce_yes": dict(reinforcement="yes"),
    "nan_load": dict(feeders=["nan_load.json"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_one_line_exit_2_nothing_written(case, inputs, tmp_path, capsys, monkeypatch):
    args, expected = CASES[case]
    args = [a.replace("{in}", str(inputs)) for a in args]
    if args[0] == "study" and args[1].startswith("@"):
        text = STUDY_TEXTS[args[1][1:]]
        args[1] = study_file(inputs, text) if isinstance(text, str) else study_file(inputs, **text)
    out = tmp_path / "out"
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(out)]
    if args[0] != "run" and "--out" not in args:
        args += ["--out", str(out)]
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = files(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected.replace("{in}", str(inputs)) in err, err
    assert files(tmp_path) == before and not out.exists()


def test_unreachable_scheduler_fails_within_ten_seconds(inputs, tmp_path, capsys):
    t0 = time.monotonic()
    rc = main(["study", str(inputs / "study.yaml"), "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "o")])
    assert rc == 2 and time.monotonic() - t0 < 20
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach tcp://127.0.0.1:9 within 10 s" in err
    assert not (tmp_path / "o").exists()  # nothing written, not even the --out folder


def test_run_out_rules_dot_previous_output_and_group_readable(inputs, tmp_path):
    """--out . in an empty folder works; a previous run's folder is replaced; a user's folder is kept."""
    empty = tmp_path / "here"
    empty.mkdir()
    cmd = [sys.executable, "-m", "hostcap.studies.cli", "run", "--feeder", str(inputs / "tiny.json"), "--days", "1"]
    first = subprocess.run([*cmd, "--out", "."], cwd=empty, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert (empty / "metrics.json").is_file() and (empty / ".hostcap-run").is_file()
    assert not [p for p in empty.iterdir() if p.name.startswith(".hostcap-tmp")]
    again = subprocess.run([*cmd, "--out", ".", "--seed", "5"], cwd=empty, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert '"seed": 5' in (empty / "manifest.json").read_text()
    assert (empty / "timeseries").stat().st_mode & 0o040 and (empty / "metrics.json").stat().st_mode & 0o040
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    refused = subprocess.run([*cmd, "--out", str(mine)], capture_output=True, text=True)
    assert refused.returncode == 2 and (mine / "thesis.tex").read_text() == "keep me"
    assert sorted(os.listdir(mine)) == ["thesis.tex"]
