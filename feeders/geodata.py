"""The feeder's topology as GIS layers: `buses` (points), `lines` (LineStrings), `transformers` (points).

Geographic feeders (WGS84 bus coordinates, see `load.is_geographic`) are in EPSG:4326, lines following
their own geodata where they have it, else straight between their buses. Other feeders get a schematic
layout in a local engineering CRS (metres, no place on Earth): their drawing coordinates where every bus
has one, else a networkx layout. Schematic layers carry `schematic = True` on every feature.
"""
import json

import geopandas as gpd
import networkx as nx
import numpy as np
import pandapower.topology as top
import pandas as pd
from pyproj import CRS
from shapely.geometry import LineString, Point, shape

from hostcap.feeders.load import Feeder, bus_coordinates, is_geographic

SCHEMATIC_CRS = CRS.from_wkt(
    'ENGCRS["hostcap schematic layout",EDATUM["schematic, not a place on Earth"],CS[Cartesian,2],'
    'AXIS["x",east,ORDER[1],LENGTHUNIT["metre",1]],AXIS["y",north,ORDER[2],LENGTHUNIT["metre",1]]]')


def bus_xy(feeder: Feeder) -> tuple[np.ndarray, np.ndarray, bool]:
    """(x, y, schematic) per bus in net.bus order: lon/lat, drawing coordinates, or a layout (m)."""
    net = feeder.net
    x, y = bus_coordinates(net)
    if is_geographic(x, y):
        return x, y, False
    if len(x) and np.isfinite(x).all() and np.isfinite(y).all():
        return x, y, True
    graph = top.create_nxgraph(net, respect_switches=False, include_out_of_service=True)
    # hop counts, not cable lengths: transformers and bus-bus switches have zero length
    layout = (nx.kamada_kawai_layout(graph, weight=None) if len(graph) <= 500
              else nx.spring_layout(graph, seed=0, weight=None))
    pos = np.array([layout.get(b, (0.0, 0.0)) for b in net.bus.index]) * 1000.0
    return pos[:, 0], pos[:, 1], True


def topology_layers(feeder: Feeder) -> dict[str, gpd.GeoDataFrame]:
    net = feeder.net
    x, y, schematic = bus_xy(feeder)
    crs = SCHEMATIC_CRS if schematic else "EPSG:4326"
    at = pd.Series(np.arange(len(net.bus)), index=net.bus.index)
    buses = gpd.GeoDataFrame(
        {"bus": net.bus.index.to_numpy(), "name": net.bus["name"].astype(str).to_numpy(),
         "vn_kv": net.bus["vn_kv"].to_numpy(float), "schematic": schematic},
        geometry=[Point(a, b) for a, b in zip(x, y)], crs=crs)

    def straight(f, t):
        i, j = at[f], at[t]
        return LineString([(x[i], y[i]), (x[j], y[j])])

    geo = net.line["geo"] if "geo" in net.line and not schematic else pd.Series(index=net.line.index, dtype=object)
    line_geom = [shape(json.loads(g)) if isinstance(g, str) and g else straight(f, t)
                 for g, f, t in zip(geo.reindex(net.line.index), net.line["from_bus"], net.line["to_bus"])]
    lines = gpd.GeoDataFrame(
        {"line": net.line.index.to_numpy(), "name": net.line["name"].astype(str).to_numpy(),
         "from_bus": net.line["from_bus"].to_numpy(), "to_bus": net.line["to_bus"].to_numpy(),
         "length_km": net.line["length_km"].to_numpy(float), "max_i_ka": net.line["max_i_ka"].to_numpy(float),
         "schematic": schematic}, geometry=line_geom, crs=crs)
    trafos = gpd.GeoDataFrame(
        {"trafo": net.trafo.index.to_numpy(), "name": net.trafo["name"].astype(str).to_numpy(),
         "hv_bus": net.trafo["hv_bus"].to_numpy(), "lv_bus": net.trafo["lv_bus"].to_numpy(),
         "sn_mva": net.trafo["sn_mva"].to_numpy(float), "schematic": schematic},
        geometry=[Point(x[at[b]], y[at[b]]) for b in net.trafo["lv_bus"]], crs=crs)
    return {"buses": buses, "lines": lines, "transformers": trafos}
