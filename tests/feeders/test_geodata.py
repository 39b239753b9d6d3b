import geopandas as gpd

from hostcap.feeders import load_feeder
from hostcap.feeders.geodata import SCHEMATIC_CRS, topology_layers
from hostcap.studies.gis import write_gpkg


def test_geographic_feeder_in_wgs84_with_line_geometry():
    layers = topology_layers(load_feeder("simbench:1-LV-rural3--0-sw"))
    assert all(layer.crs.to_epsg() == 4326 for layer in layers.values())
    assert not layers["buses"]["schematic"].any()
    assert layers["lines"].geometry.geom_type.eq("LineString").all()
    assert layers["lines"].to_crs(layers["lines"].estimate_utm_crs()).length.sum() > 1000  # metres of cable


def test_feeder_without_coordinates_gets_a_flagged_schematic_layout(tmp_path, tiny_feeder):
    layers = topology_layers(load_feeder(tiny_feeder))
    assert all(layer.crs == SCHEMATIC_CRS and layer["schematic"].all() for layer in layers.values())
    assert layers["buses"].geometry.is_valid.all() and layers["buses"].geometry.nunique() == 5
    write_gpkg(layers, tmp_path / "t.gpkg")
    back = gpd.read_file(tmp_path / "t.gpkg", layer="buses")
    assert back.crs.name == "hostcap schematic layout" and back["schematic"].all()


def test_drawing_coordinates_are_schematic_not_lon_lat():
    feeder = load_feeder("pandapower:create_cigre_network_lv")
    assert not feeder.has_coordinates
    layers = topology_layers(feeder)
    assert layers["buses"]["schematic"].all() and layers["buses"].crs == SCHEMATIC_CRS
