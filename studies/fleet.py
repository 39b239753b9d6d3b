"""A study's feeders as a fleet: one row per feeder, and the share of the fleet that breaks a limit.

`fleet.csv`, one row per feeder of the study file (those of feeder sets that failed their input checks too,
`status` failed with the `error`): its reference, set (`source`), region, substation coordinates and customer
class, and per variant `<v>` (strategy, with its shares as in `studies/variants.variant_name`) the hosting capacity
(`hc_point_frac_<v>`, `hc_confident_frac_<v>`, EVs per household), the binding criteria (`binding_<v>`), with a
pathway the first year a limit breaks (`first_violation_year_<v>`), and with `reinforcement` the cost at the
study's confidence at the highest level (`cost_eur_at_confidence_<v>`, the period the plans are quoted for), and
the substation's headroom at the highest level (`station_load_headroom_kw_<v>`, `station_gen_headroom_kw_<v>`:
the transformer's LV bus, `studies/headroom.py`).

`fleet_statistics.csv`, per variant and level (with a pathway, its year): `n_feeders` (that ran), `n_failed` (left
out: their input checks failed), `n_broken`, the feeders whose hosting capacity lies below the level (they break a
limit by that level, in more than `max_violation_probability` of their samples; a feeder without a hosting
capacity, which breaks one at its lowest level or without EVs, counts as broken at every level), `share_broken`
with its exact 95 % interval over feeders (`share_broken_lo`, `share_broken_hi`, Clopper-Pearson: the feeders
taken as a random sample of the utility's; of a hand-picked set they describe that set only), and
`n_shown_safe`, the feeders whose samples show the level safe at the study's confidence (`hc_confident_frac` at
or above it; with few samples none is, however few break: each feeder's own sampling uncertainty), with its share
and interval (`share_shown_safe`, `_lo`, `_hi`); with `reinforcement`, the fleet's total cost at confidence at
that level (`reinforcement_cost_eur`). A feeder that hosts the highest level hosts at least that: the study
tested no more. A recount from fleet.csv gives the same numbers."""
import numpy as np
import pandas as pd

from hostcap.studies.flexibility import eur, headline_period
from hostcap.studies.gis import matching, variant_columns, variant_names
from hostcap.studies.hosting import clopper_pearson
from hostcap.studies.spec import StudySpec

FEEDER_COLUMNS = ["ref", "source", "region", "x", "y", "customer_class"]


def fleet_table(spec: StudySpec, failed: list[dict], hosting: pd.DataFrame, first_years: pd.DataFrame | None,
                reinforcement: pd.DataFrame | None, headroom: pd.DataFrame | None = None) -> pd.DataFrame:
    """fleet.csv (the module docstring); `spec` the study as its file gives it, `failed` the feeders that failed
    their checks."""
    errors = {f["feeder"]: f["error"] for f in failed}
    table = pd.DataFrame([{"feeder": f.name, **{c: getattr(f, c) for c in FEEDER_COLUMNS},
                           "status": "failed" if f.name in errors else "ok", "error": errors.get(f.name, "")}
                          for f in spec.feeders])
    names = variant_names(hosting)
    wide = {}
    for key, g in hosting.groupby(variant_columns(hosting)):
        v = names[key]
        g = g.set_index("feeder")
        wide[f"hc_point_frac_{v}"] = g["hc_point_frac"]
        wide[f"hc_confident_frac_{v}"] = g["hc_confident_frac"]
        wide[f"binding_{v}"] = g["binding"]
        if first_years is not None:
            fy = first_years[matching(first_years, dict(zip(variant_columns(hosting), key)))]
            wide[f"first_violation_year_{v}"] = fy.set_index("feeder")["first_violation_year"]
        if reinforcement is not None and not reinforcement.empty:
            r = reinforcement[matching(reinforcement, dict(zip(variant_columns(hosting), key)))
                              & (reinforcement["period"] == headline_period(spec))
                              & (reinforcement["penetration"] == max(spec.penetrations))]
            wide[f"cost_eur_at_confidence_{v}"] = r.set_index("feeder")["cost_eur_at_confidence"]
        if headroom is not None and not headroom.empty:
            h = headroom[matching(headroom, dict(zip(variant_columns(hosting), key))) & headroom["station"]
                         & (headroom["penetration"] == max(spec.penetrations))].set_index("feeder")
            wide[f"station_load_headroom_kw_{v}"] = h["load_headroom_kw"]
            wide[f"station_gen_headroom_kw_{v}"] = h["gen_headroom_kw"]
    return table.merge(pd.DataFrame(wide), left_on="feeder", right_index=True, how="left")


def fleet_variants(fleet: pd.DataFrame) -> list[str]:
    """The variants fleet.csv has columns of."""
    return [c.removeprefix("hc_point_frac_") for c in fleet.columns if c.startswith("hc_point_frac_")]


def fleet_statistics(spec: StudySpec, fleet: pd.DataFrame, reinforcement: pd.DataFrame | None) -> pd.DataFrame:
    """fleet_statistics.csv from fleet.csv (and reinforcement.csv): the module docstring."""
    ran = fleet[fleet["status"] == "ok"]
    n_failed = int((fleet["status"] == "failed").sum())
    variants = fleet_variants(fleet)
    names = variant_names(reinforcement) if reinforcement is not None and not reinforcement.empty else {}
    by_name = {v: k for k, v in names.items()}
    rows = []
    for v in variants:
        hc = ran[f"hc_point_frac_{v}"].to_numpy(float)
        confident = ran[f"hc_confident_frac_{v}"].to_numpy(float)
        for level in spec.penetrations:
            broken = int(np.sum(~(hc >= level - 1e-9)))  # NaN: broken at every level
            safe = int(np.sum(confident >= level - 1e-9))
            n = len(hc)
            lo, hi = clopper_pearson(np.array([broken, safe]), np.array([n, n]))
            row = {"variant": v, "penetration": level, "n_feeders": n, "n_failed": n_failed, "n_broken": broken,
                   "share_broken": broken / n if n else np.nan, "share_broken_lo": float(lo[0]),
                   "share_broken_hi": float(hi[0]), "n_shown_safe": safe,
                   "share_shown_safe": safe / n if n else np.nan, "share_shown_safe_lo": float(lo[1]),
                   "share_shown_safe_hi": float(hi[1])}
            if spec.pathway is not None:
                row["year"] = spec.level_years[level]
            if v in by_name:
                r = reinforcement[matching(reinforcement, dict(zip(variant_columns(reinforcement), by_name[v])))
                                  & (reinforcement["period"] == headline_period(spec))
                                  & (reinforcement["penetration"] == level)]
                row["reinforcement_cost_eur"] = float(r["cost_eur_at_confidence"].sum())
            rows.append(row)
    return pd.DataFrame(rows)


def fleet_section(spec: StudySpec, fleet: pd.DataFrame, stats: pd.DataFrame) -> dict:
    """The report's fleet section: how many feeders ran and which were left out, the share of the fleet that
    breaks a limit by each level (year) per variant with its interval, and a row per feeder."""
    def level(lv: float) -> str:
        return str(spec.level_years[lv]) if spec.pathway is not None else f"{lv:.0%} EVs"

    share = stats.assign(text=[f"{r.n_broken}/{r.n_feeders} ({r.share_broken_lo:.0%}-{r.share_broken_hi:.0%}); "
                               f"shown safe {r.n_shown_safe}/{r.n_feeders}" for r in stats.itertuples()])
    share = share.pivot(index="variant", columns="penetration", values="text")
    share.columns = [level(c) for c in share.columns]
    variants = fleet_variants(fleet)
    rows = fleet[["feeder", "region", "customer_class", "status"]].copy()
    for v in variants:
        rows[f"{v}: hosting capacity"] = fleet[f"hc_point_frac_{v}"].map(lambda x: "-" if pd.isna(x) else f"{x:.0%}")
        if f"first_violation_year_{v}" in fleet:
            rows[f"{v}: first year"] = fleet[f"first_violation_year_{v}"].map(
                lambda x: "-" if pd.isna(x) else f"{x:.0f}")
        if f"cost_eur_at_confidence_{v}" in fleet:
            rows[f"{v}: cost, EUR"] = fleet[f"cost_eur_at_confidence_{v}"].map(eur)
    left_out = fleet[fleet["status"] == "failed"]
    return {"n": int((fleet["status"] == "ok").sum()), "total": len(fleet),
            "left_out": [f"{r.feeder}: {r.error}" for r in left_out.itertuples()],
            "share": share.rename_axis("strategy").reset_index().to_html(index=False),
            "feeders": rows.to_html(index=False, na_rep="-")}
