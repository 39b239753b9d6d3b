"""Static maps: the study's fixed colour scales on the colour bars, schematic layouts drawn as such."""
import numpy as np
import pytest

from hostcap.feeders import load_feeder
from hostcap.feeders.geodata import topology_layers
from hostcap.studies.maps import SCHEMATIC_NOTE, interactive_map, static_map_figure
from hostcap.studies.styles import classes, loading_scale, voltage_scale

LEVELS = [0.0, 0.5, 1.0]


def with_results(layers: dict, vm_pu: float, loading_pct: float) -> dict:
    for name, gdf in layers.items():
        gdf["lowest_pen_x"] = 0.5
        if name == "buses":
            gdf["vm_worst_pu_x"] = vm_pu
        else:
            gdf["max_loading_pct_x"] = loading_pct
    return layers


def colour_bars(fig) -> dict[str, tuple[float, float]]:
    return {ax.get_ylabel(): ax.get_ylim() for ax in fig.axes if hasattr(ax, "_colorbar")}


@pytest.mark.parametrize("band", ["ansi_a", "en50160"])
def test_colour_bars_are_the_studys_fixed_scales_whatever_the_values(band):
    layers = topology_layers(load_feeder("simbench:1-LV-rural3--0-sw"))
    vscale, lscale = voltage_scale(band), loading_scale(100)
    bars = []
    for vm, loading in ((1.01, 20.0), (1.09, 140.0)):  # two maps of very different results
        fig = static_map_figure(with_results(layers, vm, loading), "x", "voltage", "t", vscale=vscale,
                                lscale=lscale, levels=LEVELS)
        bars.append(colour_bars(fig))
    assert bars[0] == bars[1]
    limits = sorted(bars[0].values())
    assert limits == sorted([(vscale.lo, vscale.hi), (lscale.lo, lscale.hi)])
    assert (vscale.lo + vscale.hi) / 2 == pytest.approx(1.0)  # centred on nominal
    lo, hi = (0.95, 1.05) if band == "ansi_a" else (0.90, 1.10)
    assert vscale.marks == (lo, hi) and vscale.lo < lo and vscale.hi > hi
    # the band's limits are class edges of the QGIS style too
    edges = {round(e, 6) for c in classes(vscale) for e in c[:2]}
    assert {lo, hi} <= edges


def test_schematic_feeder_has_no_north_arrow_and_says_so(tiny_feeder):
    layers = with_results(topology_layers(load_feeder(tiny_feeder)), 0.97, 50.0)
    assert layers["buses"]["schematic"].all()
    fig = static_map_figure(layers, "x", "voltage", "t", vscale=voltage_scale("ansi_a"), lscale=loading_scale(),
                            levels=LEVELS)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "N" not in texts and SCHEMATIC_NOTE in texts
    assert "layout units" in ax.get_xlabel()
    geographic = static_map_figure(with_results(topology_layers(load_feeder("simbench:1-LV-rural3--0-sw")), 1.0, 50.0),
                                   "x", "voltage", "t", vscale=voltage_scale("ansi_a"), lscale=loading_scale(),
                                   levels=LEVELS)
    assert "N" in [t.get_text() for t in geographic.axes[0].texts]


def test_lowest_level_legend_is_discrete():
    layers = with_results(topology_layers(load_feeder("simbench:1-LV-rural3--0-sw")), 1.0, 50.0)
    layers["buses"].loc[:10, "lowest_pen_x"] = np.nan
    fig = static_map_figure(layers, "x", "lowest", "t", vscale=voltage_scale("ansi_a"), lscale=loading_scale(),
                            levels=LEVELS)
    legend = fig.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:3] == ["0%", "50%", "100%"] and "no violation up to 100%" in labels
    assert not colour_bars(fig)  # no continuous scale for discrete levels


def test_interactive_map_of_a_schematic_feeder_keeps_its_layout(tiny_feeder, tmp_path):
    """... and its pop-ups show a hostile element name as text: escaped before the map's data take it."""
    layers = with_results(topology_layers(load_feeder(tiny_feeder)), 0.97, 50.0)
    layers["buses"].loc[1, "name"] = "<img src=x onerror=\"document.title='BUS'\">"
    for name, col in (("buses", "vm_worst_pu_x__pen050"), ("lines", "max_loading_pct_x__pen050"),
                      ("transformers", "max_loading_pct_x__pen050")):
        layers[name][col] = layers[name]["vm_worst_pu_x" if name == "buses" else "max_loading_pct_x"]
    path = tmp_path / "map.html"
    interactive_map(layers, ["x"], [0.5], path, "t", vscale=voltage_scale("ansi_a"), lscale=loading_scale())
    html = path.read_text()
    assert SCHEMATIC_NOTE in html and "L.CRS.Simple" in html
    data = html.replace("\\u0026", "&")  # the map's data are JSON, its & written \u0026
    assert "&lt;img src=x onerror=&#34;document.title=&#39;BUS&#39;&#34;&gt;" in data and "<img src=x" not in data
    assert all(repr(float(x))[:6] in html for x in layers["buses"].geometry.x)  # the layout's own, not reprojected
