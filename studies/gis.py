"""Study results on the feeder's GIS layers: one GeoPackage per feeder and study.

For every variant (strategy, plus its bidirectional share when a study has several), each element gets:
buses `vm_min_pu_<v>`, `vm_max_pu_<v>`, `vm_worst_pu_<v>` (whichever of the two lies farther from
1 pu), `p_violation_<v>` (share of samples in which the bus leaves the
voltage band at the study's highest penetration level) and `lowest_pen_<v>` (median lowest violating
penetration, NaN: no violation in at least half of the samples); lines and transformers
`max_loading_pct_<v>`, `p_overload_<v>`, `lowest_pen_<v>`. Plus `vm_min_pu`, `vm_max_pu`,
`max_loading_pct` over the whole study.

A `households` point layer (at each connection point's bus) shows who gains: per variant, at the study's
highest penetration level, the median over samples and periods of each household's saving against
uncontrolled charging and export revenue (with a priced tariff), its EV's extra battery-wear cost, and its
backup hours and unserved energy in outages (with outages); the column names keep their unit and currency
(`saving_vs_uncontrolled_EUR_<v>`).
"""
from pathlib import Path

import geopandas as gpd
import pandas as pd

from hostcap.feeders import load_feeder
from hostcap.feeders.geodata import topology_layers
from hostcap.studies.customer_value import EV_FIGURES, OUTAGE_FIGURES, figure_columns
from hostcap.studies.atomic import atomic_path
from hostcap.studies.spec import FeederEntry

KEY = {"buses": ("bus", "bus"), "lines": ("line", "line"), "transformers": ("trafo", "trafo")}


def variant_name(strategy: str, v2g_share: float, shares: list[float]) -> str:
    return strategy if len(shares) == 1 else f"{strategy}_b{round(v2g_share * 100):03d}"


def study_layers(feeder: FeederEntry, loc: pd.DataFrame, households: pd.DataFrame | None = None
                 ) -> dict[str, gpd.GeoDataFrame]:
    layers = topology_layers(load_feeder(feeder.ref, feeder.profiles))
    if households is not None and "feeder" in households:
        layers["households"] = households_layer(layers["buses"], households[households["feeder"] == feeder.name])
    loc = loc[loc["feeder"] == feeder.name]
    shares = sorted(loc["v2g_share"].unique())
    top_level = loc["penetration"].max()
    for layer, (element, id_col) in KEY.items():
        el = loc[loc["element"] == element]
        gdf = layers[layer]
        worst = el.groupby("index").agg(vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
                                        max_loading_pct=("max_loading_pct", "max"))
        cols = ["vm_min_pu", "vm_max_pu"] if element == "bus" else ["max_loading_pct"]
        gdf = gdf.merge(worst[cols], left_on=id_col, right_index=True, how="left")
        for (strategy, share), g in el.groupby(["strategy", "v2g_share"]):
            v = variant_name(strategy, share, shares)
            per = g.groupby("index").agg(vm_min_pu=("vm_min_pu", "min"), vm_max_pu=("vm_max_pu", "max"),
                                         max_loading_pct=("max_loading_pct", "max"),
                                         lowest=("lowest_violating_penetration", "first"))
            per["p"] = g[g["penetration"] == top_level].set_index("index")["p_violation"]
            names = ({"vm_min_pu": f"vm_min_pu_{v}", "vm_max_pu": f"vm_max_pu_{v}", "p": f"p_violation_{v}"}
                     if element == "bus" else {"max_loading_pct": f"max_loading_pct_{v}", "p": f"p_overload_{v}"})
            names["lowest"] = f"lowest_pen_{v}"
            gdf = gdf.merge(per[list(names)].rename(columns=names), left_on=id_col, right_index=True, how="left")
            if element == "bus":
                vmin, vmax = gdf[f"vm_min_pu_{v}"], gdf[f"vm_max_pu_{v}"]
                gdf[f"vm_worst_pu_{v}"] = vmin.where(1.0 - vmin >= vmax - 1.0, vmax)
        layers[layer] = gdf
    return layers


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
    shares = sorted(households["v2g_share"].unique())
    for (strategy, share), g in top.groupby(["strategy", "v2g_share"]):
        v = variant_name(strategy, share, shares)
        med = g.groupby("cp")[figures].median()
        gdf = gdf.merge(med.add_suffix(f"_{v}"), left_on="cp", right_index=True, how="left")
    return gdf


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: str | Path) -> None:
    """All layers into one GeoPackage, written under a temporary name and then renamed."""
    with atomic_path(path, suffix=".gpkg") as tmp:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG")
