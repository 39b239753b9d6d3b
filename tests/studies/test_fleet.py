"""A fleet of feeders in one study: feeder sets (SimBench's LV grids, a glob, a CSV with metadata), a set member
that fails its checks recorded and left out while the study goes on, fleet.csv and the fleet's statistics as a
recount of it gives them, and the Snakemake pipeline over a set with a broken member."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import yaml
from scipy.stats import beta

from hostcap.models.errors import InputError
from hostcap.studies.feeder_sets import SIMBENCH_LV
from hostcap.studies.hosting import clopper_pearson
from hostcap.studies.layout import StudyPaths
from hostcap.studies.pipeline import write_fleet_map, write_gis
from hostcap.studies.runner import run_study
from hostcap.studies.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
BASE = {"name": "fleet", "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}],
        "strategies": ["uncontrolled"], "penetrations": [0.5, 2.0], "samples": 1, "seed": 2, "band": "ansi_a"}


@pytest.fixture
def grids(tmp_path, tiny_net_factory):
    """A folder of feeders: two tiny JSON nets, one broken file, and a CSV of three SimBench codes."""
    d = tmp_path / "grids"
    d.mkdir()
    pp.to_json(tiny_net_factory(), str(d / "a.json"))
    (d / "b.json").write_text('{"buses": [1, 2]}')  # JSON, but no pandapower net
    codes = ["1-LV-rural1--0-sw", "1-LV-rural2--0-sw", "1-LV-semiurb4--0-sw"]
    pd.DataFrame({"name": ["r1", "r2", "s4"], "ref": [f"simbench:{c}" for c in codes],
                  "region": ["North", "North", "South"], "x": [11.4, 11.5, 9.9], "y": [53.6, 53.7, 48.8],
                  "customer_class": ["rural", "rural", "suburban"]}).to_csv(tmp_path / "fleet.csv", index=False)
    return tmp_path


def test_simbench_sets_give_the_six_lv_grids_of_their_scenario():
    spec = parse_spec({**BASE, "feeders": [{"simbench": "lv", "scenario": 2}]})
    assert [f.ref for f in spec.feeders] == [f"simbench:1-LV-{g}--2-sw" for g in SIMBENCH_LV]
    assert {f.source for f in spec.feeders} == {"simbench lv scenario 2"}
    assert parse_spec({**BASE, "feeders": [{"simbench": "lv"}]}).feeders[0].ref == "simbench:1-LV-rural1--0-sw"


def test_a_glob_and_a_csv_give_their_feeders_with_metadata(grids):
    spec = parse_spec({**BASE, "feeders": [{"glob": "grids/*.json"}, {"csv": "fleet.csv"}]}, base_dir=grids)
    assert [f.name for f in spec.feeders] == ["grids/a.json", "grids/b.json", "r1", "r2", "s4"]
    assert spec.feeders[0].ref == str(grids / "grids" / "a.json") and spec.feeders[0].source == "glob grids/*.json"
    s4 = spec.feeders[4]
    assert (s4.ref, s4.region, s4.x, s4.y, s4.customer_class) == ("simbench:1-LV-semiurb4--0-sw", "South", 9.9, 48.8,
                                                                  "suburban")


@pytest.mark.parametrize("entry, expected", [
    ({"glob": "nowhere/*.json"}, "feeders: 0: glob 'nowhere/*.json' matches no file"),
    ({"csv": "missing.csv"}, "feeders: 0: csv: file not found"),
    ({"simbench": "mv"}, "feeders: 0.simbench: Input should be 'lv'"),
    ({"simbench": "lv", "scenario": 3}, "feeders: 0.scenario: Input should be less than or equal to 2"),
    ({"glob": "*.json", "csv": "fleet.csv"}, "a feeder set is one of"),
    ({"csv": "bad_columns.csv"}, "needs columns name and ref"),
    ({"csv": "bad_x.csv"}, "line 2: x 'east' is not a number"),
])
def test_a_bad_set_is_refused_with_one_line(grids, entry, expected):
    (grids / "bad_columns.csv").write_text("name,reference\nr1,simbench:1-LV-rural1--0-sw\n")
    (grids / "bad_x.csv").write_text("name,ref,x\nr1,simbench:1-LV-rural1--0-sw,east\n")
    with pytest.raises(InputError) as err:
        parse_spec({**BASE, "feeders": [entry]}, base_dir=grids)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_set_member_that_fails_is_recorded_and_the_fleet_goes_on(grids):
    """Three SimBench codes from a CSV and a glob of two JSON files, one broken: four feeders run, one failure
    is recorded; fleet_statistics.csv is what a recount of fleet.csv gives."""
    (grids / "study.yaml").write_text(yaml.safe_dump({**BASE, "feeders": [{"csv": "fleet.csv"},
                                                                           {"glob": "grids/*.json"}]}))
    spec = load_spec(grids / "study.yaml")
    counts = run_study(spec, grids / "out", workers=2, progress=False)
    assert [f["feeder"] for f in counts["failed_feeders"]] == ["grids/b.json"]
    paths = StudyPaths(grids / "out" / "fleet")
    assert json.loads(paths.manifest.read_text())["failed_feeders"][0]["error"].startswith("feeder: ")
    fleet = pd.read_csv(paths.fleet)
    assert list(fleet["feeder"]) == ["r1", "r2", "s4", "grids/a.json", "grids/b.json"]
    assert list(fleet["status"]) == ["ok"] * 4 + ["failed"] and fleet["region"].iloc[2] == "South"
    assert set(pd.read_parquet(paths.runs)["feeder"]) == {"r1", "r2", "s4", "grids/a.json"}
    stats = pd.read_csv(paths.fleet_statistics)
    ran = fleet[fleet["status"] == "ok"]
    for r in stats.itertuples():
        hc = ran[f"hc_point_frac_{r.variant}"]
        broken = int((hc.isna() | (hc < r.penetration - 1e-9)).sum())  # the recount
        lo, hi = clopper_pearson(np.array([broken]), np.array([len(ran)]))
        assert (r.n_feeders, r.n_failed, r.n_broken) == (4, 1, broken)
        assert (r.share_broken_lo, r.share_broken_hi) == pytest.approx((lo[0], hi[0]))
        safe = int((ran[f"hc_confident_frac_{r.variant}"] >= r.penetration - 1e-9).sum())
        exact = (beta.ppf(0.025, safe, 4 - safe + 1) if safe else 0.0,
                 beta.ppf(0.975, safe + 1, 4 - safe) if safe < 4 else 1.0)  # Clopper-Pearson from the beta law
        assert r.n_shown_safe == safe and (r.share_shown_safe_lo, r.share_shown_safe_hi) == pytest.approx(exact)
    assert stats.query("penetration == 2.0")["n_broken"].item() >= 1  # two EVs a home break some feeder
    for name in ("r1", "r2", "s4", "grids/a.json"):
        write_gis(spec, grids / "out", name)
    page = write_fleet_map(spec, grids / "out").read_text()  # the CSV's substations at their coordinates
    for lat, lon in ((53.6, 11.4), (53.7, 11.5), (48.8, 9.9)):
        assert f"[{lat}, {lon}]" in page
    assert "1 schematic feeders without coordinates are listed below" in page and "<li>grids/a.json:" in page


def test_the_pipeline_checks_a_set_first_and_runs_the_members_that_pass(grids, browser):
    (grids / "study.yaml").write_text(yaml.safe_dump({**BASE, "penetrations": [1.0],
                                                      "feeders": [{"glob": "grids/*.json"}]}))
    proc = subprocess.run(["snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(grids), "--configfile",
                           str(grids / "study.yaml"), "--cores", "2"], capture_output=True, text=True, cwd=grids)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check = json.loads((grids / "resources" / "fleet" / "feeders.json").read_text())
    assert check["usable"] == ["grids_a.json"] and check["failed"][0]["feeder"] == "grids/b.json"
    results = grids / "results" / "fleet"
    assert (results / "gis" / "grids_a.json.gpkg").is_file() and not (results / "gis" / "grids_b.json.gpkg").exists()
    report = (results / "report.html").read_text()
    assert "The fleet</h2>" in report and "grids/b.json: feeder:" in report
    page = browser(results / "maps" / "fleet.html")  # a schematic feeder as a tile, linking to its map
    assert page.errors() == [], page.errors()
    assert "schematic feeders laid out as tiles" in page.dom and page.dom.count("leaflet-interactive") >= 1
    assert 'href="grids_a.json.html"' in (results / "maps" / "fleet.html").read_text()


def test_a_study_takes_the_verdicts_of_its_own_feeder_check_and_ignores_another_studys(grids):
    """`hostcap study --checked`: a check file made for this study is taken as it is (here edited to leave a good
    feeder out, which only taking it explains); one made for another study is ignored and the study checks."""
    from hostcap.studies.runner import checked_failures, spec_digest

    pp.to_json(pp.from_json(str(grids / "grids" / "a.json")), str(grids / "grids" / "c.json"))
    spec = parse_spec({**BASE, "penetrations": [1.0], "feeders": [{"glob": "grids/[ac].json"}]}, base_dir=grids)
    check = grids / "feeders.json"
    left_out = {"feeder": "grids/c.json", "ref": spec.feeders[1].ref, "source": spec.feeders[1].source,
                "error": "feeder: left out by the check"}
    check.write_text(json.dumps({"spec": spec_digest(spec), "usable": ["grids_a.json"], "failed": [left_out]}))
    counts = run_study(spec, grids / "out", workers=1, progress=False, hosting=False, checked=check)
    assert counts["failed_feeders"] == [left_out]
    assert set(pd.read_parquet(StudyPaths(grids / "out" / "fleet").runs)["feeder"]) == {"grids/a.json"}
    other = spec.model_copy(update={"seed": 3})
    counts = run_study(other, grids / "out2", workers=1, progress=False, hosting=False, checked=check)
    assert counts["failed_feeders"] == []
    (grids / "grids" / "c.json").write_text('{"edited": true}')  # the same study, a feeder file changed since
    assert checked_failures(spec, check) is None  # so it checks again
    assert set(pd.read_parquet(StudyPaths(grids / "out2" / "fleet").runs)["feeder"]) == {"grids/a.json",
                                                                                            "grids/c.json"}


def test_feeders_checked_side_by_side_give_the_verdicts_of_one_process(tmp_path, tiny_net_factory):
    """A set large enough for the process pool (`POOL_MIN_FEEDERS`), two of its members broken: two processes
    record the same failures, in the same order, as one; a broken feeder named alone still stops the study
    with its own line."""
    from hostcap.studies.runner import POOL_MIN_FEEDERS, validate_inputs

    (tmp_path / "grids").mkdir()
    for i in range(POOL_MIN_FEEDERS):
        pp.to_json(tiny_net_factory(line_km=0.05 * (i + 1)), str(tmp_path / "grids" / f"f{i}.json"))
    (tmp_path / "grids" / "f2.json").write_text('{"buses": [1, 2]}')
    (tmp_path / "grids" / "f5.json").write_text("not json")
    spec = parse_spec({**BASE, "feeders": [{"glob": "grids/*.json"}]}, base_dir=tmp_path)
    serial = validate_inputs(spec, 1)
    assert [f["feeder"] for f in serial] == ["grids/f2.json", "grids/f5.json"]
    assert validate_inputs(spec, 2) == serial
    alone = parse_spec({**BASE, "feeders": [str(tmp_path / "grids" / f"f{i}.json") for i in range(POOL_MIN_FEEDERS)]})
    with pytest.raises(InputError, match="f2.json") as side_by_side:
        validate_inputs(alone, 2)
    with pytest.raises(InputError) as one:
        validate_inputs(alone, 1)
    assert str(side_by_side.value) == str(one.value)
