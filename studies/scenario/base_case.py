"""The feeder without EVs (households, PV and home batteries) over a run's period: a plausibility check that refuses a
base case that cannot be right before a run or a study spends time on it, and the no-EV baseline every
run's peak is compared with.

Check:
The feeder with its households (their heat pumps included) and PV but no EV is solved at up to `CHECK_STEPS`
evenly spaced steps of the run's period. If the power flow diverges, or some bus lies outside
`V_PLAUSIBLE_PU`, at more than `MAX_BAD_SHARE` of them, the input is refused with one line and its likely
cause. The band is EN 50160's outer limit for LV supply (cl. 4.2.2: every 10-minute mean within +10 % / -15 %
of nominal), widened upwards to 1.15 pu so that a feeder that is merely weak (a legitimate study result) still
runs.
The usual cause is profiles in kW where pandapower wants MW (a thousand times the demand).

Baseline: the slack's active power at every step of the period with no EV (`no_ev_slack_kw`), solved with
the scenario's solver and phase model (three-phase where the run is); both are cached per feeder, profiles,
period, step and phase model, and the files as they are (an edited feeder file is solved again).
"""
import functools

import numpy as np
from threadpoolctl import threadpool_limits

from hostcap.feeders.load import files_stamp
from hostcap.feeders.powerflow import PandapowerSolver, PandapowerSolver3ph, make_solver
from hostcap.models.errors import InputError
from hostcap.studies.scenario.inputs import build_inputs
from hostcap.studies.scenario.settings import Scenario

CHECK_STEPS = 96
MAX_BAD_SHARE = 0.5
V_PLAUSIBLE_PU = (0.85, 1.15)
UNIT_ERROR_KW = 1000.0  # a household connection point above 1 MW is a unit error, not a home


def _base(scenario: Scenario) -> str:
    return Scenario(feeder=scenario.feeder, feeder_name=scenario.feeder_name, profiles=scenario.profiles,
                    trips=scenario.trips, start=scenario.start, days=scenario.days, step_min=scenario.step_min,
                    solver=scenario.solver, slack_vm_pu=scenario.slack_vm_pu, ev_at=scenario.ev_at,
                    phases=scenario.phases, seed=scenario.seed, heat_pump_share=scenario.heat_pump_share,
                    pv_share=scenario.pv_share, climate_region=scenario.climate_region,
                    penetration=0.0).model_dump_json()


def check_base_case(scenario: Scenario) -> None:
    """Raise InputError if the scenario's feeder and period are implausible without EVs (cached)."""
    _check(_base(scenario), _stamp(scenario))


def no_ev_slack_kw(scenario: Scenario) -> np.ndarray:
    """Active power drawn from the slack at every step with no EV (NaN where it diverges), kW (cached)."""
    return _no_ev_slack_kw(_base(scenario), _stamp(scenario))


def _stamp(scenario: Scenario) -> tuple:
    """The base case's files as they are now (`files_stamp`): an edited one is solved again."""
    return files_stamp(scenario.feeder, scenario.profiles, scenario.trips)


def _solver(sc: Scenario, inputs):
    """The run's power flow: balanced or three-phase as the run's (`Inputs.unbalanced`)."""
    net = inputs.feeder.net
    try:
        return make_solver(sc.solver, net, unbalanced=inputs.unbalanced)
    except InputError:  # the fast solver refuses the net; the run will say so, the base case is still solved
        return (PandapowerSolver3ph if inputs.unbalanced else PandapowerSolver)(net)


def _solve_no_ev(solver, inputs, t: int):
    """(converged, bus voltages, slack's active power in MW) of step t with no EV: households, PV and their
    batteries; three-phase runs with each on its phase(s) (sample 0's draws, as in the run: `models/phases.py`)."""
    hh, bus, n_bus = inputs.households, inputs.cp_bus_pos, len(inputs.feeder.net.bus)
    if inputs.unbalanced:
        w = inputs.phases
        p_cp = ((hh.p_load_kw[t] + hh.p_battery_no_ev_kw[t])[:, None] * w.load - hh.p_pv_kw[t][:, None] * w.pv)
        at = (bus[:, None] * 3 + np.arange(3)).ravel()
        p = np.bincount(at, weights=p_cp.ravel(), minlength=3 * n_bus).reshape(n_bus, 3) * 1e-3
        q_cp = hh.q_kvar(t)[:, None] * w.load
        q = np.bincount(at, weights=q_cp.ravel(), minlength=3 * n_bus).reshape(n_bus, 3) * 1e-3
    else:
        p = np.bincount(bus, weights=hh.no_ev_p_kw(t), minlength=n_bus) * 1e-3
        q = np.bincount(bus, weights=hh.q_kvar(t), minlength=n_bus) * 1e-3
    res = solver.solve(p[None], q[None])
    return bool(res.converged[0]), res.vm_pu[0], float(res.p_slack_mw[0])


@functools.lru_cache(maxsize=16)
def _no_ev_slack_kw(base_json: str, stamp: tuple) -> np.ndarray:
    sc = Scenario.model_validate_json(base_json)
    inputs = build_inputs(sc)
    solver = _solver(sc, inputs)
    with threadpool_limits(limits=1):
        return np.array([_solve_no_ev(solver, inputs, t)[2] * 1e3 for t in range(inputs.n_steps)])


@functools.lru_cache(maxsize=16)
def _check(base_json: str, stamp: tuple) -> None:
    sc = Scenario.model_validate_json(base_json)
    inputs = build_inputs(sc)
    hh = inputs.households
    steps = np.unique(np.linspace(0, inputs.n_steps - 1, min(inputs.n_steps, CHECK_STEPS)).astype(int))
    solver = _solver(sc, inputs)
    allowed = int(MAX_BAD_SHARE * len(steps))
    bad = 0
    for t in steps:
        converged, vm_pu, _ = _solve_no_ev(solver, inputs, t)
        outside = converged and ((vm_pu < V_PLAUSIBLE_PU[0]) | (vm_pu > V_PLAUSIBLE_PU[1])).any()
        bad += (not converged) or bool(outside)
        if bad > allowed:
            break
    if bad <= allowed:
        return
    homes = inputs.feeder.connection_points["household"].to_numpy()
    peak_kw = float(hh.p_load_kw[:, homes].max()) if homes.any() else 0.0
    cause = (f"profiles look like kW; pandapower wants MW (a household draws up to {peak_kw / 1e3:,.0f} MW)"
             if peak_kw > UNIT_ERROR_KW else
             "check the sizes of the loads, PV and profiles, and the external grid's voltage")
    raise InputError(f"feeder {sc.feeder}: with no EV, the power flow diverges or leaves "
                     f"{V_PLAUSIBLE_PU[0]}-{V_PLAUSIBLE_PU[1]} pu at more than half of the checked steps of "
                     f"{sc.start} + {sc.days} d; {cause}")
