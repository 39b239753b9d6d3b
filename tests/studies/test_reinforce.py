"""The planner's rules for a run or sample (`studies/reinforce.py`): it holds the limits broken and only those,
says why it cannot plan, and keeps the steps in the reinforced feeder it writes."""
import numpy as np
import pandapower as pp
import pandas as pd

from hostcap.models.reinforcement import Costs
from hostcap.studies.reinforce import plan, planner_limits, steps_arrays, steps_table, unplannable

COSTS = Costs(lv_cable_keur_per_km=60.0, mv_lv_transformer_keur=10.0)


def far_end_steps(net, p_mw: float):
    """One step drawing p_mw at the far end of the tiny feeder (power factor 0.95), bus order of the net."""
    p = np.zeros((1, len(net.bus)))
    p[0, -1] = p_mw
    return p, p * np.tan(np.arccos(0.95))


def test_only_the_broken_limits_are_held(tiny_net_factory):
    """Three 100 m sections and 270 kW at the far end: the 250 kVA transformer is overloaded and the far end
    lies below 0.9 pu. A run that broke only its transformer's limit gets the transformer; one that broke
    the voltage criterion too gets cables as well."""
    feeder = tiny_net_factory(line_km=0.1)
    p, q = far_end_steps(feeder, 0.27)
    trafo_only = planner_limits("en50160", 100.0, 100.0, {"trafo_overload"})
    assert np.isinf([trafo_only.v_min_pu, trafo_only.v_max_pu, trafo_only.line_loading_pct]).all()
    net, measures, why = plan(feeder, p, q, COSTS, trafo_only)
    assert why == "" and [m.kind for m in measures] == ["transformer"]
    pp.runpp(net, numba=False)
    assert net.res_bus["vm_pu"].min() < 0.9  # the voltage is left alone: its criterion held in the run
    both = planner_limits("en50160", 100.0, 100.0, {"trafo_overload", "undervoltage"})
    net, measures, _ = plan(feeder, p, q, COSTS, both)
    assert measures[0].kind == "transformer" and {m.kind for m in measures[1:]} == {"parallel cable (voltage)"}
    pp.runpp(net, numba=False)
    assert net.res_bus["vm_pu"].min() >= 0.9
    assert (net["hostcap_steps_p_mw"].to_numpy() == p).all()  # the steps it was planned for, kept in the feeder


def test_what_it_cannot_plan_is_named():
    assert unplannable({"trafo_overload"}, unbalanced=False) == ""
    assert "did not converge" in unplannable({"nonconverged"}, unbalanced=False)
    assert "unbalance" in unplannable({"unbalance"}, unbalanced=False)
    assert "balanced power flows" in unplannable({"trafo_overload"}, unbalanced=True)


def test_a_bus_beyond_every_standard_measure_or_a_collapsed_step_is_unsolved(tiny_net_factory):
    feeder = tiny_net_factory(line_km=1.5)  # 4.5 km of cable: 30 kW at its end stays below 0.9 pu paralleled
    low = planner_limits("en50160", 100.0, 100.0, {"undervoltage"})
    net, measures, why = plan(feeder, *far_end_steps(feeder, 0.03), COSTS, low)
    assert net is None and measures == [] and "feeder split or a new station" in why
    net, measures, why = plan(feeder, *far_end_steps(feeder, 0.3), COSTS, low)  # no power flow solution
    assert net is None and measures == [] and "does not converge" in why


def test_the_worst_steps_a_record_keeps_are_the_runs_own():
    rng = np.random.default_rng(0)
    n_steps, n_bus = 20, 5
    series = {"p_slack_mw": rng.random(n_steps), "trafo_loading_pct": rng.random((n_steps, 1)) * 100,
              "vm_pu": 1 + rng.normal(0, 0.02, (n_steps, n_bus)), "line_loading_pct": rng.random((n_steps, 4)),
              "p_bus_mw": rng.random((n_steps, n_bus)), "q_bus_mvar": rng.random((n_steps, n_bus))}
    series["p_slack_mw"][3] = np.nan  # a step whose power flow failed is never a worst step
    series["trafo_loading_pct"][3] = 500.0
    table = steps_table(series)
    expected = {int(np.nanargmax(np.where(np.arange(n_steps) == 3, -1, series["trafo_loading_pct"][:, 0]))),
                int(np.argmin(np.where(np.arange(n_steps)[:, None] == 3, 9, series["vm_pu"]).min(axis=1))),
                int(np.argmax(np.where(np.arange(n_steps)[:, None] == 3, -9, series["vm_pu"]).max(axis=1))),
                int(np.argmax(np.where(np.arange(n_steps)[:, None] == 3, -9, series["line_loading_pct"]).max(axis=1)))}
    assert set(table.index) == expected
    p, q = steps_arrays([table, table])
    assert (p[: len(table)] == series["p_bus_mw"][table.index]).all() and q.shape == (2 * len(table), n_bus)
    assert isinstance(table, pd.DataFrame) and 3 not in table.index
