import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from hostcap.feeders import DEFAULT_FEEDER, load_feeder
from hostcap.models.errors import InputError


def save(net, path):
    pp.to_json(net, str(path))
    return str(path)


def test_default_feeder_has_households_coordinates_and_a_year_of_profiles():
    f = load_feeder(DEFAULT_FEEDER)
    cps = f.connection_points
    # 118 loads: 113 households (H0 profiles) and 5 commercial customers (G profiles), who get no EV
    assert len(f.net.bus) == 129 and len(cps) == 118 and cps["household"].sum() == 113
    assert set(cps.loc[~cps["household"], "customer_class"]) == {"commercial"}
    assert f.has_coordinates and cps["lon"].between(5, 16).all() and cps["lat"].between(47, 56).all()
    assert len(f.profiles.index) == 35136
    arrays = f.cp_arrays(0, 96)
    assert arrays["p_load_kw"].shape == (96, len(cps))
    # PV per connection point adds up to the feeder's sgen profiles
    total_pv = f.profiles.sgen_p.values(0, 96).sum(axis=1) * 1e3
    np.testing.assert_allclose(arrays["p_pv_kw"].sum(axis=1), total_pv)


def test_standard_load_profile_is_the_seasonal_day_type_mean_of_the_households():
    f = load_feeder(DEFAULT_FEEDER)
    homes = f.connection_points["household"].to_numpy()
    kw = f.cp_arrays(0, len(f.profiles.index))["p_load_kw"][:, homes].sum(axis=1)
    year = pd.Series(kw, index=f.profiles.index)
    d = year.index
    winter_sundays = year[((d.month >= 11) | (d < "2016-03-21")) & (d.weekday == 6)]
    summer_workdays = year[(d >= "2016-05-15") & (d < "2016-09-15") & (d.weekday < 5)]
    got = f.standard_load_kw(pd.DatetimeIndex(["2016-01-10 03:00", "2016-07-05 18:15", "2016-01-10 03:07"]))
    assert got[0] == pytest.approx(winter_sundays.between_time("03:00", "03:00").mean())
    assert got[1] == pytest.approx(summer_workdays.between_time("18:15", "18:15").mean())
    assert got[2] == got[0]  # a stamp between slots takes its slot's value


def test_json_feeder_with_flat_and_table_profiles(tmp_path, tiny_net):
    net = tiny_net
    path = save(net, tmp_path / "tiny.json")
    f = load_feeder(path, "flat")
    assert f.profiles.flat and not f.has_coordinates and f.profiles.source.startswith("flat")
    np.testing.assert_allclose(f.cp_arrays(0, 4)["p_load_kw"][0, :3], [4.0, 4.0, 4.0])
    idx = pd.date_range("2016-01-01", periods=96, freq="15min")
    table = pd.DataFrame({"load.p_mw.0": np.linspace(0.001, 0.002, 96)}, index=idx)
    table.to_csv(tmp_path / "prof.csv")
    g = load_feeder(path, str(tmp_path / "prof.csv"))
    arr = g.cp_arrays(0, 96)["p_load_kw"]
    np.testing.assert_allclose(arr[:, 0], table["load.p_mw.0"] * 1e3)
    np.testing.assert_allclose(arr[:, 1], 4.0)  # no column: rated power


def test_a_feeder_without_profiles_gets_simbenchs_household_profiles(tmp_path, tiny_net):
    """H0-A, H0-B, H0-C in turn times each load's rating, SimBench's PV3 for the sgens: as simbench's own
    loader gives them for one of its grids."""
    import simbench as sb

    own = sb.get_simbench_net("1-LV-rural3--0-sw").profiles
    f = load_feeder(save(tiny_net, tmp_path / "tiny.json"))
    assert not f.profiles.flat and "H0-A" in f.profiles.source and f.profiles.index[0] == pd.Timestamp("2016-01-01")
    start = 10 * 96 + 72  # 11 January 2016, 18:00
    got = f.cp_arrays(start, 8)["p_load_kw"][:, :3]
    want = np.column_stack([own["load"][f"{h}_pload"].to_numpy()[start:start + 8] for h in ("H0-A", "H0-B", "H0-C")])
    np.testing.assert_allclose(got, want * tiny_net.load["p_mw"].to_numpy()[:3] * 1e3)
    sgen = f.profiles.sgen_p.values(start + 50, 1)[0]  # 11 January, 06:30 + 50 steps: midday
    np.testing.assert_allclose(sgen, own["renewables"]["PV3"].iloc[start + 50] * tiny_net.sgen["p_mw"].to_numpy())
    assert 0 < (f.profiles.load_p.values(0, 35136).sum(axis=0) / 4 / tiny_net.load["p_mw"].to_numpy()).min()


def test_pandapower_networks_feeder():
    f = load_feeder("pandapower:create_cigre_network_lv")
    assert len(f.connection_points) > 0


@pytest.mark.parametrize("breakage, message", [
    (lambda net: net.ext_grid.drop(net.ext_grid.index, inplace=True), "no external grid"),
    (lambda net: net.load.drop(net.load.index, inplace=True), "no loads"),
    (lambda net: pp.create_bus(net, 0.4), "not connected to the slack"),
    (lambda net: net.load.__setitem__("p_mw", 50.0), "does not converge"),
])
def test_broken_feeders_refused(tmp_path, tiny_net, breakage, message):
    net = tiny_net
    breakage(net)
    with pytest.raises(InputError, match=message):
        load_feeder(save(net, tmp_path / "broken.json"))


def test_bad_profiles_refused(tmp_path, tiny_net):
    path = save(tiny_net, tmp_path / "tiny.json")
    idx = pd.date_range("2016-01-01", periods=96, freq="15min")
    nan = pd.DataFrame({"load.p_mw.0": np.r_[np.ones(95) * 0.001, np.nan]}, index=idx)
    nan.to_csv(tmp_path / "nan.csv")
    with pytest.raises(InputError, match="NaN"):
        load_feeder(path, str(tmp_path / "nan.csv"))
    nan.iloc[:50].fillna(0.001).to_csv(tmp_path / "short.csv")
    with pytest.raises(InputError, match="whole number of days"):
        load_feeder(path, str(tmp_path / "short.csv"))
    nan.fillna(0.001).rename(columns={"load.p_mw.0": "load.p_mw.99"}).to_csv(tmp_path / "unknown.csv")
    with pytest.raises(InputError, match="load.p_mw.99"):
        load_feeder(path, str(tmp_path / "unknown.csv"))


def test_unknown_code_missing_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="unknown SimBench code"):
        load_feeder("simbench:1-LV-nowhere--0-sw")
    with pytest.raises(InputError, match="file not found"):
        load_feeder(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not a pandapower JSON"):
        load_feeder(str(tmp_path / "bad.json"))
    with pytest.raises(InputError, match="pandapower.networks"):
        load_feeder("pandapower:no_such_network")


def test_commercial_and_agricultural_loads_get_no_ev_unless_the_study_says_so():
    from hostcap.studies.scenario.inputs import build_inputs
    from hostcap.studies.scenario.settings import Scenario

    f = load_feeder("simbench:1-LV-semiurb5--0-sw")
    cps = f.connection_points
    commercial = cps.index[cps["customer_class"] == "commercial"]
    assert len(commercial) == 12 and cps["household"].sum() == 92
    homes_only = build_inputs(Scenario(feeder=f.ref, penetration=1.0, days=1))
    assert homes_only.fleet.n == 92 and not np.isin(homes_only.fleet.cp, commercial).any()
    both = build_inputs(Scenario(feeder=f.ref, penetration=1.0, days=1, ev_at=["residential", "commercial"]))
    assert both.fleet.n == 104 and np.isin(both.fleet.cp, commercial).sum() == 12


def test_a_json_feeders_household_column_says_who_is_a_home(tmp_path, tiny_net):
    tiny_net.load["household"] = [True, False, True]
    f = load_feeder(save(tiny_net, tmp_path / "tiny.json"))
    assert f.connection_points["customer_class"].tolist()[:3] == ["residential", "commercial", "residential"]


def test_lumped_residential_loads_are_split_into_homes_of_at_most_30_kw():
    """CIGRE LV's loads are lumped groups of customers (R1: 190 kW): ceil(p / 30 kW) homes each, sharing the
    load equally; its demand per bus is unchanged."""
    f = load_feeder("pandapower:create_cigre_network_lv")
    cps = f.connection_points
    per_load = cps[cps["load"] >= 0].groupby("load").size()
    p_kw = f.net.load["p_mw"] * 1e3
    np.testing.assert_array_equal(per_load.loc[f.net.load.index], np.maximum(np.ceil(p_kw / 30.0), 1))
    assert per_load.loc[f.net.load.index[f.net.load["name"] == "Load R1"][0]] == 7
    arrays = f.cp_arrays(0, 4)
    by_load = pd.Series(arrays["p_load_kw"][0, cps["load"] >= 0], index=cps.loc[cps["load"] >= 0, "load"])
    np.testing.assert_allclose(by_load.groupby(level=0).sum().loc[f.net.load.index],
                               f.profiles.load_p.values(0, 1)[0] * 1e3)
    assert (by_load <= 30.0 + 1e-9).all()


def test_a_feeder_without_households_is_refused_with_one_line():
    from hostcap.studies.scenario.inputs import build_inputs
    from hostcap.studies.scenario.settings import Scenario

    with pytest.raises(InputError) as err:
        build_inputs(Scenario(feeder="pandapower:mv_oberrhein", days=1))
    assert "feeder pandapower:mv_oberrhein: no residential customer on a bus below 1 kV" in str(err.value)
    assert "\n" not in str(err.value)


def test_phases_from_the_feeder(tmp_path, tiny_net):
    """A JSON feeder's phase column and pandapower's asymmetric loads give each home its phase; the
    asymmetric loads become loads of the same total power."""
    tiny_net.load["phase"] = ["b", None, "ABC"]
    f = load_feeder(save(tiny_net, tmp_path / "tiny.json"))
    assert f.connection_points["phase"].tolist() == ["b", "abc", "abc"]  # empty: three-phase
    ieee = load_feeder("pandapower:ieee_european_lv_asymmetric")
    asym = ieee.net.asymmetric_load
    p = asym[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy()
    assert not asym["in_service"].any() and len(ieee.net.load) == 55
    np.testing.assert_allclose(ieee.net.load["p_mw"].to_numpy(), p.sum(axis=1))
    np.testing.assert_array_equal(ieee.connection_points["phase"], np.array(list("abc"))[p.argmax(axis=1)])


def test_simbench_future_grid_reads_households_charging_points_heat_pumps_and_batteries():
    """SimBench scenario 2: homes are the H0 loads only; home charging points (HLS_) are their households'
    chargers, not homes; heat pumps are their households' heat pumps (the heat-pump population, with their rating
    and source), or customers of their own; workplace chargers are customers without EVs; storages are home
    batteries whose PV becomes an sgen, and no storage stays in the net's power flow."""
    import simbench as sb

    raw = sb.get_simbench_net("1-LV-rural3--2-sw")
    kind = raw.load["profile"].str.split("_").str[0]
    f = load_feeder("simbench:1-LV-rural3--2-sw")
    cps = f.connection_points
    assert cps["household"].sum() == kind.str.startswith("H0").sum() == 113
    # a heat pump on a household's bus is that household's heat pump, any other a customer of its own
    hp = raw.load[kind.isin(["Air", "Soil"])]
    own = f.heat_pumps
    assert len(own) + (cps["customer_class"] == "heat_pump").sum() == len(hp) and len(own) == 17
    assert (cps.loc[own["cp"], "bus"].to_numpy() == raw.load.loc[own["load"], "bus"].to_numpy()).all()
    assert cps.loc[own["cp"], "household"].all()
    np.testing.assert_array_equal(own["p_el_rated_kw"], raw.load.loc[own["load"], "p_mw"] * 1e3)
    np.testing.assert_array_equal(own["ground"], raw.load.loc[own["load"], "profile"].str.startswith("Soil"))
    assert own["ground"].any() and not own["ground"].all()
    assert (cps["customer_class"] == "workplace_charging").sum() == (kind == "APLS").sum()
    assert not (cps["customer_class"] == "home_charging").any()  # every HLS_ shares a bus with a household
    hls = raw.load[kind == "HLS"]
    with_cp = cps[cps["charging_point_kw"] > 0]
    assert set(with_cp["bus"]) == set(hls["bus"]) and with_cp["household"].all()
    assert with_cp["charging_point_kw"].max() == hls["p_mw"].max() * 1e3
    # no load's demand is counted twice or lost: every load but the HLS_ ones and the households' heat pumps
    # (the population's now) is in the connection points
    arrays = f.cp_arrays(0, 96)
    kept = raw.load.index[(kind != "HLS") & ~raw.load.index.isin(own["load"])]
    np.testing.assert_allclose(arrays["p_load_kw"].sum(axis=1),
                               f.profiles.load_p.values(0, 96)[:, raw.load.index.get_indexer(kept)].sum(axis=1) * 1e3)
    bat = f.batteries
    assert (bat.capacity_kwh > 0).sum() == len(raw.storage)
    assert bat.capacity_kwh.sum() == pytest.approx(raw.storage["max_e_mwh"].sum() * 1e3)
    assert not f.net.storage["in_service"].any()
    assert len(f.net.sgen) == len(raw.sgen) + len(raw.storage)


def test_a_storage_without_a_customer_on_its_bus_is_refused(tmp_path, tiny_net):
    pp.create_storage(tiny_net, 0, p_mw=0.005, max_e_mwh=0.01)  # the MV bus
    with pytest.raises(InputError, match="storage 0 at bus 0 has no customer"):
        load_feeder(save(tiny_net, tmp_path / "bad.json"))
