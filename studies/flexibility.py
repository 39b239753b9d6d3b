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
- against `uncontrolled` on the same feeder, period, share(s) and level: `avoided_cost_eur`, the median over
  samples of the paired difference (uncontrolled's cost minus this strategy's, sample by sample), and
  `avoided_cost_eur_at_confidence`, the difference of the costs at confidence; per EV
  (`avoided_cost_eur_per_ev`, the latter over the median EV count) and per bidirectional EV and year
  (`avoided_cost_eur_per_bidirectional_ev_year`: as an annuity over the equipment's `lifetime_years` at the
  study's `discount_rate`, over the median count of bidirectional EVs);
- with a pathway, the level's `year`.

With a pathway, per feeder x strategy x share (period `all`, or the study's one period), `pathway_value`: the
first year a measure is built (`first_reinforcement_year`: the cost at confidence above 0), the present value
in the pathway's first year of building out what each year needs at confidence (`reinforcement_pv_eur`:
each year's increase of the highest cost so far, discounted; a later, larger plan is paid as its increase),
`deferral_value_eur`, uncontrolled's present value minus this one's, and `measures_first_needed`, the year each
element's measure is first needed in more than `max_violation_probability` of the samples."""
import numpy as np
import pandas as pd
from scipy import stats

from hostcap.studies.hosting import group_of
from hostcap.studies.plans import sample_columns
from hostcap.studies.reinforce import ALL_PERIODS
from hostcap.studies.spec import StudySpec

BASELINE = "uncontrolled"


def sample_costs(spec: StudySpec, runs: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per sample and period (and `all`): `cost_eur` (inf: unsolved), `unsolved`, `n_ev`,
    `n_bidirectional`."""
    ok = runs[runs["status"] == "ok"]
    cols = sample_columns(runs)
    base = ok[[*cols, "period", "n_ev", "n_bidirectional"]]
    if len(spec.period_names) > 1:
        whole = ok.groupby(cols, as_index=False).agg(n_ev=("n_ev", "first"), n_bidirectional=("n_bidirectional",
                                                                                                "first"))
        base = pd.concat([base, whole.assign(period=ALL_PERIODS)], ignore_index=True)
    per_plan = rows.groupby([*cols, "period"], as_index=False).agg(
        cost_eur=("cost_eur", "sum"), unsolved=("status", lambda s: (s == "unsolved").any()))
    per_plan.loc[per_plan["unsolved"], "cost_eur"] = np.inf
    out = base.merge(per_plan, on=[*cols, "period"], how="left")
    return out.assign(cost_eur=out["cost_eur"].fillna(0.0), unsolved=out["unsolved"].eq(True))


def median_interval(costs: np.ndarray) -> tuple[float, float]:
    """Distribution-free 95 % interval of the median (the module docstring)."""
    x = np.sort(costs)
    n = len(x)
    below = np.flatnonzero(stats.binom.cdf(np.arange(n), n, 0.5) <= 0.025)  # cdf(j - 1) = P(Bin < j)
    lo = int(below[-1]) if len(below) else 0  # 0-based index of x_(j)
    return float(x[lo]), float(x[n - 1 - lo])


def annuity_factor(rate: float, years: int) -> float:
    """Capital recovery factor: the yearly payment that repays 1 over `years` at `rate`."""
    return 1.0 / years if rate == 0 else rate / (1.0 - (1.0 + rate) ** -years)


def _measures_text(rows: pd.DataFrame, n: int) -> str:
    planned = rows[rows["kind"].notna() & (rows["kind"] != "")]
    counts = planned.groupby(["element", "kind"]).size().sort_values(ascending=False)
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
    """The avoided-cost columns against uncontrolled (the module docstring); NaN without uncontrolled."""
    others = [c for c in group if c != "strategy"]
    keys = [*others, "period", "penetration"]
    base = table[table["strategy"] == BASELINE][[*keys, "cost_eur_at_confidence"]]
    table = table.merge(base.rename(columns={"cost_eur_at_confidence": "_base"}), on=keys, how="left")
    pair_keys = [*others, "period", "penetration", "sample"]
    paired = costs.merge(costs[costs["strategy"] == BASELINE][[*pair_keys, "cost_eur"]], on=pair_keys,
                         suffixes=("", "_base"))
    with np.errstate(invalid="ignore"):
        paired["diff"] = paired["cost_eur_base"] - paired["cost_eur"]
    diff = paired.groupby([*group, "period", "penetration"])["diff"].median().rename("avoided_cost_eur")
    table = table.merge(diff, left_on=[*group, "period", "penetration"], right_index=True, how="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        table["avoided_cost_eur_at_confidence"] = table["_base"] - table["cost_eur_at_confidence"]
        table["avoided_cost_eur_per_ev"] = table["avoided_cost_eur_at_confidence"] / table["n_ev"].where(
            table["n_ev"] > 0)
        a = annuity_factor(spec.reinforcement.discount_rate, spec.reinforcement.lifetime_years)
        table["avoided_cost_eur_per_bidirectional_ev_year"] = (table["avoided_cost_eur_at_confidence"] * a
                                                               / table["n_bidirectional"].where(
                                                                   table["n_bidirectional"] > 0))
    return table.drop(columns="_base")


def design_samples(spec: StudySpec, runs: pd.DataFrame, rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per row of `table` in the headline period with a finite cost at confidence above 0, the sample whose
    plan costs that (the lowest-numbered): what a planner builds. Rows: sample_columns and `period`."""
    costs = sample_costs(spec, runs, rows)
    keys = [*group_of(runs), "period", "penetration"]
    t = table[(table["period"] == headline_period(spec)) & (table["cost_eur_at_confidence"] > 0)
              & np.isfinite(table["cost_eur_at_confidence"])]
    hit = costs.merge(t[[*keys, "cost_eur_at_confidence"]], on=keys)
    hit = hit[hit["cost_eur"] == hit["cost_eur_at_confidence"]].sort_values("sample")
    return hit.drop_duplicates(keys)[[*sample_columns(runs), "period"]].reset_index(drop=True)


def headline_period(spec: StudySpec) -> str:
    """The period a feeder's plan is quoted for: `all` in a study of several periods, else its one period."""
    return ALL_PERIODS if len(spec.period_names) > 1 else spec.period_names[0]


def pathway_value(spec: StudySpec, table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Per feeder x strategy x share with a pathway (the module docstring)."""
    group = group_of(table)
    t = table[(table["period"] == headline_period(spec)) & table["year"].notna()]
    r = rows[(rows["period"] == headline_period(spec)) & rows["kind"].notna() & (rows["kind"] != "")]
    y0 = min(spec.pathway)
    rate = spec.reinforcement.discount_rate
    out = []
    for key, g in t.groupby(group, sort=True):
        g = g.sort_values("year")
        need = np.maximum.accumulate(g["cost_eur_at_confidence"].to_numpy())
        steps = np.diff(need, prepend=0.0)
        years = g["year"].to_numpy()
        with np.errstate(invalid="ignore"):
            pv = float(np.sum(np.where(steps > 0, steps / (1.0 + rate) ** (years - y0), 0.0)))
        built = years[need > 0]
        first = _first_needed(spec, r, dict(zip(group, key)), dict(zip(g["penetration"], g["n_samples"])))
        out.append({**dict(zip(group, key)), "first_reinforcement_year": float(built[0]) if len(built) else np.nan,
                    "reinforcement_pv_eur": pv, "measures_first_needed": first})
    value = pd.DataFrame(out)
    if value.empty:
        return value
    others = [c for c in group if c != "strategy"]
    base = value[value["strategy"] == BASELINE][[*others, "reinforcement_pv_eur"]]
    value = value.merge(base.rename(columns={"reinforcement_pv_eur": "_base"}), on=others, how="left")
    value["deferral_value_eur"] = value["_base"] - value["reinforcement_pv_eur"]
    return value.drop(columns="_base")


def _first_needed(spec: StudySpec, rows: pd.DataFrame, group: dict, n_samples: dict[float, int]) -> str:
    """'element kind year; ...': the first year each measure is built in more than max_violation_probability
    of the samples."""
    mine = rows
    for c, v in group.items():
        mine = mine[mine[c] == v]
    counts = mine.groupby(["element", "kind", "penetration"]).size().reset_index(name="k")
    counts = counts[counts["k"] > spec.max_violation_probability * counts["penetration"].map(n_samples)]
    first = counts.groupby(["element", "kind"])["penetration"].min().map(spec.level_years).sort_values()
    return "; ".join(f"{el} {kind} {int(y)}" for (el, kind), y in first.items())
