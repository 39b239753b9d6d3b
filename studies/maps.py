"""Maps of a study's GeoPackage: static PNGs (matplotlib), small multiples for the report, and an interactive
HTML map that works offline.

Static maps come in two kinds per feeder and variant, on the study's fixed scales (`studies/styles.py`):
- `voltage`: buses by their worst voltage (the lowest or highest seen in any run, whichever is farther
  from 1 pu) on the study's voltage scale, the band's limits marked on the colour bar; lines and the
  transformer by their highest loading on the loading scale, the limit marked;
- `lowest`: buses, lines and the transformer by the lowest penetration level at which they break their limit
  (median over samples), one colour per study level; grey: no violation up to the highest level.
Geographic feeders are drawn in their UTM zone, with a true scale bar and a north arrow; schematic layouts
have neither, say "schematic layout" and label their axes in layout units.

The interactive map (folium-offline: Leaflet and its plugins are inlined into the HTML, so it renders without
network) has one layer per variant and level, chosen with radio buttons (it opens on the variant that breaks
most limits at the highest level), with lines and the transformer
coloured by loading and buses by worst voltage, with `reinforcement` the elements the planner reinforces drawn
over them (dashed black lines, ringed transformers), pop-ups with each element's numbers (a bus's with its load and
generation headroom) and a legend. It draws
no basemap unless asked (`basemap=True`, which needs the web to show OpenStreetMap tiles and says so). Every
string from the study or the feeder is escaped, and only the page's own scripts run (`studies/webpage.py`).
"""
import io
import json
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import offlinefolium as folium  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from hostcap.models.errors import InputError  # noqa: E402
from hostcap.studies.atomic import atomic_path  # noqa: E402
from hostcap.studies.gis import level_tag  # noqa: E402
from hostcap.studies.styles import NO_DATA, Scale, level_colours  # noqa: E402
from hostcap.studies.webpage import escape, render, with_policy  # noqa: E402

KINDS = {"lowest": "lowest violating EV penetration (median over samples)",
         "voltage": "worst bus voltage and highest loading over all runs"}
SCHEMATIC_NOTE = "schematic layout (no real coordinates)"


def read_layers(gpkg: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """The layers a map draws: buses, lines, transformers and, where the study has it, reinforcement."""
    present = set(gpd.list_layers(gpkg)["name"])
    return {name: gpd.read_file(gpkg, layer=name) for name in ("buses", "lines", "transformers", "reinforcement")
            if name != "reinforcement" or name in present}


def _nice_length(span: float) -> float:
    raw = span / 5
    exp = 10 ** np.floor(np.log10(raw))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * exp - raw)) * exp)


def _projected(layers: dict) -> tuple[dict, bool]:
    """The layers in metres (UTM) when geographic, and whether the layout is schematic."""
    schematic = bool(layers["buses"]["schematic"].any())
    if schematic:
        return layers, True
    utm = layers["buses"].estimate_utm_crs()
    return {k: v.to_crs(utm) for k, v in layers.items()}, False


def _level_colours(values, levels: dict[float, str]) -> list[str]:
    return [NO_DATA if v != v else levels.get(round(float(v), 6), NO_DATA) for v in values]


def _draw(ax, layers: dict, bus_col: list[str], line_col: list[str], trafo_col: list[str], *, small: bool) -> None:
    """Lines, buses and transformers in the given colours (plain matplotlib: geopandas' plot redraws the
    whole figure per call, minutes for a figure of small multiples)."""
    buses, lines, trafos = layers["buses"], layers["lines"], layers["transformers"]
    ax.add_collection(LineCollection([np.asarray(g.coords)[:, :2] for g in lines.geometry], colors=line_col,
                                     linewidths=1.2 if small else 2.2, zorder=1, capstyle="round"))
    ax.scatter(buses.geometry.x, buses.geometry.y, c=bus_col, s=6 if small else 26, edgecolors="#333333",
               linewidths=0.2 if small else 0.4, zorder=3)
    ax.scatter(trafos.geometry.x, trafos.geometry.y, c=trafo_col, marker="^", s=40 if small else 140,
               edgecolors="black", linewidths=0.8, zorder=4)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")


def _colourbar(fig, ax, scale: Scale, label: str) -> None:
    bar = fig.colorbar(ScalarMappable(Normalize(scale.lo, scale.hi), plt.get_cmap(scale.cmap)), ax=ax,
                       shrink=0.6, extend="both", pad=0.01)
    bar.set_label(label, fontsize=8)
    ticks = sorted(set(np.round(np.linspace(scale.lo, scale.hi, 5), 4)) | set(scale.marks))
    bar.set_ticks(ticks)
    bar.ax.tick_params(labelsize=7)
    for mark in scale.marks:
        bar.ax.axhline(mark, color="black", linewidth=2)


def _decorate(ax, schematic: bool) -> None:
    """Scale bar and north arrow on a geographic map; axis units and a note on a schematic one."""
    if schematic:
        ax.set_xlabel("x (layout units, not metres)", fontsize=8)
        ax.set_ylabel("y (layout units)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.text(0.01, 0.99, SCHEMATIC_NOTE, transform=ax.transAxes, va="top", fontsize=8, style="italic",
                bbox={"facecolor": "white", "edgecolor": "#999999", "alpha": 0.8})
        return
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice_length(x1 - x0)
    bx, by = x0 + 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.plot([bx, bx + length], [by, by], color="black", linewidth=3)
    ax.text(bx + length / 2, by + 0.015 * (y1 - y0), f"{length:g} m", ha="center", fontsize=8)
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.85), xycoords="axes fraction", ha="center",
                fontsize=12, fontweight="bold", arrowprops={"facecolor": "black", "width": 3, "headwidth": 10})
    ax.set_xticks([])
    ax.set_yticks([])


def _png(fig, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def static_map(layers: dict, variant: str, kind: str, path: str | Path, title: str, *, vscale: Scale,
               lscale: Scale, levels: list[float]) -> None:
    """Write the static map as a PNG file."""
    png = static_map_png(layers, variant, kind, title, vscale=vscale, lscale=lscale, levels=levels)
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(png)


def static_map_png(layers: dict, variant: str, kind: str, title: str, *, vscale: Scale, lscale: Scale,
                   levels: list[float]) -> bytes:
    """The static map of one variant as PNG bytes (the module docstring)."""
    return _png(static_map_figure(layers, variant, kind, title, vscale=vscale, lscale=lscale, levels=levels))


def static_map_figure(layers: dict, variant: str, kind: str, title: str, *, vscale: Scale, lscale: Scale,
                      levels: list[float]):
    """The static map of one variant as a matplotlib figure."""
    if kind not in KINDS:
        raise InputError(f"map kind: unknown '{kind}', choose one of {', '.join(KINDS)}")
    if f"lowest_pen_{variant}" not in layers["buses"]:
        raise InputError(f"map: no results for variant '{variant}' in this GeoPackage")
    layers, schematic = _projected(layers)
    buses, lines, trafos = layers["buses"], layers["lines"], layers["transformers"]
    fig, ax = plt.subplots(figsize=(10, 8), constrained_layout=True)
    if kind == "voltage":
        _draw(ax, layers, vscale.colours(buses[f"vm_worst_pu_{variant}"]),
              lscale.colours(lines[f"max_loading_pct_{variant}"]),
              lscale.colours(trafos[f"max_loading_pct_{variant}"]), small=False)
        _colourbar(fig, ax, vscale, vscale.label)
        _colourbar(fig, ax, lscale, "lines and transformer (triangle): " + lscale.label)
    else:
        colours = level_colours(levels)
        _draw(ax, layers, _level_colours(buses[f"lowest_pen_{variant}"], colours),
              _level_colours(lines[f"lowest_pen_{variant}"], colours),
              _level_colours(trafos[f"lowest_pen_{variant}"], colours), small=False)
        handles = [Patch(color=c, label=f"{lv:.0%}") for lv, c in colours.items()]
        handles += [Patch(color=NO_DATA, label=f"no violation up to {max(levels):.0%}"),
                    Line2D([], [], marker="^", color="black", linestyle="", label="transformer")]
        ax.legend(handles=handles, title="lowest violating\npenetration", fontsize=8, title_fontsize=8,
                  loc="center left", bbox_to_anchor=(1.01, 0.5))
    _decorate(ax, schematic)
    ax.set_title(title, fontsize=10, wrap=True)
    return fig


def level_label(level: float, years: dict[float, int] | None = None) -> str:
    """A level as the maps name it: '40 % EVs', or with a pathway (`years`: level -> year) '2040 (110 % EVs)'."""
    evs = f"{level:.0%} EVs"
    return f"{years[level]} ({evs})" if years and level in years else evs


def small_multiples_png(layers: dict, variants: list[str], levels: list[float], title: str, *,
                        vscale: Scale, lscale: Scale, years: dict[float, int] | None = None) -> bytes:
    """One panel per variant (rows) and level (columns): buses by worst voltage, lines and the transformer
    by highest loading at that level, on the study's fixed scales (`years`: a pathway's level -> year)."""
    layers, schematic = _projected(layers)
    buses, lines, trafos = layers["buses"], layers["lines"], layers["transformers"]
    rows, cols = len(variants), len(levels)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 1.6, 1.9 * rows + 0.8), squeeze=False,
                             constrained_layout=True)
    for i, v in enumerate(variants):
        for j, level in enumerate(levels):
            ax, tag = axes[i][j], level_tag(level)
            _draw(ax, layers, vscale.colours(buses.get(f"vm_worst_pu_{v}__{tag}", np.full(len(buses), np.nan))),
                  lscale.colours(lines.get(f"max_loading_pct_{v}__{tag}", np.full(len(lines), np.nan))),
                  lscale.colours(trafos.get(f"max_loading_pct_{v}__{tag}", np.full(len(trafos), np.nan))),
                  small=True)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(level_label(level, years), fontsize=9)
            if j == 0:
                ax.set_ylabel(v, fontsize=9)
    _colourbar(fig, axes[:, -1].tolist(), vscale, "buses: " + vscale.label)
    _colourbar(fig, axes[:, -1].tolist(), lscale, "lines, transformer: " + lscale.label)
    fig.suptitle(title + (f" - {SCHEMATIC_NOTE}" if schematic else ""), fontsize=10)
    return _png(fig, dpi=80)


def _popup(row, columns: dict[str, str]) -> str:
    cells = []
    for label, c in columns.items():
        value = row.get(c, np.nan)
        shown = f"{value:.4g}" if isinstance(value, float) and value == value else "-" if value != value else value
        cells.append(f"<tr><th style='text-align:left'>{label}</th><td>{shown}</td></tr>")
    return "<table>" + "".join(cells) + "</table>"


def _legend(vscale: Scale, lscale: Scale, note: str) -> str:
    def bar(scale: Scale, label: str) -> str:
        stops = ",".join(scale.colours(np.linspace(scale.lo, scale.hi, 11)))
        marks = "".join(f"<div style='position:absolute;left:{100 * (m - scale.lo) / (scale.hi - scale.lo):.1f}%;"
                        f"top:0;height:12px;border-left:2px solid black'></div>" for m in scale.marks)
        return (f"<div style='margin-top:4px'>{label}</div><div style='position:relative;width:220px;height:12px;"
                f"background:linear-gradient(to right,{stops})'>{marks}</div><div style='display:flex;"
                f"justify-content:space-between;width:220px'><span>{scale.lo:g}</span><span>{scale.hi:g}</span></div>")
    return ("<div id='hostcap-legend' style='position:fixed;bottom:16px;left:16px;z-index:9999;background:white;"
            "padding:6px 8px;border:1px solid #888;font:12px sans-serif'>"
            + bar(vscale, vscale.label) + bar(lscale, "lines, transformer: " + lscale.label)
            + f"<div style='margin-top:4px;color:#555'>grey: no result; dashed black line, black ring: reinforced "
              f"in some sample; {note}</div></div>")


def _geojson(gdf: gpd.GeoDataFrame, scale: Scale, column: str, popup: dict[str, str], radius: float = 0.0):
    """One GeoJSON layer: each feature coloured by `column` on `scale`, its numbers (4 significant digits)
    in a pop-up labelled by `popup`'s keys."""
    def values(c):
        return gdf[c] if c in gdf else pd.Series(np.nan, index=gdf.index)

    def shown(x):  # the pop-up inserts its values as HTML: a name from the feeder is escaped
        return float(f"{x:.4g}") if isinstance(x, float) else str(escape(x)) if isinstance(x, str) else x

    data = gpd.GeoDataFrame({f"f{i}": [shown(x) for x in values(c)] for i, c in enumerate(popup.values())},
                            geometry=list(gdf.geometry))
    data["colour"] = scale.colours(values(column))
    # as GeoJSON without a CRS, not a GeoDataFrame, which folium would reproject to lon/lat (a schematic layout
    # has none; a geographic one is in lon/lat already)
    data = json.loads(data.to_json(na="null", drop_id=True))
    fields = [f"f{i}" for i in range(len(popup))]
    tip = folium.GeoJsonPopup(fields=fields, aliases=list(popup), localize=False)
    if radius:  # points: circles, filled with their colour
        return folium.GeoJson(data, marker=folium.CircleMarker(radius=radius, weight=1, color="#222222",
                                                               fill=True, fill_opacity=0.95),
                              style_function=lambda f: {"fillColor": f["properties"]["colour"]}, popup=tip)
    return folium.GeoJson(data, style_function=lambda f: {"color": f["properties"]["colour"], "weight": 4,
                                                          "opacity": 0.9}, popup=tip)


def _reinforced(gdf: gpd.GeoDataFrame, v: str, tag: str, year: str | None):
    """The elements the planner reinforces in some sample of variant `v` at a level: dashed black lines and
    ringed transformers over the loading colours, with what is built, in what share of samples, at what cost."""
    share = f"p_reinforced_{v}__{tag}"
    if share not in gdf or not (gdf[share] > 0).any():
        return None
    built = gdf[gdf[share] > 0]
    popup = {"reinforced": "element", "index": "index", "measures": "kinds", "share of samples": share,
             "median cost (EUR)": f"cost_eur_{v}__{tag}", **({"first year needed": year} if year in gdf else {})}
    data = gpd.GeoDataFrame({f"f{i}": [float(f"{x:.4g}") if isinstance(x, float) else str(escape(str(x)))
                                       for x in built[c]] for i, c in enumerate(popup.values())},
                            geometry=list(built.geometry))
    data = json.loads(data.to_json(na="null", drop_id=True))
    tip = folium.GeoJsonPopup(fields=[f"f{i}" for i in range(len(popup))], aliases=list(popup), localize=False)
    return folium.GeoJson(data, marker=folium.CircleMarker(radius=15, weight=3, color="#000000", fill=False),
                          style_function=lambda f: {"color": "#000000", "weight": 3, "dashArray": "6 4"},
                          popup=tip, name="reinforced")


def worst_variant(layers: dict, variants: list[str], level: float) -> str:
    """The variant whose buses, lines and transformers most often break their limits at `level` (the one the
    interactive map opens on); the first of equals."""
    tag = level_tag(level)

    def score(v: str) -> float:
        return sum(float(layers[name].get(f"{col}_{v}__{tag}", pd.Series(dtype=float)).fillna(0).sum())
                   for name, col in (("buses", "p_violation"), ("lines", "p_overload"), ("transformers", "p_overload")))
    return max(variants, key=score)


def interactive_map(layers: dict, variants: list[str], levels: list[float], path: str | Path, title: str, *,
                    vscale: Scale, lscale: Scale, basemap: bool = False, years: dict[float, int] | None = None
                    ) -> None:
    """The offline HTML map (the module docstring): a layer per variant and level (`years`: a pathway's
    level -> year, named in the layer's label)."""
    buses, lines, trafos = layers["buses"], layers["lines"], layers["transformers"]
    schematic = bool(buses["schematic"].any())
    centre = [float(buses.geometry.y.mean()), float(buses.geometry.x.mean())]
    if schematic or not basemap:
        fmap = folium.Map(location=centre, tiles=None, crs="Simple" if schematic else "EPSG3857",
                          zoom_start=0 if schematic else 16)
    else:
        fmap = folium.Map(location=centre, zoom_start=16, tiles="OpenStreetMap")
    note = (SCHEMATIC_NOTE if schematic else "OpenStreetMap basemap: needs the web" if basemap
            else "no basemap (works offline)")
    hint = "choose strategy and level top right; click an element for its numbers"
    fmap.get_root().html.add_child(folium.Element(render("map_heading.html.j2", title=title, note=note, hint=hint)))
    first = (worst_variant(layers, variants, max(levels)), max(levels))
    for v, level in ((v, level) for v in variants for level in levels):
        tag = level_tag(level)
        year = {"first year it breaks": f"first_year_{v}"} if f"first_year_{v}" in buses else {}
        group = folium.FeatureGroup(name=str(escape(f"{v}, {level_label(level, years)}")), overlay=False,
                                    show=(v, level) == first)
        _geojson(lines, lscale, f"max_loading_pct_{v}__{tag}", {
            "line": "line", "name": "name", "max loading (%)": f"max_loading_pct_{v}__{tag}",
            "P(overload)": f"p_overload_{v}__{tag}",
            "lowest violating penetration": f"lowest_pen_{v}", **year, "length (km)": "length_km"}).add_to(group)
        _geojson(buses, vscale, f"vm_worst_pu_{v}__{tag}", {
            "bus": "bus", "name": "name", "worst voltage (pu)": f"vm_worst_pu_{v}__{tag}",
            "P(violation)": f"p_violation_{v}__{tag}",
            "lowest violating penetration": f"lowest_pen_{v}", **year, "min over all levels (pu)": f"vm_min_pu_{v}",
            "max over all levels (pu)": f"vm_max_pu_{v}", "load headroom (kW)": f"load_headroom_kw_{v}__{tag}",
            "limited by": f"load_limit_{v}__{tag}", "generation headroom (kW)": f"gen_headroom_kw_{v}__{tag}",
            "generation limited by": f"gen_limit_{v}__{tag}"}, radius=5).add_to(group)
        _geojson(trafos, lscale, f"max_loading_pct_{v}__{tag}", {
            "transformer": "trafo", "name": "name", "rating (MVA)": "sn_mva",
            "max loading (%)": f"max_loading_pct_{v}__{tag}",
            "P(overload)": f"p_overload_{v}__{tag}", **year}, radius=11).add_to(group)
        if "reinforcement" in layers:
            built = _reinforced(layers["reinforcement"], v, tag, f"first_year_{v}")
            if built is not None:
                built.add_to(group)
        group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(folium.Element(_legend(vscale, lscale, note)))
    bounds = buses.total_bounds
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    page = with_policy(fmap.get_root().render(), web_images=basemap and not schematic)
    with atomic_path(path, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
