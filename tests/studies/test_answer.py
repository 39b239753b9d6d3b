"""A study's answer in words (studies/answer.py), on hand-made tables with known answers: the conclusion that
opens the report, and the one set of closing lines that `hostcap study`, `hostcap hosting` and
`hostcap.study()` print; the Python API's results say what they are when printed."""
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

import hostcap
from hostcap.models.limits import BANDS
from hostcap.studies import api
from hostcap.studies.answer import answer, answer_groups, conclusion, study_lines
from hostcap.studies.cli import main
from hostcap.studies.hosting import CRITERIA, hosting_capacity, violation_probability
from hostcap.studies.runner import study_paths
from hostcap.studies.spec import load_spec

LEVELS = [0.0, 0.2, 0.4, 0.6]
PERIODS = ["winter", "summer"]


def runs_table(broken: dict, samples: int = 60, feeder: str = "f") -> pd.DataFrame:
    """Runs of one feeder in two periods: per strategy, {level: (criterion, share of samples)} broken in
    winter only; everything else is clean. Level 0 ran once (exact)."""
    metric = {"undervoltage": "undervoltage_buses", "overvoltage": "overvoltage_buses",
              "trafo_overload": "trafo_overload_hours"}
    rows = []
    for strategy, at in broken.items():
        for level in LEVELS:
            for sample in range(1 if level == 0.0 else samples):
                for period in PERIODS:
                    row = {"key": f"{strategy}|{period}|{level}|{sample}", "feeder": feeder, "period": period,
                           "strategy": strategy, "penetration": level, "v2g_share": 0.5, "sample": sample,
                           "status": "ok", **{m: 0 for m in CRITERIA.values()},
                           **{f"buses_outside_{b}": 0 for b in BANDS}, "n_ev": round(level * 100),
                           "ev_charger_kw": level * 800.0}
                    criterion, share = at.get(level, (None, 0.0))
                    if criterion and period == "winter" and sample < round(share * samples):
                        row[metric[criterion]] = 1
                        if criterion in ("undervoltage", "overvoltage"):
                            row.update({f"buses_outside_{b}": 1 for b in BANDS})
                    rows.append(row)
    return pd.DataFrame(rows)


def spec_of(strategies, samples=60):
    return SimpleNamespace(feeders=[SimpleNamespace(name="f")], strategies=strategies, v2g_shares=[0.5],
                           penetrations=LEVELS, band="ansi_a", trafo_limit_pct=100.0, line_limit_pct=100.0,
                           period_names=PERIODS, max_violation_probability=0.05, samples=samples,
                           heat_pump_axis=[0.0], trafo_criterion="loading",
                           year_of=lambda level: None)  # no pathway, no heat pumps


def test_the_conclusion_says_what_breaks_where_from_which_level_and_what_hosts_every_level():
    runs = runs_table({"uncontrolled": {0.4: ("undervoltage", 0.1), 0.6: ("undervoltage", 0.5)},
                       "smart": {0.4: ("undervoltage", 0.1), 0.6: ("undervoltage", 0.5)},
                       "v2g_tou": {0.6: ("trafo_overload", 0.5)}, "v2h": {}})
    spec = spec_of(["uncontrolled", "smart", "v2g_tou", "v2h"])
    hc = hosting_capacity(runs, 0.05, band="ansi_a", exact_baseline=True)
    said = conclusion(spec, hc, runs)
    assert said[0] == (
        "On f (50 % of the EVs bidirectional): uncontrolled and smart break the 0.95-1.05 pu voltage limit "
        "(undervoltage; ANSI C84.1-2020 Range A service voltage) from 40 % EVs in winter (hosting capacity 20 % at "
        "95 % confidence; estimate 20 %, 20 EVs); v2g_tou breaks the transformer's 100 % loading limit from 60 % "
        "EVs in winter (hosting capacity 40 % at 95 % confidence; estimate 40 %, 40 EVs); v2h hosts every level up "
        "to 60 % (60 EVs), shown at 95 % confidence.")
    assert said[1].startswith("Quote the hosting capacity at 95 % confidence (hc_confident_frac)")
    assert len(said) == 2
    # the details group the strategies of one outcome on one line
    groups = answer_groups(spec, hc)
    assert [g["feeder"] for g in groups] == ["f"] and groups[0]["lines"][0].startswith(
        "uncontrolled, smart: hosting capacity 20 % (20 EVs), 20 % at 95 % confidence; binding: undervoltage")


def test_the_conclusion_blames_the_feeder_not_the_evs_and_asks_for_samples_where_too_few():
    runs = runs_table({"uncontrolled": {lv: ("overvoltage", 1.0) for lv in LEVELS}}, samples=1)
    runs.loc[runs["penetration"] == 0.0, "overvoltage_buses"] = 1  # broken without EVs (winter)
    said = conclusion(spec_of(["uncontrolled"], 1), hosting_capacity(runs, 0.05, exact_baseline=True), runs)
    assert said[0] == ("On f (50 % of the EVs bidirectional): the feeder breaks the 0.95-1.05 pu voltage limit "
                       "(overvoltage; ANSI C84.1-2020 Range A service voltage) already without EVs, so uncontrolled "
                       "has no hosting capacity for that reason.")
    clean = runs_table({"uncontrolled": {}}, samples=10)
    said = conclusion(spec_of(["uncontrolled"], 10), hosting_capacity(clean, 0.05, exact_baseline=True), clean)
    assert "hosts every level up to 60 % (60 EVs); 95 % confident: 0 %" in said[0]
    assert said[1].endswith("Here 10 samples at a level are too few to show it safe (59 are needed): run more "
                            "samples before quoting a level.")


@pytest.fixture
def finished_study(tmp_path, tiny_feeder):
    """A study file and the outputs of its (hand-made) runs, as `hostcap study` leaves them."""
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "s", "feeders": [{"ref": tiny_feeder, "name": "f"}], "strategies": ["uncontrolled", "v2g_tou"],
        "periods": [{"name": p, "start": s, "days": 1} for p, s in zip(PERIODS, ["2016-01-11", "2016-07-04"])],
        "penetrations": LEVELS, "samples": 60, "band": "ansi_a"}))
    spec = load_spec(tmp_path / "s.yaml")
    paths = study_paths(spec, tmp_path / "out")
    paths.root.mkdir(parents=True)
    runs = runs_table({"uncontrolled": {0.6: ("overvoltage", 0.5)}, "v2g_tou": {}})
    runs.to_parquet(paths.runs)
    hosting_capacity(runs, 0.05, band="ansi_a", exact_baseline=True).to_csv(paths.hosting, index=False)
    violation_probability(runs, True).to_csv(paths.probability, index=False)
    return tmp_path / "s.yaml", spec, paths


def test_hostcap_hosting_prints_the_answer_and_the_conclusion(finished_study, monkeypatch, capsys):
    study_file, spec, paths = finished_study
    monkeypatch.setattr("hostcap.studies.runner.write_hosting", lambda spec, out: None)  # the tables are made
    assert main(["hosting", str(study_file), "--out", str(paths.root.parent)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [line.text for line in answer(spec, paths)]
    assert out[0] == ("f | uncontrolled (50% bidirectional): hosting capacity 40% (40 EVs), 40% at 95 % "
                      "confidence; binding: overvoltage")
    assert out[2].startswith("On f (50 % of the EVs bidirectional): uncontrolled breaks the 0.95-1.05 pu voltage "
                             "limit (overvoltage; ") and "from 60 % EVs in winter" in out[2]


def test_the_cli_and_the_api_end_a_study_with_the_same_lines(finished_study, monkeypatch, capsys):
    study_file, spec, paths = finished_study
    counts = {"total": 14, "skipped": 14, "ran": 0, "failed": 0, "errors": {}, "unreliable": 0,
              "max_everywhere": 14}
    monkeypatch.setattr("hostcap.studies.runner.run_study", lambda *a, **k: counts)  # the CLI's
    monkeypatch.setattr(api, "run_study", lambda *a, **k: counts)
    assert main(["study", str(study_file), "--out", str(paths.root.parent)]) == 0
    cli_out = capsys.readouterr()
    result = hostcap.study(study_file, paths.root.parent)
    api_out = capsys.readouterr()
    expected = study_lines(spec, paths, counts, elapsed_s=0.0)
    for said in (cli_out, api_out):
        lines = said.out.splitlines()
        assert lines[0].startswith("s: 14 scenarios, 14 already done, 0 run, 0 failed, ")
        assert lines[1:] == [x.text for x in expected if not x.err][1:]
        assert any(x.startswith("On f (50 % of the EVs bidirectional): ") for x in lines)
    # printed, the result says what it is, its counts and its answer
    text = repr(result)
    assert text.startswith(f"<hostcap.StudyResults s in {paths.root}: 14 scenarios, 0 failed, 14 reused\n")
    assert "  f | v2g_tou (50% bidirectional): hosting capacity 60% (60 EVs)" in text and text.endswith("\n>")
    assert result.answer == [x.text for x in answer(spec, paths)]
    assert "hc_confident_frac" in result.hosting.columns


def test_a_run_prints_what_ran_and_its_key_numbers():
    metrics = {"n_ev": 68, "v_min_pu": 0.9412, "v_max_pu": 1.0634, "trafo_max_loading_pct": 87.25,
               "peak_demand_kw": 123.44, **{m: 0 for m in CRITERIA.values()}, "overvoltage_buses": 3}
    scenario = api.Scenario(strategy="v2g_tou", penetration=0.6, days=2)
    run = api.Run(SimpleNamespace(scenario=scenario, metrics=metrics))
    assert repr(run) == (f"<hostcap.Run v2g_tou on {scenario.feeder}, 2016-01-11 + 2 d: 68 EVs (60% of households, "
                         "50% bidirectional); voltage 0.941-1.063 pu, transformer max 87.2 %, peak 123.4 kW; limits "
                         "broken (en50160): overvoltage>")


def test_dir_of_the_package_lists_its_public_api():
    assert dir(hostcap) == ["Run", "StudyResults", "__version__", "run", "study"]
    assert all(getattr(hostcap, name) is not None for name in dir(hostcap))
