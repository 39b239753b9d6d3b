"""The study report: report.html, self-contained (images embedded as base64 PNG), and report.pdf, printed
from the same HTML by WeasyPrint; both from one Jinja2 template (studies/templates/report.html.j2).

Contents: the answer (hosting capacity per feeder and strategy, what binds), a summary table at the highest
level (hosting capacity with its 95 % confident value, P(violation) with its interval, min and max voltage,
transformer and line loading, peak against the same periods without EVs), hosting capacity under each
voltage criterion, hosting-capacity curves with their intervals, duration curves of the lowest and highest
bus voltage and the transformer loading of chosen runs (the highest level, sample 0; the study keeps their
per-step extremes, `feeder/extremes`), what the households get
(from customer_value.csv), per feeder a map of every strategy and level (small multiples on the study's
fixed scales) and links to the interactive maps, and assumptions and provenance.
"""
import base64
import io
import json
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hostcap.models.errors import InputError  # noqa: E402
from hostcap.models.limits import BANDS, voltage_band  # noqa: E402
from hostcap.models.strategies import VoltWattCurve  # noqa: E402
from hostcap.models.tariff import Tariff  # noqa: E402
from hostcap.studies.atomic import atomic_path, write_text  # noqa: E402
from hostcap.studies.gis import variant_name  # noqa: E402
from hostcap.studies.hosting import (answer_lines, baseline_notes, in_study_order,  # noqa: E402
                                     min_samples_confident, too_few_samples)
from hostcap.studies.runner import StudyPaths  # noqa: E402
from hostcap.studies.spec import StudySpec  # noqa: E402
from hostcap.studies.sweep import curve_keys  # noqa: E402

TEMPLATE = "report.html.j2"
STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 1)), "P"),
          ((0, (3, 1, 1, 1, 1, 1)), "X")]  # a line style and marker per strategy: told apart in grey too


def tariff_text(spec: StudySpec) -> str:
    """The tariff the strategies scheduled by, with its source when it is priced."""
    if spec.tariff is None:
        return f"default time-of-use bands (no prices) {Tariff()}"
    t = spec.tariff
    return f"{t.name} ({t.currency}; source: {t.source})"


def wear_text(spec: StudySpec) -> str:
    w = spec.battery_wear
    if w is None:
        return "not computed"
    temp = f"{w.temperature_c:g} degC" if w.temperature_c is not None else "DWD monthly mean air temperature of Germany"
    return f"BLAST-Lite {w.model}, cell at {temp}, replacement cost {w.cost_per_kwh:g} {w.currency}/kWh"


def samples_text(spec: StudySpec, manifest: dict) -> str:
    """How many samples the study ran per level, and what adaptive sampling saved."""
    if isinstance(spec.samples, int):
        return f"{spec.samples} samples per level"
    s, total = spec.samples, manifest["max_everywhere"]
    return (f"adaptive samples ({s.min} to {s.max} per level, {s.step} at a time where undecided): "
            f"{manifest['scenarios']:,} runs instead of {total:,} with {s.max} everywhere "
            f"({1 - manifest['scenarios'] / total:.0%} saved)")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return _data_uri(buf.getvalue())


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _figure(src: str, caption: str) -> dict:
    return {"src": src, "caption": caption}


def number(x, digits: int = 3) -> str:
    """A number as a person writes it: '-' for missing, no exponent, thousands separated, at most `digits`
    significant digits and no trailing zeros beyond them (2.84e-14 -> '0', 6190.4 -> '6,190', 1.0 -> '1')."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    x = float(x)
    if abs(x) < 10 ** -(digits + 2):
        return "0"
    decimals = max(digits - 1 - int(np.floor(np.log10(abs(x)))), 0)
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(x) -> str:
    return "none" if x is None or not np.isfinite(x) else f"{100 * x:.0f} %"


def summary_table(spec: StudySpec, runs: pd.DataFrame, hosting: pd.DataFrame, prob: pd.DataFrame) -> pd.DataFrame:
    """Per feeder and variant at the highest level (formatted for reading; hosting_capacity.csv and
    runs.parquet hold the numbers)."""
    ok = runs[runs["status"] == "ok"]
    top = max(spec.penetrations)
    rows = []
    for _, h in hosting.iterrows():
        at_top = ok[(ok["feeder"] == h["feeder"]) & (ok["strategy"] == h["strategy"])
                    & (ok["v2g_share"] == h["v2g_share"]) & (ok["penetration"] == top)]
        p = prob[(prob["feeder"] == h["feeder"]) & (prob["strategy"] == h["strategy"])
                 & (prob["v2g_share"] == h["v2g_share"]) & (prob["penetration"] == top)]
        base_peak = float(at_top["peak_demand_no_ev_kw"].median())  # the same periods without EVs
        top_peak = float(at_top["peak_demand_kw"].median())
        change = f" ({100 * (top_peak / base_peak - 1):+.0f} %)" if base_peak else ""
        binding = h["binding"] if isinstance(h["binding"], str) and h["binding"] else ""
        three_phase = "unbalanced" in at_top and at_top["unbalanced"].astype(bool).any()
        unbalance = ({"max VUF (%)": number(at_top["vuf_max_pct"].max(), 2),
                      "max neutral current (A)": number(1e3 * at_top["neutral_max_ka"].max())} if three_phase else {})
        rows.append({
            "feeder": h["feeder"], "strategy": variant_name(h["strategy"], h["v2g_share"], spec.v2g_shares),
            "hosting capacity": _pct(h["hc_point"]) + ("" if pd.isna(h["hc_evs"]) else f" ({h['hc_evs']:.0f} EVs)"),
            "95 % confident": _pct(h["hc_confident"]),
            "binding": binding.replace(";", ", ") or "none up to the top level",
            "P(violation) [95 % interval]": "-" if p.empty else
            f"{number(p['p_violation'].iloc[0], 2)} [{number(p['p_violation_lo'].iloc[0], 2)}-"
            f"{number(p['p_violation_hi'].iloc[0], 2)}]",
            "uplift vs uncontrolled (pp)": number(100 * h["uplift_vs_uncontrolled"], 2),
            "min voltage (pu)": f"{at_top['v_min_pu'].min():.3f}",
            "max voltage (pu)": f"{at_top['v_max_pu'].max():.3f}",
            "max transformer loading (%)": number(at_top["trafo_max_loading_pct"].max()),
            "max line loading (%)": number(at_top["line_max_loading_pct"].max()),
            **unbalance,
            "peak (kW) and change vs no EVs": f"{number(top_peak)} ({number(base_peak)} without){change}",
            "reverse flow, max (kW)": number(at_top["reverse_flow_max_kw"].max()),
            "V2G energy (kWh, median)": number(at_top["ev_discharged_kwh"].median()),
            "EV unmet energy (kWh, median)": number(at_top["ev_unmet_kwh"].median()),
        })
    return pd.DataFrame(rows)


def _styled(i: int) -> dict:
    line, marker = STYLES[i % len(STYLES)]
    return {"linestyle": line, "marker": marker, "markersize": 5}


def hc_curves(spec: StudySpec, prob: pd.DataFrame) -> list[dict]:
    """Per feeder, one small panel per strategy (lines at zero would hide each other in one plot):
    P(violation) against penetration with its 95 % interval, and the threshold."""
    out = []
    for feeder, g in prob.groupby("feeder", sort=False):
        groups = list(g.groupby(["strategy", "v2g_share"], sort=False))
        cols = min(len(groups), 4)
        rows = -(-len(groups) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows + 0.5), sharex=True, sharey=True,
                                 squeeze=False, constrained_layout=True)
        for ax, (i, ((strategy, share), s)) in zip(axes.flat, enumerate(groups)):
            x = 100 * s["penetration"]
            ax.fill_between(x, s["p_violation_lo"], s["p_violation_hi"], color=f"C{i}", alpha=0.2,
                            label="95 % interval")
            ax.plot(x, s["p_violation"], color=f"C{i}", **_styled(i), label="P(violation)")
            ax.axhline(spec.max_violation_probability, color="red", ls="--", lw=1,
                       label=f"threshold {spec.max_violation_probability:.0%}")
            ax.set_title(variant_name(strategy, share, spec.v2g_shares), fontsize=9)
            ax.set_ylim(-0.03, 1.03)
        for ax in axes.flat[len(groups):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("EVs (% of households)", fontsize=8)
        for ax in axes[:, 0]:
            ax.set_ylabel("P(any violation)", fontsize=8)
        axes[0][0].legend(fontsize=7, loc="upper left")
        fig.suptitle(f"Hosting capacity: {feeder} (criterion {spec.band})", fontsize=10)
        out.append(_figure(_png(fig), f"Probability of violation against penetration with its 95 % "
                                      f"Clopper-Pearson interval, a panel per strategy, {feeder}"))
    return out


def duration_curves(spec: StudySpec, runs: pd.DataFrame, root: Path) -> list[dict]:
    """Per feeder: the lowest and the highest bus voltage and the transformer loading, sorted, at the highest
    level (sample 0, first period: `sweep.curve_keys`), a line per strategy, the limits dashed; from the
    extremes the study kept of those runs (a failed run has no line)."""
    coords = runs[["key", "feeder", "period", "penetration", "sample"]].to_dict("records")
    chosen = runs[runs["key"].isin(curve_keys(spec, coords)) & (runs["status"] == "ok")]
    band = voltage_band(spec.band)
    out, paths = [], StudyPaths(root)
    for feeder, rows in in_study_order(spec, chosen).groupby("feeder", sort=False):
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
        for i, r in enumerate(rows.itertuples()):
            path = paths.series_dir(r.key) / "feeder" / "extremes.parquet"
            if not path.is_file():
                raise InputError(f"report: {path} does not exist; run `hostcap study` on the study file again "
                                 "(it runs again what lacks its kept series)")
            x = pd.read_parquet(path)
            hours = np.arange(len(x)) * spec.step_min / 60
            style = {**_styled(i), "markevery": max(len(hours) // 8, 1)}
            name = variant_name(r.strategy, r.v2g_share, spec.v2g_shares)
            axes[0].plot(hours, np.sort(x["vm_min_pu"].to_numpy()), label=name, **style)
            axes[1].plot(hours, np.sort(x["vm_max_pu"].to_numpy())[::-1], label=name, **style)
            axes[2].plot(hours, np.sort(x["trafo_loading_max_pct"].to_numpy())[::-1], label=name, **style)
        axes[0].axhline(band.v_min_pu, color="red", ls="--", lw=1)
        axes[1].axhline(band.v_max_pu, color="red", ls="--", lw=1)
        axes[2].axhline(spec.trafo_limit_pct, color="red", ls="--", lw=1)
        axes[0].set(xlabel="hours (sorted)", ylabel="lowest bus voltage (pu)", title="lowest voltage, rising")
        axes[1].set(xlabel="hours (sorted)", ylabel="highest bus voltage (pu)", title="highest voltage, falling")
        axes[2].set(xlabel="hours (sorted)", ylabel="highest transformer loading (%)", title="transformer loading")
        axes[2].legend(fontsize=7, loc="upper right")
        first = rows.iloc[0]
        out.append(_figure(_png(fig), f"Duration curves at {first.penetration:.0%} EVs, sample 0, period "
                                      f"{first.period} ({first.start} + {first.days} d), {feeder}; limits dashed "
                                      f"({band.name} band, transformer {spec.trafo_limit_pct:g} %)"))
    return out


def household_section(spec: StudySpec, value: pd.DataFrame) -> dict | None:
    """The "What the households get" section: a table at the highest level and, per feeder and period, the
    medians (10th-90th percentile bands) of the money figures against penetration."""
    money = [c for c in value.columns if c.endswith("_median") and
             (c.startswith("saving_vs_uncontrolled_") or c.startswith("extra_wear_cost_year_"))]
    backup = "outage_covered_share_median" if "outage_covered_share_median" in value else None
    if value.empty or not (money or backup):
        return None
    top = value[value["penetration"] == value["penetration"].max()]
    shown = {"feeder": top["feeder"], "period": top["period"],
             "strategy": [variant_name(s, b, spec.v2g_shares) for s, b in zip(top["strategy"], top["v2g_share"])],
             "EV homes": top["ev_households"]}
    for c in money + ([backup] if backup else []) + [c for c in ("backup_h_median", "outage_unserved_kwh_median",
                                                                 "outage_unserved_no_v2h_kwh_median") if c in top]:
        f = c.removesuffix("_median")
        shown[f"{f} (median, p10-p90)"] = [f"{number(m)} ({number(lo)} to {number(hi)})" if np.isfinite(m) else "-"
                                           for m, lo, hi in zip(top[c], top[f"{f}_p10"], top[f"{f}_p90"])]
    figures = []
    for (feeder, period), g in value.groupby(["feeder", "period"]):
        cols = money + ([backup] if backup else [])
        fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 3.8), constrained_layout=True, squeeze=False)
        for ax, c in zip(axes[0], cols):
            f = c.removesuffix("_median")
            for i, ((strategy, share), s) in enumerate(g.groupby(["strategy", "v2g_share"], sort=False)):
                x = 100 * s["penetration"]
                line, = ax.plot(x, s[c], label=variant_name(strategy, share, spec.v2g_shares), **_styled(i))
                ax.fill_between(x, s[f"{f}_p10"], s[f"{f}_p90"], color=line.get_color(), alpha=0.10)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set(xlabel="EV penetration (% of households)", ylabel=f, title=f"{feeder}, {period}")
        axes[0][0].legend(fontsize=8)
        figures.append(_figure(_png(fig), f"What the households get, {feeder}, {period}: median and "
                                          "10th-90th percentile"))
    return {"table": pd.DataFrame(shown).to_html(index=False, na_rep="-"), "figures": figures}


def power_flow_text(runs: pd.DataFrame) -> str:
    """Which power flow the study's runs used, per feeder where they differ (`phases: auto`)."""
    three = "three-phase (unbalanced: each household, EV charger and PV system on its phase; voltage unbalance " \
            "judged by EN 50160 cl. 4.2.5, VUF <= 2 % in 95 % of a week)"
    one = "balanced (one-phase equivalent; voltage unbalance not assessed)"
    ok = runs[runs["status"] == "ok"]
    by_feeder = ok.groupby("feeder", sort=False)["unbalanced"].all() if "unbalanced" in ok else pd.Series(dtype=bool)
    if by_feeder.all() and len(by_feeder):
        return three
    if not by_feeder.any():
        return one
    return "; ".join(f"{f}: {three if u else one}" for f, u in by_feeder.items())


def provenance(spec: StudySpec, manifest: dict) -> list[str]:
    band = voltage_band(spec.band)
    mv_text = "the feeders' own" if spec.slack_vm_pu is None else f"{spec.slack_vm_pu:g} pu"
    return [
        f"Voltage criterion: {band.source} ({band.statistic_note(spec.step_min * 60)}); MV-side voltage {mv_text}; "
        f"EVs at {', '.join(spec.ev_at)} customers; line limit {spec.line_limit_pct:g} % of max_i_ka, "
        f"transformer limit {spec.trafo_limit_pct:g} % of sn_mva.",
        f"Tariff: {tariff_text(spec)}; volt-watt curve: {VoltWattCurve()}.",
        f"Battery wear: {wear_text(spec)}.",
        f"Seed {spec.seed}; spec hash {manifest['spec_hash']}; step {spec.step_min:g} min; solver {spec.solver}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items()) + ".",
    ]


def render(context: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template(TEMPLATE).render(**context)


def write_report(spec: StudySpec, root: Path, maps: list[tuple[str, bytes]], webmaps: list[tuple[str, str]],
                 periods: list[tuple[str, str]]) -> tuple[Path, Path]:
    """Write root/report.html and root/report.pdf; `maps` are (title, PNG bytes), `webmaps` (feeder name,
    path of its interactive map relative to root), `periods` (feeder name, its periods as the study ran
    them)."""
    root = Path(root)
    for name in ("runs.parquet", "hosting_capacity.csv", "violation_probability.csv", "manifest.json"):
        if not (root / name).is_file():
            raise InputError(f"report: {root / name} does not exist; run `hostcap study` (and `hostcap "
                             "hosting`) on the study file first")
    runs = pd.read_parquet(root / "runs.parquet")
    hosting = in_study_order(spec, pd.read_csv(root / "hosting_capacity.csv"))
    prob = in_study_order(spec, pd.read_csv(root / "violation_probability.csv"))
    value_file = root / "customer_value.csv"
    value = pd.read_csv(value_file) if value_file.is_file() and value_file.stat().st_size > 1 else pd.DataFrame()
    manifest = json.loads((root / "manifest.json").read_text())
    band = voltage_band(spec.band)
    by_band = hosting[["feeder", "strategy", "v2g_share", *(f"hc_point_{b}" for b in BANDS)]].copy()
    by_band.insert(1, "strategy ", [variant_name(s, b, spec.v2g_shares) for s, b in zip(by_band.pop("strategy"),
                                                                                        by_band.pop("v2g_share"))])
    by_band = by_band.rename(columns={"strategy ": "strategy", **{f"hc_point_{b}": b for b in BANDS}})
    for b in BANDS:
        by_band[b] = by_band[b].map(_pct)
    failed = runs[runs["status"] != "ok"]
    notes = [n for n in [too_few_samples(hosting)] if n] + [f"Baseline: {n}." for n in baseline_notes(hosting)]
    context = {
        "spec": spec, "band": band, "band_note": band.statistic_note(spec.step_min * 60),
        "power_flow": power_flow_text(runs),
        "n_runs": f"{len(runs):,}", "n_failed": f"{len(failed):,}", "samples": samples_text(spec, manifest),
        "feeders": ", ".join(f.name for f in spec.feeders),
        "periods": "; ".join(f"{name}: {text}" for name, text in periods),
        "answer": answer_lines(hosting), "notes": notes, "webmaps": webmaps,
        "top": f"{max(spec.penetrations):.0%}", "threshold": f"{spec.max_violation_probability:.0%}",
        "min_samples": min_samples_confident(spec.max_violation_probability),
        "summaries": [(feeder, t.drop(columns="feeder").to_html(index=False, classes="summary"))
                      for feeder, t in summary_table(spec, runs, hosting, prob).groupby("feeder", sort=False)],
        "line_limit": f"{spec.line_limit_pct:g}", "trafo_limit": f"{spec.trafo_limit_pct:g}",
        "step_min": f"{spec.step_min:g}",
        "by_band": by_band.to_html(index=False),
        "hc_figures": hc_curves(spec, prob), "duration_figures": duration_curves(spec, runs, root),
        "households": household_section(spec, value),
        "map_figures": [_figure(_data_uri(png), title) for title, png in maps],
        "provenance": provenance(spec, manifest),
        "failed": failed[["key", "error"]].to_html(index=False) if len(failed) else "",
    }
    page = render(context)
    html_path, pdf_path = root / "report.html", root / "report.pdf"
    write_pdf(page, pdf_path, root)
    write_text(page, html_path)
    return html_path, pdf_path


def write_pdf(page: str, path: Path, base: Path) -> None:
    """Print the report's HTML to PDF (WeasyPrint, A4 landscape: the template's @page rule)."""
    import weasyprint

    with atomic_path(path, suffix=".pdf") as tmp:
        weasyprint.HTML(string=page, base_url=str(base)).write_pdf(tmp)
