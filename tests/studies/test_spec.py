import json
from pathlib import Path

import pytest

from hostcap.models.errors import InputError
from hostcap.studies.cli import main
from hostcap.studies.spec import json_schema, load_spec, parse_spec
from hostcap.studies.sweep import sweep

ROOT = Path(__file__).resolve().parents[2]
VALID = """
name: t
periods: [{name: w, start: "2016-01-11", days: 1}]
strategies: [uncontrolled, v2g_tou]
penetrations: [0.0, 0.5]
samples: 2
"""


def test_default_study_file_answers_the_question_the_issue_asks():
    """The planner's question: two SimBench LV feeders of different kinds along a pathway to 2040 with heat
    pumps, second cars and PV, the strategies a utility would weigh, the test reference year's coldest week and
    a summer week, adaptive samples from 20 to 60; the cluster's version, today's per-strategy question and the
    full year beside it are valid studies too."""
    from hostcap.models.strategies import STRATEGIES

    spec = load_spec(ROOT / "studies" / "default.yaml")
    assert [f.ref for f in spec.feeders] == ["simbench:1-LV-rural3--0-sw", "simbench:1-LV-semiurb5--0-sw"]
    assert spec.period_names == ["winter", "summer"] and spec.periods[0].start == "2016-01-04"
    assert spec.strategies == ["uncontrolled", "smart", "dimming_14a", "v2g_peak_shave", "v2g_optimal"]
    assert min(spec.pathway) == 2025 and max(spec.pathway) == 2040
    assert spec.penetrations[-1] > 1.0 and spec.pathway[2040].heat_pump > 0 and spec.pathway[2040].pv > 0
    assert (spec.samples.min, spec.samples.max) == (20, 60) and spec.exact_baseline
    scenarios = sweep(spec)  # every sample any round may choose: level 0 once per feeder, week and strategy
    assert len(scenarios) == 2 * 2 * 5 * (1 + 4 * 60) and len({s.key for s in scenarios}) == len(scenarios)
    large = load_spec(ROOT / "studies" / "default_large.yaml")
    assert large.period_names == ["winter", "spring", "summer", "autumn"] and sorted(large.strategies) == sorted(
        STRATEGIES)
    assert set(spec.pathway) < set(large.pathway) and all(large.pathway[y] == a for y, a in spec.pathway.items())
    today = load_spec(ROOT / "studies" / "strategies.yaml")  # how many EVs each strategy hosts, 0-100 %
    assert [f.ref for f in today.feeders] == [f.ref for f in spec.feeders] and today.pathway is None
    assert today.levels == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and len(today.strategies) == 7
    year = load_spec(ROOT / "studies" / "year.yaml")  # the full-year example: 10 % steps, 30 samples
    assert year.period_names == ["year"] and len(year.levels) == 11 and year.samples == 30
    assert [f.ref for f in year.feeders] == [f.ref for f in spec.feeders]
    assert sorted(year.strategies) == sorted(s for s in STRATEGIES if s != "dimming_14a")
    assert len(sweep(year)) == 2 * 7 * (1 + 10 * 30)


def test_year_and_seasons_come_from_the_feeders_profiles(tmp_path):
    from hostcap.studies.spec import parse_spec

    spec = parse_spec({"name": "y", "periods": ["year", "seasons"], "strategies": ["uncontrolled"],
                       "penetrations": [0.5], "samples": 1})
    periods = {p.name: (p.start, p.days) for p in spec.periods_of(spec.feeders[0])}
    # SimBench's profiles are the leap year 2016; each season's week starts on the first Monday of its middle
    # month
    assert periods == {"year": ("2016-01-01", 366), "winter": ("2016-01-04", 7), "spring": ("2016-04-04", 7),
                       "summer": ("2016-07-04", 7), "autumn": ("2016-10-03", 7)}
    assert spec.n_scenarios() == 5 * 2 * 1
    for p in spec.periods_of(spec.feeders[0])[1:]:
        assert __import__("pandas").Timestamp(p.start).weekday() == 0


def test_an_unquoted_date_is_the_same_iso_date(tmp_path):
    """YAML reads `start: 2016-01-11` as a date; it is the study's ISO date, not an error. A date-time is not."""
    (tmp_path / "s.yaml").write_text("name: s\nfeeders: [simbench:1-LV-rural3--0-sw]\nstrategies: [smart]\n"
                                     "penetrations: [0.0]\nperiods: [{name: w, start: 2016-01-11, days: 1}]\n")
    assert load_spec(tmp_path / "s.yaml").periods[0].start == "2016-01-11"
    (tmp_path / "s.yaml").write_text((tmp_path / "s.yaml").read_text().replace("2016-01-11", "2016-01-11 10:00:00"))
    with pytest.raises(InputError, match="periods.0.start: '2016-01-11T10:00:00' is not an ISO 8601 date"):
        load_spec(tmp_path / "s.yaml")


def test_exported_schema_is_in_sync():
    assert (ROOT / "studies" / "study.schema.json").read_text() == json_schema()


@pytest.mark.parametrize("change, field", [
    ("penetrations: [0.0, 2.5]", "penetrations"),
    ("heat_pump_share: 1.5", "heat_pump_share"),
    ("climate_region: 16", "climate_region"),
    ("strategies: [uncontrolled, greedy]", "strategies.1"),
    ("samples: 0", "samples"),
    ("colour: blue", "colour"),
    ("band: iec", "band"),
    ("periods: [{name: w, start: '2016-02-31', days: 1}]", "periods.0.start"),
    ("v2g_shares: [0.5, 0.5]", "v2g_shares"),
    ("pathway: {2030: {ev: 0.5}}", "penetrations"),  # beside penetrations
    ("pathway: {2030: {ev: 0.5}, 2035: {ev: 0.4}}", "pathway"),
    ("pathway: {2030: {ev: 0.5, heat_pump: 0.3}, 2035: {ev: 0.6, heat_pump: 0.2}}", "pathway"),
    ("pathway: {1990: {ev: 0.5}}", "pathway"),
    ("pathway: {2030: {ev: 0.5, pv: 0.5}, 2035: {ev: 0.6, pv: 0.4}}", "pathway"),
    ("pathway: {2030: {ev: 0.5, wind: 0.5}}", "pathway.2030.wind"),
    ("pathway: {2030: {ev: 0.5, pv: 1.5}}", "pathway.2030.pv"),
    ("pv_share: -0.1", "pv_share"),
    ("heat_pump_shares: [0.2, 1.2]", "heat_pump_shares"),
    ("trafo_criterion: hot", "trafo_criterion"),
    ("heat_pump_shares: [0.2, 0.2]", "heat_pump_shares"),
    ("heat_pump_shares: []", "heat_pump_shares"),
    ("heat_pump_shares: [0.2]\nheat_pump_share: 0.1", "heat_pump_shares"),
])
def test_invalid_fields_are_named(tmp_path, change, field):
    key = change.split(":", 1)[0]
    text = "\n".join(line for line in VALID.splitlines() if not line.startswith(key + ":")) + "\n" + change + "\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {field}:") and "\n" not in msg


def test_malformed_missing_and_non_mapping_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML at line"):
        load_spec(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="not found"):
        load_spec(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(InputError, match="mapping"):
        load_spec(tmp_path / "list.yaml")


def test_cli_refuses_invalid_study_with_one_line(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(VALID + "penetrations: [2]\n".replace("penetrations", "samples"))
    assert main(["study", str(path), "--out", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "samples" in err
    assert not (tmp_path / "res").exists()


def test_readme_study_example_is_valid(tmp_path):
    import yaml

    from hostcap.studies.feeder_sets import SIMBENCH_LV
    from hostcap.studies.spec import parse_spec

    text = (ROOT / "README.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = parse_spec(yaml.safe_load(block), "README", base_dir=tmp_path)
    assert [f.ref for f in spec.feeders[:6]] == [f"simbench:1-LV-{g}--2-sw" for g in SIMBENCH_LV]  # the set
    assert spec.feeders[6].name == "town" and spec.feeders[6].profiles == str(tmp_path / "town_loads.parquet")
    assert spec.feeders[6].ref == str(tmp_path / "town.json")
    assert spec.export_limit_kw == 0 and spec.q_control == "volt_var"


def test_a_pathway_gives_the_levels_and_their_heat_pumps(tmp_path):
    text = VALID.replace("penetrations: [0.0, 0.5]\n", "") + "pathway: {2035: {ev: 1.2, heat_pump: 0.4, pv: 0.5}, " \
        "2025: {ev: 0.1}, 2030: {ev: 0.6, heat_pump: 0.2}}\n"
    (tmp_path / "s.yaml").write_text(text)
    spec = load_spec(tmp_path / "s.yaml")
    assert list(spec.pathway) == [2025, 2030, 2035] and spec.penetrations == [0.1, 0.6, 1.2]
    assert spec.levels == [0.0, 0.1, 0.6, 1.2]
    assert [spec.year_of(x) for x in spec.levels] == [None, 2025, 2030, 2035]
    assert [spec.level_settings(x) for x in spec.levels] == [
        {}, {"heat_pump_share": 0.0, "pv_share": 0.0}, {"heat_pump_share": 0.2, "pv_share": 0.0},
        {"heat_pump_share": 0.4, "pv_share": 0.5}]
    for scenario in sweep(spec):
        assert scenario.heat_pump_share == {0.0: 0.0, 0.1: 0.0, 0.6: 0.2, 1.2: 0.4}[scenario.penetration]
        assert scenario.pv_share == (0.5 if scenario.penetration == 1.2 else 0.0)
    # the pipeline's copy of the validated spec (both fields, penetrations the pathway's EVs) reads back the same
    assert parse_spec(json.loads(spec.model_dump_json())) == spec
    for field in ("heat_pump_share", "pv_share"):
        (tmp_path / "s.yaml").write_text(text + f"{field}: 0.1\n")
        with pytest.raises(InputError, match=rf"s.yaml: {field}: with a pathway"):
            load_spec(tmp_path / "s.yaml")
    (tmp_path / "s.yaml").write_text(VALID.replace("penetrations: [0.0, 0.5]\n", ""))
    with pytest.raises(InputError, match=r"s.yaml: penetrations: give penetrations or a pathway"):
        load_spec(tmp_path / "s.yaml")
