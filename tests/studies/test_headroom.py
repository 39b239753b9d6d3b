"""A study's per-node headroom on the tiny feeder: a row per LV bus, variant and level, the substation flagged and
in fleet.csv, the GeoPackage's bus columns; and a fresh pandapower power flow on the level's recorded worst
steps agrees: 1 % more load at the bus breaks the named limit at some step, 1 % less breaks none."""
import geopandas as gpd
import pandapower as pp
import pandas as pd
import pytest

from hostcap.studies.layout import StudyPaths
from hostcap.studies.pipeline import write_gis
from hostcap.studies.reinforce import steps_arrays
from hostcap.studies.runner import _record_steps, run_study
from hostcap.studies.spec import parse_spec


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_net_factory):
    d = tmp_path_factory.mktemp("headroom")
    net = tiny_net_factory(line_km=0.2)
    pp.to_json(net, str(d / "tiny.json"))
    spec = parse_spec({"name": "room", "feeders": ["tiny.json"], "strategies": ["uncontrolled"],
                       "periods": [{"name": "d1", "start": "2016-01-11", "days": 1}], "penetrations": [1.0],
                       "samples": 3, "seed": 4, "band": "en50160_strict", "headroom": True}, base_dir=d)
    run_study(spec, d / "out", workers=1, progress=False)
    return spec, net, d / "out", StudyPaths(d / "out" / "room")


def test_every_lv_bus_gets_its_headroom_and_the_substation_is_in_the_fleet_table(study):
    spec, net, out, paths = study
    room = pd.read_parquet(paths.headroom)
    lv = net.bus.index[net.bus["vn_kv"] < 1]
    assert sorted(room["penetration"].unique()) == [0.0, 1.0]
    assert all(sorted(g["bus"]) == list(lv) for _, g in room.groupby("penetration"))
    station = room[room["station"]]
    assert list(station["bus"].unique()) == [int(net.trafo.at[0, "lv_bus"])]
    fleet = pd.read_csv(paths.fleet)
    top = station[station["penetration"] == 1.0]
    assert fleet["station_load_headroom_kw_uncontrolled"].item() == top["load_headroom_kw"].item()
    buses = gpd.read_file(write_gis(spec, out, "tiny.json"), layer="buses").set_index("bus")
    at = room[room["penetration"] == 1.0].set_index("bus")
    assert (buses.loc[lv, "load_headroom_kw_uncontrolled__pen100"] == at.loc[lv, "load_headroom_kw"]).all()


def test_pandapower_agrees_on_the_levels_worst_steps(study):
    spec, net, out, paths = study
    runs = pd.read_parquet(paths.runs)
    room = pd.read_parquet(paths.headroom)
    steps_of = _record_steps(spec, paths)
    keys = runs[(runs["penetration"] == 1.0) & (runs["status"] == "ok")]["key"]
    p, q = steps_arrays([steps_of(k) for k in keys])  # every worst step the level's runs recorded
    far = int(net.bus.index[-1])
    row = room[(room["penetration"] == 1.0) & (room["bus"] == far)].iloc[0]
    assert row["load_limit"].startswith(("line", "undervoltage", "trafo"))
    work = pp.from_json(str(out.parent / "tiny.json"))
    for element in ("load", "sgen"):
        work[element]["in_service"] = False
    inj = pp.create_loads(work, work.bus.index, p_mw=0.0, q_mvar=0.0)
    extra = pp.create_load(work, far, p_mw=0.0)

    def breaks(kw: float) -> bool:
        for pk, qk in zip(p, q):
            work.load.loc[inj, "p_mw"], work.load.loc[inj, "q_mvar"] = pk, qk
            work.load.at[extra, "p_mw"] = kw / 1e3
            pp.runpp(work, numba=False)
            if (work.res_bus["vm_pu"][work.bus["vn_kv"] < 1] < 0.9).any() or \
                    work.res_line["loading_percent"].max() > 100 or work.res_trafo["loading_percent"].max() > 100:
                return True
        return False

    kw = float(row["load_headroom_kw"])
    assert kw > 0 and breaks(1.01 * kw) and not breaks(0.99 * kw)
