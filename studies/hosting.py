"""Hosting capacity from a table of runs, feeder-level and locational.

Definitions (also in the README):
- A run violates a criterion when any bus-, line- or transformer-hour lies outside its limit during the run:
  `undervoltage` (undervoltage_bus_hours > 0), `overvoltage`, `trafo_overload`, `line_overload`, and
  `nonconverged` (a power flow that did not converge, usually voltage collapse). `any` is their union.
- A sample violates at a level when its run violates in any period of the study.
- P(violation) at a level = share of samples that violate, per feeder x strategy x bidirectional share.
- Hosting capacity = the highest penetration level L such that P(violation) <= the threshold (5 % by
  default) at L and at every lower level. NaN when even the lowest level fails. Reported per criterion and
  overall, with the EV count and the installed charger power (median over samples) it means.
- V2G uplift = hosting capacity of a strategy minus that of `uncontrolled` (same feeder and share).
- Locational, for every bus, line and transformer: P(violation) per level (share of samples in which that
  element violates) and the lowest violating level per sample, median over samples (NaN: in at least half of
  the samples never violate there).
"""
import numpy as np
import pandas as pd

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


def violation_probability(runs: pd.DataFrame) -> pd.DataFrame:
    """P(violation) per feeder x strategy x share x penetration, per criterion and `any`."""
    per_sample = sample_violations(runs)
    cols = list(CRITERIA) + ["any"]
    prob = per_sample.groupby(GROUP + ["penetration"])[cols].mean().add_prefix("p_")
    prob["samples"] = per_sample.groupby(GROUP + ["penetration"]).size()
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
        for c in list(CRITERIA) + ["any"]:
            name = "hc_penetration" if c == "any" else f"hc_{c}"
            row[name] = highest_safe_level(g["penetration"].to_numpy(), g[f"p_{c}"].to_numpy(), threshold)
        hc = row["hc_penetration"]
        if np.isnan(hc):
            row["hc_evs"], row["hc_charger_kw"] = np.nan, np.nan
        else:
            s = size.loc[(*key, hc)]
            row["hc_evs"], row["hc_charger_kw"] = float(s["n_ev"]), float(s["charger_kw"])
        rows.append(row)
    hc = pd.DataFrame(rows)
    base = hc[hc["strategy"] == "uncontrolled"].set_index(["feeder", "v2g_share"])["hc_penetration"]
    ref = [base.get((f, s), np.nan) for f, s in zip(hc["feeder"], hc["v2g_share"])]
    hc["uplift_vs_uncontrolled"] = hc["hc_penetration"] - np.asarray(ref, dtype=float)
    hc["threshold"] = threshold
    return hc


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
        max_loading_pct=("max_loading_pct", "max"), samples=("violated", "size"))
    first = per_sample.assign(level=np.where(per_sample["violated"], per_sample["penetration"], np.inf))
    lowest = first.groupby(GROUP + ["element", "index", "sample"])["level"].min()
    median = lowest.groupby(GROUP + ["element", "index"]).median().replace(np.inf, np.nan)
    return by_level.merge(median.rename("lowest_violating_penetration").reset_index(),
                          on=GROUP + ["element", "index"])
