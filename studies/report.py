"""The study report: report.html, self-contained (images embedded as base64 PNG), and report.pdf, printed
from the same HTML by WeasyPrint; both from one Jinja2 template (studies/templates/report.html.j2).

Contents: first the conclusion in a sentence per feeder, generated from the results (what breaks, from which
level, in which periods and under which strategy; what hosts every level) and which of the two hosting-capacity
numbers to quote (`studies/answer.py`); then the answer per feeder (hosting capacity per strategy, what binds,
strategies of equal outcome on one line), a summary per feeder at the highest
level in two tables: hosting capacity with its 95 % confident value and P(violation) with its interval, which
judge all periods together (a sample violates when it does in any period), and a row per period and strategy
of min and max voltage, transformer and line loading, peak against the same period without EVs, reverse flow,
V2G and unmet energy. No figure pools periods: a winter and a summer week differ (their pooled median peak is
neither week's); each column names its aggregation over the period's samples (worst sample or median) and
its unit (energies: the fleet's total over the period, or per bidirectional EV). Then hosting capacity under
each voltage criterion, hosting-capacity curves with their intervals, duration curves of the lowest and highest
bus voltage and the transformer loading of chosen runs (the highest level, sample 0; the study keeps their
per-step extremes, `feeder/extremes`), with `reinforcement` what the feeder needs (`studies/feeder_needs.py`),
what the households get
(from customer_value.csv), per feeder a map of every strategy and level (small multiples on the study's
fixed scales) and links to the interactive maps, and assumptions and provenance.
"""
import base64
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hostcap.models.errors import InputError  # noqa: E402
from hostcap.models.limits import BANDS, voltage_band  # noqa: E402
from hostcap.models.strategies import VoltWattCurve  # noqa: E402
from hostcap.models.tariff import Tariff  # noqa: E402
from hostcap.studies import feeder_needs, webpage  # noqa: E402
from hostcap.studies.answer import answer_groups, conclusion, pct, year_lines  # noqa: E402
from hostcap.studies.atomic import atomic_path, write_text  # noqa: E402
from hostcap.studies.fleet import fleet_section  # noqa: E402
from hostcap.studies.gis import name_in_study, same_variant, variant_columns  # noqa: E402
from hostcap.studies.hosting import baseline_notes, in_study_order, min_samples_confident, read_hosting, too_few_samples  # noqa: E402
from hostcap.studies.layout import StudyPaths  # noqa: E402
from hostcap.studies.spec import StudySpec  # noqa: E402
from hostcap.studies.sweep import curve_keys  # noqa: E402

TEMPLATE = "report.html.j2"
STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 1)), "P"),
          ((0, (3, 1, 1, 1, 1, 1)), "X")]  # a line style and marker per strategy: told apart in grey too


def _hour(h: float) -> str:
    return f"{int(h):02d}:{round(60 * (h % 1)):02d}"


def tariff_text(spec: StudySpec) -> str:
    """The tariff the strategies scheduled by, with its source when it is priced; the default's hours."""
    if spec.tariff is None:
        t = Tariff()
        return (f"default time-of-use bands, no prices: peak {_hour(t.peak_start_h)}-{_hour(t.peak_end_h)}, "
                f"off-peak {_hour(t.off_peak_start_h)}-{_hour(t.off_peak_end_h)}, shoulder the rest of the day")
    t = spec.tariff
    return f"{t.name} ({t.currency}; source: {t.source})"


def volt_watt_text(curve: VoltWattCurve = VoltWattCurve()) -> str:
    """The volt-watt curve of `volt_watt` (models/strategies.py) in words and units."""
    points = ", ".join(f"{100 * f:+.0f} % at {v:g} pu" for v, f in zip(curve.v_pu, curve.frac))
    lo, hi = curve.v_absorb_pu
    return (f"charger power {points} (of its rating; negative: discharging); above {lo:g} pu it charges more "
            f"to absorb, at full power from {hi:g} pu; each step it moves {curve.smoothing:.0%} of the way to "
            "the curve")


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


def period_labels(runs: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(feeder, period) -> 'name (first day + days d)', as the runs ran them (whole periods such as `seasons`
    depend on each feeder's profiles)."""
    first = runs.drop_duplicates(["feeder", "period"])
    return {(r.feeder, r.period): f"{r.period} ({r.start} + {r.days} d)" for r in first.itertuples()}


def _periods_of(spec: StudySpec, runs: pd.DataFrame, feeder: str) -> list[str]:
    """The feeder's periods in the study file's order (then any other the runs hold)."""
    order = spec.period_names
    have = list(dict.fromkeys(runs.loc[runs["feeder"] == feeder, "period"]))
    return sorted(have, key=lambda p: order.index(p) if p in order else len(order))


def hosting_table(spec: StudySpec, hosting: pd.DataFrame, prob: pd.DataFrame) -> pd.DataFrame:
    """Per feeder and variant: hosting capacity and P(violation) at the highest level. These judge all the
    study's periods together (a sample violates at a level when its run breaks a limit in any period), so
    they have no period of their own (formatted for reading; hosting_capacity.csv holds the numbers)."""
    top = max(spec.penetrations)
    rows = []
    for _, h in hosting.iterrows():
        p = prob[same_variant(prob, h) & (prob["penetration"] == top)]
        binding = h["binding"] if isinstance(h["binding"], str) and h["binding"] else ""
        rows.append({
            "feeder": h["feeder"], "strategy": name_in_study(spec, h),
            "hosting capacity": pct(h["hc_point_frac"]) + ("" if pd.isna(h["hc_evs"]) else f" ({h['hc_evs']:.0f} EVs)"),
            "95 % confident": pct(h["hc_confident_frac"]),
            "binding": binding.replace(";", ", ") or "none up to the top level",
            f"P(violation) at {top:.0%} EVs, 0-1 [95 % interval]": "-" if p.empty else
            f"{number(p['p_violation'].iloc[0], 2)} [{number(p['p_violation_lo'].iloc[0], 2)}-"
            f"{number(p['p_violation_hi'].iloc[0], 2)}]",
            "uplift vs uncontrolled (pp)": number(100 * h["uplift_vs_uncontrolled_frac"], 2),
        })
    return pd.DataFrame(rows)


def _pu(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3f}"


WORST = "worst sample"  # the extreme over the period's samples
MEDIAN = "median of samples"  # the median over the period's samples
PEAK = f"peak (kW), {MEDIAN}"  # the column a planner sizes a transformer from: one period's, never pooled
PEAK_NO_EV = f"peak without EVs (kW), {MEDIAN}"


def period_table(spec: StudySpec, runs: pd.DataFrame, hosting: pd.DataFrame) -> pd.DataFrame:
    """Per feeder, period and variant at the highest level: the grid and fleet figures of that period alone,
    never pooled over periods (a winter and a summer week have different peaks). Each column names how it
    aggregates the period's samples (the worst sample, or their median) and its unit; energies are the fleet's
    total (or per bidirectional EV) over the period (formatted for reading; runs.parquet holds the numbers)."""
    ok = runs[runs["status"] == "ok"]
    top = max(spec.penetrations)
    labels = period_labels(runs)
    rows = []
    for _, h in hosting.iterrows():
        feeder = h["feeder"]
        for period in _periods_of(spec, runs, feeder):
            at = ok[same_variant(ok, h) & (ok["period"] == period) & (ok["penetration"] == top)]
            base_peak = float(at["peak_demand_no_ev_kw"].median())  # the same period without EVs
            top_peak = float(at["peak_demand_kw"].median())
            change = (f"{100 * (top_peak / base_peak - 1):+.0f} %" if np.isfinite(top_peak) and np.isfinite(base_peak)
                      and base_peak else "-")
            three_phase = "unbalanced" in at and at["unbalanced"].astype(bool).any()
            unbalance = ({f"max VUF (%), {WORST}": number(at["vuf_max_pct"].max(), 2),
                          f"max neutral current (A), {WORST}": number(1e3 * at["neutral_max_ka"].max())}
                         if three_phase else {})
            per_ev = at["ev_discharged_kwh_per_bidirectional_ev"] if "ev_discharged_kwh_per_bidirectional_ev" in at \
                else pd.Series(dtype=float)
            rows.append({
                "feeder": feeder, "period": labels[(feeder, period)],
                "strategy": name_in_study(spec, h),
                "samples": len(at),
                f"min voltage (pu), {WORST}": _pu(at["v_min_pu"].min()),
                f"max voltage (pu), {WORST}": _pu(at["v_max_pu"].max()),
                f"max transformer loading (%), {WORST}": number(at["trafo_max_loading_pct"].max()),
                f"max line loading (%), {WORST}": number(at["line_max_loading_pct"].max()),
                **unbalance,
                PEAK: number(top_peak),
                PEAK_NO_EV: number(base_peak),
                "peak change vs no EVs (of the medians)": change,
                f"reverse flow, max (kW), {WORST}": number(at["reverse_flow_max_kw"].max()),
                f"V2G energy, fleet total (kWh in the period), {MEDIAN}": number(at["ev_discharged_kwh"].median()),
                f"V2G energy per bidirectional EV (kWh in the period), {MEDIAN}": number(per_ev.median()),
                f"EV unmet energy, fleet total (kWh in the period), {MEDIAN}": number(at["ev_unmet_kwh"].median()),
            })
    return pd.DataFrame(rows)


def summaries(spec: StudySpec, runs: pd.DataFrame, hosting: pd.DataFrame, prob: pd.DataFrame) -> list[dict]:
    """Per feeder, in the study's order: its hosting-capacity table (all periods together) and its table per
    period at the highest level, as HTML (every cell escaped)."""
    if hosting.empty:
        return []
    by_feeder = hosting_table(spec, hosting, prob).groupby("feeder", sort=False)
    per_period = dict(list(period_table(spec, runs, hosting).groupby("feeder", sort=False)))
    return [{"feeder": feeder,
             "hosting": t.drop(columns="feeder").to_html(index=False, classes="summary hosting"),
             "periods": (per_period[feeder].drop(columns="feeder").to_html(index=False, classes="summary periods",
                                                                          na_rep="-")
                         if feeder in per_period else "")}
            for feeder, t in by_feeder]


def _styled(i: int) -> dict:
    line, marker = STYLES[i % len(STYLES)]
    return {"linestyle": line, "marker": marker, "markersize": 5}


def hc_curves(spec: StudySpec, prob: pd.DataFrame) -> list[dict]:
    """Per feeder, one small panel per strategy (lines at zero would hide each other in one plot):
    P(violation) against penetration with its 95 % interval, and the threshold."""
    out = []
    for feeder, g in prob.groupby("feeder", sort=False):
        groups = list(g.groupby(variant_columns(g), sort=False))
        cols = min(len(groups), 4)
        rows = -(-len(groups) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows + 0.5), sharex=True, sharey=True,
                                 squeeze=False, constrained_layout=True)
        for ax, (i, (_, s)) in zip(axes.flat, enumerate(groups)):
            x = 100 * s["penetration"]
            ax.fill_between(x, s["p_violation_lo"], s["p_violation_hi"], color=f"C{i}", alpha=0.2,
                            label="95 % interval")
            ax.plot(x, s["p_violation"], color=f"C{i}", **_styled(i), label="P(violation)")
            ax.axhline(spec.max_violation_probability, color="red", ls="--", lw=1,
                       label=f"threshold {spec.max_violation_probability:.0%}")
            ax.set_title(name_in_study(spec, s.iloc[0]), fontsize=9)
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
                                      f"Clopper-Pearson interval, a panel per strategy, {feeder}; all periods "
                                      "together (a sample violates when its run does in any period)"))
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
            name = name_in_study(spec, r._asdict())
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


def _household_scope(figure: str) -> str:
    """Whom and over what time a customer_value.csv figure is counted."""
    if figure.startswith("extra_wear_cost_year_") or figure.startswith("extra_fade_year_"):
        return "per EV home, per year"
    if figure == "outage_covered_share":
        return "per home that lost supply"
    if figure in ("backup_h", "outage_unserved_kwh", "outage_unserved_no_v2h_kwh"):
        return "per home that lost supply, in the period"
    return "per EV home, in the period"


def household_section(spec: StudySpec, value: pd.DataFrame,
                      labels: dict[tuple[str, str], str] | None = None) -> dict | None:
    """The "What the households get" section: a table at the highest level, a row per feeder, period and
    variant, and, per feeder and period, the medians (10th-90th percentile bands) of the money figures against
    penetration. Each column names whom and over what time it counts (per EV home, in the period or per year);
    `labels`: (feeder, period) -> the period as the runs ran it (`period_labels`)."""
    labels = labels or {}
    money = [c for c in value.columns if c.endswith("_median") and
             (c.startswith("saving_vs_uncontrolled_") or c.startswith("extra_wear_cost_year_"))]
    backup = "outage_covered_share_median" if "outage_covered_share_median" in value else None
    if value.empty or not (money or backup):
        return None
    top = value[value["penetration"] == value["penetration"].max()]
    shown = {"feeder": top["feeder"],
             "period": [labels.get((f, p), p) for f, p in zip(top["feeder"], top["period"])],
             "strategy": [name_in_study(spec, r) for _, r in top.iterrows()],
             "EV homes (all samples)": top["ev_households"]}
    for c in money + ([backup] if backup else []) + [c for c in ("backup_h_median", "outage_unserved_kwh_median",
                                                                 "outage_unserved_no_v2h_kwh_median") if c in top]:
        f = c.removesuffix("_median")
        shown[f"{f} (median, p10-p90) {_household_scope(f)}"] = [
            f"{number(m)} ({number(lo)} to {number(hi)})" if np.isfinite(m) else "-"
            for m, lo, hi in zip(top[c], top[f"{f}_p10"], top[f"{f}_p90"])]
    figures = []
    for (feeder, period), g in value.groupby(["feeder", "period"]):
        cols = money + ([backup] if backup else [])
        fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 3.8), constrained_layout=True, squeeze=False)
        for ax, c in zip(axes[0], cols):
            f = c.removesuffix("_median")
            for i, (_, s) in enumerate(g.groupby(variant_columns(g), sort=False)):
                x = 100 * s["penetration"]
                line, = ax.plot(x, s[c], label=name_in_study(spec, s.iloc[0]), **_styled(i))
                ax.fill_between(x, s[f"{f}_p10"], s[f"{f}_p90"], color=line.get_color(), alpha=0.10)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set(xlabel="EV penetration (% of households)", ylabel=f"{f}\n{_household_scope(f)}",
                   title=f"{feeder}, {period}")
        axes[0][0].legend(fontsize=8)
        label = labels.get((feeder, period), period)
        figures.append(_figure(_png(fig), f"What the households get, {feeder}, {label}: median and 10th-90th "
                                          "percentile over the households of all samples (each axis says whom)"))
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


def settings(spec: StudySpec, runs: pd.DataFrame, manifest: dict, periods: list[tuple[str, str]]) -> list[dict]:
    """What the study assumed, in words, for the report's opening (label, text): what ran, on which feeders
    and days, with which EVs and strategies, judged by which limits. The exact settings, seed and versions
    close the report (`provenance`)."""
    band = voltage_band(spec.band)
    failed = int((runs["status"] != "ok").sum()) if len(runs) else 0
    shares = ", ".join(pct(s) for s in spec.v2g_shares)
    customers = " and ".join(spec.ev_at)
    rows = [
        ("Feeders", "; ".join(f"{name} (load and PV profiles: {manifest['profiles'].get(name, 'as given')})"
                              for name in (f.name for f in spec.feeders))),
        ("Periods", "; ".join(f"{name}: {text}" for name, text in periods) or ", ".join(spec.period_names)),
        ("EVs", f"{', '.join(pct(x) for x in spec.penetrations)} EVs per {customers} household (penetration "
                f"levels; above 100 % second cars); {shares} of the EVs are bidirectional (V2G/V2H)"),
        *([("Pathway", "; ".join(f"{y}: {pct(a.ev)} EVs, {pct(a.heat_pump)} heat pumps, {pct(a.pv)} rooftop PV"
                                  for y, a in spec.pathway.items())
            + f" (shares of the households, the feeder's own counted; nested; heat pumps in DWD TRY region "
              f"{spec.climate_region})")]
          if spec.pathway else []),
        *([("Heat pumps", ", ".join(pct(h) for h in spec.heat_pump_axis) + " of the households"
            + (", each level at each" if len(spec.heat_pump_axis) > 1 else "")
            + f" (DWD TRY region {spec.climate_region})")]
          if any(h > 0 for h in spec.heat_pump_axis) else []),
        *([("Rooftop PV", f"{pct(spec.pv_share)} of the households")] if spec.pathway is None and spec.pv_share > 0
          else []),
        ("Strategies", ", ".join(spec.strategies) + f"; tariff: {tariff_text(spec)}"),
        ("Limits", f"voltage: {band.source} ({band.statistic_note(spec.step_min * 60)}); lines "
                   f"{spec.line_limit_pct:g} % of their rated current; transformers "
                   + (f"{spec.trafo_limit_pct:g} % of their rated power" if spec.trafo_criterion == "loading" else
                      "IEC 60076-7's limits of normal cyclic loading (hot spot 120 °C, top oil 105 °C, 1.5 pu) and "
                      "ageing no faster than rated over the period")
                   + " (hosting_capacity.csv gives the answer under both transformer criteria)"),
        ("Hosted", f"a level is hosted when at most {pct(spec.max_violation_probability)} of its samples break any "
                   "limit in any period, and every lower level is hosted too"),
        ("Samples", f"{samples_text(spec, manifest)}; {len(runs):,} runs, {failed:,} failed"),
        ("Power flow", power_flow_text(runs)),
    ]
    return [{"label": label, "text": text} for label, text in rows]


def short_period_note(runs: pd.DataFrame) -> str:
    """A note where a run is shorter than a week (an independent review found a 2-day window understating the
    transformer's peak by a quarter and a smart strategy charging less than half of what it charges over a week)."""
    if "days" not in runs or runs["days"].min() >= 7:
        return ""
    return (f"Periods of {runs['days'].min():g} days: shorter than a week, so EN 50160's weekly statistic is taken "
            "over each period's own length, the week's worst days may be missed, and charging a strategy defers past "
            "a period's end is not seen; read a strategy's effect from a week or more.")


def provenance(spec: StudySpec, manifest: dict) -> list[str]:
    band = voltage_band(spec.band)
    mv_text = "the feeders' own" if spec.slack_vm_pu is None else f"{spec.slack_vm_pu:g} pu"
    return [
        f"Voltage criterion: {band.source} ({band.statistic_note(spec.step_min * 60)}); MV-side voltage {mv_text}; "
        f"EVs at {', '.join(spec.ev_at)} customers; line limit {spec.line_limit_pct:g} % of the rated current "
        f"(max_i_ka), transformer limit {spec.trafo_limit_pct:g} % of the rated power (sn_mva).",
        "Load and PV profiles: " + "; ".join(f"{name}: {source}" for name, source in manifest["profiles"].items())
        + ".",
        f"Tariff: {tariff_text(spec)}.",
        f"Volt-watt curve (volt_watt): {volt_watt_text()}.",
        f"Battery wear: {wear_text(spec)}.",
        f"Seed {spec.seed}; spec hash {manifest['spec_hash']}; step {spec.step_min:g} min; solver {spec.solver}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items()) + ".",
    ]


def render(context: dict) -> str:
    """The page: the template with every input string escaped, under a policy that runs no script."""
    return webpage.with_policy(webpage.render(TEMPLATE, **context))


def write_report(spec: StudySpec, root: Path, maps: list[tuple[str, bytes]], webmaps: list[tuple[str, str]],
                 periods: list[tuple[str, str]]) -> tuple[Path, Path]:
    """Write root/report.html and root/report.pdf; `maps` are (title, PNG bytes), `webmaps` (feeder name,
    path of its interactive map relative to root), `periods` (feeder name, its periods as the study ran
    them)."""
    root = Path(root)
    page = report_html(spec, root, maps, webmaps, periods)
    html_path, pdf_path = StudyPaths(root).report_html, StudyPaths(root).report_pdf
    write_pdf(page, pdf_path, root)
    write_text(page, html_path)
    return html_path, pdf_path


def fleet_report(spec: StudySpec, paths: StudyPaths) -> dict | None:
    """The fleet section (`studies/fleet.py`) where the study has a feeder set or more than two feeders."""
    if not paths.fleet.is_file() or not paths.fleet_statistics.is_file():
        return None
    fleet = pd.read_csv(paths.fleet)
    if not (len(fleet) > 2 or fleet["source"].notna().any()):
        return None
    return fleet_section(spec, fleet, pd.read_csv(paths.fleet_statistics))


def needs_section(spec: StudySpec, paths: StudyPaths) -> dict | None:
    """The "What the feeder needs" section (`studies/feeder_needs.py`), with `reinforcement`."""
    if spec.reinforcement is None or not paths.reinforcement.is_file() or paths.reinforcement.stat().st_size < 2:
        return None
    table = pd.read_csv(paths.reinforcement)
    years = pd.read_csv(paths.first_violation) if spec.pathway and paths.first_violation.is_file() else None
    return {"settings": feeder_needs.settings_text(spec, table),
            "table": feeder_needs.needs_table(spec, table, years).to_html(index=False, na_rep="-"),
            "figures": [_figure(_png(fig), caption) for fig, caption in feeder_needs.cost_figures(spec, table)]}


def report_html(spec: StudySpec, root: Path, maps: list[tuple[str, bytes]], webmaps: list[tuple[str, str]],
                periods: list[tuple[str, str]]) -> str:
    """The report's HTML page from the study's outputs in root (`write_report`'s arguments)."""
    paths = StudyPaths(root)
    for path in (paths.runs, paths.hosting, paths.probability, paths.manifest):
        if not path.is_file():
            raise InputError(f"report: {path} does not exist; run `hostcap study` (and `hostcap "
                             "hosting`) on the study file first")
    runs = pd.read_parquet(paths.runs)
    hosting = in_study_order(spec, read_hosting(paths.hosting))
    prob = in_study_order(spec, pd.read_csv(paths.probability))
    value_file = paths.customer_value
    value = pd.read_csv(value_file) if value_file.is_file() and value_file.stat().st_size > 1 else pd.DataFrame()
    manifest = json.loads(paths.manifest.read_text())
    band = voltage_band(spec.band)
    by_band = hosting[["feeder", *(f"hc_point_{b}_frac" for b in BANDS)]].copy()
    by_band.insert(1, "strategy", [name_in_study(spec, h) for _, h in hosting.iterrows()])
    by_band = by_band.rename(columns={f"hc_point_{b}_frac": b for b in BANDS})
    for b in BANDS:
        by_band[b] = by_band[b].map(pct)
    failed = runs[runs["status"] != "ok"]
    notes = [n for n in [too_few_samples(hosting), short_period_note(runs)] if n] + \
        [f"Baseline: {n}." for n in baseline_notes(hosting)]
    context = {
        "spec": spec, "band": band, "band_note": band.statistic_note(spec.step_min * 60),
        "power_flow": power_flow_text(runs),
        "n_runs": f"{len(runs):,}", "n_failed": f"{len(failed):,}", "samples": samples_text(spec, manifest),
        "feeders": ", ".join(f.name for f in spec.feeders),
        "periods": "; ".join(f"{name}: {text}" for name, text in periods),
        "settings": settings(spec, runs, manifest, periods),
        "conclusion": conclusion(spec, hosting, runs), "answer": answer_groups(spec, hosting), "notes": notes,
        "years": (year_lines(spec, pd.read_csv(paths.first_violation))
                  if spec.pathway is not None and paths.first_violation.is_file() else []),
        "webmaps": webmaps,
        "top": f"{max(spec.penetrations):.0%}", "threshold": f"{spec.max_violation_probability:.0%}",
        "min_samples": min_samples_confident(spec.max_violation_probability),
        "summaries": summaries(spec, runs, hosting, prob),
        "line_limit": f"{spec.line_limit_pct:g}", "trafo_limit": f"{spec.trafo_limit_pct:g}",
        "step_min": f"{spec.step_min:g}",
        "by_band": by_band.to_html(index=False),
        "hc_figures": hc_curves(spec, prob), "duration_figures": duration_curves(spec, runs, root),
        "needs": needs_section(spec, paths),
        "fleet": fleet_report(spec, paths),
        "households": household_section(spec, value, period_labels(runs)),
        "map_figures": [_figure(_data_uri(png), title) for title, png in maps],
        "provenance": provenance(spec, manifest),
        "failed": failed[["key", "error"]].to_html(index=False) if len(failed) else "",
    }
    return render(context)


def write_pdf(page: str, path: Path, base: Path) -> None:
    """Print the report's HTML to PDF (WeasyPrint, A4 landscape: the template's @page rule)."""
    import weasyprint

    with atomic_path(path, suffix=".pdf") as tmp:
        weasyprint.HTML(string=page, base_url=str(base)).write_pdf(tmp)
