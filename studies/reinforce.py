"""What one run's feeder needs (`hostcap run --reinforce`): the reinforcement planner (`models/reinforcement.py`)
on the run's worst steps, the steps of its highest transformer loading, lowest and highest bus voltage and
highest line loading (converged steps; the power drawn at each bus as the run recorded it, `bus/p_mw` and
`bus/q_mvar`), with the run's limits (its voltage criterion's band at every step). Writes the reinforced
feeder as pandapower JSON (`reinforced.json`, the worst steps' loads in place) and the measures
(`reinforcement.csv`)."""
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd

from hostcap.models.errors import InputError
from hostcap.models.limits import voltage_band
from hostcap.models.reinforcement import Costs, Limits, Measure, reinforce
from hostcap.studies.atomic import atomic_path, write_text


def worst_steps(series: dict) -> np.ndarray:
    """The run's worst converged steps (indices, ascending, without repeats)."""
    ok = np.flatnonzero(np.isfinite(series["p_slack_mw"]))
    if not len(ok):
        return ok
    picks = [np.nanargmax(series["trafo_loading_pct"][ok].max(axis=1)), np.nanargmin(series["vm_pu"][ok].min(axis=1)),
             np.nanargmax(series["vm_pu"][ok].max(axis=1))]
    if series["line_loading_pct"].shape[1]:
        picks.append(np.nanargmax(series["line_loading_pct"][ok].max(axis=1)))
    return np.unique(ok[picks])


def reinforce_run(result, costs: Costs) -> tuple[pp.pandapowerNet, list[Measure], np.ndarray]:
    """The reinforced feeder, its measures and the worst steps of a run (a RunResult)."""
    if result.inputs.unbalanced:
        raise InputError("reinforce: the planner solves balanced power flows; run with --phases balanced")
    s, sc = result.series, result.scenario
    steps = worst_steps(s)
    band = voltage_band(sc.band)
    limits = Limits(v_min_pu=band.v_min_pu, v_max_pu=band.v_max_pu, line_loading_pct=sc.line_limit_pct,
                    trafo_loading_pct=sc.trafo_limit_pct)
    net, measures = reinforce(result.inputs.feeder.net, s["p_bus_mw"][steps], s["q_bus_mvar"][steps], costs, limits)
    return net, measures, steps


def write_reinforcement(net: pp.pandapowerNet, measures: list[Measure], out: Path) -> None:
    with atomic_path(out / "reinforced.json", suffix=".json") as tmp:
        pp.to_json(net, str(tmp))
    columns = list(Measure.__dataclass_fields__)
    write_text(pd.DataFrame([asdict(m) for m in measures], columns=columns).to_csv(index=False),
               out / "reinforcement.csv")
