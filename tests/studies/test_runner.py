"""Studies on a real Dask cluster over TCP: worker-count independence, reruns, failures."""
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from dask.distributed import LocalCluster

from hostcap.studies.layout import StudyPaths
from hostcap.studies.runner import run_study
from hostcap.studies.spec import parse_spec, safe_name

TINY = {"name": "tiny", "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}],
        "strategies": ["uncontrolled", "v2g_tou"], "penetrations": [0.0, 0.5, 1.0], "samples": 2, "seed": 1,
        "band": "ansi_a"}
TIMING = ["wall_s"]


def snapshot(root):
    return {p.name: p.read_bytes() for p in StudyPaths(root).outputs() if p.name != "manifest.json"}


def test_two_tcp_workers_equal_one_worker_batched_or_not_and_rerun_changes_nothing(tmp_path):
    spec = parse_spec({**TINY, "samples": 4, "dask": {"samples_per_run": 4}})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp",
                      dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        two = run_study(spec, tmp_path / "two", scheduler=cluster.scheduler_address, progress=False)
    # same spec hash: neither kept series nor samples per run are part of it
    keep = parse_spec({**TINY, "samples": 4, "keep_timeseries": ["res_bus/vm_pu"]})
    assert keep.spec_hash() == spec.spec_hash()
    one = run_study(keep, tmp_path / "one", workers=1, samples_per_run=1, progress=False)
    batched = run_study(spec, tmp_path / "batched", workers=1, samples_per_run=3, progress=False)
    # level 0 has no random input: one sample of it (2 strategies x (1 + 4 + 4))
    assert two == one == batched == {"total": 18, "max_everywhere": 24, "skipped": 0, "ran": 18, "failed": 0,
                                     "errors": {}, "unreliable": 0, "failed_feeders": []}
    c = StudyPaths(tmp_path / "batched" / "tiny")
    a, b = StudyPaths(tmp_path / "two" / "tiny"), StudyPaths(tmp_path / "one" / "tiny")
    pd.testing.assert_frame_equal(pd.read_parquet(a.runs).drop(columns=TIMING),
                                  pd.read_parquet(b.runs).drop(columns=TIMING))
    pd.testing.assert_frame_equal(pd.read_parquet(c.runs).drop(columns=TIMING),
                                  pd.read_parquet(b.runs).drop(columns=TIMING))
    for name in ("elements", "locational", "households"):
        pd.testing.assert_frame_equal(pd.read_parquet(getattr(a, name)), pd.read_parquet(getattr(b, name)))
        pd.testing.assert_frame_equal(pd.read_parquet(getattr(c, name)), pd.read_parquet(getattr(b, name)))
    assert a.hosting.read_text() == b.hosting.read_text() == c.hosting.read_text()
    assert a.customer_value.read_text() == b.customer_value.read_text() == c.customer_value.read_text()
    assert len(pd.read_parquet(a.households)) == 18 * 118  # a row per run and connection point
    runs = pd.read_parquet(a.runs)
    assert len(runs) == 18 and (runs["status"] == "ok").all()
    kept = sorted((tmp_path / "one" / "tiny" / "runs").glob("*/res_bus/vm_pu.parquet"))
    assert len(kept) == 18 and pd.read_parquet(kept[0]).shape == (96, 129)
    # without kept series the study keeps only what the report draws: each strategy's sample 0 at 100 %,
    # the same whichever way it ran, and its extremes are the run's own
    curves = runs[(runs["penetration"] == 1.0) & (runs["sample"] == 0)]
    assert sorted(p.relative_to(a.timeseries) for p in a.timeseries.rglob("*.parquet")) == sorted(
        Path(safe_name(k), "feeder", "extremes.parquet") for k in curves["key"])
    for r in curves.itertuples():
        x = pd.read_parquet(a.series_dir(r.key) / "feeder" / "extremes.parquet")
        for other in (b, c):
            pd.testing.assert_frame_equal(x, pd.read_parquet(other.series_dir(r.key) / "feeder" / "extremes.parquet"))
        assert len(x) == 96 and x.notna().all().all()
        assert (x["vm_min_pu"].min(), x["vm_max_pu"].max(), x["trafo_loading_max_pct"].max()) == (
            r.v_min_pu, r.v_max_pu, r.trafo_max_loading_pct)
    hc = pd.read_csv(a.hosting).set_index("strategy")
    assert hc.loc["uncontrolled", "hc_point_frac"] == 1.0  # this feeder hosts a full winter day
    assert hc.loc["v2g_tou", "hc_overvoltage_frac"] < 1.0  # V2G export breaks ANSI Range A here

    before = snapshot(tmp_path / "one" / "tiny")
    mtimes = {p: p.stat().st_mtime_ns for p in b.outputs()}
    again = run_study(keep, tmp_path / "one", workers=1, progress=False)
    assert again == {"total": 18, "max_everywhere": 24, "skipped": 18, "ran": 0, "failed": 0, "errors": {},
                     "unreliable": 0, "failed_feeders": []}
    assert snapshot(tmp_path / "one" / "tiny") == before
    assert {p: p.stat().st_mtime_ns for p in b.outputs()} == mtimes


def test_failing_scenario_is_recorded_and_the_rest_finish(tmp_path, tiny_feeder, tiny_net):
    pp.create_gen(tiny_net, 2, p_mw=0.001, vm_pu=1.0)  # the fast solver refuses generators at run time
    gen_feeder = tmp_path / "with_gen.json"
    pp.to_json(tiny_net, str(gen_feeder))
    # hourly steps: the feeder with a generator has its base case checked by pandapower, 0.2 s a step
    spec = parse_spec({**TINY, "feeders": [tiny_feeder, str(gen_feeder)], "step_min": 60,
                       "strategies": ["uncontrolled"], "penetrations": [0.0, 1.0], "samples": 1})
    counts = run_study(spec, tmp_path, workers=1, progress=False)
    assert {k: counts[k] for k in ("total", "skipped", "ran", "failed")} == {"total": 4, "skipped": 0, "ran": 4,
                                                                             "failed": 2}
    assert list(counts["errors"].values()) == [2] and "generators" in next(iter(counts["errors"]))
    paths = StudyPaths(tmp_path / "tiny")
    runs = pd.read_parquet(paths.runs).set_index("feeder")
    failed = runs.loc[str(gen_feeder)]
    assert (failed["status"] == "failed").all()
    assert failed["error"].str.contains("generators").all()
    assert (runs.loc[tiny_feeder, "status"] == "ok").all()
    assert len(pd.read_csv(paths.hosting)) == 1  # only the feeder that ran
    # a rerun skips the finished scenarios and tries the failed ones again
    again = run_study(spec, tmp_path, workers=1, progress=False)
    assert (again["skipped"], again["ran"], again["failed"]) == (2, 2, 2)


@pytest.mark.parametrize("change, message", [
    ({"feeders": ["simbench:1-LV-nowhere--0-sw"]}, "unknown SimBench code"),
    ({"periods": [{"name": "x", "start": "2019-01-01", "days": 1}]}, "outside the feeder's profiles"),
])
def test_bad_feeder_or_period_refused_before_running(tmp_path, change, message):
    from hostcap.models.errors import InputError

    with pytest.raises(InputError, match=message):
        run_study(parse_spec({**TINY, **change}), tmp_path, workers=1, progress=False)
    assert not (tmp_path / "tiny").exists()


def test_slurm_cluster_job_script_from_study_settings():
    from hostcap.studies.cluster import slurm_cluster
    from hostcap.studies.spec import Slurm

    cluster = slurm_cluster(Slurm(account="grid-lab", partition="short", cores=8, memory="32GB",
                                  walltime="02:00:00"))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -A grid-lab" in script and "#SBATCH -p short" in script
    assert "#SBATCH -t 02:00:00" in script and "--nworkers 8" in script and "--nthreads 1" in script


def test_batches_group_samples_of_one_scenario_and_auto_size_follows_memory():
    from hostcap.studies.memory import auto_samples_per_run
    from hostcap.studies.runner import batches
    from hostcap.studies.sweep import plan

    spec = parse_spec({**TINY, "samples": 5})
    scenarios = [s for s, _ in plan(spec)]
    runs = batches(scenarios, 2)
    assert sorted(s.key for b in runs for s in b) == sorted(s.key for s in scenarios)
    for b in runs:
        assert len(b) <= 2 and len({s.model_dump_json(exclude={"key", "sample"}) for s in b}) == 1
    assert [len(b) for b in batches(scenarios, 5)].count(5) == 4  # 2 strategies x 2 random levels
    assert auto_samples_per_run(spec, None) == 16
    assert auto_samples_per_run(spec, 8 * 2**30) == 16  # a day's recordings are small
    assert auto_samples_per_run(spec, 2**20) == 1
    year = parse_spec({**TINY, "periods": ["year"]})
    assert 1 <= auto_samples_per_run(year, 8 * 2**30) < 16  # a year's are not
    three_phase = parse_spec({**TINY, "periods": ["year"], "phases": "unbalanced"})
    assert auto_samples_per_run(three_phase, 8 * 2**30) < auto_samples_per_run(year, 8 * 2**30)  # four per bus


def test_an_unbalanced_study_is_the_same_on_two_workers_and_batched(tmp_path):
    spec = parse_spec({**TINY, "strategies": ["uncontrolled"], "penetrations": [0.0, 1.0], "samples": 2,
                       "phases": "unbalanced", "keep_timeseries": ["res_bus_3ph/vm_a_pu", "res_bus/vm_pu"]})
    two = run_study(spec, tmp_path / "two", workers=2, samples_per_run=1, progress=False)
    one = run_study(spec, tmp_path / "one", workers=1, samples_per_run=2, progress=False)
    assert two["failed"] == one["failed"] == 0 and two["ran"] == one["ran"] == 3
    a, b = StudyPaths(tmp_path / "two" / "tiny"), StudyPaths(tmp_path / "one" / "tiny")
    runs = pd.read_parquet(a.runs)
    pd.testing.assert_frame_equal(runs.drop(columns=TIMING), pd.read_parquet(b.runs).drop(columns=TIMING))
    assert runs["unbalanced"].all() and (runs.loc[runs["penetration"] == 1.0, "vuf_max_pct"] > 0).all()
    assert a.hosting.read_text() == b.hosting.read_text()
    assert "hc_unbalance_frac" in pd.read_csv(a.hosting).columns
    # a run keeps the series its power flow has: the three-phase ones here, no balanced vm_pu
    assert len(sorted((tmp_path / "one" / "tiny" / "runs").glob("*/res_bus_3ph/vm_a_pu.parquet"))) == 3
    assert not sorted((tmp_path / "one" / "tiny" / "runs").glob("*/res_bus/vm_pu.parquet"))


def test_a_pathway_study_gives_the_year_each_feeder_first_breaks(tmp_path, tiny_feeder):
    """A pathway on the tiny feeder (three homes) whose transformer limit the later years break: the first
    years equal a recount from runs.parquet, and the GeoPackage dates each element's first violation."""
    import geopandas as gpd

    from hostcap.studies.answer import year_lines
    from hostcap.studies.gis import first_year
    from hostcap.studies.pipeline import write_gis, write_webmap

    pathway = {2030: {"ev": 0.34, "heat_pump": 0.34}, 2035: {"ev": 0.67, "heat_pump": 0.34},
               2040: {"ev": 1.0, "heat_pump": 0.67}}
    spec = parse_spec({**TINY, "feeders": [tiny_feeder], "penetrations": None, "pathway": pathway, "samples": 3,
                       "step_min": 60, "trafo_limit_pct": 4.5, "battery_wear": None})
    run_study(spec, tmp_path, workers=1, progress=False)
    root = tmp_path / "tiny"
    runs = pd.read_parquet(root / "runs.parquet")
    assert runs.groupby("year")["year_heat_pump_share"].first().to_dict() == {2030: 0.34, 2035: 0.34, 2040: 0.67}
    fv = pd.read_csv(root / "first_violation_year.csv").set_index("strategy")
    assert set(fv.index) == {"uncontrolled", "v2g_tou"}
    for strategy, g in runs[runs["year"].notna()].groupby("strategy"):
        broken = (g["trafo_overload_hours"] > 0) | (g["undervoltage_buses"] > 0) | (g["overvoltage_buses"] > 0) \
            | (g["line_overload_hours"] > 0) | (g["nonconverged_steps"] > 0)
        share = broken.groupby(g["year"]).mean()
        first = share.index[share > 0.05]
        want = int(first[0]) if len(first) else None
        got = fv.loc[strategy, "first_violation_year"]
        assert (None if pd.isna(got) else int(got)) == want
    assert fv["first_violation_year"].notna().any()  # the limit is chosen so that some year breaks it
    # judged by loading (the study's criterion) the same years; thermally (IEC 60076-7) 4.5 % of rating is nothing
    pd.testing.assert_series_equal(fv["first_violation_year_trafo_loading"], fv["first_violation_year"],
                                   check_names=False)
    assert fv["first_violation_year_trafo_thermal"].isna().all()
    said = year_lines(spec, pd.read_csv(root / "first_violation_year.csv"))
    assert any("with the transformer judged thermally (IEC 60076-7): holds through 2040" in line for line in said)
    gpkg = write_gis(spec, tmp_path, tiny_feeder)
    trafo = gpd.read_file(gpkg, layer="transformers")
    loc = pd.read_parquet(root / "locational.parquet")
    lowest = loc[(loc["element"] == "trafo") & (loc["strategy"] == "uncontrolled")].groupby("index")[
        "lowest_violating_penetration"].first()
    years = {a["ev"]: y for y, a in pathway.items()}
    np.testing.assert_array_equal(trafo["first_year_uncontrolled"], first_year(lowest, years).to_numpy())
    # the interactive map names each level by its year
    page = write_webmap(spec, tmp_path, tiny_feeder).read_text()
    assert all(f"uncontrolled, {y} ({a['ev']:.0%} EVs)" in page for y, a in pathway.items())


def test_a_heat_pump_axis_gives_a_hosting_capacity_per_share(tmp_path, tiny_feeder):
    """`heat_pump_shares: [0, 0.67]` on the tiny feeder (three homes) in a January day: every level runs at both
    shares (two of the three homes with a heat pump at 67 %, in the no-EV baseline too), and each share's hosting
    capacity equals a recount from runs.parquet of that share's runs alone; the GeoPackage, the maps, the report
    and the conclusion name the variants by share."""
    import geopandas as gpd

    from hostcap.studies.answer import conclusion
    from hostcap.studies.pipeline import write_gis
    from hostcap.studies.report import report_html
    from hostcap.studies.variants import variants

    # the draws depend on the feeder's name: a fixed one, so that the limit below shows the heat pumps' effect
    spec = parse_spec({**TINY, "feeders": [{"ref": tiny_feeder, "name": "tiny"}], "strategies": ["uncontrolled"],
                       "heat_pump_shares": [0.67, 0],
                       "penetrations": [0.0, 0.34, 1.0], "samples": 3, "step_min": 60, "trafo_limit_pct": 7,
                       "battery_wear": None})
    assert spec.heat_pump_axis == [0.0, 0.67] and spec.n_scenarios() == 1 * 1 * 1 * 3 * 1 * 2 * 3
    run_study(spec, tmp_path, workers=1, progress=False)
    root = tmp_path / "tiny"
    runs = pd.read_parquet(root / "runs.parquet")
    assert len(runs) == 2 * (1 + 2 * 3) and runs["key"].is_unique
    assert set(runs.groupby("heat_pump_share")["n_heat_pump"].unique().map(tuple)) == {(0,), (2,)}
    base = runs[runs["penetration"] == 0.0].set_index("heat_pump_share")["peak_demand_kw"]
    assert base[0.67] > base[0.0]  # a January day: the heat pumps add to the feeder's own peak
    hc = pd.read_csv(root / "hosting_capacity.csv").set_index("heat_pump_share")
    assert sorted(hc.index) == [0.0, 0.67]
    for share, g in runs.groupby("heat_pump_share"):
        broken = (g[["trafo_overload_hours", "undervoltage_buses", "overvoltage_buses", "line_overload_hours",
                     "nonconverged_steps"]] > 0).any(axis=1)
        p = broken.groupby(g["penetration"]).mean()
        over = p.index[p > 0.05]
        want = p.index[p.index < over[0]].max() if len(over) else p.index.max()
        got = hc.loc[share, "hc_point_frac"]
        assert (np.nan_to_num(got, nan=-1.0)) == (-1.0 if pd.isna(want) else want)
    # the limit is chosen to show it: every level holds without heat pumps, none with them
    assert (hc.loc[0.0, "hc_point_frac"], hc.loc[0.67, "hc_point_frac"]) == (1.0, 0.0)
    names = variants(spec)
    assert names == ["uncontrolled_h000", "uncontrolled_h067"]
    buses = gpd.read_file(write_gis(spec, tmp_path, "tiny"), layer="buses")
    assert {f"lowest_pen_{v}" for v in names} <= set(buses.columns)
    page = report_html(spec, root, [], [], [])
    assert all(page.count(v) >= 3 for v in names)  # the hosting, per-period and by-criterion tables
    said = " ".join(conclusion(spec, pd.read_csv(root / "hosting_capacity.csv"), runs))
    assert "uncontrolled_h067 breaks" in said and "uncontrolled_h000 hosts every level" in said
