"""The study's fixed colour scales, shared by the static maps, the interactive map and the QGIS styles, and
the QGIS styles themselves (QML in the GeoPackage's `layer_styles` table, which QGIS applies on opening).

- Voltage: one scale per study, centred on 1 pu, from the voltage criterion alone (so every map of a study,
  feeder and strategy uses the same colours): 1 pu +/- 1.5 times the band's larger deviation (ANSI C84.1
  Range A: 0.925-1.075 pu), the band's limits marked; blue below nominal, red above (matplotlib `RdBu_r`).
- Loading: 0-150 % of the element's rating, the limit (100 %) marked (matplotlib `YlOrRd`).
- Lowest violating penetration: one colour per study level (discrete, `viridis`).
"""
import functools
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from hostcap.models.limits import voltage_band  # noqa: E402

VOLTAGE_CMAP = "RdBu_r"
LOADING_CMAP = "YlOrRd"
LEVEL_CMAP = "viridis"
LOADING_SCALE_PCT = (0.0, 150.0)
NO_DATA = "#bdbdbd"


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    marks: tuple[float, ...]  # limits drawn on the colour bar
    cmap: str
    label: str

    @functools.cached_property
    def _colormap(self):
        return plt.get_cmap(self.cmap)  # a fresh copy, whose lookup table is built on first use: 0.2 ms

    def colours(self, values) -> list[str]:
        """Hex colour of each value (clipped to the scale); NO_DATA for NaN."""
        x = np.clip((np.asarray(values, dtype=float) - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        rgba = self._colormap(np.nan_to_num(x))
        return [NO_DATA if np.isnan(v) else to_hex(c) for v, c in zip(x, rgba)]

    def colour(self, value: float) -> str:
        return self.colours([value])[0]


def voltage_scale(band: str) -> Scale:
    b = voltage_band(band)
    half = 1.5 * max(1.0 - b.v_min_pu, b.v_max_pu - 1.0)
    return Scale(round(1.0 - half, 4), round(1.0 + half, 4), (b.v_min_pu, b.v_max_pu), VOLTAGE_CMAP,
                 f"bus voltage (pu); {b.name} band {b.v_min_pu:.3g}-{b.v_max_pu:.3g} pu marked")


def loading_scale(line_limit_pct: float = 100.0, trafo_limit_pct: float | None = None) -> Scale:
    """The loading scale with the lines' and (when it differs) the transformer's limit marked."""
    trafo = line_limit_pct if trafo_limit_pct is None else trafo_limit_pct
    limits = (f"limit {line_limit_pct:g} %" if trafo == line_limit_pct
              else f"limits: lines {line_limit_pct:g} %, transformer {trafo:g} %")
    return Scale(*LOADING_SCALE_PCT, tuple(sorted({line_limit_pct, trafo})), LOADING_CMAP,
                 f"loading (% of rating); {limits}")


def level_colours(levels: list[float]) -> dict[float, str]:
    """One colour per penetration level (the lowest violating level's legend)."""
    cmap = plt.get_cmap(LEVEL_CMAP)
    n = max(len(levels) - 1, 1)
    return {lv: to_hex(cmap(i / n)) for i, lv in enumerate(sorted(levels))}


def classes(scale: Scale, n: int = 6) -> list[tuple[float, float, str, str]]:
    """The scale cut at its marks and into n equal steps: (lower, upper, colour, label). The outer classes
    reach far beyond the scale, so no value falls outside."""
    step = (scale.hi - scale.lo) / n
    edges = sorted({round(scale.lo + i * step, 6) for i in range(n + 1)} | set(scale.marks))
    edges[0], edges[-1] = -1e9, 1e9
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mid = scale.lo if lo == -1e9 else scale.hi if hi == 1e9 else (lo + hi) / 2
        label = f"below {hi:.4g}" if lo == -1e9 else f"above {lo:.4g}" if hi == 1e9 else f"{lo:.4g} - {hi:.4g}"
        out.append((lo, hi, scale.colour(mid), label))
    return out


def _rgba(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return ",".join(str(int(h[i:i + 2], 16)) for i in (0, 2, 4)) + ",255"


def _symbol(name: str, geometry: str, colour: str) -> str:
    if geometry == "line":
        opts = {"line_color": _rgba(colour), "line_width": "0.8", "line_width_unit": "MM", "capstyle": "round"}
        layer = "SimpleLine"
    else:
        opts = {"color": _rgba(colour), "name": "circle" if geometry == "point" else "triangle", "size": "2.6",
                "size_unit": "MM", "outline_color": "35,35,35,255", "outline_width": "0.2"}
        layer = "SimpleMarker"
    kind = "line" if geometry == "line" else "marker"
    options = "".join(f'<Option name={quoteattr(k)} type="QString" value={quoteattr(v)}/>' for k, v in opts.items())
    return (f'<symbol type="{kind}" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="{layer}" enabled="1" locked="0" pass="0"><Option type="Map">{options}</Option>'
            f"</layer></symbol>")


def graduated_qml(field: str, scale: Scale, geometry: str) -> str:
    """A QGIS style (QML) colouring `field` on the scale's classes; elements without a value grey.
    geometry: point, line or triangle (a transformer)."""
    cls = classes(scale)
    ranges = "".join(f'<range lower="{lo:.6g}" upper="{hi:.6g}" symbol="{i}" label={quoteattr(label)} render="true"/>'
                     for i, (lo, hi, _, label) in enumerate(cls))
    symbols = "".join(_symbol(str(i), geometry, colour) for i, (_, _, colour, _) in enumerate(cls))
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
            '<qgis version="3.28.0" styleCategories="Symbology">'
            f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} graduatedMethod="GraduatedColor" '
            'symbollevels="0" enableorderby="0" forceraster="0">'
            f"<ranges>{ranges}</ranges><symbols>{symbols}</symbols>"
            f'<source-symbol>{_symbol("0", geometry, NO_DATA)}</source-symbol>'
            "</renderer-v2></qgis>")


def study_styles(band: str, trafo_limit_pct: float, line_limit_pct: float) -> dict[str, str]:
    """Layer name -> QML: buses by the worst voltage over all strategies, lines and transformers by their
    highest loading over all strategies."""
    return {"buses": graduated_qml("vm_worst_pu__all_strategies", voltage_scale(band), "point"),
            "lines": graduated_qml("max_loading_pct__all_strategies", loading_scale(line_limit_pct), "line"),
            "transformers": graduated_qml("max_loading_pct__all_strategies", loading_scale(trafo_limit_pct),
                                          "triangle")}


def write_layer_styles(gpkg: str | Path, styles: dict[str, str]) -> None:
    """Store QML styles in the GeoPackage's `layer_styles` table, as QGIS does (default style per layer),
    registered in gpkg_contents as an attributes table."""
    with closing(sqlite3.connect(gpkg)) as con, con:
        con.execute("CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), "
                    "f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
                    "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
                    "update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))")
        con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                    "VALUES ('layer_styles', 'attributes', 'layer_styles')")
        geometry = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        for layer, qml in styles.items():
            con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                        "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description) "
                        "VALUES ('', '', ?, ?, ?, ?, '', 1, ?)",
                        (layer, geometry[layer], f"hostcap {layer}", qml, "written by v2g-hostcap"))
