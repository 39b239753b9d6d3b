"""The Snakemake pipeline on a tiny study: files and contents, idle reruns, targeted rebuilds, SLURM dry run."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import yaml

from hostcap.models.errors import InputError
from hostcap.studies.layout import feeder_slug, study_paths
from hostcap.studies.pipeline import periods_text
from hostcap.studies.records import Record, build_tables
from hostcap.studies.spec import parse_spec
from hostcap.studies.sweep import plan

ROOT = Path(__file__).resolve().parents[2]
# the feeder's name carries shell and HTML payloads: the pipeline must run no shell and the pages no script of it
NAME = ("r3 x'; touch PWNED; echo '$(touch PWNED2)`touch PWNED3`<img src=x onerror=\"document.title='XSS'\">"
        "</script><script>document.title='XSS'</script>")
TINY = f"""name: tiny
feeders: [{{ref: "simbench:1-LV-rural3--0-sw", name: {json.dumps(NAME)}}}]
periods: [{{name: d1, start: "2016-01-11", days: 1}}]
strategies: [uncontrolled, v2g_tou]
penetrations: [0.0, 0.5, 1.0]
samples: 2
seed: 5
band: ansi_a
slack_vm_pu: 1.03
tariff: {ROOT / "studies" / "tariffs" / "us_sun_prairie_rg2.yaml"}
outages: {{windows: [{{start: "2016-01-11T06:00", hours: 2}}]}}
"""
FEEDER = feeder_slug(NAME)


def snakemake(workdir: Path, *args: str, profile: bool = False) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile",
           str(workdir / "tiny.yaml"), *args]
    if not profile:
        cmd += ["--cores", "2"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipeline")
    (workdir / "tiny.yaml").write_text(TINY)
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (workdir / "terminal.txt").write_text(proc.stdout + proc.stderr)
    return workdir


def test_the_study_talks_to_the_terminal_under_snakemake(pipeline):
    """Its progress bar and its answer reach the terminal, not only the log files."""
    terminal = (pipeline / "terminal.txt").read_text()
    assert re.search(r"tiny: 100%\|.*\| 10/10 ", terminal), terminal[-3000:]  # level 0 runs once per strategy
    assert re.search(re.escape(NAME) + r" \| v2g_tou \(\d+% bidirectional\): hosting capacity", terminal)
    assert " INFO " not in terminal  # quiet Dask


def test_outputs_and_geopackage_match_runs(pipeline):
    res = pipeline / "results" / "tiny"
    runs = pd.read_parquet(res / "runs.parquet")
    assert len(runs) == 10 and (runs["status"] == "ok").all()  # level 0 once per strategy
    for name in ["hosting_capacity.csv", "violation_probability.csv", "locational.parquet", "report.html",
                 "report.pdf", f"maps/{FEEDER}.html", f"maps/{FEEDER}/v2g_tou__lowest.png",
                 f"maps/{FEEDER}/uncontrolled__voltage.png"]:
        assert (res / name).stat().st_size > 0, name
    assert (pipeline / "resources" / "feeders" / f"{FEEDER}.json").is_file()
    for rule in ["study", "hosting", f"gis/{FEEDER}", "report"]:
        assert (pipeline / "logs" / "tiny" / f"{rule}.benchmark.tsv").is_file()

    gpkg = res / "gis" / f"{FEEDER}.gpkg"
    layers = {name: gpd.read_file(gpkg, layer=name) for name in ("buses", "lines", "transformers")}
    assert all(layer.crs.to_epsg() == 4326 for layer in layers.values())
    assert len(layers["buses"]) == 129 and len(layers["lines"]) == 127 and len(layers["transformers"]) == 1
    assert not layers["buses"]["schematic"].any()
    buses, trafos = layers["buses"], layers["transformers"]
    for strategy in ("uncontrolled", "v2g_tou"):
        sel = runs[runs["strategy"] == strategy]
        assert buses[f"vm_min_pu_{strategy}"].min() == pytest.approx(sel["v_min_pu"].min())
        assert buses[f"vm_max_pu_{strategy}"].max() == pytest.approx(sel["v_max_pu"].max())
        assert trafos[f"max_loading_pct_{strategy}"].max() == pytest.approx(sel["trafo_max_loading_pct"].max())
        assert {f"lowest_pen_{strategy}", f"vm_worst_pu_{strategy}"} <= set(buses.columns)
        assert {f"p_overload_{strategy}__pen{p}" for p in ("000", "050", "100")} <= set(layers["lines"].columns)
        # P(violation) at every level, as the locational table has it
        loc = pd.read_parquet(res / "locational.parquet")
        for level in (0.0, 0.5, 1.0):
            at = loc[(loc["strategy"] == strategy) & (loc["element"] == "bus") & (loc["penetration"] == level)]
            column = f"p_violation_{strategy}__pen{level * 100:03.0f}"
            np.testing.assert_allclose(buses.set_index("bus").loc[at["index"], column], at["p_violation"])
    # the envelope says it is one
    assert buses["vm_max_pu__all_strategies"].max() == pytest.approx(runs["v_max_pu"].max())
    assert "vm_max_pu" not in buses and "max_loading_pct" not in trafos
    # with the MV side at 1.03 pu, v2g_tou breaks ANSI Range A at full penetration on some buses (with this seed
    # and feeder name, which seed the draws), and they are the ones the runs say: per bus, the share of the
    # samples in which it broke the criterion
    top = runs[(runs["strategy"] == "v2g_tou") & (runs["penetration"] == 1.0)]
    assert top["overvoltage_buses"].gt(0).all()
    el = pd.read_parquet(res / "elements.parquet")
    el = el[el["key"].isin(top["key"]) & (el["element"] == "bus")]
    share = el.groupby("index")["violated"].mean()
    assert share.max() > 0
    np.testing.assert_allclose(buses.set_index("bus").loc[share.index, "p_violation_v2g_tou__pen100"], share)
    v_max = runs.loc[runs["strategy"] == "v2g_tou", "v_max_pu"].max()
    assert buses["vm_worst_pu_v2g_tou"].max() == pytest.approx(v_max)

    html = (res / "report.html").read_text()
    assert "<table" in html and ">95 % confident<" in html and "Exact settings and provenance" in html
    # it opens with the conclusion, then what was studied, in that order before the details
    assert html.index("<h2>Conclusion</h2>") < html.index("<h2>What was studied</h2>") < html.index(
        "<h2>The answer</h2>")
    assert "v2g_tou break" in html and "the 0.95-1.05 pu voltage limit (overvoltage" in html
    assert html.count("data:image/png;base64,") == 1 + 1 + 1 + 1  # curves, duration curves, households, maps
    assert f'href="maps/{FEEDER}.html"' in html  # the link to the interactive map
    assert "binding: overvoltage" in html and "max voltage (pu)" in html and "min voltage (pu)" in html
    assert not re.search(r">[-+]?\d\.\d+e[-+]\d+<", html)  # no 2.84e-14 in a table cell
    assert "What the households get" in html and "saving_vs_uncontrolled_USD (median, p10-p90)" in html
    # two samples cannot show anything safe at 95 % confidence: the intervals and the report say so
    assert "2 samples at a level cannot show P(violation) &lt;= 5% at 95 % confidence" in html
    assert "Hosting capacity (%) under each voltage criterion" in html
    assert "every 15-min value within 0.95-1.05 pu" in html  # the criterion, named
    prob = pd.read_csv(res / "violation_probability.csv")
    assert {"n_samples", "n_violating", "p_violation", "p_violation_lo", "p_violation_hi"} <= set(prob.columns)
    assert (prob["p_violation_lo"] <= prob["p_violation"]).all()
    assert (prob["p_violation"] <= prob["p_violation_hi"]).all()
    hc = pd.read_csv(res / "hosting_capacity.csv")
    # only level 0 (exact: no random input) is shown safe; the EV levels need 59 samples
    assert (hc["hc_confident_frac"] == 0.0).all() and hc["hc_point_frac"].notna().any()
    assert hc["samples_limit_confident"].any()
    assert (hc["voltage_criterion"] == "ansi_a").all() and (prob.loc[prob["penetration"] == 0, "n_samples"] == 1).all()

    # the customer side: per level, over the EV homes of both samples; backup over the homes that went dark
    value = pd.read_csv(res / "customer_value.csv").set_index(["strategy", "penetration"])
    homes = pd.read_parquet(res / "households.parquet")
    assert len(homes) == 10 * 118 and value.loc[("uncontrolled", 1.0), "ev_households"] == 2 * 113
    assert value.loc[("uncontrolled", 1.0), "saving_vs_uncontrolled_USD_p90"] == 0.0  # against itself
    assert value.loc[("uncontrolled", 0.0), "outage_households"] == 118  # level 0 runs once
    sel = homes[(homes["strategy"] == "v2g_tou") & (homes["penetration"] == 1.0)]
    assert value.loc[("v2g_tou", 1.0), "backup_h_median"] == sel["backup_h"].median()
    tou = value.loc[("v2g_tou", 1.0)]
    assert tou["outage_unserved_no_v2h_kwh_median"] > tou["outage_unserved_kwh_median"]
    hh = gpd.read_file(gpkg, layer="households")
    assert len(hh) == 118 and hh.crs.to_epsg() == 4326
    top = sel.groupby("cp")["saving_vs_uncontrolled_USD"].median()
    np.testing.assert_allclose(hh.set_index("cp").loc[top.index, "saving_vs_uncontrolled_USD_v2g_tou"], top)
    assert {"backup_h_v2g_tou", "extra_wear_cost_year_USD_v2g_tou"} <= set(hh.columns)
    assert "src=\"http" not in html  # self-contained


def test_geopackage_carries_qgis_styles_on_the_studys_scales(pipeline):
    gpkg = pipeline / "results" / "tiny" / "gis" / f"{FEEDER}.gpkg"
    with closing(sqlite3.connect(gpkg)) as con:
        styles = {t: (geom, qml, default) for t, geom, qml, default in con.execute(
            "SELECT f_table_name, f_geometry_column, styleQML, useAsDefault FROM layer_styles")}
        registered = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchall()
    assert set(styles) == {"buses", "lines", "transformers"} and registered == [("attributes",)]
    assert all(geom == "geom" and default == 1 for geom, _, default in styles.values())
    renderer = ET.fromstring(styles["buses"][1]).find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "vm_worst_pu__all_strategies"
    edges = {float(r.get(k)) for r in renderer.iter("range") for k in ("lower", "upper")}
    assert {0.95, 1.05} <= edges  # ANSI C84.1 Range A, the study's criterion
    values = gpd.read_file(gpkg, layer="buses")["vm_worst_pu__all_strategies"]
    ranges = [(float(r.get("lower")), float(r.get("upper"))) for r in renderer.iter("range")]
    assert all(sum(lo <= v < hi for lo, hi in ranges) == 1 for v in values)  # every bus gets a class
    line = ET.fromstring(styles["lines"][1]).find("renderer-v2")
    assert line.get("attr") == "max_loading_pct__all_strategies" and line.find("symbols/symbol").get("type") == "line"


def no_script_of_the_name_ran(page) -> None:
    """The feeder's name shows as text, no script of it ran, and the page carries its policy."""
    assert not [c for c in page.console if "Refused" in c], page.console  # no policy violation either
    assert "Content-Security-Policy" in page.dom
    assert not re.search(r"<title>XSS", page.dom)  # no script of the name set the title
    assert '<img src="x"' not in page.dom and "&lt;img src=x onerror=" in page.dom  # shown as text


def test_a_hostile_feeder_name_runs_no_shell(pipeline):
    assert not list(pipeline.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


def test_interactive_map_renders_offline_with_every_layer(pipeline, browser):
    page = browser(pipeline / "results" / "tiny" / "maps" / f"{FEEDER}.html")
    assert page.errors() == [], page.errors()
    no_script_of_the_name_ran(page)
    radios = re.findall(r'<input type="radio" class="leaflet-control-layers-selector" name="leaflet-base-layers_\d+"',
                        page.dom)
    assert len(radios) == 2 * 3  # a layer per strategy and level
    assert "v2g_tou, 100% EVs" in page.dom and "hostcap-legend" in page.dom
    assert page.dom.count("leaflet-interactive") >= 129 + 127 + 1  # the shown layer, drawn
    assert page.pixel_std() > 8  # not a blank page
    assert not re.search(r"<(?:script|link)[^>]+(?:src|href)=\"https?:", page.dom)  # nothing from the web


def test_report_renders_offline_and_prints_to_pdf(pipeline, browser):
    res = pipeline / "results" / "tiny"
    page = browser(res / "report.html")
    assert page.errors() == [], page.errors()
    no_script_of_the_name_ran(page)
    assert "The answer" in page.dom and page.dom.count("<img") == 4
    assert page.pixel_std() > 8
    pdf = (res / "report.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 100_000  # with its figures


def test_maps_name_the_periods_as_the_study_ran_them(tmp_path):
    """The maps' titles read the periods from the runs table (no feeder load); for whole periods they are
    the ones the feeder's own profiles give."""
    spec = parse_spec({"name": "whole", "feeders": ["simbench:1-LV-rural3--0-sw"], "periods": ["seasons"],
                       "strategies": ["uncontrolled"], "penetrations": [0.0], "samples": 1})
    feeder = spec.feeders[0]
    planned = plan(spec)
    runs, _, _ = build_tables(planned, {c["key"]: Record({"status": "ok"}, pd.DataFrame()) for _, c in planned})
    assert list(runs.columns[:10]) == ["key", "feeder", "period", "strategy", "penetration", "v2g_share", "sample",
                                       "heat_pump_share", "start", "days"]
    paths = study_paths(spec, tmp_path)
    paths.root.mkdir(parents=True)
    runs.to_parquet(paths.runs)
    expected = [f"{p.name} ({p.start} + {p.days} d)" for p in spec.periods_of(feeder)]
    assert len(expected) == 4  # the four seasons' weeks of the feeder's year
    assert periods_text(spec, tmp_path, feeder.name) == ", ".join(expected)
    edited = spec.model_copy(update={"periods": [spec.periods_of(feeder)[2]]})  # the file now has one period
    assert periods_text(edited, tmp_path, feeder.name) == expected[2]
    runs.drop(columns=["start", "days"]).to_parquet(paths.runs)  # as an older version wrote it
    with pytest.raises(InputError, match=r"runs.parquet has no run dates .* run `hostcap study`"):
        periods_text(spec, tmp_path, feeder.name)


def test_second_run_has_nothing_to_do(pipeline):
    proc = snakemake(pipeline, "-n")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def test_deleting_one_map_rebuilds_only_that_feeders_maps(pipeline):
    maps = pipeline / "results" / "tiny" / "maps" / FEEDER
    target = maps / "v2g_tou__voltage.png"
    others = {p: p.stat().st_mtime_ns for p in (pipeline / "results").rglob("*") if p.is_file() and p.parent != maps}
    target.unlink()
    dry = snakemake(pipeline, "-n")
    assert dry.returncode == 0
    table = (dry.stdout + dry.stderr).split("Job stats:")[1].split("\n\n")[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    assert counts == {"all": "1", "maps": "1", "total": "2"}
    proc = snakemake(pipeline)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert target.is_file()
    assert {p: p.stat().st_mtime_ns for p in others} == others


def test_snakemake_report_lists_outputs(pipeline):
    proc = snakemake(pipeline, "--report", str(pipeline / "smk_report.zip"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (pipeline / "smk_report.zip").stat().st_size > 0


def test_slurm_profile_dry_run(tmp_path):
    """The shipped profile plans every rule; its per-feeder batching leaves the study the threads it sets."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    proc = snakemake(tmp_path, "-n", "-p", "--profile", str(ROOT / "profiles" / "slurm"), profile=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "study" in out and "This was a dry-run" in out
    threads = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())["set-threads"]["study"]
    assert f"--workers {threads} --no-hosting" in out


def test_invalid_config_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY.replace("samples: 2", "samples: 0"))
    proc = snakemake(tmp_path)
    assert proc.returncode != 0
    assert "config: samples: Input should be greater than or equal to 1" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_interrupted_pipeline_resumes_and_edits_rerun_only_what_they_change(tmp_path, tiny_net):
    """Ctrl-C of Snakemake keeps the finished runs (records are not Snakemake outputs, so it never deletes
    them); an edited feeder file reruns its scenarios; a post-processing setting reruns none."""
    pp.to_json(tiny_net, str(tmp_path / "tiny.json"))
    study = {"name": "tiny", "feeders": ["tiny.json"], "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}],
             "strategies": ["uncontrolled", "v2g_tou"], "penetrations": [0.0, 1.0], "samples": 6, "seed": 4}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(study))
    cmd = ["snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(tmp_path / "tiny.yaml"),
           "--cores", "2", "results/tiny/hosting_capacity.csv"]  # the maps and the report add nothing here
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    records = tmp_path / "results" / "tiny" / "records"
    deadline = time.monotonic() + 300
    while len(list(records.glob("*.parquet"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    proc.wait(timeout=120)
    kept = len([p for p in records.glob("*.parquet") if not p.name.startswith(".")])  # not a write's temporary
    assert 3 <= kept < 14
    log = tmp_path / "logs" / "tiny" / "study.log"

    done = subprocess.run([*cmd, "--rerun-incomplete"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"14 scenarios, {kept} already done, {14 - kept} run" in log.read_text()
    runs = pd.read_parquet(tmp_path / "results" / "tiny" / "runs.parquet")
    assert len(runs) == 14 and (runs["status"] == "ok").all()

    tiny_net.load["p_mw"] *= 0.5  # an edited feeder: Snakemake sees it and the study reruns what reads it
    pp.to_json(tiny_net, str(tmp_path / "tiny.json"))
    dry = subprocess.run([*cmd, "-n"], cwd=tmp_path, capture_output=True, text=True)
    assert "prepare_feeder" in dry.stdout + dry.stderr and "study" in dry.stdout + dry.stderr
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True).returncode == 0
    assert "14 scenarios, 0 already done, 14 run" in log.read_text()
    edited = pd.read_parquet(tmp_path / "results" / "tiny" / "runs.parquet")
    assert edited["peak_demand_kw"].max() < runs["peak_demand_kw"].max()

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({**study, "max_violation_probability": 0.2}))
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True).returncode == 0
    assert "14 scenarios, 14 already done, 0 run" in log.read_text()
    assert (pd.read_csv(tmp_path / "results" / "tiny" / "hosting_capacity.csv")["threshold"] == 0.2).all()

