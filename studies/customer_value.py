"""What the households get, per feeder x period x strategy x bidirectional share x penetration level:
`customer_value.csv`, from the study's households table (one row per connection point and run).

For each figure the median and the 10th and 90th percentiles over the households it concerns, pooled over
the level's samples:

- over households with an EV: the saving against uncontrolled charging of the same car, the EV's charging
  cost, the export revenue, the extra battery fade per year against uncontrolled charging and its cost;
- over households that lost supply (studies with outages): backup hours, unserved energy with V2H and
  without it, and the share of the outage hours fully covered.

Columns are `<figure>_median`, `<figure>_p10`, `<figure>_p90` (figures keep their unit and currency
suffix), with `ev_households` and `outage_households` counting the households behind them.
"""
import numpy as np
import pandas as pd

from hostcap.studies.hosting import AXES

GROUP = ["feeder", "period", "strategy", "v2g_share", "penetration"]
EV_FIGURES = ("saving_vs_uncontrolled_", "ev_charging_cost_", "export_credit_", "extra_fade_year_pct",
              "extra_wear_cost_year_")
OUTAGE_FIGURES = ("backup_h", "outage_unserved_kwh", "outage_unserved_no_v2h_kwh", "outage_covered_share")


def figure_columns(households: pd.DataFrame, prefixes: tuple[str, ...]) -> list[str]:
    """The columns of these figures present in the table; a prefix ending in _ stands for the figure with
    its currency (`saving_vs_uncontrolled_` matches `saving_vs_uncontrolled_EUR`)."""
    return [c for p in prefixes for c in households.columns if c == p or (p.endswith("_") and c.startswith(p)
                                                                         and c.count("_") == p.count("_"))]


def customer_value(households: pd.DataFrame) -> pd.DataFrame:
    """The table described in the module docstring; empty (with the group columns) without households."""
    if households.empty or "n_ev" not in households:
        return pd.DataFrame(columns=GROUP)
    ev_cols = figure_columns(households, EV_FIGURES)
    out_cols = figure_columns(households, OUTAGE_FIGURES) if "outage_h" in households else []
    group = [*GROUP[:-1], *(c for c in AXES if c in households.columns), GROUP[-1]]
    rows = []
    for keys, g in households.groupby(group, sort=True):
        row = dict(zip(group, keys))
        ev = g[g["n_ev"] > 0]
        row["ev_households"] = len(ev)
        row |= _quantiles(ev, ev_cols)
        if out_cols:
            dark = g[g["outage_h"] > 0]
            row["outage_households"] = len(dark)
            row |= _quantiles(dark, out_cols)
        rows.append(row)
    return pd.DataFrame(rows)


def _quantiles(df: pd.DataFrame, cols: list[str]) -> dict[str, float]:
    out = {}
    for c in cols:
        v = df[c].to_numpy(float)
        v = v[np.isfinite(v)]
        q = np.quantile(v, [0.5, 0.1, 0.9]) if v.size else [np.nan] * 3
        out |= {f"{c}_median": float(q[0]), f"{c}_p10": float(q[1]), f"{c}_p90": float(q[2])}
    return out
