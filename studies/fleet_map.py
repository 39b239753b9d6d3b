"""The fleet map (`maps/fleet.html`): every feeder of a study at its substation, coloured by its hosting
capacity (with a pathway, the first year it breaks a limit) under one strategy, with a pop-up of its numbers
and a link to its own interactive map. Offline like the feeders' maps (`studies/maps.py`), with the same
escaping and Content-Security-Policy (`studies/webpage.py`).

A feeder's substation is where `fleet.csv` puts it (`x`, `y`: longitude and latitude, from a CSV feeder set), else
its transformer in its GeoPackage when the feeder has real coordinates. Feeders with neither (schematic layouts)
are laid out as tiles on a grid of their own, in the study's order, and the page says so; a map with both puts
the schematic ones in a list below the map."""
from pathlib import Path

import geopandas as gpd
import numpy as np
import offlinefolium as folium
import pandas as pd

from hostcap.studies.atomic import atomic_path
from hostcap.studies.layout import feeder_slug
from hostcap.studies.styles import NO_DATA, level_colours
from hostcap.studies.webpage import escape, render, with_policy

TILE_STEP = 1.0  # schematic tiles: one layout unit apart


def substations(fleet: pd.DataFrame, gpkg_of) -> pd.DataFrame:
    """Per feeder that ran: its substation's longitude and latitude, or NaN (schematic). `gpkg_of(name)`: the
    feeder's study GeoPackage."""
    ran = fleet[fleet["status"] == "ok"].copy()
    lon, lat = [], []
    for r in ran.itertuples():
        if pd.notna(r.x) and pd.notna(r.y):
            lon.append(float(r.x))
            lat.append(float(r.y))
            continue
        trafos = gpd.read_file(gpkg_of(r.feeder), layer="transformers")
        geographic = len(trafos) and not bool(trafos["schematic"].any())
        lon.append(float(trafos.geometry.x.iloc[0]) if geographic else np.nan)
        lat.append(float(trafos.geometry.y.iloc[0]) if geographic else np.nan)
    return ran.assign(lon=lon, lat=lat)


def colour_column(fleet: pd.DataFrame, variant: str, years: bool) -> str:
    return f"first_violation_year_{variant}" if years else f"hc_point_frac_{variant}"


def fleet_map(fleet: pd.DataFrame, gpkg_of, variant: str, levels: list[float], path: str | Path, title: str,
              years: dict[float, int] | None = None) -> None:
    """Write the fleet map (the module docstring); `levels`: the study's penetration levels, `years`: a pathway's
    level -> year."""
    at = substations(fleet, gpkg_of)
    column = colour_column(fleet, variant, bool(years))
    keys = sorted(years.values()) if years else list(levels)
    palette = level_colours(keys)
    placed = at[at["lon"].notna()]
    tiles = at[at["lon"].isna()]
    schematic = placed.empty
    if schematic:  # every feeder as a tile: a grid in layout units
        side = int(np.ceil(np.sqrt(max(len(tiles), 1))))
        at = tiles.assign(lon=[TILE_STEP * (i % side) for i in range(len(tiles))],
                          lat=[-TILE_STEP * (i // side) for i in range(len(tiles))])
        placed, tiles = at, tiles.iloc[:0]
        fmap = folium.Map(location=[float(placed["lat"].mean()), float(placed["lon"].mean())], tiles=None,
                          crs="Simple", zoom_start=5)
    else:
        fmap = folium.Map(location=[float(placed["lat"].mean()), float(placed["lon"].mean())], tiles=None,
                          zoom_start=10)
    note = ("schematic feeders laid out as tiles (no coordinates)" if schematic else
            f"{len(tiles)} schematic feeders without coordinates are listed below" if len(tiles) else
            "substations at their coordinates; no basemap (works offline)")
    hint = "click a substation for its numbers and its map"
    fmap.get_root().html.add_child(folium.Element(render("map_heading.html.j2", title=title, note=note, hint=hint)))
    for r in placed.itertuples():
        value = getattr(r, column, np.nan)
        colour = palette.get(value, NO_DATA) if pd.notna(value) else NO_DATA
        if not years and pd.notna(value):  # hosting capacity: the colour of the level it reaches
            colour = palette.get(min(keys, key=lambda k: abs(k - value)), NO_DATA)
        link = f"{feeder_slug(r.feeder)}.html"
        popup = (f"<b>{escape(r.feeder)}</b><br>region: {escape(_text(r.region))}<br>"
                 f"{escape(_shown(column, value))}<br><a href=\"{escape(link)}\">the feeder's map</a>")
        folium.CircleMarker([r.lat, r.lon], radius=9, color="#222222", weight=1, fill=True, fill_color=colour,
                            fill_opacity=0.95, popup=folium.Popup(popup, max_width=300)).add_to(fmap)
    legend = "".join(f"<div><span style='display:inline-block;width:12px;height:12px;background:{c}'></span> "
                     f"{escape(_key(k, bool(years)))}</div>" for k, c in palette.items())
    legend += f"<div><span style='display:inline-block;width:12px;height:12px;background:{NO_DATA}'></span> " \
              f"{'holds through the pathway' if years else 'no hosting capacity'}</div>"
    listed = "".join(f"<li>{escape(r.feeder)}: {escape(_shown(column, getattr(r, column, np.nan)))}</li>"
                     for r in tiles.itertuples())
    fmap.get_root().html.add_child(folium.Element(
        "<div id='hostcap-legend' style='position:fixed;bottom:16px;left:16px;z-index:9999;background:white;"
        f"padding:6px 8px;border:1px solid #888;font:12px sans-serif'><b>{escape(variant)}</b>{legend}"
        + (f"<ul>{listed}</ul>" if listed else "") + "</div>"))
    pad = TILE_STEP if schematic else 0.01  # degrees: a single substation still gets a view around it
    fmap.fit_bounds([[float(placed["lat"].min()) - pad, float(placed["lon"].min()) - pad],
                     [float(placed["lat"].max()) + pad, float(placed["lon"].max()) + pad]])
    page = with_policy(fmap.get_root().render(), web_images=False)
    with atomic_path(path, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")


def _text(x) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)


def _key(k: float, years: bool) -> str:
    return f"breaks first in {k:.0f}" if years else f"hosts {k:.0%} EVs"


def _shown(column: str, value) -> str:
    if pd.isna(value):
        return "holds through the pathway" if column.startswith("first_violation_year") else "no hosting capacity"
    return f"first breaks in {value:.0f}" if column.startswith("first_violation_year") else f"hosts {value:.0%} EVs"
