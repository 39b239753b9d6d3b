"""Maps of a study's GeoPackage: static PNGs (matplotlib) and an interactive HTML map (folium).

Static maps come in two kinds per feeder and variant: `lowest` (median lowest violating penetration per
bus; grey where no violation) and `voltage` (worst bus voltage: the lowest or highest seen in any run,
whichever is farther from 1 pu; blue below, red above). Geographic feeders are drawn
in their UTM zone so that the scale bar is true; schematic layouts say so in the title and the scale bar.
"""
import io
from pathlib import Path

import folium
import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import Normalize, TwoSlopeNorm  # noqa: E402

from hostcap.models.errors import InputError  # noqa: E402
from hostcap.studies.atomic import atomic_path  # noqa: E402

KINDS = {"lowest": ("lowest_pen_{v}", "lowest violating EV penetration (median over samples)", "viridis"),
         "voltage": ("vm_worst_pu_{v}", "worst bus voltage (pu), farthest from 1 pu", "coolwarm")}


def read_layers(gpkg: str | Path) -> dict[str, gpd.GeoDataFrame]:
    return {name: gpd.read_file(gpkg, layer=name) for name in ("buses", "lines", "transformers")}


def _nice_length(span: float) -> float:
    raw = span / 5
    exp = 10 ** np.floor(np.log10(raw))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * exp - raw)) * exp)


def static_map(layers: dict, variant: str, kind: str, path: str | Path, title: str) -> None:
    """Write the static map as a PNG file."""
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(static_map_png(layers, variant, kind, title))


def static_map_png(layers: dict, variant: str, kind: str, title: str) -> bytes:
    """The static map as PNG bytes: buses coloured by the map's kind, lines, transformers, colour bar,
    title, scale bar and north arrow."""
    if kind not in KINDS:
        raise InputError(f"map kind: unknown '{kind}', choose one of {', '.join(KINDS)}")
    column, label, cmap = KINDS[kind]
    column = column.format(v=variant)
    buses, lines, trafos = layers["buses"], layers["lines"], layers["transformers"]
    if column not in buses:
        raise InputError(f"map: no results for variant '{variant}' in this GeoPackage")
    schematic = bool(buses["schematic"].any())
    if not schematic:
        utm = buses.estimate_utm_crs()
        buses, lines, trafos = buses.to_crs(utm), lines.to_crs(utm), trafos.to_crs(utm)
    fig, ax = plt.subplots(figsize=(9, 8), constrained_layout=True)
    lines.plot(ax=ax, color="#999999", linewidth=0.8, zorder=1)
    missing = buses[buses[column].isna()]
    if len(missing):
        missing.plot(ax=ax, color="#cccccc", markersize=12, zorder=2,
                     label="no violation" if kind == "lowest" else "no result")
    shown = buses[buses[column].notna()]
    if len(shown):
        if kind == "lowest":
            norm = Normalize(0.0, 1.0)
        else:
            norm = TwoSlopeNorm(1.0, min(float(shown[column].min()), 0.999), max(float(shown[column].max()), 1.001))
        shown.plot(ax=ax, column=column, cmap=cmap, norm=norm, markersize=22, zorder=3, legend=True,
                   legend_kwds={"label": label, "shrink": 0.7})
    trafos.plot(ax=ax, color="black", marker="^", markersize=90, zorder=4, label="transformer")
    ax.legend(loc="lower right", fontsize=8)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice_length(x1 - x0)
    bx, by = x0 + 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.plot([bx, bx + length], [by, by], color="black", linewidth=3)
    unit = "layout units (schematic)" if schematic else "m"
    ax.text(bx + length / 2, by + 0.015 * (y1 - y0), f"{length:g} {unit}", ha="center", fontsize=8)
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.85), xycoords="axes fraction", ha="center",
                fontsize=12, fontweight="bold", arrowprops={"facecolor": "black", "width": 3, "headwidth": 10})
    ax.set_title(("SCHEMATIC LAYOUT (no real coordinates) - " if schematic else "") + title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _popup(row, columns) -> str:
    cells = "".join(f"<tr><th>{c}</th><td>{row[c]:.4g}</td></tr>" if isinstance(row[c], float)
                    else f"<tr><th>{c}</th><td>{row[c]}</td></tr>" for c in columns)
    return f"<table>{cells}</table>"


def interactive_map(layers: dict, variants: list[str], path: str | Path, title: str) -> None:
    """One folium map, a layer per variant; pop-ups with each element's numbers."""
    buses, lines = layers["buses"], layers["lines"]
    schematic = bool(buses["schematic"].any())
    if schematic:
        fmap = folium.Map(crs="Simple", tiles=None, zoom_start=0,
                          location=[float(buses.geometry.y.mean()), float(buses.geometry.x.mean())])
    else:
        fmap = folium.Map(location=[float(buses.geometry.y.mean()), float(buses.geometry.x.mean())],
                          zoom_start=16, tiles="OpenStreetMap")
    heading = ("SCHEMATIC LAYOUT (no real coordinates) - " if schematic else "") + title
    fmap.get_root().html.add_child(folium.Element(f"<h3 style='margin:4px'>{heading}</h3>"))
    for v in variants:
        group = folium.FeatureGroup(name=v, show=v == variants[0])
        line_cols = ["line", "max_loading_pct_" + v, "p_overload_" + v, "lowest_pen_" + v]
        for _, row in lines.iterrows():
            coords = [(y, x) for x, y in row.geometry.coords]
            loading = row.get("max_loading_pct_" + v, np.nan)
            colour = "#d7191c" if loading > 100 else "#fdae61" if loading > 80 else "#2c7bb6"
            folium.PolyLine(coords, color=colour, weight=3, popup=folium.Popup(_popup(row, line_cols))).add_to(group)
        bus_cols = ["bus", "vm_min_pu_" + v, "vm_max_pu_" + v, "vm_worst_pu_" + v, "p_violation_" + v,
                    "lowest_pen_" + v]
        for _, row in buses.iterrows():
            bad = row.get("p_violation_" + v, 0) > 0
            folium.CircleMarker((row.geometry.y, row.geometry.x), radius=4, fill=True, fill_opacity=0.9,
                                color="#d7191c" if bad else "#1a9641",
                                popup=folium.Popup(_popup(row, bus_cols))).add_to(group)
        group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    with atomic_path(path, suffix=".html") as tmp:
        fmap.save(str(tmp))
