"""The reinforcement planner on the tiny feeder (a 250 kVA transformer and three 50 m NAYY 4x150 sections):
each kind of limit gets its standard measure, the least that holds, and the reinforced feeder, written as
pandapower JSON and read back, holds every limit at every step in a fresh pandapower power flow."""
import numpy as np
import pandapower as pp
import pytest

from hostcap.models.reinforcement import Costs, Limits, reinforce

COSTS = Costs(lv_cable_keur_per_km=60.0, mv_lv_transformer_keur=10.0)  # studies/costs/de_dena.yaml, rural
EN50160 = Limits()


def steps(net, at: dict[int, float], n_steps: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Steps drawing `at` (bus -> MW, at power factor 0.95) and half of it, bus order of the net."""
    p = np.zeros((n_steps, len(net.bus)))
    for b, mw in at.items():
        p[:, net.bus.index.get_loc(b)] = mw * np.linspace(1.0, 0.5, n_steps)
    return p, p * np.tan(np.arccos(0.95))


def holds(net, p, q, tmp_path, limits=EN50160) -> bool:
    """A fresh power flow on the reinforced feeder as pandapower JSON: every step within every limit."""
    pp.to_json(net, str(tmp_path / "reinforced.json"))
    fresh = pp.from_json(str(tmp_path / "reinforced.json"))
    rows = fresh.load.index[fresh.load["name"].eq("step")]
    for pi, qi in zip(p, q):
        fresh.load.loc[rows, "p_mw"], fresh.load.loc[rows, "q_mvar"] = pi, qi
        pp.runpp(fresh, numba=False)
        lv = fresh.bus["vn_kv"] < 1
        if (fresh.res_trafo["loading_percent"].max() > limits.trafo_loading_pct
                or fresh.res_line["loading_percent"].max() > limits.line_loading_pct
                or not fresh.res_bus.loc[lv, "vm_pu"].between(limits.v_min_pu, limits.v_max_pu).all()):
            return False
    return True


def test_an_overloaded_transformer_gets_the_next_standard_size_and_no_larger(tiny_net, tmp_path):
    station = int(tiny_net.trafo.at[0, "lv_bus"])
    p, q = steps(tiny_net, {station: 0.30})  # 316 kVA at the station's own bus: only the transformer is short
    net, measures = reinforce(tiny_net, p, q, COSTS)
    assert [(m.kind, m.element) for m in measures] == [("transformer", "trafo 0")]
    assert "-> 1 x 400 kVA (0.4 MVA 20/0.4 kV)" in measures[0].detail and measures[0].cost_eur == 10_000
    assert holds(net, p, q, tmp_path)
    untouched, none = reinforce(tiny_net, p * 0, q * 0, COSTS)  # nothing breaks without load: nothing is done
    assert none == [] and untouched.trafo.at[0, "sn_mva"] == 0.25
    assert not holds(untouched, p, q, tmp_path)  # and the feeder as it was breaks the limit at the steps


def test_beyond_the_largest_standard_transformer_parallel_ones_are_added(tiny_net, tmp_path):
    station = int(tiny_net.trafo.at[0, "lv_bus"])
    p, q = steps(tiny_net, {station: 0.9})  # 947 kVA: two 630 kVA units
    net, measures = reinforce(tiny_net, p, q, COSTS)
    assert [m.kind for m in measures] == ["parallel transformer"] and "2 x 630 kVA" in measures[0].detail
    assert measures[0].cost_eur == 20_000 and holds(net, p, q, tmp_path)


def test_an_overloaded_cable_gets_one_standard_cable_beside_it(tiny_net, tmp_path):
    end = int(tiny_net.bus.index[-1])
    p, q = steps(tiny_net, {end: 0.2})  # 305 A on each 270 A section; the transformer carries 84 %
    net, measures = reinforce(tiny_net, p, q, COSTS)
    assert sorted(m.element for m in measures) == ["line 0", "line 1", "line 2"]
    assert all(m.kind == "parallel cable (overload)" and m.length_km == 0.05 for m in measures)
    assert sum(m.cost_eur for m in measures) == pytest.approx(3 * 0.05 * 60_000)
    assert holds(net, p, q, tmp_path)


def test_a_voltage_problem_is_fixed_from_the_station_outward_and_stops_when_it_holds(tiny_net_factory, tmp_path):
    """Three 400 m sections and 60 kW at the far end: the far end drops below 0.95 pu (ANSI Range A); cables are
    laid beside the sections from the station outward, and no more than it takes."""
    feeder = tiny_net_factory(line_km=0.4)
    end = int(feeder.bus.index[-1])
    p, q = steps(feeder, {end: 0.04})
    ansi = Limits(v_min_pu=0.95, v_max_pu=1.05)
    net, measures = reinforce(feeder, p, q, COSTS, ansi)
    assert measures and all(m.kind == "parallel cable (voltage)" for m in measures)
    assert [m.element for m in measures] == [f"line {i}" for i in range(len(measures))]  # station end first
    assert holds(net, p, q, tmp_path, ansi)
    fewer = reinforce(feeder, p, q, COSTS, ansi)[1][:-1]  # one measure fewer does not hold
    partial = reinforce(feeder, p * 0, q * 0, COSTS, ansi)[0]
    for m in fewer:
        i = int(m.element.split()[1])
        pp.create_line(partial, partial.line.at[i, "from_bus"], partial.line.at[i, "to_bus"], 0.4, "NAYY 4x150 SE")
    assert not holds(partial, p, q, tmp_path, ansi)
