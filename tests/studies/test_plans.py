"""A study that reinforces (`reinforcement: true`), on a real SimBench feeder over a real Dask cluster: the plans
of every sample that breaks a limit, per period and over both, the reinforced feeders checked in a fresh
pandapower power flow on the steps they were planned for, smart charging never dearer than uncontrolled on
the same sample, the same plans without Dask, and the GeoPackage layer, report section and clean-up."""
import geopandas as gpd
import numpy as np
import pandapower as pp
import pandas as pd
import pytest

import hostcap
from hostcap.feeders import load_feeder
from hostcap.feeders.geodata import topology_layers
from hostcap.studies.gis import reinforcement_layer, write_gpkg
from hostcap.studies.layout import StudyPaths
from hostcap.studies.pipeline import write_gis
from hostcap.studies.runner import write_hosting
from hostcap.studies.spec import parse_spec

TRAFO_LIMIT = 90.0
STUDY = {"name": "needs", "periods": [{"name": "d1", "start": "2016-01-04", "days": 1},
                                      {"name": "d2", "start": "2016-01-05", "days": 1}],
         "strategies": ["uncontrolled", "smart"], "penetrations": [1.1], "heat_pump_share": 0.5, "samples": 3,
         "seed": 3, "band": "en50160_strict", "trafo_limit_pct": TRAFO_LIMIT, "reinforcement": True}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("needs")
    results = hostcap.study(STUDY, out, workers=2, progress=False)  # from Python, as a user calls it
    assert results.counts["failed"] == 0
    assert len(results.reinforcement) and len(results.measures) and "reinforcement in" in " ".join(results.answer)
    return parse_spec(STUDY), out, StudyPaths(out / "needs")


def test_every_sample_that_breaks_a_limit_gets_a_plan_per_period_and_over_both(study):
    spec, _, paths = study
    runs = pd.read_parquet(paths.runs)
    rows = pd.read_csv(paths.reinforcement_measures)
    broken = runs[(runs["status"] == "ok") & (runs["trafo_overload_hours"] > 0)]
    assert len(broken) >= 2, "the test study should overload the transformer"
    planned = rows[rows["period"] != "all"]
    assert set(zip(planned["strategy"], planned["sample"], planned["period"])) == set(
        zip(broken["strategy"], broken["sample"], broken["period"]))
    assert (planned["kind"] == "transformer").all() and (planned["criteria"] == "trafo_overload").all()
    over = rows[rows["period"] == "all"]
    assert set(zip(over["strategy"], over["sample"])) == set(zip(broken["strategy"], broken["sample"]))
    table = pd.read_csv(paths.reinforcement)
    assert set(table["period"]) == {"d1", "d2", "all"}
    top = table[(table["strategy"] == "uncontrolled") & (table["period"] == "all") & (table["penetration"] == 1.1)]
    assert top["n_reinforced"].item() == broken.query("strategy == 'uncontrolled'")["sample"].nunique()


def test_smart_never_costs_more_than_uncontrolled_on_the_same_sample(study):
    _, _, paths = study
    runs = pd.read_parquet(paths.runs)
    rows = pd.read_csv(paths.reinforcement_measures)
    cost = rows.groupby(["strategy", "penetration", "sample", "period"])["cost_eur"].sum()
    samples = runs[runs["penetration"] > 0][["penetration", "sample", "period"]].drop_duplicates()
    for lv, s, p in samples.itertuples(index=False):
        for period in (p, "all"):
            smart, unc = cost.get(("smart", lv, s, period), 0.0), cost.get(("uncontrolled", lv, s, period), 0.0)
            assert smart <= unc, (lv, s, period)
    assert cost.xs("uncontrolled").sum() > 0


def test_the_reinforced_feeder_holds_its_worst_steps_in_a_fresh_power_flow(study):
    spec, _, paths = study
    files = sorted(paths.reinforced.rglob("*.json"))
    assert files, "a reinforced feeder is written where the cost at confidence is above 0"
    original = load_feeder(spec.feeders[0].ref).net
    for f in files:
        net = pp.from_json(str(f))
        steps = net.load.index[net.load["name"] == "step"]
        p, q = net["hostcap_steps_p_mw"].to_numpy(), net["hostcap_steps_q_mvar"].to_numpy()
        before = original.trafo["sn_mva"].sum()
        assert (net.trafo["sn_mva"] * net.trafo["parallel"]).sum() > before
        for pk, qk in zip(p, q):
            net.load.loc[steps, "p_mw"], net.load.loc[steps, "q_mvar"] = pk, qk
            pp.runpp(net, numba=False)
            assert net.res_trafo["loading_percent"].max() <= TRAFO_LIMIT + 1e-6
        # the same steps on the feeder as it was: the limit broken (so the check above can fail)
        old = pp.from_json(str(f))
        old.trafo = original.trafo.copy()
        old.line = old.line.loc[original.line.index]
        worst = []
        for pk, qk in zip(p, q):
            old.load.loc[steps, "p_mw"], old.load.loc[steps, "q_mvar"] = pk, qk
            pp.runpp(old, numba=False)
            worst.append(old.res_trafo["loading_percent"].max())
        assert max(worst) > TRAFO_LIMIT


def test_plans_without_dask_equal_those_on_the_cluster_and_the_layer_and_section_show_them(study):
    spec, out, paths = study
    table, rows = paths.reinforcement.read_bytes(), paths.reinforcement_measures.read_bytes()
    write_hosting(spec, out)  # plans here, one after another, from the records
    assert paths.reinforcement.read_bytes() == table and paths.reinforcement_measures.read_bytes() == rows
    layer = gpd.read_file(write_gis(spec, out, spec.feeders[0].name), layer="reinforcement")
    assert list(layer["element"]) == ["trafo"] and layer["p_reinforced_uncontrolled__pen110"].item() > 0
    assert layer.geometry.notna().all()


def test_a_study_without_reinforcement_removes_the_former_plans(study, tmp_path):
    spec, out, paths = study
    off = parse_spec({**STUDY, "reinforcement": False})
    write_hosting(off, out)
    assert not paths.reinforcement.exists() and not paths.reinforced.exists()
    write_hosting(spec, out)  # and back, for the other tests
    assert paths.reinforcement.exists() and np.any([paths.reinforced.rglob("*.json")])


def test_a_feeder_that_needs_nothing_gets_an_empty_layer(study, tmp_path):
    spec, _, paths = study
    rows = pd.read_csv(paths.reinforcement_measures).iloc[:0]
    layers = topology_layers(load_feeder(spec.feeders[0].ref))
    layer = reinforcement_layer(layers, rows, pd.read_csv(paths.reinforcement), None, 0.05)
    assert layer.empty and list(layer.columns) == ["element", "index", "kinds", "geometry"]
    write_gpkg({"reinforcement": layer}, tmp_path / "empty.gpkg")
    assert gpd.read_file(tmp_path / "empty.gpkg", layer="reinforcement").empty
