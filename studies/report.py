"""The study report: one self-contained HTML file (images embedded as base64 PNG).

Contents: a summary table per feeder x variant, hosting-capacity curves, voltage and transformer-loading
duration curves of chosen scenarios (the highest penetration level, sample 0, re-run from the same seed:
runs are reproducible, so the curves are those of the study's runs), what the households get (saving
against uncontrolled charging, export revenue, extra battery wear and its cost, outage backup: from
customer_value.csv, with a plot), the maps, and assumptions and provenance.
"""
import base64
import html
import io
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hostcap.cosim.world import run_scenario  # noqa: E402
from hostcap.models.errors import InputError  # noqa: E402
from hostcap.models.limits import BANDS, voltage_band  # noqa: E402
from hostcap.models.strategies import VoltWattCurve  # noqa: E402
from hostcap.models.tariff import Tariff  # noqa: E402
from hostcap.studies.atomic import write_text  # noqa: E402
from hostcap.studies.gis import variant_name  # noqa: E402
from hostcap.studies.hosting import baseline_notes, min_samples_confident, too_few_samples  # noqa: E402
from hostcap.studies.spec import StudySpec  # noqa: E402
from hostcap.studies.sweep import sweep  # noqa: E402

CSS = """body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}
th{background:#eee}img{max-width:100%}h2{border-bottom:1px solid #ccc}code{background:#f4f4f4}"""


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
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(src: str, alt: str) -> str:
    return f'<figure><img src="{src}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def summary_table(spec: StudySpec, runs: pd.DataFrame, hosting: pd.DataFrame) -> pd.DataFrame:
    ok = runs[runs["status"] == "ok"]
    top = max(spec.penetrations)
    rows = []
    for _, h in hosting.iterrows():
        sel = ok[(ok["feeder"] == h["feeder"]) & (ok["strategy"] == h["strategy"]) & (ok["v2g_share"] == h["v2g_share"])]
        at_top = sel[sel["penetration"] == top]
        base_peak = float(at_top["peak_demand_no_ev_kw"].median())  # the same period without EVs
        top_peak = float(at_top["peak_demand_kw"].median())
        rows.append({
            "feeder": h["feeder"], "variant": variant_name(h["strategy"], h["v2g_share"], spec.v2g_shares),
            "hosting capacity (%)": 100 * h["hc_point"],
            "hosting capacity, 95 % confident (%)": 100 * h["hc_confident"], "hosting capacity (EVs)": h["hc_evs"],
            "binding": (h["binding"] if isinstance(h["binding"], str) else "").replace(";", ", ") or "none",
            "samples per level (fewest)": h["n_samples_min"],
            "V2G uplift (pp)": 100 * h["uplift_vs_uncontrolled"],
            "violates without EVs": h["baseline_violates"] if isinstance(h["baseline_violates"], str) else "",
            f"peak at {top:.0%} vs no EV (kW)": top_peak - base_peak,
            f"peak at {top:.0%} vs no EV (%)": 100 * (top_peak / base_peak - 1) if base_peak else np.nan,
            f"min / max voltage at {top:.0%} (pu)": f"{at_top['v_min_pu'].min():.3f} / {at_top['v_max_pu'].max():.3f}",
            f"max transformer loading at {top:.0%} (%)": float(at_top["trafo_max_loading_pct"].max()),
            f"reverse flow at {top:.0%} (kW, max)": float(at_top["reverse_flow_max_kw"].max()),
            f"EV unmet energy at {top:.0%} (kWh, median)": float(at_top["ev_unmet_kwh"].median()),
            f"V2G energy at {top:.0%} (kWh, median)": float(at_top["ev_discharged_kwh"].median()),
            f"fleet energy change at {top:.0%} (kWh, median)": float(at_top["ev_energy_delta_kwh"].median()),
        })
    return pd.DataFrame(rows)


def hc_curves(spec: StudySpec, prob: pd.DataFrame) -> list[str]:
    out = []
    for feeder, g in prob.groupby("feeder"):
        fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
        for (strategy, share), s in g.groupby(["strategy", "v2g_share"]):
            x = 100 * s["penetration"]
            line, = ax.plot(x, s["p_violation"], marker="o", label=variant_name(strategy, share, spec.v2g_shares))
            ax.fill_between(x, s["p_violation_lo"], s["p_violation_hi"], color=line.get_color(), alpha=0.12)
        ax.axhline(spec.max_violation_probability, color="red", ls="--", lw=1, label="threshold")
        ax.set_xlabel("EV penetration (% of households)")
        ax.set_ylabel("P(any violation), 95 % interval")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"Hosting capacity: {feeder}", fontsize=10)
        ax.legend(fontsize=8)
        out.append(_img(_png(fig), f"Probability of violation against penetration, {feeder}"))
    return out


def duration_curves(spec: StudySpec) -> list[str]:
    top = max(spec.penetrations)
    chosen = [s for s in sweep(spec) if s.penetration == top and s.sample == 0]
    out = []
    for feeder in spec.feeders:
        period = spec.periods_of(feeder)[0]
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
        for sc in (s for s in chosen if s.start == period.start and s.days == period.days
                   and s.feeder_name == feeder.name):
            r = run_scenario(sc)
            hours = np.arange(r.inputs.n_steps) * r.inputs.dt_s / 3600
            name = variant_name(sc.strategy, sc.v2g_share, spec.v2g_shares)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # dark (outage) or diverged steps
                vmin, trafo = np.nanmin(r.series["vm_pu"], axis=1), np.nanmax(r.series["trafo_loading_pct"], axis=1)
            a.plot(hours, np.sort(vmin), label=name)
            b.plot(hours, np.sort(trafo)[::-1], label=name)
        band = voltage_band(spec.band)
        a.axhline(band.v_min_pu, color="red", ls="--", lw=1)
        b.axhline(spec.trafo_limit_pct, color="red", ls="--", lw=1)
        a.set(xlabel="hours (sorted)", ylabel="lowest bus voltage (pu)", title="voltage duration curve")
        b.set(xlabel="hours (sorted)", ylabel="highest transformer loading (%)", title="loading duration curve")
        a.legend(fontsize=8)
        b.legend(fontsize=8)
        out.append(_img(_png(fig), f"Duration curves at {top:.0%} EVs, sample 0, period "
                                   f"{period.name}, {feeder.name}"))
    return out


def household_section(spec: StudySpec, value: pd.DataFrame) -> list[str]:
    """The "What the households get" section: a table at the highest level and, per feeder, the medians
    (10th-90th percentile bands) of the money figures against penetration."""
    money = [c for c in value.columns if c.endswith("_median") and
             (c.startswith("saving_vs_uncontrolled_") or c.startswith("extra_wear_cost_year_"))]
    backup = "outage_covered_share_median" if "outage_covered_share_median" in value else None
    if value.empty or not (money or backup):
        return []
    top = value[value["penetration"] == value["penetration"].max()]
    shown = {"feeder": top["feeder"], "period": top["period"],
             "variant": [variant_name(s, b, spec.v2g_shares) for s, b in zip(top["strategy"], top["v2g_share"])],
             "EV homes": top["ev_households"]}
    for c in money + ([backup] if backup else []) + [c for c in ("backup_h_median", "outage_unserved_kwh_median",
                                                                 "outage_unserved_no_v2h_kwh_median") if c in top]:
        f = c.removesuffix("_median")
        shown[f"{f} (median, p10-p90)"] = [f"{m:.2f} ({lo:.2f} to {hi:.2f})" if np.isfinite(m) else "-"
                                           for m, lo, hi in zip(top[c], top[f"{f}_p10"], top[f"{f}_p90"])]
    out = ["<h2>What the households get</h2>",
           f"<p>At {value['penetration'].max():.0%} EVs, per household over the period: the saving against "
           "charging the same car on the same trips uncontrolled, and the cost of the extra battery fade per "
           "year against that (BLAST-Lite; negative: less wear). Medians with the 10th-90th percentile over the "
           "EV households of all samples (customer_value.csv).</p>",
           pd.DataFrame(shown).to_html(index=False, na_rep="-")]
    for (feeder, period), g in value.groupby(["feeder", "period"]):
        cols = money + ([backup] if backup else [])
        fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 3.8), constrained_layout=True, squeeze=False)
        for ax, c in zip(axes[0], cols):
            f = c.removesuffix("_median")
            for (strategy, share), s in g.groupby(["strategy", "v2g_share"]):
                x = 100 * s["penetration"]
                line, = ax.plot(x, s[c], marker="o", label=variant_name(strategy, share, spec.v2g_shares))
                ax.fill_between(x, s[f"{f}_p10"], s[f"{f}_p90"], color=line.get_color(), alpha=0.12)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set(xlabel="EV penetration (% of households)", ylabel=f, title=f"{feeder}, {period}")
        axes[0][0].legend(fontsize=8)
        out.append(_img(_png(fig), f"What the households get, {feeder}, {period}: median and 10th-90th percentile"))
    return out


def write_report(spec: StudySpec, root: Path, maps: list[tuple[str, bytes]]) -> Path:
    """Write root/report.html; `maps` are (title, PNG bytes)."""
    root = Path(root)
    for name in ("runs.parquet", "hosting_capacity.csv", "violation_probability.csv", "manifest.json"):
        if not (root / name).is_file():
            raise InputError(f"report: {root / name} does not exist; run `hostcap study` (and `hostcap "
                             "hosting`) on the study file first")
    runs = pd.read_parquet(root / "runs.parquet")
    hosting = pd.read_csv(root / "hosting_capacity.csv")
    prob = pd.read_csv(root / "violation_probability.csv")
    value_file = root / "customer_value.csv"
    value = pd.read_csv(value_file) if value_file.is_file() and value_file.stat().st_size > 1 else pd.DataFrame()
    manifest = json.loads((root / "manifest.json").read_text())
    band = voltage_band(spec.band)
    mv_text = "the feeders' own" if spec.slack_vm_pu is None else f"{spec.slack_vm_pu:g} pu"
    table = summary_table(spec, runs, hosting)
    others = hosting[["feeder", "strategy", "v2g_share", *(f"hc_point_{b}" for b in BANDS)]].copy()
    others.insert(1, "variant", [variant_name(s, b, spec.v2g_shares) for s, b in zip(others.pop("strategy"),
                                                                                       others.pop("v2g_share"))])
    others[[f"hc_point_{b}" for b in BANDS]] *= 100
    images = [_img("data:image/png;base64," + base64.b64encode(png).decode(), title) for title, png in maps]
    failed = runs[runs["status"] != "ok"]
    periods = "; ".join(f"{f.name}: " + ", ".join(f"{p.name} {p.start} + {p.days} d" for p in spec.periods_of(f))
                        for f in spec.feeders)
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Study {html.escape(spec.name)}</title>",
        f"<style>{CSS}</style></head><body><h1>Hosting-capacity study <code>{html.escape(spec.name)}</code></h1>",
        f"<p>{len(runs)} scenarios ({len(failed)} failed), {html.escape(samples_text(spec, manifest))}, feeders: "
        f"{html.escape(', '.join(f.name for f in spec.feeders))}; periods {html.escape(periods)}.</p>",
        "<h2>Summary</h2>", table.to_html(index=False, float_format=lambda x: f"{x:.3g}", na_rep="-",
                                          classes="summary"),
        f"<p>Hosting capacity: the highest penetration level whose probability of violating any limit (and "
        f"that of every lower level) is at most {spec.max_violation_probability:.0%}; 95 % confident: the same "
        f"with the probability's one-sided 95 % Clopper-Pearson upper bound, which needs at least "
        f"{min_samples_confident(spec.max_violation_probability)} samples without violation at a level. "
        f"Binding: the criteria broken at the first level above the hosting capacity. The curves show the "
        f"two-sided 95 % interval. V2G uplift: hosting capacity minus that of uncontrolled charging, in "
        f"percentage points. Voltage criterion: {html.escape(band.source)}: "
        f"{html.escape(band.statistic_note(spec.step_min * 60))}.</p>",
        *([f"<p><b>{html.escape(warn)}.</b></p>"] if (warn := too_few_samples(hosting)) else []),
        *[f"<p><b>Baseline: {html.escape(note)}.</b></p>" for note in baseline_notes(hosting)],
        "<h3>Hosting capacity (%) under each voltage criterion</h3>",
        f"<p>The same runs judged by each criterion (thermal limits and convergence unchanged); the study's is "
        f"{spec.band}.</p>", others.to_html(index=False, float_format=lambda x: f"{x:.0f}", na_rep="-"),
        "<h2>Hosting-capacity curves</h2>", *hc_curves(spec, prob),
        "<h2>Duration curves</h2>", *duration_curves(spec),
        *household_section(spec, value),
        "<h2>Maps</h2>", *images,
        "<h2>Assumptions and provenance</h2><ul>",
        f"<li>Voltage criterion: {band.source} ({band.statistic_note(spec.step_min * 60)}); MV-side voltage "
        f"{mv_text}; EVs at "
        f"{', '.join(spec.ev_at)} customers; line limit "
        f"{spec.line_limit_pct} % of max_i_ka, transformer limit {spec.trafo_limit_pct} % of sn_mva.</li>",
        f"<li>Tariff: {html.escape(tariff_text(spec))}; volt-watt curve: "
        f"{html.escape(str(VoltWattCurve()))}.</li>",
        f"<li>Battery wear: {html.escape(wear_text(spec))}.</li>",
        f"<li>Seed {spec.seed}; spec hash <code>{manifest['spec_hash']}</code>; step {spec.step_min:g} min; "
        f"solver {spec.solver}.</li>",
        "<li>Versions: " + html.escape(", ".join(f"{k} {v}" for k, v in manifest["versions"].items())) + "</li>",
        "</ul>",
    ]
    if len(failed):
        parts += ["<h2>Failed scenarios</h2>", failed[["key", "error"]].to_html(index=False)]
    parts.append("</body></html>")
    path = root / "report.html"
    write_text("\n".join(parts), path)
    return path
