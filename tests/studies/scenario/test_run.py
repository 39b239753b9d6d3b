"""End-to-end runs through mosaik on the default feeder: physics checks and each strategy's claim."""
import copy
import json
import subprocess
import sys

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from hostcap.models.aggregator import MARGIN
from hostcap.models.tariff import PEAK
from hostcap.studies.scenario.run import run_scenario
from hostcap.studies.scenario.settings import Scenario

FULL = dict(penetration=1.0, v2g_share=0.5, days=2)


def assert_fresh_runpp_reproduces_voltages(r):
    """A fresh pandapower power flow on the recorded per-bus injections gives the recorded voltages."""
    net = copy.deepcopy(r.inputs.feeder.net)
    net.load["in_service"] = False
    net.sgen["in_service"] = False
    loads = pp.create_loads(net, net.bus.index, p_mw=0.0, q_mvar=0.0)
    for t in np.linspace(0, r.inputs.n_steps - 1, 12).astype(int):
        net.load.loc[loads, "p_mw"] = r.series["p_bus_mw"][t]
        net.load.loc[loads, "q_mvar"] = r.series["q_bus_mvar"][t]
        pp.runpp(net, tolerance_mva=1e-10)
        assert np.max(np.abs(net.res_bus["vm_pu"].to_numpy() - r.series["vm_pu"][t])) < 1e-6


def test_coupling_honesty_fresh_runpp_reproduces_recorded_voltages(run_cache):
    assert_fresh_runpp_reproduces_voltages(run_cache(Scenario(strategy="volt_watt", **FULL)))


def test_bus_demand_is_households_plus_evs(run_cache):
    r = run_cache(Scenario(strategy="v2g_tou", **FULL))
    hh = r.inputs.households
    cp_kw = hh.p_load_kw - hh.p_pv_kw
    ev_cp = np.zeros_like(cp_kw)
    np.add.at(ev_cp, (slice(None), r.inputs.fleet.cp), r.series["ev_p_kw"])
    expected = np.zeros_like(r.series["p_bus_mw"])
    np.add.at(expected, (slice(None), r.inputs.cp_bus_pos), (cp_kw + ev_cp) * 1e-3)
    np.testing.assert_allclose(r.series["p_bus_mw"], expected, atol=1e-12)
    losses = r.series["p_slack_mw"] - r.series["p_bus_mw"].sum(axis=1)
    assert (losses > 0).all()  # the slack supplies the demand plus positive losses
    assert r.metrics["losses_kwh"] == pytest.approx(losses.sum() * 1e3 * 0.25)


@pytest.mark.parametrize("strategy", ["uncontrolled", "smart", "v2g_tou", "v2h", "volt_watt"])
def test_soc_bounds_energy_balance_and_targets(run_cache, strategy):
    r = run_cache(Scenario(strategy=strategy, **FULL))
    f, s, dt_h = r.inputs.fleet, r.series, 0.25
    e = s["ev_e_kwh"]
    assert (e >= -1e-9).all() and (e <= f.capacity_kwh + 1e-9).all()
    p = s["ev_p_kw"]
    gain = f.eta_ch * np.maximum(p, 0).sum(axis=0) * dt_h - np.maximum(-p, 0).sum(axis=0) * dt_h / f.eta_dis
    stored = e[-1].sum() - f.initial_e_kwh.sum()
    assert stored == pytest.approx(gain.sum() - r.totals["driven_kwh"], abs=1e-6)
    assert r.metrics["ev_charged_kwh"] == pytest.approx(np.maximum(p, 0).sum() * dt_h)
    assert r.metrics["ev_unmet_kwh"] == 0.0  # every target is reachable on this feeder and week


def test_v2g_lowers_evening_peak_and_smart_lowers_peak(run_cache):
    runs = {s: run_cache(Scenario(strategy=s, **FULL)) for s in ("uncontrolled", "smart", "v2g_tou")}
    peak = runs["v2g_tou"].inputs.levels[: runs["v2g_tou"].inputs.n_steps] == PEAK
    evening = {s: r.series["p_slack_mw"][peak].max() for s, r in runs.items()}
    assert evening["v2g_tou"] < evening["uncontrolled"] - 0.05  # at least 50 kW lower
    assert runs["v2g_tou"].metrics["ev_discharged_kwh"] > 0
    assert runs["smart"].metrics["peak_demand_kw"] < runs["uncontrolled"].metrics["peak_demand_kw"]


def test_v2h_never_exports_from_a_discharging_ev(run_cache):
    r = run_cache(Scenario(strategy="v2h", **FULL))
    f, hh = r.inputs.fleet, r.inputs.households
    p = r.series["ev_p_kw"]
    home_kw = (hh.p_load_kw - hh.p_pv_kw)[:, f.cp]
    dis = p < 0
    assert dis.any()
    assert (home_kw[dis] + p[dis] >= -1e-9).all()


def test_volt_watt_raises_minimum_voltage_at_full_penetration(run_cache):
    # this feeder stays above 0.97 pu under uncontrolled charging in this week, so the test moves the curve
    # up to act in that range; the closed loop (grid voltage -> mosaik -> chargers) is what is tested
    curve = dict(volt_watt_v_pu=(0.97, 0.99, 1.01))
    unc = run_cache(Scenario(strategy="uncontrolled", **FULL, **curve))
    vw = run_cache(Scenario(strategy="volt_watt", **FULL, **curve))
    assert vw.metrics["v_min_pu"] > unc.metrics["v_min_pu"] + 0.005


def test_same_seed_identical_other_seed_different(run_cache):
    a = run_cache(Scenario(strategy="v2g_tou", **FULL))
    b = run_scenario(Scenario(strategy="v2g_tou", **FULL))
    for k in a.series:
        np.testing.assert_array_equal(a.series[k], b.series[k])
    c = run_cache(Scenario(strategy="v2g_tou", **{**FULL, "seed": 1}))
    assert not np.array_equal(a.series["ev_p_kw"].sum(axis=1), c.series["ev_p_kw"].sum(axis=1))


@pytest.mark.parametrize("phases", ["balanced", "unbalanced"])
def test_diverging_step_is_recorded_and_run_goes_on(tmp_path, tiny_feeder, phases):
    path = tiny_feeder
    idx = pd.date_range("2016-01-11", periods=96, freq="15min")
    p = np.full(96, 0.004)
    p[40] = 5.0  # far beyond what the cable can carry
    pd.DataFrame({"load.p_mw.0": p}, index=idx).to_csv(tmp_path / "prof.csv")
    r = run_scenario(Scenario(feeder=path, profiles=str(tmp_path / "prof.csv"), days=1, penetration=1.0,
                              phases=phases))
    assert r.metrics["nonconverged_steps"] == 1
    assert not r.series["converged"][40] and r.series["converged"].sum() == 95
    vm = r.vm_phases
    assert np.isnan(vm[40]).all() and np.isfinite(vm[41]).all()


def test_unreachable_target_is_recorded_as_unmet_energy(tmp_path, tiny_feeder):
    trips = pd.DataFrame({
        "vehicle": ["ev0", "ev0"],
        "departure": ["2016-01-11 06:00", "2016-01-11 18:30"],
        "arrival": ["2016-01-11 18:00", "2016-01-11 22:00"],
        "energy_kwh": [30.0, 5.0],
    })
    trips.to_csv(tmp_path / "trips.csv", index=False)
    r = run_scenario(Scenario(feeder=tiny_feeder, trips=str(tmp_path / "trips.csv"), days=1, penetration=1.0))
    f = r.inputs.fleet
    assert f.vehicle_id[0] == "ev0"
    e_before = r.series["ev_e_kwh"][73, 0]  # end of 18:15-18:30, just before the second departure
    assert r.series["ev_p_kw"][72:74, 0] == pytest.approx([f.p_ch_max_kw[0]] * 2)  # charging flat out
    assert r.metrics["ev_unmet_kwh"] == pytest.approx(f.target_kwh[0] - e_before)
    assert r.metrics["ev_unmet_kwh"] > 0


def test_hourly_steps_average_the_quarter_hour_profiles():
    quarter = run_scenario(Scenario(penetration=0.0, days=1))
    hourly = run_scenario(Scenario(penetration=0.0, days=1, step_min=60))
    assert hourly.inputs.n_steps == 24 and hourly.inputs.dt_s == 3600
    q, h = quarter.inputs.households, hourly.inputs.households
    np.testing.assert_allclose(h.p_load_kw, q.p_load_kw.reshape(24, 4, -1).mean(axis=1))
    # the same energy flows through the feeder, up to losses of the coarser steps
    assert hourly.metrics["energy_import_kwh"] == pytest.approx(quarter.metrics["energy_import_kwh"], rel=0.01)


WEEK = dict(penetration=1.0, v2g_share=1.0, days=7)  # the default feeder's winter week, every EV bidirectional
SUMMER = dict(penetration=1.0, v2g_share=1.0, days=2, start="2016-07-04")


def test_grid_aware_v2g_shaves_the_peak_the_optimum_bounds_it_and_smart_has_no_rebound(run_cache):
    runs = {s: run_cache(Scenario(strategy=s, **WEEK)) for s in ("uncontrolled", "smart", "v2g_peak_shave")}
    # the bound with hourly setpoints, as the shipped studies run it (every step's: tests/models/test_optimal.py)
    runs["v2g_optimal"] = run_cache(Scenario(strategy="v2g_optimal", optimal_setpoint_min=60, **WEEK))
    m = {s: r.metrics for s, r in runs.items()}
    peak = {s: v["peak_demand_kw"] for s, v in m.items()}
    assert peak["v2g_peak_shave"] < min(peak["smart"], peak["uncontrolled"])
    assert peak["v2g_optimal"] <= peak["v2g_peak_shave"] + 1e-6
    for s in ("v2g_peak_shave", "v2g_optimal"):
        assert m[s]["reverse_flow_max_kw"] <= m["uncontrolled"]["reverse_flow_max_kw"] + 1e-6  # no added reverse flow
        assert m[s]["ev_unmet_kwh"] <= m["uncontrolled"]["ev_unmet_kwh"] + 1e-6  # every feasible target met
        assert m[s]["ev_discharged_kwh"] > 0
    # no rebound: smart's weekly peak stays within 10 % of the same week's peak without EVs (uncontrolled:
    # +130 %). It is +8.4 % here, on a night whose 113 EVs need about 900 kWh: a perfect fleet-wide fill of
    # that night would reach 128.9 kW, so the 5 % of issue 9 (met before commercial customers lost their EVs
    # and the draws changed) is not always within reach of a decentralised time-of-use scheme
    assert peak["smart"] <= 1.10 * m["smart"]["peak_demand_no_ev_kw"]
    # the baseline is the same week without EVs, whatever the strategy
    assert len({v["peak_demand_no_ev_kw"] for v in m.values()}) == 1
    assert m["uncontrolled"]["peak_demand_kw"] > m["uncontrolled"]["peak_demand_no_ev_kw"]


def test_peak_shave_fills_the_valleys_the_fleet_needs_on_two_winter_weeks(run_cache):
    """With a low previous-day target before days of long trips, the aggregator raises its valley fill to
    the fleet's need instead of leaving the EVs to charge flat out before they leave (214 kW before)."""
    two = dict(WEEK, days=14)
    shave, smart = (run_cache(Scenario(strategy=s, **two)) for s in ("v2g_peak_shave", "smart"))
    assert shave.metrics["peak_demand_kw"] < smart.metrics["peak_demand_kw"]
    assert shave.metrics["ev_unmet_kwh"] <= 1e-6
    fill, target = shave.series["fill_level_kw"], shave.series["peak_target_kw"]
    assert (fill > (1 - MARGIN) * target).any()  # the fill level, not the target, set some nights' charging


def test_energy_metrics_are_honest(run_cache):
    r = run_cache(Scenario(strategy="v2g_tou", **WEEK))
    s, f, dt_h = r.series, r.inputs.fleet, 0.25
    assert r.metrics["ev_energy_delta_kwh"] == pytest.approx(s["ev_e_kwh"][-1].sum() - f.initial_e_kwh.sum())
    p_kw = s["p_slack_mw"] * 1e3
    assert r.metrics["export_kwh"] == pytest.approx(np.maximum(-p_kw, 0).sum() * dt_h)
    assert r.metrics["reverse_flow_max_kw"] == pytest.approx(max(0.0, -p_kw.min()))
    assert r.metrics["ev_discharged_kwh_per_bidirectional_ev"] == pytest.approx(
        r.metrics["ev_discharged_kwh"] / f.bidirectional.sum())


@pytest.mark.parametrize("strategy", ["uncontrolled", "smart", "v2g_tou", "v2h", "volt_watt", "v2g_peak_shave",
                                      "v2g_optimal"])
def test_zero_export_limit_no_meter_ever_exports(run_cache, strategy):
    r = run_cache(Scenario(strategy=strategy, export_limit_kw=0.0, **SUMMER))
    hh, f = r.inputs.households, r.inputs.fleet
    ev_cp = np.zeros_like(hh.p_load_kw)
    np.add.at(ev_cp, (slice(None), f.cp), r.series["ev_p_kw"])
    meter_kw = hh.p_load_kw - hh.p_pv_kw + r.series["pv_curtailed_kw"] + ev_cp
    assert meter_kw.min() >= -1e-6
    assert (r.series["pv_curtailed_kw"] <= hh.p_pv_kw + 1e-9).all()
    if strategy == "uncontrolled":
        assert r.metrics["pv_curtailed_kwh"] > 0  # July noon: PV alone would export here


def test_volt_var_follows_the_curve_at_the_chargers_voltage_and_coupling_stays_honest(run_cache):
    from hostcap.models.meter import VoltVarCurve

    r = run_cache(Scenario(strategy="v2g_tou", q_control="volt_var", **SUMMER))
    f, n = r.inputs.fleet, r.inputs.n_steps
    bus = r.inputs.cp_bus_pos[f.cp]
    v_seen = np.vstack([np.ones((1, f.n)), r.series["vm_pu"][:-1][:, bus]])  # the previous step's, via mosaik
    s_kva = f.p_dis_max_kw * r.inputs.mobility.plugged[:n]
    expected = VoltVarCurve().q_kvar(v_seen, s_kva, r.series["ev_p_kw"])
    np.testing.assert_allclose(r.series["ev_q_kvar"], expected, atol=1e-9)
    assert np.abs(r.series["ev_q_kvar"]).max() > 0.5  # the curve acts on this feeder and week
    assert_fresh_runpp_reproduces_voltages(r)


def test_customers_close_the_feeder_energy_balance(run_cache):
    """What the homes' meters import minus export, plus the grid's losses, is what the transformer
    delivered; each home's PV is either used on site or exported."""
    r = run_cache(Scenario(strategy="v2h", **SUMMER))
    c, dt_h = r.customers(), r.inputs.dt_s / 3600.0
    delivered_kwh = r.series["p_slack_mw"].sum() * 1e3 * dt_h
    net_kwh = (c["import_kwh"] - c["export_kwh"]).sum()
    assert net_kwh + r.metrics["losses_kwh"] == pytest.approx(delivered_kwh, rel=1e-9)
    np.testing.assert_allclose(c["pv_used_kwh"] + c["pv_exported_kwh"], c["pv_kwh"], atol=1e-9)
    charged = r.series["ev_p_kw"].clip(min=0).sum() * dt_h
    assert (c["consumption_kwh"] - c["consumption_kwh_no_ev"]).sum() == pytest.approx(charged)
    assert c["n_ev"].sum() == r.inputs.fleet.n
    pv_homes = c[(c["pv_kwh"] > 0) & (c["n_ev"] > 0)]
    assert len(pv_homes) > 0  # July: the EV at home soaks up some of the noon surplus
    assert (pv_homes["self_consumption"] >= pv_homes["self_consumption_no_ev"] - 1e-9).all()


@pytest.mark.parametrize("tariff_file", ["de_household_2024.yaml", "us_sun_prairie_rg2.yaml"])
def test_smart_never_costs_a_household_more_than_uncontrolled_under_the_default_tariffs(run_cache, tariff_file):
    from pathlib import Path

    from hostcap.studies.tariff_file import load_tariff

    tariff = load_tariff(Path(__file__).parents[3] / "studies" / "tariffs" / tariff_file)
    cur = tariff.currency
    runs = {s: run_cache(Scenario(strategy=s, tariff=tariff, **SUMMER)) for s in ("uncontrolled", "smart")}
    homes = {s: r.customers() for s, r in runs.items()}
    ev = homes["smart"]["n_ev"] > 0
    saving = homes["smart"].loc[ev, f"saving_vs_uncontrolled_{cur}"]
    assert (saving >= -1e-9).all() and saving.sum() > 0
    # the counterfactual is the uncontrolled run itself: its own saving is zero, its bill that run's bill
    np.testing.assert_allclose(runs["uncontrolled"].charging_only[0], runs["uncontrolled"].series["ev_p_kw"], atol=0)
    np.testing.assert_allclose(homes["uncontrolled"][f"saving_vs_uncontrolled_{cur}"], 0.0, atol=1e-12)
    np.testing.assert_allclose(homes["smart"][f"bill_uncontrolled_{cur}"], homes["uncontrolled"][f"bill_{cur}"])
    # without its EV a household's bill does not depend on the strategy
    np.testing.assert_allclose(homes["smart"][f"bill_no_ev_{cur}"], homes["uncontrolled"][f"bill_no_ev_{cur}"])
    # the perfect aggregator prices its energy with the tariff too
    optimal = run_cache(Scenario(strategy="v2g_optimal", tariff=tariff, **SUMMER))
    assert optimal.metrics["ev_unmet_kwh"] <= 1e-6

def test_the_mv_voltage_moves_the_feeder_and_the_coupling_stays_honest(run_cache):
    """slack_vm_pu holds the external grid at the study's MV voltage (SimBench's own is 1.025 pu): every bus
    moves up with it, a fresh pandapower power flow at that voltage reproduces the recorded voltages, and a
    run between two identical runs (sharing the cached fast solver) changes none of their numbers."""
    own = run_cache(Scenario(strategy="v2g_tou", **FULL))
    high = run_scenario(Scenario(strategy="v2g_tou", slack_vm_pu=1.05, **FULL))
    assert own.inputs.feeder.net.ext_grid["vm_pu"].tolist() == [1.025]
    assert high.inputs.feeder.net.ext_grid["vm_pu"].tolist() == [1.05]
    assert (np.nanmin(high.series["vm_pu"] - own.series["vm_pu"], axis=0) > 0.015).all()
    assert high.metrics["v_max_pu"] > own.metrics["v_max_pu"] + 0.015
    assert_fresh_runpp_reproduces_voltages(high)
    again = run_scenario(Scenario(strategy="v2g_tou", **FULL))
    np.testing.assert_array_equal(again.series["vm_pu"], own.series["vm_pu"])


def test_home_batteries_close_their_balance_and_the_no_ev_peak_is_a_fresh_power_flow():
    """SimBench scenario 2 with its PV home batteries, a summer day: losses positive, the batteries' energy
    balance closed, and the no-EV baseline's peak equal to pandapower on the same injections."""
    from hostcap.models.errors import ModelError
    from hostcap.studies.scenario.base_case import no_ev_slack_kw
    from hostcap.studies.scenario.result import _energy_balances

    sc = Scenario(feeder="simbench:1-LV-rural3--2-sw", strategy="uncontrolled", penetration=0.5, start="2016-07-04",
                  days=1, battery_wear=None)
    r = run_scenario(sc)
    m = r.metrics
    assert m["losses_kwh"] > 0 and m["battery_charged_kwh"] > 20 and m["battery_discharged_kwh"] > 10
    assert 0 < m["battery_losses_kwh"] < 0.2 * m["battery_charged_kwh"]
    closed = m["battery_charged_kwh"] - m["battery_discharged_kwh"] - m["battery_energy_delta_kwh"]
    assert closed == pytest.approx(m["battery_losses_kwh"], abs=1e-6)
    assert_fresh_runpp_reproduces_voltages(r)
    base = no_ev_slack_kw(sc)
    t = int(np.argmax(base))
    hh = r.inputs.households
    net = copy.deepcopy(r.inputs.feeder.net)
    net.load["in_service"] = False
    net.sgen["in_service"] = False
    bus = r.inputs.feeder.connection_points["bus"].to_numpy()
    demand = pd.Series(hh.p_load_kw[t] - hh.p_pv_kw[t] + hh.p_battery_no_ev_kw[t]).groupby(bus).sum()
    react = pd.Series(hh.q_load_kvar[t]).groupby(bus).sum()
    pp.create_loads(net, demand.index, p_mw=demand.to_numpy() * 1e-3, q_mvar=react.to_numpy() * 1e-3)
    pp.runpp(net, tolerance_mva=1e-10)
    assert m["peak_demand_no_ev_kw"] == pytest.approx(net.res_ext_grid["p_mw"].sum() * 1e3, abs=1e-3)
    with pytest.raises(ModelError, match="losses are negative"):
        _energy_balances(sc, r.inputs, r.series, {**m, "losses_kwh": -5.0}, r.totals)


@pytest.mark.parametrize("feeder", ["simbench:1-LV-rural3--0-sw", "simbench:1-LV-semiurb5--0-sw"])
@pytest.mark.parametrize("start", ["2016-01-11", "2016-07-04"])
def test_the_grid_aware_aggregator_never_peaks_above_smart_charging(feeder, start):
    """The default study's feeders and weeks at 100 % EVs, half bidirectional, three samples: v2g_peak_shave's
    transformer peak is at most smart charging's in every sample, leaving no more energy unmet."""
    from hostcap.studies.scenario.run import run_batch

    def peaks(strategy):
        runs = run_batch([Scenario(feeder=feeder, start=start, strategy=strategy, penetration=1.0, v2g_share=0.5,
                                   days=7, battery_wear=None, sample=k) for k in range(3)])
        return np.array([r.metrics["peak_demand_kw"] for r in runs]), sum(r.metrics["ev_unmet_kwh"] for r in runs)

    (shave, unmet), (smart, smart_unmet) = peaks("v2g_peak_shave"), peaks("smart")
    assert (shave <= smart + 1e-6).all(), (shave, smart)
    assert unmet <= smart_unmet + 1e-6  # only what no charging could deliver (a stay too short at full power)


DAY = dict(days=1, step_min=60.0)


def test_heat_pumps_raise_the_no_ev_peak_and_the_coupling_stays_honest():
    none = run_scenario(Scenario(penetration=0.5, **DAY))
    half = run_scenario(Scenario(penetration=0.5, heat_pump_share=0.5, **DAY))
    m = half.metrics
    assert m["peak_demand_no_ev_kw"] > none.metrics["peak_demand_no_ev_kw"] + 0.5 * m["heat_pump_peak_kw"]
    assert m["n_heat_pump"] == half.inputs.households.heat_pumps.n and m["heat_pump_kwh"] > 0
    assert m["energy_import_kwh"] == pytest.approx(none.metrics["energy_import_kwh"] + m["heat_pump_kwh"]
                                                   + m["losses_kwh"] - none.metrics["losses_kwh"], rel=1e-9)
    assert_fresh_runpp_reproduces_voltages(half)


def test_a_simbench_future_grid_runs_with_its_own_heat_pumps_as_the_population():
    r = run_scenario(Scenario(feeder="simbench:1-LV-rural3--2-sw", penetration=0.3, **DAY))
    hp = r.inputs.households.heat_pumps
    own = r.inputs.feeder.heat_pumps
    assert hp.n == len(own) == r.metrics["n_heat_pump"] == 17
    np.testing.assert_allclose(hp.p_el_rated_kw, own["p_el_rated_kw"])  # each keeps its rated power
    # in January the heat pumps draw, below their ratings
    p = r.inputs.households.p_heat_pump_kw[:, hp.cp]
    assert (p.max(axis=0) > 0).all() and (p.max(axis=0) <= hp.p_el_rated_kw + 1e-9).all()


@pytest.mark.parametrize("strategy", ["v2h", "smart"])
def test_two_cars_at_a_home_share_its_meter(strategy):
    """At 1.5 EVs per household the fleet's energy balance closes (checked in every run) and two cars do not
    both answer the same kilowatt: under v2h no home exports from discharging EVs, and with a zero export limit
    no meter exports."""
    r = run_scenario(Scenario(strategy=strategy, penetration=1.5, v2g_share=1.0, export_limit_kw=0.0, **DAY))
    f, hh = r.inputs.fleet, r.inputs.households
    assert f.n == r.metrics["n_ev"] == round(1.5 * r.inputs.feeder.connection_points["household"].sum())
    ev_home = np.zeros_like(hh.p_load_kw)
    np.add.at(ev_home, (slice(None), f.cp), r.series["ev_p_kw"])
    meter = hh.p_load_kw - hh.p_pv_kw + r.series["pv_curtailed_kw"] + ev_home
    assert (meter >= -1e-9).all()
    if strategy == "v2h":
        assert r.metrics["ev_discharged_kwh"] > 0


def test_dimming_14a_caps_devices_while_dimmed_and_accounts_for_what_it_defers():
    """A SimBench future grid with second cars and heat pumps, its operator acting at 70 % transformer loading so
    that dimming binds (its large heat pumps, 18-28 kW, keep 40 %): while dimmed no charger draws more than
    4.2 kW and no heat pump more than its cap unless its home reached the comfort bound; the transformer peak is
    at most uncontrolled charging's; the heat the homes were owed closes (delivered + still owed = demanded)."""
    kw = dict(feeder="simbench:1-LV-rural3--2-sw", penetration=1.5, heat_pump_share=0.3, days=1, start="2016-01-04",
              battery_wear=None, trafo_limit_pct=70.0)
    dim = run_scenario(Scenario(strategy="dimming_14a", **kw))
    unc = run_scenario(Scenario(strategy="uncontrolled", **kw))
    m, s, hh = dim.metrics, dim.series, dim.inputs.households
    on = s["dimmed"] > 0.5
    assert on.any() and not on.all() and m["dimmed_h"] == on.sum() * 0.25
    assert (s["ev_p_kw"][on] <= 4.2 + 1e-9).all() and m["ev_dimmed_kwh"] > 0
    assert m["peak_demand_kw"] <= unc.metrics["peak_demand_kw"] + 1e-9
    assert m["trafo_overload_hours"] < unc.metrics["trafo_overload_hours"]
    hp = hh.heat_pumps
    one = np.bincount(hp.cp, minlength=hh.p_load_kw.shape[1])[hp.cp] == 1  # homes with one heat pump
    cp = hp.cp[one]
    cap = np.where(hp.p_el_rated_kw[one] > 11.0, 0.4 * hp.p_el_rated_kw[one], 4.2)
    drawn, owed = s["heat_pump_p_kw"][:, cp], s["heat_deficit_kwh"][:, cp]
    demand_el, demand_th = hh.hp_el_kw[:, one], hh.hp_heat_kw[:, one]
    cop = demand_th / demand_el
    # the cap holds unless keeping it would cool the home by more than 1 K (C = 50 h x rated heat / 32 K)
    room = 50.0 * hp.p_th_rated_kw[one] / 32.0 - np.vstack([np.zeros(len(cp)), owed[:-1]])
    keeps = on[:, None] & ((demand_th - cap * cop) * 0.25 <= room)
    assert keeps.any() and (drawn[keeps] <= np.broadcast_to(cap, drawn.shape)[keeps] + 1e-9).all()
    assert (drawn[on] <= np.maximum(cap, demand_el[on]) + 1e-9).all()
    assert ((drawn < demand_el - 1e-6) & on[:, None]).any()  # some heat pump was held below its demand
    assert m["heat_deferred_kwh"] > 0 and 0 < m["heat_deficit_max_k"] <= 1.0 + 1e-9
    delivered = (drawn * cop).sum(axis=0) * 0.25
    np.testing.assert_allclose(delivered + owed[-1], demand_th.sum(axis=0) * 0.25, rtol=1e-9)
    assert_fresh_runpp_reproduces_voltages(dim)


def test_a_feeder_file_edited_in_the_same_session_is_read_again(tmp_path, tiny_net_factory):
    """A notebook (or a long-lived Dask worker) that runs, edits the feeder file and runs again gets the edited
    feeder's numbers, the no-EV base case's included, as a fresh process would."""
    path = tmp_path / "tiny.json"
    pp.to_json(tiny_net_factory(), str(path))
    sc = Scenario(feeder=str(path), strategy="uncontrolled", penetration=1.0, seed=3, start="2016-01-11", days=1)
    short = run_scenario(sc)
    pp.to_json(tiny_net_factory(line_km=0.6), str(path))  # a longer line: lower voltages, more losses
    long = run_scenario(sc)
    assert long.metrics["v_min_pu"] < short.metrics["v_min_pu"]
    assert long.metrics["energy_import_kwh"] > short.metrics["energy_import_kwh"]
    fresh = subprocess.run([sys.executable, "-c", "import json, sys; from hostcap.studies.scenario.run import "
                            "run_scenario; from hostcap.studies.scenario.settings import Scenario; "
                            "print(json.dumps(run_scenario(Scenario.model_validate_json(sys.argv[1])).metrics))",
                            sc.model_dump_json()], capture_output=True, text=True, check=True)
    assert json.loads(fresh.stdout.splitlines()[-1]) == pytest.approx(long.metrics, nan_ok=True, rel=0, abs=0)
