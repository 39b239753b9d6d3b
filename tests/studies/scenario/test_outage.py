"""Outages through mosaik: the grid tells the homes which buses are dark, V2H homes island, others go dark."""
import numpy as np
import pytest

from hostcap.models.outage import Outages, OutageWindow
from hostcap.studies.scenario.settings import Scenario

EVENING = Outages(windows=[OutageWindow(start="2016-01-11T18:00", hours=2)])
RUN = dict(penetration=0.5, v2g_share=1.0, days=1, start="2016-01-11", outages=EVENING)
WINDOW = slice(72, 80)  # 18:00-20:00 in quarter hours


def test_a_two_hour_evening_outage(run_cache):
    r = run_cache(Scenario(strategy="smart", **RUN))
    inp, s = r.inputs, r.series
    f, hh, dt_h = inp.fleet, inp.households, inp.dt_s / 3600.0
    c = r.customers()
    # the grid owned the outage and told the homes: every connection point dark for exactly the window
    assert (s["powered"][WINDOW] == 0).all() and (np.delete(s["powered"], np.r_[WINDOW], axis=0) == 1).all()
    # nothing flows on the feeder: no bus injection, no transformer power, no voltage reported
    assert (s["p_bus_mw"][WINDOW] == 0).all() and np.abs(s["p_slack_mw"][WINDOW]).max() < 1e-9
    assert np.isnan(s["vm_pu"][WINDOW]).all() and not np.isnan(s["vm_pu"][:72]).any()
    demand_kwh = hh.p_load_kw[WINDOW].sum(axis=0) * dt_h
    np.testing.assert_allclose(c["outage_h"], 2.0)
    np.testing.assert_allclose(c["outage_unserved_no_v2h_kwh"], demand_kwh)
    # homes without an EV are unserved for all of their demand
    no_ev = c["n_ev"] == 0
    assert no_ev.sum() > 10
    np.testing.assert_allclose(c.loc[no_ev, "outage_unserved_kwh"], demand_kwh[no_ev])
    assert (c.loc[no_ev, "backup_h"] == 0).all()
    # a plugged-in EV with enough energy and power covers its home fully; an EV away covers nothing
    plugged = inp.mobility.plugged[WINDOW].all(axis=0)
    away = ~inp.mobility.plugged[WINDOW].any(axis=0)
    room = s["ev_e_kwh"][71] - f.reserve_kwh
    strong = hh.p_load_kw[WINDOW][:, f.cp].max(axis=0) <= f.p_dis_max_kw
    full = plugged & strong & (room * f.eta_dis > demand_kwh[f.cp] + 1.0) & inp.v2h_capable
    weak = plugged & ~strong & inp.v2h_capable  # a 3.7 kW charger under a bigger evening load
    assert (c["outage_unserved_kwh"].to_numpy()[f.cp[weak]] > 0).all()
    assert full.sum() > 5 and away.sum() > 0
    assert (c["outage_unserved_kwh"].to_numpy()[f.cp[full]] < 1e-9).all()
    assert (c["backup_h"].to_numpy()[f.cp[full]] == 2.0).all()
    np.testing.assert_allclose(c["outage_unserved_kwh"].to_numpy()[f.cp[away]], demand_kwh[f.cp[away]])
    # the islanded EVs' discharge is what their homes were served (no PV at 18:00 in January)
    assert hh.p_pv_kw[WINDOW].max() == 0
    served_kwh = s["backup_served_kw"][WINDOW].sum(axis=0) * dt_h
    given_kwh = -np.minimum(s["ev_p_kw"][WINDOW], 0.0).sum(axis=0) * dt_h
    np.testing.assert_allclose(np.bincount(f.cp, weights=given_kwh, minlength=len(c)), served_kwh, atol=1e-9)
    # the metrics sum the homes
    m = r.metrics
    assert m["outage_unserved_no_v2h_kwh"] == pytest.approx(demand_kwh.sum())
    assert m["outage_unserved_kwh"] == pytest.approx(c["outage_unserved_kwh"].sum())
    assert 0 < m["outage_covered_share"] < 1 and m["backup_home_h"] == pytest.approx(c["backup_h"].sum())
    # the meter sees nothing while dark: imports of a home without EV fall by its demand in the window
    base = run_cache(Scenario(strategy="smart", **{**RUN, "outages": None})).customers()
    np.testing.assert_allclose(base.loc[no_ev, "import_kwh"] - c.loc[no_ev, "import_kwh"], demand_kwh[no_ev])


def test_without_outages_nothing_of_it_runs(run_cache):
    r = run_cache(Scenario(strategy="smart", **{**RUN, "outages": None}))
    assert "powered" not in r.series and "outage_h" not in r.customers()
    assert not any(k.startswith("outage") or k.startswith("backup") for k in r.metrics)


def test_no_v2h_capable_home_is_backed_up_and_the_replay_matches_the_run(run_cache):
    no_v2h = EVENING.model_copy(update={"v2h_share": 0.0})
    r = run_cache(Scenario(strategy="uncontrolled", **{**RUN, "outages": no_v2h}))
    c = r.customers()
    np.testing.assert_allclose(c["outage_unserved_kwh"], c["outage_unserved_no_v2h_kwh"])
    assert (c["backup_h"] == 0).all() and r.metrics["outage_covered_share"] == 0
    # charging-only replay of the uncontrolled run, outage included, is that run
    np.testing.assert_array_equal(r.charging_only[0], r.series["ev_p_kw"])
    assert (r.series["ev_p_kw"][WINDOW] == 0).all()  # no grid, no charging


def test_an_outage_of_some_buses_leaves_the_rest_of_the_feeder_running(run_cache):
    base = run_cache(Scenario(strategy="smart", **{**RUN, "outages": None}))
    cps = base.inputs.feeder.connection_points
    bus = int(cps["bus"].iloc[0])
    r = run_cache(Scenario(strategy="smart", **{**RUN, "outages": Outages(windows=[
        OutageWindow(start="2016-01-11T18:00", hours=2, buses=[bus])])}))
    s, pos = r.series, r.inputs.cp_bus_pos
    dark_cp = (cps["bus"] == bus).to_numpy()
    assert (s["powered"][WINDOW][:, dark_cp] == 0).all() and (s["powered"][WINDOW][:, ~dark_cp] == 1).all()
    b = int(np.flatnonzero(r.inputs.feeder.net.bus.index == bus)[0])
    assert np.isnan(s["vm_pu"][WINDOW, b]).all() and (s["p_bus_mw"][WINDOW, b] == 0).all()
    others = np.setdiff1d(np.arange(s["vm_pu"].shape[1]), [b])
    assert not np.isnan(s["vm_pu"][WINDOW][:, others]).any() and (s["p_slack_mw"][WINDOW] > 0).all()
    c = r.customers()
    assert (c.loc[~dark_cp, "outage_h"] == 0).all() and (c.loc[dark_cp, "outage_h"] == 2).all()
    assert pos.size == len(cps)


def test_an_outage_in_a_three_phase_run(run_cache):
    """Unbalanced, the same outage: nothing flows on any phase, no voltage or unbalance is reported, and the
    homes' backup is the balanced run's (the power flow does not decide who islands)."""
    r = run_cache(Scenario(strategy="smart", phases="unbalanced", **RUN))
    balanced = run_cache(Scenario(strategy="smart", **RUN))
    s = r.series
    assert (s["p_abc_bus_mw"][WINDOW] == 0).all() and np.abs(s["p_slack_mw"][WINDOW]).max() < 1e-9
    assert np.isnan(s["vm_abc_pu"][WINDOW]).all() and np.isnan(s["vuf_pct"][WINDOW]).all()
    assert not np.isnan(s["vm_abc_pu"][:72]).any() and r.metrics["vuf_max_pct"] > 0
    pd_cols = ["outage_unserved_kwh", "backup_h"]
    np.testing.assert_allclose(r.customers()[pd_cols].to_numpy(), balanced.customers()[pd_cols].to_numpy())


@pytest.mark.parametrize("strategy", ["uncontrolled", "volt_watt"])
def test_volt_var_and_volt_watt_read_no_voltage_from_a_dark_step(run_cache, strategy):
    """When supply returns, the chargers have no reading of the dark step before: they act as at nominal
    voltage (was: NaN reactive power and set-points, a power flow that failed at every step after)."""
    r = run_cache(Scenario(strategy=strategy, days=1, start="2016-07-11", penetration=1.0, v2g_share=0.5,
                           q_control="volt_var", battery_wear=None,
                           outages={"windows": [{"start": "2016-07-11T12:00", "hours": 1.5}], "v2h_share": 0.5}))
    assert r.metrics["nonconverged_steps"] == 0
    assert np.isfinite(r.series["ev_p_kw"]).all() and np.isfinite(r.series["ev_q_kvar"]).all()
    assert (r.series["powered"] < 0.5).any()  # the outage happened
