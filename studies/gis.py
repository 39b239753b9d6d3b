"""Study results on the feeder's GIS layers: one GeoPackage per feeder and study.

Every column's name says what it covers. For every variant `<v>` (strategy, plus its bidirectional share
as `_bNNN` when a study has several, and its heat-pump share as `_hNNN` when a study has several) and
penetration level `<L>` (`pen040` = 40 % of households):

- buses: `vm_min_pu_<v>`, `vm_max_pu_<v>`, `vm_worst_pu_<v>` (whichever of the two lies farther from 1 pu),
  over all levels, samples and periods; `lowest_pen_<v>` (median lowest violating penetration, NaN: no
  violation in at least half of the samples); per level `p_violation_<v>__<L>` (share of samples in which
  the bus breaks the voltage criterion) and `vm_worst_pu_<v>__<L>`;
- lines and transformers: `max_loading_pct_<v>`, `lowest_pen_<v>`, per level `p_overload_<v>__<L>` and
  `max_loading_pct_<v>__<L>`;
- buses: per variant and level `load_headroom_kw_<v>__<L>`, `gen_headroom_kw_<v>__<L>` and what limits them
  (`load_limit_...`, `gen_limit_...`): the extra load and generation each bus takes (`studies/headroom.py`);
- with an adoption pathway, buses, lines and transformers also get `first_year_<v>`: the first pathway year
  whose EVs reach `lowest_pen_<v>`, the year the element first breaks its limit in most samples (NaN: it holds
  through the pathway);
- `vm_min_pu__all_strategies`, `vm_max_pu__all_strategies`, `vm_worst_pu__all_strategies` and
  `max_loading_pct__all_strategies`: the envelope over every strategy, level, sample and period.

With `reinforcement`, a `reinforcement` layer holds every line and transformer the planner reinforces in some
sample (`studies/plans.py`, the plans over all periods): `element`, `index`, `kinds` (its measures), and per
variant and level `p_reinforced_<v>__<L>` (the share of samples that build it) and `cost_eur_<v>__<L>` (the
median cost of its measure over those samples); with a pathway `first_year_<v>`, the first year more than
`max_violation_probability` of the samples build it.

A `households` point layer (at each connection point's bus) shows who gains: per variant, at the study's
highest penetration level, the median over samples and periods of each household's saving against
uncontrolled charging and export revenue (with a priced tariff), its EV's extra battery-wear cost, and its
backup hours and unserved energy in outages (with outages); the column names keep their unit and currency
(`saving_vs_uncontrolled_EUR_<v>`).

The GeoPackage carries QGIS layer styles (`studies/styles.py`): QGIS opens buses coloured by worst voltage
and lines and transformers by loading, on the study's fixed scales.
"""
from pathlib import Path

import geopandas as gpd
import pandas as pd

from hostcap.feeders import load_feeder
from hostcap.feeders.geodata import topology_layers
from hostcap.studies.atomic import atomic_path
from hostcap.studies.customer_value import EV_FIGURES, OUTAGE_FIGURES, figure_columns
from hostcap.studies.hosting import group_of
from hostcap.studies.reinforce import with_measure
from hostcap.studies.spec import FeederEntry
from hostcap.studies.styles import write_layer_styles
from hostcap.studies.variants import variant_name

KEY = {"buses": ("bus", "bus"), "lines": ("line", "line"), "transformers": ("trafo", "trafo")}


def name_in_study(spec, row) -> str:
    """The variant's name of a row (a mapping with its strategy, bidirectional share and, with that axis, its
    heat-pump share) in a study (a StudySpec)."""
    return variant_name(row["strategy"], row["v2g_share"], spec.v2g_shares, row.get("heat_pump_share"),
                        spec.heat_pump_axis)


def variant_columns(table: pd.DataFrame) -> list[str]:
    """What tells a table's variants apart: the strategy, the bidirectional share and the study's further axes
    (`hosting.group_of`)."""
    return [c for c in group_of(table) if c != "feeder"]


def same_variant(table: pd.DataFrame, row) -> pd.Series:
    """The rows of `table` with the feeder and variant of `row` (a mapping holding its group columns)."""
    return matching(table, {c: row[c] for c in group_of(table)})


def matching(table: pd.DataFrame, values: dict) -> pd.Series:
    """The rows of `table` with these values in the columns it has of them."""
    mask = pd.Series(True, index=table.index)
    for c, v in values.items():
        if c in table:
            mask &= table[c] == v
    return mask


def variant_names(table: pd.DataFrame) -> dict[tuple, str]:
    """Each variant of a table (a tuple of `variant_columns`) -> its name, from the shares the table holds."""
    cols = variant_columns(table)
    keys = list(table[cols].drop_duplicates().itertuples(index=False, name=None))
    shares = sorted({k[1] for k in keys})
    heat = sorted({k[2] for k in keys}) if len(cols) > 2 else []
    return {k: variant_name(k[0], k[1], shares, *(k[2:3] or [None]), heat) for k in keys}


def level_tag(penetration: float) -> str:
    """Column suffix of a penetration level: 0.4 -> `pen040`."""
    return f"pen{round(penetration * 100):03d}"


def worst_voltage(vm_min_pu: pd.Series, vm_max_pu: pd.Series) -> pd.Series:
    """Per element, the lower or the higher voltage, whichever lies farther from 1 pu."""
    return vm_min_pu.where(1.0 - vm_min_pu >= vm_max_pu - 1.0, vm_max_pu)


def first_year(lowest_pen: pd.Series, years: dict[float, int]) -> pd.Series:
    """The first pathway year (`years`: EVs per household -> year) whose EVs reach each element's lowest
    violating level; NaN where it never violates."""
    levels = sorted(years)
    return lowest_pen.map(lambda x: float(years[next((lv for lv in levels if lv >= x - 1e-9), None)])
                          if pd.notna(x) and x <= levels[-1] + 1e-9 else float("nan"))


def study_layers(feeder: FeederEntry, loc: pd.DataFrame, households: pd.DataFrame | None = None,
                 years: dict[float, int] | None = None, reinforcement: tuple | None = None,
                 headroom: pd.DataFrame | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The feeder's topology layers with the study's results as columns (the module docstring); `years`: a
    pathway's EVs per household -> year; `reinforcement`: (the plans' measure rows, reinforcement.csv, the
    threshold), both of the period the feeder's plan is quoted for."""
    layers = topology_layers(load_feeder(feeder.ref, feeder.profiles))
    if reinforcement is not None:
        rows, table, threshold = reinforcement
        layers["reinforcement"] = reinforcement_layer(layers, rows[rows["feeder"] == feeder.name],
                                                      table[table["feeder"] == feeder.name], years, threshold)
    if households is not None and "feeder" in households:
        layers["households"] = households_layer(layers["buses"], households[households["feeder"] == feeder.name])
    loc = loc[loc["feeder"] == feeder.name]
    names = variant_names(loc)
    for layer, (element, id_col) in KEY.items():
        el = loc[loc["element"] == element]
        bus = element == "bus"
        cols = {}
        envelope = el.groupby("index").agg(vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
                                           max_loading_pct=("max_loading_pct", "max"))
        if bus:
            cols["vm_min_pu__all_strategies"] = envelope["vm_min_pu"]
            cols["vm_max_pu__all_strategies"] = envelope["vm_max_pu"]
            cols["vm_worst_pu__all_strategies"] = worst_voltage(envelope["vm_min_pu"], envelope["vm_max_pu"])
        else:
            cols["max_loading_pct__all_strategies"] = envelope["max_loading_pct"]
        for key, g in el.groupby(variant_columns(el)):
            v = names[key]
            per = g.groupby("index").agg(vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
                                         max_loading_pct=("max_loading_pct", "max"),
                                         lowest=("lowest_violating_penetration", "first"))
            if bus:
                cols[f"vm_min_pu_{v}"], cols[f"vm_max_pu_{v}"] = per["vm_min_pu"], per["vm_max_pu"]
                cols[f"vm_worst_pu_{v}"] = worst_voltage(per["vm_min_pu"], per["vm_max_pu"])
            else:
                cols[f"max_loading_pct_{v}"] = per["max_loading_pct"]
            cols[f"lowest_pen_{v}"] = per["lowest"]
            if years:
                cols[f"first_year_{v}"] = first_year(per["lowest"], years)
            for level, at in g.groupby("penetration"):
                at, tag = at.set_index("index"), level_tag(level)
                if bus:
                    cols[f"p_violation_{v}__{tag}"] = at["p_violation"]
                    cols[f"vm_worst_pu_{v}__{tag}"] = worst_voltage(at["vm_min_pu"], at["vm_max_pu"])
                else:
                    cols[f"p_overload_{v}__{tag}"] = at["p_violation"]
                    cols[f"max_loading_pct_{v}__{tag}"] = at["max_loading_pct"]
        if bus and headroom is not None:
            cols.update(headroom_columns(headroom[headroom["feeder"] == feeder.name]))
        table = pd.DataFrame(cols)
        layers[layer] = layers[layer].merge(table, left_on=id_col, right_index=True, how="left")
    return layers


def headroom_columns(headroom: pd.DataFrame) -> dict[str, pd.Series]:
    """Per variant and level, each bus's load and generation headroom (kW) and what limits them
    (`studies/headroom.py`)."""
    if headroom.empty:
        return {}
    names = variant_names(headroom)
    cols = {}
    for key, g in headroom.groupby([*variant_columns(headroom), "penetration"]):
        v, tag = names[key[:-1]], level_tag(key[-1])
        g = g.set_index("bus")
        for c in ("load_headroom_kw", "gen_headroom_kw", "load_limit", "gen_limit"):
            cols[f"{c}_{v}__{tag}"] = g[c]
    return cols


def reinforcement_layer(layers: dict, rows: pd.DataFrame, table: pd.DataFrame, years: dict[float, int] | None,
                        threshold: float) -> gpd.GeoDataFrame:
    """The `reinforcement` layer described in the module docstring."""
    built = with_measure(rows).copy()
    parts = built["element"].astype(str).str.split(" ", n=1)  # an empty column reads as float
    built["element_type"], built["index"] = parts.str[0], parts.str[1].astype(int)
    where = {"line": layers["lines"].set_index("line").geometry,
             "trafo": layers["transformers"].set_index("trafo").geometry}
    elements = built.groupby(["element_type", "index"])["kind"].agg(lambda k: "; ".join(sorted(set(k))))
    gdf = gpd.GeoDataFrame({"element": [e for e, _ in elements.index], "index": [i for _, i in elements.index],
                            "kinds": elements.to_numpy()},
                           geometry=gpd.GeoSeries([where[e].loc[i] for e, i in elements.index]),
                           crs=layers["lines"].crs)
    if built.empty:
        return gdf
    n = table.set_index([*variant_columns(table), "penetration"])["n_samples"]
    names = variant_names(table)
    cols = {}
    for key, g in built.groupby(variant_columns(built)):
        v = names[key]
        share = {}
        for level, at in g.groupby("penetration"):
            per = at.groupby(["element_type", "index"]).agg(k=("sample", "nunique"), cost=("cost_eur", "median"))
            share[level] = per["k"] / n[(*key, level)]
            cols[f"p_reinforced_{v}__{level_tag(level)}"] = share[level]
            cols[f"cost_eur_{v}__{level_tag(level)}"] = per["cost"]
        if years:
            first = pd.concat({lv: s[s > threshold] for lv, s in share.items()}).reset_index(level=0)
            cols[f"first_year_{v}"] = first.groupby(level=[0, 1])["level_0"].min().map(years).astype(float)
    table_cols = pd.DataFrame(cols)
    table_cols.index = table_cols.index.set_names(["element", "index"])
    return gdf.merge(table_cols, left_on=["element", "index"], right_index=True, how="left")


def households_layer(buses: gpd.GeoDataFrame, households: pd.DataFrame) -> gpd.GeoDataFrame:
    """The `households` layer described in the module docstring."""
    cps = households.groupby("cp")[["bus", "household"]].first()
    at_bus = buses.set_index("bus").geometry
    gdf = gpd.GeoDataFrame({"cp": cps.index.to_numpy(), "bus": cps["bus"].to_numpy(),
                            "household": cps["household"].to_numpy()},
                           geometry=at_bus.loc[cps["bus"]].to_numpy(), crs=buses.crs)
    if households.empty:
        return gdf
    figures = figure_columns(households, EV_FIGURES + OUTAGE_FIGURES)
    top = households[households["penetration"] == households["penetration"].max()]
    names = variant_names(households)
    for key, g in top.groupby(variant_columns(top)):
        v = names[key]
        med = g.groupby("cp")[figures].median()
        gdf = gdf.merge(med.add_suffix(f"_{v}"), left_on="cp", right_index=True, how="left")
    return gdf


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: str | Path, styles: dict[str, str] | None = None
               ) -> None:
    """All layers into one GeoPackage, with QGIS styles (layer name -> QML) in its `layer_styles` table,
    written under a temporary name and then renamed."""
    with atomic_path(path, suffix=".gpkg") as tmp:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG")
        if styles:
            write_layer_styles(tmp, styles)
