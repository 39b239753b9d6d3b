"""Run one scenario, or S Monte Carlo samples of it at once: `run_scenario(Scenario) -> RunResult`,
`run_batch([Scenario, ...]) -> [RunResult, ...]`.

A run is assembled here from its parts and handed to the co-simulation: the inputs (`inputs.py`), the
no-EV base case (`base_case.py`), the strategy (`models/strategies.py`), the homes (`models/home.py`), the
feeder's power flow (`feeders/powerflow/feeder_step.py`) and, for a strategy run by an aggregator, the
aggregator (`models/aggregator.py`), for §14a dimming the grid operator (`models/dimming.py`); the mosaik world
(`cosim/world.py`) steps them, and each sample's recordings become its result (`result.py`).
"""
import numpy as np
from threadpoolctl import threadpool_limits

from hostcap.cosim.world import run_world
from hostcap.feeders.powerflow.feeder_step import FeederStep
from hostcap.models.aggregator import Aggregator
from hostcap.models.dimming import Dimmer
from hostcap.models.home import Homes
from hostcap.models.limits import voltage_band
from hostcap.models.meter import VoltVarCurve
from hostcap.models.strategies import Horizon, make_strategy
from hostcap.studies.scenario.base_case import check_base_case, no_ev_slack_kw
from hostcap.studies.scenario.inputs import Batch, build_batch, check_inputs
from hostcap.studies.scenario.result import RunResult, run_result
from hostcap.studies.scenario.settings import Scenario


def run_scenario(scenario: Scenario, *, progress: bool = False) -> RunResult:
    """Co-simulate one scenario (a batch of one sample, `run_batch`), its inputs checked first."""
    check_inputs([scenario])
    return run_batch([scenario], progress=progress)[0]


def run_batch(scenarios: list[Scenario], *, progress: bool = False) -> list[RunResult]:
    """Co-simulate S scenarios that differ only in their sample (and key) in one mosaik world; one result per
    scenario, as run alone. BLAS and OpenMP run one thread inside (a step's small matrix products
    oversubscribe the cores otherwise: 2.7 instead of 0.6 ms per step beside one busy process, measured),
    whoever calls: the CLI, a Dask worker, the report or a notebook."""
    with threadpool_limits(limits=1):
        return _run_batch(list(scenarios), progress)


def _run_batch(scenarios: list[Scenario], progress: bool) -> list[RunResult]:
    batch = build_batch(scenarios)  # validates everything before mosaik starts
    sc, first = scenarios[0], batch.first
    check_base_case(sc)
    no_ev_kw = no_ev_slack_kw(sc)
    homes = _homes(sc, batch, no_ev_kw)
    net = first.feeder.net
    feeder = FeederStep(net, solver=sc.solver, net_key=f"{sc.feeder}|{sc.slack_vm_pu}|{id(net)}",
                        cp_bus_pos=first.cp_bus_pos, n_samples=batch.n_samples, unbalanced=first.unbalanced,
                        ev_cp=batch.fleet.cp, ev_phase_w=batch.phases.ev, dark_bus=batch.dark_bus)
    aggregator = None
    if homes.strategy.aggregator:
        aggregator = Aggregator(no_ev_kw=no_ev_kw, dt_s=first.dt_s, peak_target_kw=sc.peak_target_kw,
                                trafo_export_limit_kw=sc.trafo_export_limit_kw, n_samples=batch.n_samples)
    dimmer = None
    if homes.strategy.dso:
        dimmer = Dimmer(n_samples=batch.n_samples, dt_s=first.dt_s, trafo_limit_pct=sc.trafo_limit_pct,
                        v_min_pu=voltage_band(sc.band).v_min_pu)
    sizes = dict(ev=batch.n_ev, cp=batch.n_cp, bus=len(net.bus), line=len(net.line), trafo=len(net.trafo))
    rec = run_world(homes, feeder, aggregator, n_steps=first.n_steps, dt_s=first.dt_s, sizes=sizes,
                    progress=progress, label=sc.key, dimmer=dimmer)
    # each sample's recordings: contiguous views, laid out as in a run of its own (so sums round alike)
    return [run_result(s, batch.samples[k], {name: v[k] for name, v in rec.items()}, no_ev_kw)
            for k, s in enumerate(scenarios)]


def _homes(sc: Scenario, batch: Batch, no_ev_kw: np.ndarray) -> Homes:
    """The homes of all samples with the scenario's strategy; `v2g_optimal` plans each sample's fleet on
    the homes' net demand with their batteries as without EVs (the optimum's forecast)."""
    inp = batch.first
    hh = inp.households
    horizon = Horizon(fleet=batch.fleet, mobility=batch.mobility, levels=inp.levels, dt_h=inp.dt_s / 3600.0,
                      n_steps=inp.n_steps, standard_load_kw=inp.standard_load_kw, ev_offsets=batch.ev_offsets,
                      samples=tuple((r.fleet, r.mobility) for r in batch.samples), price_per_kwh=inp.price_per_kwh,
                      no_ev_kw=no_ev_kw, household_net_kw=hh.p_load_kw - hh.p_pv_kw + hh.p_battery_no_ev_kw)
    strategy = make_strategy(sc.strategy, horizon, sc)
    return Homes(households=hh, fleet=batch.fleet, mobility=batch.mobility, strategy=strategy, dt_h=horizon.dt_h,
                 n_samples=batch.n_samples, export_limit_kw=sc.export_limit_kw,
                 volt_var=VoltVarCurve() if sc.q_control == "volt_var" else None,
                 phases=batch.phases if inp.unbalanced else None,
                 critical_load_share=None if sc.outages is None else sc.outages.critical_load_share,
                 v2h_capable=batch.v2h_capable, telemetry=strategy.aggregator, dimming=strategy.dso)
