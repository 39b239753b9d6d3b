"""Refuse a base case that cannot be right before a run or a study spends time on it.

The feeder with its households and PV but no EV is solved at up to `CHECK_STEPS` evenly spaced steps of
the run's period. If the power flow diverges, or some bus lies outside `V_PLAUSIBLE_PU`, at more than
`MAX_BAD_SHARE` of them, the input is refused with one line and its likely cause. The band is EN 50160's
outer limit for LV supply (cl. 4.2.2: every 10-minute mean within +10 % / -15 % of nominal), widened
upwards to 1.15 pu so that a feeder that is merely weak (a legitimate study result) still runs.
The usual cause is profiles in kW where pandapower wants MW (a thousand times the demand).
"""
import functools

import numpy as np

from hostcap.cosim.powerflow import PandapowerSolver, make_solver
from hostcap.cosim.scenario import Scenario, build_inputs
from hostcap.models.errors import InputError

CHECK_STEPS = 96
MAX_BAD_SHARE = 0.5
V_PLAUSIBLE_PU = (0.85, 1.15)
HOUSEHOLD_MAX_KW = 1000.0  # a household connection point above 1 MW is a unit error, not a home


def check_base_case(scenario: Scenario) -> None:
    """Raise InputError if the scenario's feeder and period are implausible without EVs (cached)."""
    base = Scenario(feeder=scenario.feeder, feeder_name=scenario.feeder_name, profiles=scenario.profiles,
                    trips=scenario.trips, start=scenario.start, days=scenario.days, step_min=scenario.step_min,
                    solver=scenario.solver, penetration=0.0)
    _check(base.model_dump_json())


@functools.lru_cache(maxsize=16)
def _check(base_json: str) -> None:
    sc = Scenario.model_validate_json(base_json)
    inputs = build_inputs(sc)
    net, hh, bus = inputs.feeder.net, inputs.households, inputs.cp_bus_pos
    n_bus = len(net.bus)
    steps = np.unique(np.linspace(0, inputs.n_steps - 1, min(inputs.n_steps, CHECK_STEPS)).astype(int))
    try:
        solver = make_solver(sc.solver, net)
    except InputError:  # the fast solver refuses the net; the run will say so, the base case is still checked
        solver = PandapowerSolver(net)
    allowed = int(MAX_BAD_SHARE * len(steps))
    bad = 0
    for t in steps:
        p = np.bincount(bus, weights=hh.net_p_kw(t), minlength=n_bus) * 1e-3
        q = np.bincount(bus, weights=hh.q_kvar(t), minlength=n_bus) * 1e-3
        res = solver.solve(p, q)
        outside = res.converged and ((res.vm_pu < V_PLAUSIBLE_PU[0]) | (res.vm_pu > V_PLAUSIBLE_PU[1])).any()
        bad += (not res.converged) or bool(outside)
        if bad > allowed:
            break
    if bad <= allowed:
        return
    homes = inputs.feeder.connection_points["household"].to_numpy()
    peak_kw = float(hh.p_load_kw[:, homes].max()) if homes.any() else 0.0
    cause = (f"profiles look like kW; pandapower wants MW (a household draws up to {peak_kw / 1e3:,.0f} MW)"
             if peak_kw > HOUSEHOLD_MAX_KW else
             "check the sizes of the loads, PV and profiles, and the external grid's voltage")
    raise InputError(f"feeder {sc.feeder}: with no EV, the power flow diverges or leaves "
                     f"{V_PLAUSIBLE_PU[0]}-{V_PLAUSIBLE_PU[1]} pu at more than half of the checked steps of "
                     f"{sc.start} + {sc.days} d; {cause}")
