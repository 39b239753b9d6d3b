"""The report's "What the feeder needs" section (`reinforcement:` studies): from reinforcement.csv and, with a
pathway, first_violation_year.csv (`studies/flexibility.py`), per feeder and strategy what must be built, when,
what it costs (median with its 95 % interval, 90th percentile, at the study's confidence) and what the strategy
avoids or defers against uncontrolled charging; and a figure per feeder of the cost at confidence per level."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hostcap.studies.cost_file import load_cost_file  # noqa: E402
from hostcap.studies.flexibility import eur, headline_period  # noqa: E402
from hostcap.studies.gis import name_in_study, variant_columns  # noqa: E402
from hostcap.studies.hosting import group_of, in_study_order, min_samples_confident  # noqa: E402
from hostcap.studies.plans import site_density  # noqa: E402
from hostcap.studies.spec import StudySpec  # noqa: E402


def _cost(r) -> str:
    return f"{eur(r.cost_eur)} ({eur(r.cost_eur_lo)} to {eur(r.cost_eur_hi)})"


def needs_table(spec: StudySpec, table: pd.DataFrame, years: pd.DataFrame | None) -> pd.DataFrame:
    """A row per feeder and variant at the study's highest level (with a pathway, its last year)."""
    t = table[(table["period"] == headline_period(spec)) & (table["penetration"] == max(spec.penetrations))]
    t = in_study_order(spec, t)
    level = f"{max(spec.level_years.values())}" if spec.pathway else f"{max(spec.penetrations):.0%} EVs"
    shown = pd.DataFrame({
        "feeder": t["feeder"], "strategy": [name_in_study(spec, r) for _, r in t.iterrows()],
        f"samples reinforced ({level})": [f"{r.n_reinforced}/{r.n_samples}" for r in t.itertuples()],
        "cost, EUR: median (95 % interval)": [_cost(r) for r in t.itertuples()],
        "90th percentile": t["cost_eur_p90"].map(eur),
        f"at {1 - spec.max_violation_probability:.0%} of samples": t["cost_eur_at_confidence"].map(eur),
        "avoided vs uncontrolled, EUR (paired median)": t["avoided_cost_eur"].map(eur),
        "per EV": t["avoided_cost_eur_per_ev"].map(eur),
        "V2G's own value per bidirectional EV and year (vs smart)": t["v2g_value_eur_per_bidirectional_ev_year"].map(
            eur),
        "measures (samples)": t["measures"].fillna("")})
    if years is not None and "reinforcement_pv_eur" in years:
        keys = group_of(t)
        y = years.set_index(keys)
        idx = [tuple(r[c] for c in keys) for _, r in t.iterrows()]

        def get(col: str) -> list:
            return [y[col].get(i, np.nan) for i in idx]

        def year(v) -> str:
            return f"{v:.0f}" if np.isfinite(v) else "-"

        shown.insert(2, "first breaks", [year(v) for v in get("first_violation_year")])
        shown.insert(3, "first built", [year(v) for v in get("first_reinforcement_year")])
        shown.insert(4, "what, from when", [v if isinstance(v, str) else "" for v in get("measures_first_needed")])
        shown["present value of the build-out, EUR"] = [eur(v) for v in get("reinforcement_pv_eur")]
        shown["deferral value vs uncontrolled, EUR"] = [eur(v) for v in get("deferral_value_eur")]
    return shown


def cost_figures(spec: StudySpec, table: pd.DataFrame) -> list[tuple[plt.Figure, str]]:
    """Per feeder: the cost at confidence and the median with its interval, per strategy and level."""
    out = []
    t = table[(table["period"] == headline_period(spec)) & (table["penetration"] > 0)]
    for feeder, g in t.groupby("feeder", sort=False):
        fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
        for i, (_, s) in enumerate(g.groupby(variant_columns(g), sort=False)):
            x = s["year"] if "year" in s else 100 * s["penetration"]
            at = np.where(np.isfinite(s["cost_eur_at_confidence"]), s["cost_eur_at_confidence"], np.nan) / 1e3
            line, = ax.plot(x, at, marker="os^Dv<>"[i % 7], label=name_in_study(spec, s.iloc[0]))
            ax.fill_between(x, s["cost_eur_lo"] / 1e3, s["cost_eur_hi"] / 1e3, color=line.get_color(), alpha=0.12)
        ax.set(xlabel="year" if spec.pathway else "EV penetration (% of households)", ylabel="kEUR",
               title=f"{feeder}: reinforcement cost at {1 - spec.max_violation_probability:.0%} of samples "
                     "(band: the median's 95 % interval)")
        ax.legend(fontsize=8)
        out.append((fig, f"What the feeder needs, {feeder}: the cost of the measures that hold in all but "
                         f"{spec.max_violation_probability:.0%} of the samples, per strategy (reinforcement.csv)"))
    return out


def settings_text(spec: StudySpec, table: pd.DataFrame) -> str:
    """The planner's settings in words, and how far the samples decide the cost at confidence."""
    r = spec.reinforcement
    sites = ", ".join(f"{f.name}: {site_density(f, r.density)}" for f in spec.feeders)
    text = (f"cost file {r.cost_file.name} ({load_cost_file(r.cost_file).price_basis}); cable cost by site "
            f"({sites}); discount rate {r.discount_rate:.1%}, equipment life {r.lifetime_years} years")
    top = table[(table["period"] == headline_period(spec)) & (table["penetration"] == max(spec.penetrations))]
    n = int(top["n_samples"].min()) if len(top) else 0
    q = 1 - spec.max_violation_probability
    if n and n < min_samples_confident(spec.max_violation_probability):
        k = int(np.ceil(q * n))
        text += (f". With {n} samples at the top level, the cost at {q:.0%} of samples is the {k}th of {n} sorted, "
                 "close to the largest: read it with the median and its interval")
    return text


def needs_lines(spec: StudySpec, table: pd.DataFrame, years: pd.DataFrame | None) -> list[str]:
    """A line per feeder and variant for the terminal: the cost at the highest level (or last year), what is
    built, and what the strategy avoids (and defers) against uncontrolled."""
    shown = needs_table(spec, table, years)
    conf = f"at {1 - spec.max_violation_probability:.0%} of samples"
    level = f"{max(spec.level_years.values())}" if spec.pathway else f"{max(spec.penetrations):.0%} EVs"
    lines = []
    for _, r in shown.iterrows():
        what = r["what, from when"] if "what, from when" in r else r["measures (samples)"]
        text = (f"{r['feeder']} | {r['strategy']}: reinforcement in {level} {r[conf]} EUR {conf} (median "
                f"{r['cost, EUR: median (95 % interval)']}){': ' + what if what else ''}")
        avoided = r["avoided vs uncontrolled, EUR (paired median)"]
        if r["strategy"] != "uncontrolled" and avoided != "-":
            text += f"; avoids {avoided} EUR against uncontrolled (paired median)"
            if "deferral value vs uncontrolled, EUR" in r:
                text += f" (deferral value {r['deferral value vs uncontrolled, EUR']} EUR)"
        own = r["V2G's own value per bidirectional EV and year (vs smart)"]
        if own != "-":
            text += f"; V2G's own value against smart {own} EUR per bidirectional EV and year"
        lines.append(text)
    return lines
