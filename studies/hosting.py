"""Hosting capacity from a table of runs, feeder-level and locational.

Definitions (also in docs/reference.md):
- A run violates a criterion when some element breaks its limit during the run: `undervoltage` and
  `overvoltage` (a bus breaks the study's voltage criterion, `band`, low or high: `models/limits.py`; for
  `en50160` its weekly statistic), `trafo_overload`, `line_overload` (any hour above the thermal limit),
  `unbalance` (a bus's voltage unbalance factor above 2 % in more than 5 % of a week, EN 50160 cl. 4.2.5;
  unbalanced runs only, a balanced power flow cannot see it) and `nonconverged` (a power flow that did not
  converge, usually voltage collapse). `any` is their union;
  `any_<band>` the same union with each of the four voltage criteria in place of the study's.
- A sample violates at a level when its run violates in any period of the study.
- P(violation) at a level = share of samples that violate, per feeder x strategy x bidirectional share,
  with its exact (Clopper-Pearson) two-sided 95 % interval: `n_samples`, `n_violating`, `p_violation`,
  `p_violation_lo`, `p_violation_hi` (for any criterion; `p_<criterion>` per criterion). With k of n
  samples violating, lo is the 2.5 % quantile of Beta(k, n - k + 1) (0 when k = 0) and hi the 97.5 %
  quantile of Beta(k + 1, n - k) (1 when k = n) (Clopper and Pearson, Biometrika 26 (1934) 404).
- The claim a regulator needs is one-sided, "P(violation) <= threshold at 95 % confidence": its bound is
  `p_violation_ub`, the one-sided 95 % Clopper-Pearson upper bound, the 95 % quantile of Beta(k + 1, n - k)
  (1 when k = n; the upper end of the two-sided 90 % interval). With no violation it is 1 - 0.05^(1/n):
  25.9 % for 10 samples; n >= ln(0.05) / ln(1 - threshold) samples are needed (59 for 5 %):
  `min_samples_confident`; a study with fewer cannot show any level safe, and the CLI and the report say so.
- Hosting capacity, twice, in EVs per household (0-1, up to 2 with second cars; the report shows it in %, so the
  columns say `_frac`): `hc_point_frac` = the highest penetration level L such that P(violation) <= the threshold
  (5 % by default) at L and at every lower level; `hc_confident_frac` = the same with `p_violation_ub` in
  place of the estimate, a level the samples show to be safe at 95 % confidence: the number to quote. NaN
  when even the lowest level fails. `samples_limit_confident`: hc_confident_frac stops below hc_point_frac
  at a level with fewer samples than that. `hc_point_frac` per criterion as `hc_<criterion>_frac` and per
  voltage criterion as `hc_point_<band>_frac`, with the EV count and the installed charger power (median
  over samples) that `hc_point_frac` means. `binding`: the criteria whose P(violation) exceeds the threshold
  at the first level above `hc_point_frac` (";"-separated; empty when every level is hosted).
- Probabilities (`p_*`, `threshold`) are probabilities, 0-1, in the tables and the report alike;
  `penetration` and `v2g_share` keep the study file's names and its fractions.
- Level 0 has no random input when no outage is drawn at random (no EV; the household profiles are the
  feeder's): every sample is the same run, so a study runs it once (`exact_baseline`) and its P(violation)
  is exact, 0 or 1, with lo = hi = ub = P.
- V2G uplift = hosting capacity of a strategy minus that of `uncontrolled` (same feeder and share):
  `uplift_vs_uncontrolled_frac`, a difference of fractions (the report: percentage points).
- Baseline: every study runs level 0, the feeder without EVs. `baseline_violates` names the criteria whose
  P(violation) there exceeds the threshold (";"-separated; empty: none): the feeder breaks them before any EV
  arrives, so its hosting capacity is NaN for that reason, not because of the EVs.
- Locational, for every bus, line and transformer: P(violation) per level (share of samples in which that
  element violates) and the lowest violating level per sample, median over the samples that ran at every
  level (NaN: in at least half of them it never violates; 0 where it violates without EVs).
"""
import numpy as np
import pandas as pd
from scipy import stats

from hostcap.models.limits import BANDS

CRITERIA = {
    "undervoltage": "undervoltage_buses",
    "overvoltage": "overvoltage_buses",
    "trafo_overload": "trafo_overload_hours",
    "line_overload": "line_overload_hours",
    "unbalance": "unbalance_buses",
    "nonconverged": "nonconverged_steps",
}
# the transformer's criterion (`trafo_criterion`): the metric whose value above 0 breaks it
TRAFO_CRITERIA = {"loading": "trafo_overload_hours", "thermal": "trafo_thermal_limits_broken"}
GROUP = ["feeder", "strategy", "v2g_share"]
AXES = ["heat_pump_share"]  # a study's further axes: grouped by where a table has them (`group_of`)
# hosting_capacity.csv as version 0.6.0 and older named its columns (no unit): `read_hosting` renames them
RENAMED_COLUMNS = {
    "hc_point": "hc_point_frac", "hc_confident": "hc_confident_frac",
    **{f"hc_{c}": f"hc_{c}_frac" for c in CRITERIA}, **{f"hc_point_{b}": f"hc_point_{b}_frac" for b in BANDS},
    "uplift_vs_uncontrolled": "uplift_vs_uncontrolled_frac",
}


def group_of(table: pd.DataFrame) -> list[str]:
    """What a hosting capacity is given per: feeder, strategy, bidirectional share and the axes the table has
    (a pathway study has no heat-pump axis: its years set the share)."""
    return [*GROUP, *(c for c in AXES if c in table.columns)]


def criteria(trafo_criterion: str = "loading") -> dict[str, str]:
    """CRITERIA with the transformer judged by its loading or its thermal limits (`TRAFO_CRITERIA`)."""
    return {**CRITERIA, "trafo_overload": TRAFO_CRITERIA[trafo_criterion]}


def violated_criteria(metrics: dict, trafo_criterion: str = "loading") -> list[str]:
    """The criteria one run breaks (its metrics), in CRITERIA's order."""
    return [c for c, m in criteria(trafo_criterion).items() if metrics[m] > 0]


def sample_violations(runs: pd.DataFrame, trafo_criterion: str = "loading") -> pd.DataFrame:
    """One row per feeder x strategy x share x penetration x sample: violation per criterion (the transformer
    by `trafo_criterion`), `any`, `any_<band>` for each voltage criterion and `any_trafo_<criterion>` for each
    transformer criterion the runs have the metric of."""
    ok = runs[runs["status"] == "ok"]
    flags = pd.DataFrame({c: ok[m] > 0 for c, m in criteria(trafo_criterion).items()})
    flags["any"] = flags.any(axis=1)
    other = flags[["line_overload", "unbalance", "nonconverged"]].any(axis=1)
    for band in BANDS:
        flags[f"any_{band}"] = other | flags["trafo_overload"] | (ok[f"buses_outside_{band}"] > 0)
    voltage = flags[["undervoltage", "overvoltage"]].any(axis=1)
    for name, metric in TRAFO_CRITERIA.items():
        if metric in ok:
            flags[f"any_trafo_{name}"] = other | voltage | (ok[metric] > 0)
    keys = group_of(runs) + ["penetration", "sample"]
    flags[keys] = ok[keys]
    return flags.groupby(keys, as_index=False).any()


def clopper_pearson(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact two-sided interval of a binomial probability from k successes in n trials."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1.0 - a, k + 1, n - k), 1.0)
    return lo, hi


def upper_bound(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """One-sided Clopper-Pearson upper confidence bound of a binomial probability."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore"):
        return np.where(k < n, stats.beta.ppf(confidence, k + 1, n - k), 1.0)


def min_samples_confident(threshold: float, confidence: float = 0.95) -> int:
    """Fewest samples whose one-sided upper bound can lie at or below `threshold` (none violating)."""
    if threshold <= 0.0:
        return 0  # never: no finite sample shows a probability of 0
    if threshold >= 1.0:
        return 1
    return int(np.ceil(np.log(1.0 - confidence) / np.log(1.0 - threshold) - 1e-12))


def violation_probability(runs: pd.DataFrame, exact_baseline: bool = False, trafo_criterion: str = "loading"
                          ) -> pd.DataFrame:
    """P(violation) per feeder x strategy x share x penetration, per criterion and for any (the transformer by
    `trafo_criterion`; `p_any_<band>` and `p_any_trafo_<criterion>` under each voltage and transformer
    criterion), with the interval and the upper bound for any (exact at level 0 with `exact_baseline`)."""
    per_sample = sample_violations(runs, trafo_criterion)
    by_level = per_sample.groupby(group_of(runs) + ["penetration"])
    prob = by_level[list(CRITERIA)].mean().add_prefix("p_")
    for flag in [f"any_{band}" for band in BANDS] + [f"any_trafo_{t}" for t in TRAFO_CRITERIA]:
        if flag in per_sample:
            prob[f"p_{flag}"] = by_level[flag].mean()
    prob["n_samples"] = by_level.size()
    prob["n_violating"] = by_level["any"].sum().astype(int)
    prob["p_violation"] = by_level["any"].mean()
    prob["p_violation_lo"], prob["p_violation_hi"] = clopper_pearson(prob["n_violating"], prob["n_samples"])
    prob["p_violation_ub"] = upper_bound(prob["n_violating"], prob["n_samples"])
    prob = prob.reset_index()
    if exact_baseline:
        base = prob["penetration"] == 0.0
        for col in ("p_violation_lo", "p_violation_hi", "p_violation_ub"):
            prob.loc[base, col] = prob.loc[base, "p_violation"]
    prob["exact"] = exact_baseline & (prob["penetration"] == 0.0)
    return prob


def highest_safe_level(levels: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """Highest level whose probability, and that of every lower level, is <= threshold (NaN if none)."""
    order = np.argsort(levels)
    levels, p = np.asarray(levels)[order], np.asarray(p)[order]
    bad = np.flatnonzero(p > threshold)
    if len(bad) == 0:
        return float(levels[-1])
    return float(levels[bad[0] - 1]) if bad[0] > 0 else float("nan")


def hosting_capacity(runs: pd.DataFrame, threshold: float = 0.05, *, band: str = "en50160",
                     exact_baseline: bool = False, trafo_criterion: str = "loading") -> pd.DataFrame:
    """Hosting capacity per feeder x strategy x share; `band` names the voltage criterion the runs used,
    `trafo_criterion` the transformer's (`hc_point_trafo_<criterion>_frac`: the answer under each)."""
    prob = violation_probability(runs, exact_baseline, trafo_criterion)
    ok = runs[runs["status"] == "ok"]
    group = group_of(runs)
    size = ok.groupby(group + ["penetration"]).agg(n_ev=("n_ev", "median"), charger_kw=("ev_charger_kw", "median"))
    need = min_samples_confident(threshold)
    rows = []
    for key, g in prob.groupby(group):
        row = dict(zip(group, key))
        levels = g["penetration"].to_numpy()
        row["hc_point_frac"] = highest_safe_level(levels, g["p_violation"].to_numpy(), threshold)
        row["hc_confident_frac"] = highest_safe_level(levels, g["p_violation_ub"].to_numpy(), threshold)
        for c in CRITERIA:
            row[f"hc_{c}_frac"] = highest_safe_level(levels, g[f"p_{c}"].to_numpy(), threshold)
        for b in BANDS:
            row[f"hc_point_{b}_frac"] = highest_safe_level(levels, g[f"p_any_{b}"].to_numpy(), threshold)
        for t in TRAFO_CRITERIA:
            if f"p_any_trafo_{t}" in g:
                row[f"hc_point_trafo_{t}_frac"] = highest_safe_level(levels, g[f"p_any_trafo_{t}"].to_numpy(),
                                                                     threshold)
        hc = row["hc_point_frac"]
        above = g[g["penetration"] > (hc if np.isfinite(hc) else -1.0)].sort_values("penetration").head(1)
        row["binding"] = ";".join(c for c in CRITERIA if len(above) and above[f"p_{c}"].iloc[0] > threshold)
        if np.isnan(hc):
            row["hc_evs"], row["hc_charger_kw"] = np.nan, np.nan
        else:
            s = size.loc[(*key, hc)]
            row["hc_evs"], row["hc_charger_kw"] = float(s["n_ev"]), float(s["charger_kw"])
        sampled = g[~g["exact"]] if (~g["exact"]).any() else g
        row["n_samples_min"] = int(sampled["n_samples"].min())
        conf = row["hc_confident_frac"]
        gap = g[(g["penetration"] > (conf if np.isfinite(conf) else -1.0)) & (g["penetration"] <= hc)]
        row["samples_limit_confident"] = bool(len(gap) and gap["n_samples"].iloc[0] < need) if np.isfinite(hc) \
            else False
        base = g[g["penetration"] == 0.0]
        row["baseline_violates"] = ";".join(c for c in CRITERIA if len(base) and base[f"p_{c}"].iloc[0] > threshold)
        rows.append(row)
    hc = pd.DataFrame(rows)
    same = [c for c in group if c != "strategy"]
    base = hc[hc["strategy"] == "uncontrolled"].set_index(same)["hc_point_frac"]
    ref = [base.get(k, np.nan) for k in hc[same].itertuples(index=False, name=None)]
    hc["uplift_vs_uncontrolled_frac"] = hc["hc_point_frac"] - np.asarray(ref, dtype=float)
    hc["threshold"] = threshold
    hc["voltage_criterion"] = band
    hc["trafo_criterion"] = trafo_criterion
    hc["min_samples_confident"] = need
    hc["exact_baseline"] = exact_baseline
    return hc


def lower_bound(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """One-sided Clopper-Pearson lower confidence bound of a binomial probability (0 when k = 0)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, stats.beta.ppf(1.0 - confidence, k, n - k + 1), 0.0)


def first_violation_years(prob: pd.DataFrame, years: dict[float, int], threshold: float = 0.05) -> pd.DataFrame:
    """The year each feeder x strategy x share first breaks a limit along an adoption pathway, from the
    violation probabilities of its levels (`violation_probability`; `years`: level -> year; level 0, the
    feeder alone, has none): `first_violation_year`, the earliest year whose P(violation) exceeds the
    threshold; `first_violation_year_confident`, the earliest whose one-sided 95 % lower bound does (it breaks
    by then at 95 % confidence); `first_possible_violation_year`, the earliest whose one-sided 95 % upper bound
    does (no earlier year can be ruled out); `binding`, the criteria above the threshold in the first year, with
    its P(violation), two-sided interval and EVs per household; `first_violation_year_trafo_<criterion>`, the
    first year with the transformer judged by its loading and thermally (where `prob` has them). Empty: no year
    breaks."""
    rows = []
    for key, g in prob[prob["penetration"].isin(list(years))].groupby(GROUP):
        g = g.assign(year=g["penetration"].map(years)).sort_values("year")
        lb = lower_bound(g["n_violating"], g["n_samples"])
        row = dict(zip(GROUP, key))
        by_trafo = {f"first_violation_year_trafo_{t}": g[f"p_any_trafo_{t}"].to_numpy() > threshold
                    for t in TRAFO_CRITERIA if f"p_any_trafo_{t}" in g}
        for col, over in {"first_violation_year": g["p_violation"].to_numpy() > threshold,
                          "first_violation_year_confident": lb > threshold,
                          "first_possible_violation_year": g["p_violation_ub"].to_numpy() > threshold,
                          **by_trafo}.items():
            row[col] = int(g["year"].to_numpy()[over][0]) if over.any() else pd.NA
        first = g[g["year"] == row["first_violation_year"]] if row["first_violation_year"] is not pd.NA else g.head(0)
        row["binding"] = ";".join(c for c in CRITERIA if len(first) and first[f"p_{c}"].iloc[0] > threshold)
        for col in ("p_violation", "p_violation_lo", "p_violation_hi", "n_samples"):
            row[col] = first[col].iloc[0] if len(first) else np.nan
        row["ev_per_household"] = first["penetration"].iloc[0] if len(first) else np.nan
        rows.append(row)
    by_trafo = [f"first_violation_year_trafo_{t}" for t in TRAFO_CRITERIA if f"p_any_trafo_{t}" in prob]
    out = pd.DataFrame(rows, columns=[*GROUP, "first_violation_year", "first_violation_year_confident",
                                      "first_possible_violation_year", "binding", "p_violation", "p_violation_lo",
                                      "p_violation_hi", "n_samples", "ev_per_household", *by_trafo])
    for col in ("first_violation_year", "first_violation_year_confident", "first_possible_violation_year", *by_trafo):
        out[col] = out[col].astype("Int64")
    out["threshold"] = threshold
    return out


def read_hosting(path) -> pd.DataFrame:
    """hosting_capacity.csv, with the column names of this version (`RENAMED_COLUMNS`) also when an older
    version wrote it."""
    return pd.read_csv(path).rename(columns=RENAMED_COLUMNS)


def in_study_order(spec, table: pd.DataFrame) -> pd.DataFrame:
    """Rows in the study file's (a StudySpec's) order of feeders, strategies and shares."""
    order = {"feeder": [f.name for f in spec.feeders], "strategy": list(spec.strategies),
             "v2g_share": list(spec.v2g_shares)}
    return table.sort_values(list(order), key=lambda col: col.map({v: i for i, v in enumerate(order[col.name])}),
                             kind="stable").reset_index(drop=True)


def baseline_notes(hc: pd.DataFrame) -> list[str]:
    """One sentence per feeder (and strategy and share) that breaks a criterion without any EV."""
    bad = hc[hc["baseline_violates"].fillna("") != ""]
    return [f"{r.feeder} already breaks {r.baseline_violates.replace(';', ', ')} without EVs ({r.strategy}, "
            f"{r.v2g_share:.0%} bidirectional): its hosting capacity is empty for that reason, not because of the EVs"
            for r in bad.itertuples()]


def too_few_samples(hc: pd.DataFrame) -> str:
    """One sentence when hc_confident_frac stops below hc_point_frac only because a level has too few samples to show
    it safe at 95 % confidence (`samples_limit_confident`), else ''."""
    if hc.empty or not hc["samples_limit_confident"].any():
        return ""
    need = int(hc["min_samples_confident"].iloc[0])
    have = int(hc.loc[hc["samples_limit_confident"], "n_samples_min"].min())
    return (f"{have} samples at a level cannot show P(violation) <= {hc['threshold'].iloc[0]:.0%} at 95 % "
            f"confidence even with no violation (that needs {need}): hc_confident_frac stops below such a level, "
            "hc_point_frac is an estimate")


def locational(runs: pd.DataFrame, elements: pd.DataFrame) -> pd.DataFrame:
    """Per element and level: P(violation), worst values, and the median lowest violating level."""
    group = group_of(runs)
    ok = runs.loc[runs["status"] == "ok", ["key", *group, "penetration", "sample"]]
    el = elements.merge(ok, on="key")
    keys = group + ["element", "index", "penetration", "sample"]
    per_sample = el.groupby(keys, as_index=False).agg(
        violated=("violated", "any"), vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
        max_loading_pct=("max_loading_pct", "max"))
    by_level = per_sample.groupby(keys[:-1], as_index=False).agg(
        p_violation=("violated", "mean"), vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
        max_loading_pct=("max_loading_pct", "max"), n_samples=("violated", "size"), n_violating=("violated", "sum"))
    by_level["p_violation_lo"], by_level["p_violation_hi"] = clopper_pearson(by_level["n_violating"],
                                                                             by_level["n_samples"])
    # the lowest violating level of a sample is known only where the sample ran at every level (adaptive
    # studies run the later samples at some levels only); level 0 is the same in every sample
    where = group + ["element", "index"]
    evs = per_sample[per_sample["penetration"] > 0]
    n_levels = evs.groupby(group)["penetration"].transform("nunique")
    ran = evs.groupby(group + ["sample"])["penetration"].transform("nunique")
    first = evs[ran == n_levels].assign(level=lambda d: np.where(d["violated"], d["penetration"], np.inf))
    lowest = first.groupby(where + ["sample"])["level"].min()
    base = per_sample[per_sample["penetration"] == 0.0].groupby(where)["violated"].any()
    median = lowest.groupby(where).median().replace(np.inf, np.nan)
    median = median.reindex(median.index.union(base.index))
    median[base.reindex(median.index, fill_value=False).to_numpy(bool)] = 0.0
    return by_level.merge(median.rename("lowest_violating_penetration").reset_index(), on=where)
