"""The report says which power flow the runs used, draws its duration curves from the study's runs, and shows
every figure per period (a winter and a summer week are never pooled)."""
from html.parser import HTMLParser

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from hostcap.models.errors import InputError
from hostcap.studies.layout import StudyPaths
from hostcap.studies.report import duration_curves, power_flow_text, report_html, short_period_note
from hostcap.studies.runner import run_study
from hostcap.studies.spec import parse_spec


def test_the_report_names_the_power_flow():
    def runs(flags):
        return pd.DataFrame({"feeder": [f for f, _ in flags], "unbalanced": [u for _, u in flags],
                             "status": "ok"})

    assert power_flow_text(runs([("a", False), ("b", False)])).startswith("balanced")
    assert power_flow_text(runs([("a", True), ("b", True)])).startswith("three-phase")
    mixed = power_flow_text(runs([("rural", False), ("ieee", True)]))  # phases: auto
    assert mixed.startswith("rural: balanced") and "; ieee: three-phase" in mixed


def test_a_period_shorter_than_a_week_gets_a_note_and_a_week_none():
    assert "2 days: shorter than a week" in short_period_note(pd.DataFrame({"days": [7, 2]}))
    assert short_period_note(pd.DataFrame({"days": [7, 14]})) == ""


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


class _Tables(HTMLParser):
    """The report's tables as it shows them: per table, the feeder heading (h3) above it, its classes, and
    its rows as {header: cell text}."""

    def __init__(self):
        super().__init__()
        self.tables, self.feeder, self._text, self._row, self._in = [], None, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"feeder": self.feeder, "class": dict(attrs).get("class", "").split(),
                                "header": [], "rows": []})
        elif tag in ("h3", "th", "td"):
            self._text, self._in = [], tag
        elif tag == "tr" and self.tables:
            self._row = []

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == self._in and self._text is not None:
            text = "".join(self._text).strip()
            if tag == "h3":
                self.feeder = text
            elif tag == "th":
                self.tables[-1]["header"].append(text)
            else:
                self._row.append(text)
            self._text, self._in = None, None
        elif tag == "tr" and self._row:
            t = self.tables[-1]
            t["rows"].append(dict(zip(t["header"], self._row)))
            self._row = None


def _column(table: dict, starts: str) -> str:
    found = [h for h in table["header"] if h.startswith(starts)]
    assert len(found) == 1, (starts, table["header"])
    return found[0]


def _close(shown: str, value: float, digits: int = 3) -> bool:
    """The shown number is `value` to `digits` significant digits (thousands separated)."""
    tol = 0.5 * 10 ** (np.floor(np.log10(abs(value))) - digits + 1) if value else 1e-9
    return abs(float(shown.replace(",", "")) - value) <= tol * (1 + 1e-9)


FEEDER = 'rural "<b>" & co'  # a printable name that HTML must escape


@pytest.fixture(scope="module")
def two_seasons(tmp_path_factory, tiny_net_factory):
    """A study of the tiny feeder with its own profiles: the households draw 2.5 times as much in the week of
    11 January as in that of 4 January, so the two periods' peaks differ."""
    folder = tmp_path_factory.mktemp("report")
    net = tiny_net_factory()
    pp.to_json(net, str(folder / "tiny.json"))
    index = pd.date_range("2016-01-01", "2016-01-31 23:45", freq="15min")
    hour = index.hour + index.minute / 60
    shape = 0.6 + 0.8 * np.exp(-((hour - 19) / 2.5) ** 2)  # an evening peak
    scale = np.where(index >= "2016-01-11", 2.5, 1.0)
    profiles = pd.DataFrame({f"load.p_mw.{i}": p * shape * scale for i, p in net.load["p_mw"].items()}, index=index)
    profiles.to_csv(folder / "profiles.csv")
    spec = parse_spec({"name": "seasons", "feeders": [{"ref": str(folder / "tiny.json"), "name": FEEDER,
                                                         "profiles": str(folder / "profiles.csv")}],
                       "strategies": ["uncontrolled", "v2g_tou"],
                       "periods": [{"name": "cold", "start": "2016-01-11", "days": 1},
                                   {"name": "mild", "start": "2016-01-04", "days": 1}],
                       "penetrations": [0.5, 1.0], "samples": 2, "seed": 1, "band": "ansi_a"})
    run_study(spec, folder, workers=1, progress=False)
    return spec, StudyPaths(folder / "seasons")


def test_the_summary_shows_each_periods_peak_as_runs_parquet_gives_it(two_seasons):
    spec, paths = two_seasons
    html = report_html(spec, paths.root, [], [], [(FEEDER, "cold, mild")])
    assert "<b>" not in html and "rural &#34;&lt;b&gt;&#34; &amp; co" in html  # every input string escaped
    # it opens with the conclusion, a sentence per feeder and which number to quote, then the settings in words
    start = html.index("<h2>Conclusion</h2>")
    assert start < html.index("<h2>What was studied</h2>") < html.index("<h2>The answer</h2>")
    opening = html[start:html.index("<h2>The answer</h2>")]
    assert "On rural &#34;&lt;b&gt;&#34; &amp; co (50 % of the EVs bidirectional): " in opening
    assert "Quote the hosting capacity at 95 % confidence (hc_confident_frac)" in opening
    assert "50 %, 100 % EVs per residential household" in opening and "ANSI C84.1-2020 Range A" in opening
    assert "default time-of-use bands, no prices: peak " in opening and ">Periods<" in opening
    assert not any(raw in html for raw in ("Tariff(", "VoltWattCurve(", "peak_start_h=", "v_pu="))  # no repr dumps
    runs = pd.read_parquet(paths.runs)
    top = runs[(runs["status"] == "ok") & (runs["penetration"] == max(spec.penetrations))]
    expect = top.groupby(["feeder", "period", "strategy"]).agg(
        peak=("peak_demand_kw", "median"), no_ev=("peak_demand_no_ev_kw", "median"), v_min=("v_min_pu", "min"),
        v_max=("v_max_pu", "max"), trafo=("trafo_max_loading_pct", "max"), v2g=("ev_discharged_kwh", "median"),
        unmet=("ev_unmet_kwh", "median"), n=("key", "size"))
    peaks = expect["peak"].unstack("period")
    assert (peaks["cold"] > 1.2 * peaks["mild"]).all()  # two periods whose peaks differ
    pooled = top.groupby(["feeder", "strategy"])["peak_demand_kw"].median()
    assert not np.isclose(pooled, peaks["cold"]).any() and not np.isclose(pooled, peaks["mild"]).any()

    parser = _Tables()
    parser.feed(html)
    shown = [t for t in parser.tables if "periods" in t["class"]]
    assert len(shown) == 1, "a table per feeder with a row per period and strategy"
    table = shown[0]
    peak, no_ev = _column(table, "peak (kW), median"), _column(table, "peak without EVs (kW), median")
    v2g = _column(table, "V2G energy, fleet total (kWh in the period), median")
    unmet = _column(table, "EV unmet energy, fleet total (kWh in the period), median")
    rows = {(table["feeder"], r["period"].split(" (")[0], r["strategy"]): r for r in table["rows"]}
    assert set(rows) == set(expect.index), "a row per feeder, period and strategy"
    for (feeder, period, strategy), e in expect.iterrows():
        r = rows[(feeder, period, strategy)]
        assert r["period"] == f"{period} ({top.loc[top['period'] == period, 'start'].iloc[0]} + 1 d)"
        assert _close(r[peak], e["peak"]) and _close(r[no_ev], e["no_ev"]), (period, strategy, r[peak], e["peak"])
        assert r["peak change vs no EVs (of the medians)"] == f"{100 * (e['peak'] / e['no_ev'] - 1):+.0f} %"
        assert r["min voltage (pu), worst sample"] == f"{e['v_min']:.3f}"
        assert r["max voltage (pu), worst sample"] == f"{e['v_max']:.3f}"
        assert _close(r["max transformer loading (%), worst sample"], e["trafo"])
        assert _close(r[v2g], e["v2g"]) and _close(r[unmet], e["unmet"])
        assert r["samples"] == str(int(e["n"]))
    # the hosting-capacity table judges all periods together and says so; it shows no pooled grid figure
    hosting = [t for t in parser.tables if "hosting" in t["class"]]
    assert len(hosting) == 1 and not any("peak" in h or "voltage" in h for h in hosting[0]["header"])
    assert "all periods together" in html


def test_the_pdf_shows_every_strategys_maps_whole(tmp_path, tiny_feeder):
    """Every strategy: the small multiples are split into figures of at most MAP_ROWS rows, each printed
    whole inside its page, and the PDF's text names every strategy's row."""
    import pypdf

    from hostcap.models.choices import STRATEGIES
    from hostcap.studies.pipeline import MAP_ROWS, write_gis, write_report
    from hostcap.studies.runner import write_hosting
    from hostcap.studies.variants import variants

    spec = parse_spec({"name": "all", "feeders": [tiny_feeder], "strategies": list(STRATEGIES),
                       "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}], "penetrations": [0.5, 1.0],
                       "samples": 1, "band": "ansi_a", "battery_wear": None})
    run_study(spec, tmp_path, workers=1, progress=False, hosting=False)
    write_hosting(spec, tmp_path)
    write_gis(spec, tmp_path, spec.feeders[0].name)
    _, pdf_path = write_report(spec, tmp_path)
    pdf = pypdf.PdfReader(pdf_path)
    text = " ".join(page.extract_text() for page in pdf.pages)
    text = " ".join(text.split())
    names = variants(spec)
    assert len(names) == len(STRATEGIES) > MAP_ROWS
    for part in (names[:MAP_ROWS], names[MAP_ROWS:]):
        assert f"rows: {', '.join(part)}" in text  # each figure's caption names its rows
    placed = []
    for page in pdf.pages:
        box = page.mediabox

        def visit(op, args, cm, tm, box=box):
            if op == b"Do":  # an image: the unit square under the current matrix
                xs, ys = (cm[4], cm[4] + cm[0]), (cm[5], cm[5] + cm[3])
                placed.append(min(xs) >= box.left - 0.5 and max(xs) <= box.right + 0.5
                              and min(ys) >= box.bottom - 0.5 and max(ys) <= box.top + 0.5)
        page.extract_text(visitor_operand_before=visit)
    assert len(placed) >= 2 + 2 and all(placed), placed  # two map figures, the curves, all inside their page
