"""The report says which power flow the runs used, and draws its duration curves from the study's runs."""
import pandas as pd
import pytest

from hostcap.models.errors import InputError
from hostcap.studies.report import duration_curves, power_flow_text
from hostcap.studies.runner import StudyPaths, run_study
from hostcap.studies.spec import parse_spec


def test_the_report_names_the_power_flow():
    def runs(flags):
        return pd.DataFrame({"feeder": [f for f, _ in flags], "unbalanced": [u for _, u in flags],
                             "status": "ok"})

    assert power_flow_text(runs([("a", False), ("b", False)])).startswith("balanced")
    assert power_flow_text(runs([("a", True), ("b", True)])).startswith("three-phase")
    mixed = power_flow_text(runs([("rural", False), ("ieee", True)]))  # phases: auto
    assert mixed.startswith("rural: balanced") and "; ieee: three-phase" in mixed


def test_duration_curves_come_from_the_studys_kept_extremes_and_a_lost_one_runs_again(tmp_path, tiny_feeder):
    spec = parse_spec({"name": "tiny", "feeders": [str(tiny_feeder)], "strategies": ["uncontrolled", "v2g_tou"],
                       "periods": [{"name": "d2", "start": "2016-01-11", "days": 1},
                                   {"name": "d1", "start": "2016-01-04", "days": 1}],
                       "penetrations": [0.5, 1.0], "samples": 2, "seed": 1, "band": "ansi_a"})
    run_study(spec, tmp_path, workers=1, progress=False)
    paths = StudyPaths(tmp_path / "tiny")
    runs = pd.read_parquet(paths.runs)
    figures = duration_curves(spec, runs, paths.root)
    caption = f"at 100% EVs, sample 0, period d2 (2016-01-11 + 1 d), {spec.feeders[0].name};"
    assert len(figures) == 1 and caption in figures[0]["caption"]
    # only the first period's sample 0 at 100 % kept them, a file per strategy
    kept = sorted(paths.timeseries.rglob("extremes.parquet"))
    runs_of = [p.parent.parent.name for p in kept]
    assert len(kept) == 2 and all("_d2_" in r and r.endswith("_p1.000_b0.500_s0") for r in runs_of), runs_of

    saved = pd.read_parquet(kept[0])
    kept[0].unlink()
    with pytest.raises(InputError, match=f"report: {kept[0]} does not exist; run `hostcap study`"):
        duration_curves(spec, runs, paths.root)
    again = run_study(spec, tmp_path, workers=1, progress=False)
    assert again["ran"] == 1 and again["failed"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(kept[0]), saved)
