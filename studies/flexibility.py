"""The value of flexibility: what each strategy's samples cost to reinforce (`studies/plans.py`) and what a
strategy avoids or defers against `uncontrolled` charging.

Per sample and period (and `all`, a sample's plan over its periods, in a study of several) the cost is its plan's
(0 where the sample breaks no limit; infinite where the standard measures do not suffice, `unsolved`).
`reinforcement.csv`, one row per feeder x period x strategy x share(s) x level:

- `n_samples`, `n_reinforced` (samples that need a measure), `n_unsolved`;
- `cost_eur`: the median over samples, with `cost_eur_lo`/`cost_eur_hi`, its distribution-free 95 % interval
  (order statistics x_(j) and x_(n+1-j), j the largest with P(Binomial(n, 1/2) < j) <= 2.5 %; with 5 samples or
  fewer, the smallest and the largest); `cost_eur_p90`, the 90th percentile; `cost_eur_at_confidence`, the
  cost of the plan that holds in all but `max_violation_probability` of the samples (its (1 - p) quantile, an
  observed sample's cost: what a planner builds for the study's risk);
- `measures`: each element's measure and in how many samples it is built;
- against `uncontrolled` on the same feeder, period, share(s) and level, on the samples both ran:
  `avoided_cost_eur`, the median of the paired difference (uncontrolled's cost minus this strategy's, sample by
  sample; the headline), `avoided_cost_eur_at_confidence`, the difference of the costs at confidence, and per EV
  (`avoided_cost_eur_per_ev`, over the median EV count of the shared samples); for a strategy that discharges
  (`models/choices.DISCHARGING`) per bidirectional EV and year (`avoided_cost_eur_per_bidirectional_ev_year`: as
  an annuity over the equipment's `lifetime_years` at the study's `discount_rate`);
- V2G's own value, for a strategy that discharges: what it avoids against `smart` charging, what a utility
  runs without V2G (`v2g_reference`; `uncontrolled` where the study has no `smart`): `v2g_avoided_cost_eur`
  (paired median) and `v2g_value_eur_per_bidirectional_ev_year`;
- with a pathway, the level's `year`.

With a pathway, per feeder x strategy x share (period `all`, or the study's one period), `pathway_value`: the
first year a measure is built (`first_reinforcement_year`), the present value in the pathway's first year of
building, year by year, what each year's design sample needs (`reinforcement_pv_eur`; the design sample is the
one whose plan costs the cost at confidence, of those the one with the highest transformer loading, whose
reinforced feeder the study writes): a transformer is paid again whenever a year needs more rated power than
is built (a second swap), a line's cables by their increase; `deferral_value_eur`, uncontrolled's present value
minus this one's (what a strategy does not need by the pathway's last year counts as avoided within the
pathway, though a later year may need it); and `measures_first_needed`, the year each element's measure is
first needed in more than `max_violation_probability` of the samples."""
import numpy as np
import pandas as pd
from scipy import stats

from hostcap.models.choices import DISCHARGING
from hostcap.studies.gis import matching
from hostcap.studies.hosting import group_of
from hostcap.studies.plans import sample_columns
from hostcap.studies.reinforce import ALL_PERIODS, with_measure
from hostcap.studies.spec import StudySpec

BASELINE = "uncontrolled"
V2G_REFERENCE = "smart"  # what a utility runs without V2G: the reference of V2G's own value


def sample_costs(spec: StudySpec, runs: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per sample and period (and `all`): `cost_eur` (inf: unsolved), `unsolved`, `n_ev`,
    `n_bidirectional`, `trafo_max_loading_pct` (over the sample's runs)."""
    ok = runs[runs["status"] == "ok"]
    cols = sample_columns(runs)
    base = ok[[*cols, "period", "n_ev", "n_bidirectional", "trafo_max_loading_pct"]]
    if len(spec.period_names) > 1:
        whole = ok.groupby(cols, as_index=False).agg(
            n_ev=("n_ev", "first"), n_bidirectional=("n_bidirectional", "first"),
            trafo_max_loading_pct=("trafo_max_loading_pct", "max"))
        base = pd.concat([base, whole.assign(period=ALL_PERIODS)], ignore_index=True)
    per_plan = rows.groupby([*cols, "period"], as_index=False).agg(
        cost_eur=("cost_eur", "sum"), unsolved=("status", lambda s: (s == "unsolved").any()))
    per_plan.loc[per_plan["unsolved"], "cost_eur"] = np.inf
    out = base.merge(per_plan, on=[*cols, "period"], how="left")
    return out.assign(cost_eur=out["cost_eur"].fillna(0.0), unsolved=out["unsolved"].eq(True))


def eur(x: float) -> str:
    """A cost as the tables show it: whole euros, `unsolved` for infinity, `-` for none."""
    if not np.isfinite(x):
        return "unsolved" if x > 0 else "-"
    return f"{x:,.0f}"


def median_interval(costs: np.ndarray) -> tuple[float, float]:
    """Distribution-free 95 % interval of the median (the module docstring)."""
    x = np.sort(costs)
    n = len(x)
    below = np.flatnonzero(stats.binom.cdf(np.arange(n), n, 0.5) <= 0.025)  # cdf(m) = P(Bin <= m)
    lo = int(below[-1]) if len(below) else 0  # [x_(m+1), x_(n-m)] covers 1 - 2 cdf(m)
    return float(x[lo]), float(x[n - 1 - lo])


def annuity_factor(rate: float, years: int) -> float:
    """Capital recovery factor: the yearly payment that repays 1 over `years` at `rate`."""
    return 1.0 / years if rate == 0 else rate / (1.0 - (1.0 + rate) ** -years)


def _measures_text(rows: pd.DataFrame, n: int) -> str:
    counts = with_measure(rows).groupby(["element", "kind"]).size().sort_values(ascending=False)
    return "; ".join(f"{el}: {kind} in {k}/{n}" for (el, kind), k in counts.items())


def reinforcement_table(spec: StudySpec, runs: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """reinforcement.csv (the module docstring)."""
    costs = sample_costs(spec, runs, rows)
    group = group_of(runs)
    keys = [*group, "period", "penetration"]
    q = 1.0 - spec.max_violation_probability
    out = []
    for key, g in costs.groupby(keys, sort=True):
        c = g["cost_eur"].to_numpy()
        lo, hi = median_interval(c)
        at = rows.merge(g[[*sample_columns(runs), "period"]], on=[*sample_columns(runs), "period"])
        out.append({**dict(zip(keys, key)), "n_samples": len(c), "n_reinforced": int((c > 0).sum()),
                    "n_unsolved": int(g["unsolved"].sum()), "cost_eur": float(np.median(c)),
                    "cost_eur_lo": lo, "cost_eur_hi": hi,
                    "cost_eur_p90": float(np.quantile(c, 0.9, method="inverted_cdf")),
                    "cost_eur_at_confidence": float(np.quantile(c, q, method="inverted_cdf")),
                    "n_ev": float(g["n_ev"].median()), "n_bidirectional": float(g["n_bidirectional"].median()),
                    "measures": _measures_text(at, len(c))})
    table = pd.DataFrame(out)
    if table.empty:
        return table
    table = _avoided(spec, table, costs, group)
    if spec.pathway is not None:
        table.insert(table.columns.get_loc("penetration") + 1, "year", table["penetration"].map(spec.level_years))
    return table


def _avoided(spec: StudySpec, table: pd.DataFrame, costs: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """The avoided-cost columns (the module docstring); NaN without the reference strategy."""
    keys = [*group, "period", "penetration"]
    levels = [c for c in keys if c != "strategy"]
    reference = V2G_REFERENCE if V2G_REFERENCE in spec.strategies else BASELINE
    table = table.merge(_paired(costs, BASELINE, group, "_"), on=keys, how="left")
    table = table.merge(_paired(costs, reference, group, "_v2g_"), on=keys, how="left")
    base = table.loc[table["strategy"] == BASELINE, [*levels, "cost_eur_at_confidence"]]
    table = table.merge(base.rename(columns={"cost_eur_at_confidence": "_base"}), on=levels, how="left")
    a = annuity_factor(spec.reinforcement.discount_rate, spec.reinforcement.lifetime_years)
    discharges = table["strategy"].isin(DISCHARGING)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["avoided_cost_eur"] = table["_avoided"]
        table["avoided_cost_eur_at_confidence"] = table["_base"] - table["cost_eur_at_confidence"]
        table["avoided_cost_eur_per_ev"] = table["_avoided"] / table["_n_ev"].where(table["_n_ev"] > 0)
        table["avoided_cost_eur_per_bidirectional_ev_year"] = (
            table["_avoided"] * a / table["_n_bidirectional"].where(table["_n_bidirectional"] > 0)).where(discharges)
        table["v2g_reference"] = np.where(discharges, reference, "")
        table["v2g_avoided_cost_eur"] = table["_v2g_avoided"].where(discharges)
        table["v2g_value_eur_per_bidirectional_ev_year"] = (
            table["_v2g_avoided"] * a / table["_v2g_n_bidirectional"].where(table["_v2g_n_bidirectional"] > 0)
        ).where(discharges)
    return table.drop(columns=[c for c in table.columns if c.startswith("_")])


def _paired(costs: pd.DataFrame, reference: str, group: list[str], prefix: str) -> pd.DataFrame:
    """Per variant, period and level, on the samples it shares with `reference`: the median of the reference's
    cost minus its own (`<prefix>avoided`) and its median EV and bidirectional EV counts (`<prefix>n_ev`,
    `<prefix>n_bidirectional`)."""
    others = [c for c in group if c != "strategy"]
    pair_keys = [*others, "period", "penetration", "sample"]
    ref = costs[costs["strategy"] == reference][[*pair_keys, "cost_eur"]]
    paired = costs.merge(ref, on=pair_keys, suffixes=("", "_ref"))
    with np.errstate(invalid="ignore"):
        paired["diff"] = paired["cost_eur_ref"] - paired["cost_eur"]
    out = paired.groupby([*group, "period", "penetration"]).agg(
        avoided=("diff", "median"), n_ev=("n_ev", "median"), n_bidirectional=("n_bidirectional", "median"))
    keys = [*group, "period", "penetration"]
    return out.reset_index().rename(columns={c: prefix + c for c in ("avoided", "n_ev", "n_bidirectional")}
                                    ).loc[:, [*keys, *(prefix + c for c in ("avoided", "n_ev", "n_bidirectional"))]]


def design_samples(spec: StudySpec, runs: pd.DataFrame, rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per row of `table` in the headline period with a finite cost at confidence above 0, the sample whose
    plan costs that, the one of them with the highest transformer loading: what a planner builds. Rows:
    sample_columns and `period`."""
    costs = sample_costs(spec, runs, rows)
    keys = [*group_of(runs), "period", "penetration"]
    t = table[(table["period"] == headline_period(spec)) & (table["cost_eur_at_confidence"] > 0)
              & np.isfinite(table["cost_eur_at_confidence"])]
    hit = costs.merge(t[[*keys, "cost_eur_at_confidence"]], on=keys)
    hit = hit[hit["cost_eur"] == hit["cost_eur_at_confidence"]]
    hit = hit.sort_values(["trafo_max_loading_pct", "sample"], ascending=[False, True])
    return hit.drop_duplicates(keys)[[*sample_columns(runs), "period"]].reset_index(drop=True)


def headline_period(spec: StudySpec) -> str:
    """The period a feeder's plan is quoted for: `all` in a study of several periods, else its one period."""
    return ALL_PERIODS if len(spec.period_names) > 1 else spec.period_names[0]


def pathway_value(spec: StudySpec, table: pd.DataFrame, rows: pd.DataFrame, designs: pd.DataFrame) -> pd.DataFrame:
    """Per feeder x strategy x share with a pathway (the module docstring); `designs`: `design_samples`."""
    group = group_of(table)
    t = table[(table["period"] == headline_period(spec)) & table["year"].notna()]
    built_rows = with_measure(rows[rows["period"] == headline_period(spec)])
    plans = built_rows.merge(designs, on=list(designs.columns))
    out = []
    for key, g in t.groupby(group, sort=True):
        mine = plans[matching(plans, dict(zip(group, key)))]
        pv, first = _build_out(spec, g.sort_values("year"), mine)
        n_samples = dict(zip(g["penetration"], g["n_samples"]))
        out.append({**dict(zip(group, key)), "first_reinforcement_year": first, "reinforcement_pv_eur": pv,
                    "measures_first_needed": _first_needed(spec, built_rows, dict(zip(group, key)), n_samples)})
    value = pd.DataFrame(out)
    if value.empty:
        return value
    others = [c for c in group if c != "strategy"]
    base = value[value["strategy"] == BASELINE][[*others, "reinforcement_pv_eur"]]
    value = value.merge(base.rename(columns={"reinforcement_pv_eur": "_base"}), on=others, how="left")
    with np.errstate(invalid="ignore"):
        value["deferral_value_eur"] = value["_base"] - value["reinforcement_pv_eur"]
    return value.drop(columns="_base")


def _build_out(spec: StudySpec, years: pd.DataFrame, plans: pd.DataFrame) -> tuple[float, float]:
    """Present value of building, year by year, what each year's design sample needs (its plan at the cost at
    confidence), and the first year anything is built. A transformer is paid again whenever a year needs more
    rated power than built (a second swap), a line's cables by their increase over what is built."""
    rate, y0 = spec.reinforcement.discount_rate, min(spec.pathway)
    kva: dict[str, float] = {}
    cables: dict[str, float] = {}
    pv, first = 0.0, np.nan
    for row in years.itertuples(index=False):
        if not np.isfinite(row.cost_eur_at_confidence):
            return np.inf, (row.year if np.isnan(first) else first)
        pay = 0.0
        for m in plans[plans["penetration"] == row.penetration].itertuples(index=False):
            if m.capacity_kva > 0:
                if m.capacity_kva > kva.get(m.element, 0.0):
                    pay, kva[m.element] = pay + m.cost_eur, m.capacity_kva
            elif m.cost_eur > cables.get(m.element, 0.0):
                pay, cables[m.element] = pay + m.cost_eur - cables.get(m.element, 0.0), m.cost_eur
        if pay > 0:
            pv += pay / (1.0 + rate) ** (row.year - y0)
            first = row.year if np.isnan(first) else first
    return pv, float(first)


def _first_needed(spec: StudySpec, rows: pd.DataFrame, group: dict, n_samples: dict[float, int]) -> str:
    """'element kind year; ...': the first year each measure is built in more than max_violation_probability
    of the samples."""
    counts = rows[matching(rows, group)].groupby(["element", "kind", "penetration"]).size().reset_index(name="k")
    counts = counts[counts["k"] > spec.max_violation_probability * counts["penetration"].map(n_samples)]
    first = counts.groupby(["element", "kind"])["penetration"].min().map(spec.level_years).sort_values()
    return "; ".join(f"{el} {kind} {int(y)}" for (el, kind), y in first.items())
