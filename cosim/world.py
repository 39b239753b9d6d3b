"""Build the mosaik world of one scenario and run it: `run_scenario(Scenario) -> RunResult`.

    Households --p_kw,q_kvar--> Feeder (grid) --vm_cp_pu (time-shifted)--> Fleet --p_kw--> Feeder
    Households --p_kw as household_kw--> Fleet;  Feeder, Fleet --> Collector

Four in-process simulators with one entity each, so mosaik's per-connection overhead stays constant
whatever the number of vehicles and households.
"""
import uuid
from dataclasses import dataclass

import mosaik
import numpy as np
import pandas as pd

from hostcap.cosim.collector_sim import RECORDINGS
from hostcap.cosim.scenario import Inputs, Scenario, build_inputs
from hostcap.models.limits import voltage_band
from hostcap.models.metrics import run_metrics

SIM_CONFIG = {
    "Households": {"python": "hostcap.cosim.household_sim:HouseholdSim"},
    "Fleet": {"python": "hostcap.cosim.fleet_sim:FleetSim"},
    "Grid": {"python": "hostcap.cosim.grid_sim:GridSim"},
    "Collector": {"python": "hostcap.cosim.collector_sim:CollectorSim"},
}
GRID_OUT = ["vm_pu", "line_loading_pct", "trafo_loading_pct", "p_bus_mw", "q_bus_mvar", "p_slack_mw",
            "q_slack_mvar", "converged"]


@dataclass
class RunResult:
    scenario: Scenario
    inputs: Inputs
    metrics: dict
    series: dict  # name -> array (steps x elements) or (steps,)
    totals: dict  # unmet_kwh, driven_kwh

    def vehicles(self) -> pd.DataFrame:
        """One row per EV: its bus, connection point and parameters."""
        f = self.inputs.fleet
        cps = self.inputs.feeder.connection_points
        return pd.DataFrame({
            "vehicle": f.vehicle_id, "cp": f.cp, "bus": cps["bus"].to_numpy()[f.cp],
            "capacity_kwh": f.capacity_kwh, "p_ch_max_kw": f.p_ch_max_kw, "p_dis_max_kw": f.p_dis_max_kw,
            "bidirectional": f.bidirectional, "eta_ch": f.eta_ch, "eta_dis": f.eta_dis,
            "reserve_kwh": f.reserve_kwh, "target_kwh": f.target_kwh, "initial_e_kwh": f.initial_e_kwh,
        }).set_index("vehicle")


def run_scenario(scenario: Scenario, *, progress: bool = False) -> RunResult:
    inputs = build_inputs(scenario)  # validates everything before mosaik starts
    n_cp = len(inputs.feeder.connection_points)
    token = uuid.uuid4().hex
    sc = scenario.model_dump_json()
    world = mosaik.World(SIM_CONFIG, time_resolution=inputs.dt_s, skip_greetings=True,
                         configure_logging=False)
    households = world.start("Households", scenario=sc).Households()
    fleet = world.start("Fleet", scenario=sc).Fleet()
    grid = world.start("Grid", scenario=sc).Feeder()
    collector = world.start("Collector", scenario=sc, token=token, progress=progress).Collector()
    world.connect(households, grid, "p_kw", "q_kvar")
    world.connect(households, fleet, ("p_kw", "household_kw"))
    world.connect(fleet, grid, "p_kw")
    world.connect(grid, fleet, ("vm_cp_pu", "vm_pu"), time_shifted=True,
                  initial_data={"vm_cp_pu": [1.0] * n_cp})
    world.connect(grid, collector, *GRID_OUT)
    world.connect(fleet, collector, "ev_p_kw", "ev_e_kwh", "unmet_kwh", "driven_kwh")
    world.run(until=inputs.n_steps, print_progress=False)
    rec = RECORDINGS.pop(token)
    totals = {"unmet_kwh": rec.pop("unmet_kwh"), "driven_kwh": rec.pop("driven_kwh")}
    rec["converged"] = rec["converged"].astype(bool)
    metrics = run_metrics(
        vm_pu=rec["vm_pu"], line_loading_pct=rec["line_loading_pct"], trafo_loading_pct=rec["trafo_loading_pct"],
        p_slack_mw=rec["p_slack_mw"], p_bus_mw=rec["p_bus_mw"], ev_p_kw=rec["ev_p_kw"],
        ev_unmet_kwh=totals["unmet_kwh"], dt_h=inputs.dt_s / 3600.0, band=voltage_band(scenario.band),
        line_limit_pct=scenario.line_limit_pct, trafo_limit_pct=scenario.trafo_limit_pct)
    metrics["n_ev"] = int(inputs.fleet.n)
    metrics["n_bidirectional"] = int(inputs.fleet.bidirectional.sum())
    return RunResult(scenario, inputs, metrics, rec, totals)
