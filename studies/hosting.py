"""Hosting capacity from a table of runs, feeder-level and locational.

Definitions (also in the README):
- A run violates a criterion when any bus-, line- or transformer-hour lies outside its limit during the run:
  `undervoltage` (undervoltage_bus_hours > 0), `overvoltage`, `trafo_overload`, `line_overload`, and
  `nonconverged` (a power flow that did not converge, usually voltage collapse). `any` is their union.
- A sample violates at a level when its run violates in any period of the study.
- P(violation) at a level = share of samples that violate, per feeder x strategy x bidirectional share,
  with its exact (Clopper-Pearson) two-sided 95 % interval: `n_samples`, `n_violating`, `p_violation`,
  `p_violation_lo`, `p_violation_hi` (for any criterion; `p_<criterion>` per criterion). With k of n
  samples violating, lo is the 2.5 % quantile of Beta(k, n - k + 1) (0 when k = 0) and hi the 97.5 %
  quantile of Beta(k + 1, n - k) (1 when k = n) (Clopper and Pearson, Biometrika 26 (1934) 404).
- Hosting capacity, twice: `hc_point` = the highest penetration level L such that P(violation) <= the
  threshold (5 % by default) at L and at every lower level; `hc_confident` = the same with the interval's
  upper bound in place of the estimate, a level the samples show to be safe at 97.5 % confidence. NaN when
  even the lowest level fails. With no violation at all, hi <= threshold needs n >= ln(0.025) / ln(1 -
  threshold) samples (72 for 5 %): `min_samples_confident`; a study with fewer cannot show any level
  safe, and the CLI and the report say so. `hc_point` per criterion as `hc_<criterion>`, with the EV count
  and the installed charger power (median over samples) that `hc_point` means.
- V2G uplift = hosting capacity of a strategy minus that of `uncontrolled` (same feeder and share).
- Baseline: every study runs level 0, the feeder without EVs. `baseline_violates` names the criteria whose
  P(violation) there exceeds the threshold (";"-separated; empty: none): the feeder breaks them before any EV
  arrives, so its hosting capacity is NaN for that reason, not because of the EVs.
- Locational, for every bus, line and transformer: P(violation) per level (share of samples in which that
  element violates) and the lowest violating level per sample, median over samples (NaN: in at least half of
  the samples never violate there).
"""
import numpy as np
import pandas as pd
from scipy import stats

CRITERIA = {
    "undervoltage": "undervoltage_bus_hours",
    "overvoltage": "overvoltage_bus_hours",
    "trafo_overload": "trafo_overload_hours",
    "line_overload": "line_overload_hours",
    "nonconverged": "nonconverged_steps",
}
GROUP = ["feeder", "strategy", "v2g_share"]


def sample_violations(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per feeder x strategy x share x penetration x sample: violation per criterion and `any`."""
    ok = runs[runs["status"] == "ok"]
    flags = pd.DataFrame({c: ok[m] > 0 for c, m in CRITERIA.items()})
    flags["any"] = flags.any(axis=1)
    flags[GROUP + ["penetration", "sample"]] = ok[GROUP + ["penetration", "sample"]]
    return flags.groupby(GROUP + ["penetration", "sample"], as_index=False).any()


def clopper_pearson(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact two-sided interval of a binomial probability from k successes in n trials."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1.0 - a, k + 1, n - k), 1.0)
    return lo, hi


def min_samples_confident(threshold: float, confidence: float = 0.95) -> int:
    """Fewest samples whose interval can lie below `threshold` (none of them violating)."""
    return int(np.ceil(np.log((1.0 - confidence) / 2.0) / np.log(1.0 - threshold)))


def violation_probability(runs: pd.DataFrame) -> pd.DataFrame:
    """P(violation) per feeder x strategy x share x penetration, per criterion and for any, with the
    interval for any."""
    per_sample = sample_violations(runs)
    by_level = per_sample.groupby(GROUP + ["penetration"])
    prob = by_level[list(CRITERIA)].mean().add_prefix("p_")
    prob["n_samples"] = by_level.size()
    prob["n_violating"] = by_level["any"].sum().astype(int)
    prob["p_violation"] = by_level["any"].mean()
    prob["p_violation_lo"], prob["p_violation_hi"] = clopper_pearson(prob["n_violating"], prob["n_samples"])
    return prob.reset_index()


def highest_safe_level(levels: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """Highest level whose probability, and that of every lower level, is <= threshold (NaN if none)."""
    order = np.argsort(levels)
    levels, p = np.asarray(levels)[order], np.asarray(p)[order]
    bad = np.flatnonzero(p > threshold)
    if len(bad) == 0:
        return float(levels[-1])
    return float(levels[bad[0] - 1]) if bad[0] > 0 else float("nan")


def hosting_capacity(runs: pd.DataFrame, threshold: float = 0.05) -> pd.DataFrame:
    prob = violation_probability(runs)
    ok = runs[runs["status"] == "ok"]
    size = ok.groupby(GROUP + ["penetration"]).agg(n_ev=("n_ev", "median"), charger_kw=("ev_charger_kw", "median"))
    rows = []
    for key, g in prob.groupby(GROUP):
        row = dict(zip(GROUP, key))
        levels = g["penetration"].to_numpy()
        row["hc_point"] = highest_safe_level(levels, g["p_violation"].to_numpy(), threshold)
        row["hc_confident"] = highest_safe_level(levels, g["p_violation_hi"].to_numpy(), threshold)
        for c in CRITERIA:
            row[f"hc_{c}"] = highest_safe_level(levels, g[f"p_{c}"].to_numpy(), threshold)
        hc = row["hc_point"]
        if np.isnan(hc):
            row["hc_evs"], row["hc_charger_kw"] = np.nan, np.nan
        else:
            s = size.loc[(*key, hc)]
            row["hc_evs"], row["hc_charger_kw"] = float(s["n_ev"]), float(s["charger_kw"])
        row["n_samples_min"] = int(g["n_samples"].min())
        base = g[g["penetration"] == 0.0]
        row["baseline_violates"] = ";".join(c for c in CRITERIA if len(base) and base[f"p_{c}"].iloc[0] > threshold)
        rows.append(row)
    hc = pd.DataFrame(rows)
    base = hc[hc["strategy"] == "uncontrolled"].set_index(["feeder", "v2g_share"])["hc_point"]
    ref = [base.get((f, s), np.nan) for f, s in zip(hc["feeder"], hc["v2g_share"])]
    hc["uplift_vs_uncontrolled"] = hc["hc_point"] - np.asarray(ref, dtype=float)
    hc["threshold"] = threshold
    hc["min_samples_confident"] = min_samples_confident(threshold)
    return hc


def baseline_notes(hc: pd.DataFrame) -> list[str]:
    """One sentence per feeder (and strategy and share) that breaks a criterion without any EV."""
    bad = hc[hc["baseline_violates"].fillna("") != ""]
    return [f"{r.feeder} already breaks {r.baseline_violates.replace(';', ', ')} without EVs ({r.strategy}, "
            f"{r.v2g_share:.0%} bidirectional): its hosting capacity is empty for that reason, not because of the EVs"
            for r in bad.itertuples()]


def too_few_samples(hc: pd.DataFrame) -> str:
    """One sentence when the study's samples cannot show any level safe at 97.5 % confidence, else ''."""
    if hc.empty or (hc["n_samples_min"] >= hc["min_samples_confident"]).all():
        return ""
    need, have = int(hc["min_samples_confident"].iloc[0]), int(hc["n_samples_min"].min())
    return (f"{have} samples per level cannot show P(violation) <= {hc['threshold'].iloc[0]:.0%} at 97.5 % "
            f"confidence even with no violation (that needs {need}): hc_confident is NaN, hc_point is an "
            "estimate")


def locational(runs: pd.DataFrame, elements: pd.DataFrame) -> pd.DataFrame:
    """Per element and level: P(violation), worst values, and the median lowest violating level."""
    ok = runs.loc[runs["status"] == "ok", ["key", *GROUP, "penetration", "sample"]]
    el = elements.merge(ok, on="key")
    keys = GROUP + ["element", "index", "penetration", "sample"]
    per_sample = el.groupby(keys, as_index=False).agg(
        violated=("violated", "any"), vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
        max_loading_pct=("max_loading_pct", "max"))
    by_level = per_sample.groupby(keys[:-1], as_index=False).agg(
        p_violation=("violated", "mean"), vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
        max_loading_pct=("max_loading_pct", "max"), n_samples=("violated", "size"), n_violating=("violated", "sum"))
    by_level["p_violation_lo"], by_level["p_violation_hi"] = clopper_pearson(by_level["n_violating"],
                                                                             by_level["n_samples"])
    first = per_sample.assign(level=np.where(per_sample["violated"], per_sample["penetration"], np.inf))
    lowest = first.groupby(GROUP + ["element", "index", "sample"])["level"].min()
    median = lowest.groupby(GROUP + ["element", "index"]).median().replace(np.inf, np.nan)
    return by_level.merge(median.rename("lowest_violating_penetration").reset_index(),
                          on=GROUP + ["element", "index"])
