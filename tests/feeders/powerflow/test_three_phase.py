"""The three-phase power flow: the fast sequence-frame solver against pandapower's runpp_3ph, on the default
feeder and on the IEEE European LV test feeder, and co-simulated unbalanced runs checked by a fresh runpp_3ph."""
import copy

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandapower.topology as top
import pytest

from hostcap.feeders import DEFAULT_FEEDER, load_feeder
from hostcap.feeders.powerflow import FastSolver, FastSolver3ph, PandapowerSolver3ph
from hostcap.feeders.sequence import with_sequence_data
from hostcap.studies.scenario.settings import Scenario

PHASE_V = ["vm_a_pu", "vm_b_pu", "vm_c_pu"]


@pytest.fixture(scope="module")
def ieee():
    return pn.ieee_european_lv_asymmetric("on_peak_566")


@pytest.fixture(scope="module")
def default_net():
    return load_feeder(DEFAULT_FEEDER).net


def _ieee_injections(net):
    """The on-peak snapshot's asymmetric loads as per-bus, per-phase demand (1, n_bus, 3)."""
    pos = {b: i for i, b in enumerate(net.bus.index)}
    p, q = np.zeros((1, len(net.bus), 3)), np.zeros((1, len(net.bus), 3))
    for _, load in net.asymmetric_load.iterrows():
        for k, ph in enumerate("abc"):
            p[0, pos[load.bus], k] += load[f"p_{ph}_mw"]
            q[0, pos[load.bus], k] += load[f"q_{ph}_mvar"]
    return p, q


def test_fast_solver_matches_runpp_3ph_on_the_ieee_european_lv_snapshot(ieee):
    p, q = _ieee_injections(ieee)
    solver = FastSolver3ph(ieee)
    fast = solver.solve(p, q)
    ref = PandapowerSolver3ph(ieee).solve(p, q)
    assert fast.converged.all() and ref.converged.all()
    assert solver._fallback is None  # solved by the sequence-frame fixed point, not handed to runpp_3ph
    assert np.max(np.abs(fast.vm_pu - ref.vm_pu)) < 1e-6  # per phase, all 907 buses
    np.testing.assert_allclose(fast.vuf_pct, ref.vuf_pct, atol=1e-5)
    np.testing.assert_allclose(fast.line_loading_pct, ref.line_loading_pct, atol=1e-4)
    np.testing.assert_allclose(fast.trafo_loading_pct, ref.trafo_loading_pct, atol=1e-4)
    np.testing.assert_allclose(fast.line_i_n_ka, ref.line_i_n_ka, atol=1e-7)
    np.testing.assert_allclose(fast.p_slack_mw, ref.p_slack_mw, atol=1e-6)  # 1 W of 59 kW
    # and the feeder's own published-in-pandapower solution (one runpp_3ph call, 3e-8 MVA outer tolerance)
    stored = ieee.res_bus_3ph[PHASE_V].to_numpy()
    assert np.max(np.abs(fast.vm_pu[0] - stored)) < 1e-5
    assert 0.99 < fast.vm_pu.min() and fast.vm_pu.max() < 1.07  # the snapshot is light; slack at 1.05 pu


def test_balanced_injections_give_the_balanced_power_flow(default_net):
    rng = np.random.default_rng(3)
    n = len(default_net.bus)
    p = rng.uniform(-0.004, 0.008, (3, n)) * (default_net.bus.vn_kv.to_numpy() < 1)
    q = 0.2 * p
    balanced = FastSolver(default_net).solve(p, q)
    three = FastSolver3ph(default_net).solve(np.repeat(p[:, :, None] / 3, 3, axis=2),
                                             np.repeat(q[:, :, None] / 3, 3, axis=2))
    assert balanced.converged.all() and three.converged.all()
    for k in range(3):
        assert np.max(np.abs(three.vm_pu[:, :, k] - balanced.vm_pu)) < 1e-6
    assert three.vuf_pct.max() < 1e-6
    assert three.line_i_n_ka.max() < 1e-9
    np.testing.assert_allclose(three.line_loading_pct, balanced.line_loading_pct, atol=1e-4)
    np.testing.assert_allclose(three.trafo_loading_pct, balanced.trafo_loading_pct, atol=1e-4)
    np.testing.assert_allclose(three.p_slack_mw, balanced.p_slack_mw, atol=1e-8)


def test_single_phase_charger_at_the_end_of_the_longest_cable(default_net):
    """7.4 kW on phase a at the electrically farthest bus: phase a drops more than the balanced model says
    (which spreads it over three phases), b and c less, and the voltage is unbalanced."""
    graph = top.create_nxgraph(default_net, respect_switches=True)
    slack = int(default_net.ext_grid.bus.iloc[0])
    dist = nx.single_source_dijkstra_path_length(graph, slack, weight="weight")
    far = max(dist, key=dist.get)
    at = default_net.bus.index.get_loc(far)
    n = len(default_net.bus)
    p_bal, q0 = np.zeros((1, n)), np.zeros((1, n))
    p_bal[0, at] = 0.0074
    p_abc = np.zeros((1, n, 3))
    p_abc[0, at, 0] = 0.0074
    base = FastSolver(default_net).solve(q0, q0).vm_pu[0, at]
    balanced = FastSolver(default_net).solve(p_bal, q0).vm_pu[0, at]
    three = FastSolver3ph(default_net).solve(p_abc, np.zeros_like(p_abc))
    drop_bal = base - balanced
    drop = base - three.vm_pu[0, at]
    assert drop[0] > 2.0 * drop_bal  # about six times with these cables
    assert drop[1] < drop_bal and drop[2] < drop_bal
    assert three.vuf_pct[0, at] > 0.1


def _fresh_runpp_3ph(net, p_mw, q_mvar):
    """pandapower's runpp_3ph on the net's sequence data with one wye load per bus, restarted from its own
    results until the voltages settle (its outer loop stops at a 3e-8 MVA mismatch)."""
    pp.runpp_3ph(net)
    inj = net.asymmetric_load.index[net.asymmetric_load["name"] == "recorded"]
    for k, ph in enumerate("abc"):
        net.asymmetric_load.loc[inj, f"p_{ph}_mw"] = p_mw[:, k]
        net.asymmetric_load.loc[inj, f"q_{ph}_mvar"] = q_mvar[:, k]
    pp.runpp_3ph(net, tolerance_mva=1e-10)
    for _ in range(20):
        before = net.res_bus_3ph[PHASE_V].to_numpy()
        pp.runpp_3ph(net, tolerance_mva=1e-10, init="results")
        if np.max(np.abs(net.res_bus_3ph[PHASE_V].to_numpy() - before)) < 1e-10:
            break
    return net.res_bus_3ph[PHASE_V].to_numpy()


def assert_fresh_runpp_3ph_reproduces_voltages(r, n_steps: int = 5):
    net = with_sequence_data(copy.deepcopy(r.inputs.feeder.net))
    for element in ("load", "sgen", "asymmetric_load"):
        net[element]["in_service"] = False
    for bus in net.bus.index:
        pp.create_asymmetric_load(net, bus, name="recorded")
    s = r.series
    for t in np.linspace(0, r.inputs.n_steps - 1, n_steps).astype(int):
        vm = _fresh_runpp_3ph(net, s["p_abc_bus_mw"][t], s["q_abc_bus_mvar"][t])
        assert np.max(np.abs(vm - s["vm_abc_pu"][t])) < 1e-6


def test_coupling_honesty_three_phase(run_cache):
    r = run_cache(Scenario(strategy="volt_watt", penetration=1.0, v2g_share=0.5, days=1, phases="unbalanced"))
    assert r.inputs.unbalanced and r.metrics["unbalanced"]
    assert_fresh_runpp_3ph_reproduces_voltages(r)
    s = r.series
    # the phases add up to the per-bus totals, and the energy balance closes: import = demand + losses
    np.testing.assert_allclose(s["p_abc_bus_mw"].sum(axis=2), s["p_bus_mw"], atol=1e-12)
    losses = s["p_slack_mw"] - s["p_bus_mw"].sum(axis=1)
    assert (losses > 0).all() and losses.max() < 0.05 * np.abs(s["p_slack_mw"]).max()
    assert r.metrics["vuf_max_pct"] > 0 and r.metrics["neutral_max_ka"] > 0


def test_a_day_on_the_ieee_european_lv_feeder_with_its_own_phases():
    sc = Scenario(feeder="pandapower:ieee_european_lv_asymmetric", strategy="smart", penetration=0.5,
                  v2g_share=0.0, days=1)  # phases: auto
    from hostcap.studies.scenario.run import run_scenario

    r = run_scenario(sc)
    inp = r.inputs
    assert inp.unbalanced  # the feeder gives single-phase homes, so auto means unbalanced
    net = pn.ieee_european_lv_asymmetric("on_peak_566")
    own = np.array(["abc"[int(np.argmax(row))] for row in net.asymmetric_load[["p_a_mw", "p_b_mw", "p_c_mw"]]
                    .abs().to_numpy()])
    cps = inp.feeder.connection_points
    assert (cps["phase"].to_numpy() == own).all() and len(cps) == 55
    # every household and its EV on the home's phase, every charger at most 7.4 kW
    np.testing.assert_array_equal(inp.phases.load.argmax(axis=1), ["abc".index(x) for x in own])
    np.testing.assert_array_equal(inp.phases.ev.argmax(axis=1), inp.phases.load.argmax(axis=1)[inp.fleet.cp])
    assert inp.fleet.p_ch_max_kw.max() <= 7.4
    assert r.metrics["nonconverged_steps"] == 0
    assert r.metrics["vuf_max_pct"] > 0.1
    assert_fresh_runpp_3ph_reproduces_voltages(r, n_steps=2)
