"""What a feeder needs, run by run and sample by sample: the reinforcement planner (`models/reinforcement.py`) on
the worst steps a run recorded.

A run's worst steps are its converged steps of highest transformer loading, lowest and highest bus voltage and
highest line loading, as the power drawn at each bus (`bus/p_mw`, `bus/q_mvar`). A study's worker keeps them in
the record of every run (`steps_table`), so the planner, its costs and the discount rate, and the buses'
headroom (`studies/headroom.py`) are post-processing: changing them runs no co-simulation again.

The planner holds the limits the run (or sample) breaks, and only those (`planner_limits`): a transformer that
breaks its criterion (loading or, with `trafo_criterion: thermal`, its IEC 60076-7 limits) is sized to carry the
worst step within `trafo_limit_pct`; a cable that breaks `line_limit_pct` gets parallel cables; a voltage
criterion that breaks (low or high) puts every worst step inside the band's limits (`models/limits.py`), which
for EN 50160's weekly statistic is the stricter, every-value reading. Every measure lowers the impedance between
the station and every bus, so a step that held keeps holding. A sample's plan (period `all`) holds the worst
steps of every period it breaks a limit in. What it cannot plan is reported as unsolved with its reason: a
power flow that did not converge (its step is not among the worst), voltage unbalance or an unbalanced run
(the planner solves balanced power flows), a bus that needs a new station (`ModelError`).

`hostcap run --reinforce` writes one run's plan: the reinforced feeder as pandapower JSON (`reinforced.json`,
the worst steps' loads in place and the steps themselves as `hostcap_steps_p_mw`/`hostcap_steps_q_mvar`) and
the measures (`reinforcement.csv`)."""
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.auxiliary import LoadflowNotConverged

from hostcap.models.errors import ModelError
from hostcap.models.limits import voltage_band
from hostcap.models.reinforcement import Costs, Limits, Measure, reinforce
from hostcap.studies.atomic import atomic_path, write_text

ALL_PERIODS = "all"  # the period of a sample's plan over all its periods
UNPLANNABLE = {"nonconverged": "a power flow did not converge", "unbalance": "voltage unbalance"}
MEASURE_COLUMNS = list(Measure.__dataclass_fields__)


def _per_step(a: np.ndarray, how) -> np.ndarray:
    """A per-step extreme over every other axis (buses, lines, phases)."""
    return how(a.reshape(len(a), -1), axis=1) if a.size else np.zeros(len(a))


def _voltages(series: dict) -> np.ndarray:
    """Bus voltages per step: balanced, or each phase's (steps x buses x phases) of an unbalanced run."""
    return series["vm_pu"] if "vm_pu" in series else series["vm_abc_pu"]


def worst_steps(series: dict) -> np.ndarray:
    """The run's worst converged steps (indices, ascending, without repeats)."""
    ok = np.flatnonzero(np.isfinite(series["p_slack_mw"]))
    if not len(ok):
        return ok
    vm = _voltages(series)[ok]
    picks = [np.nanargmax(_per_step(series["trafo_loading_pct"][ok], np.nanmax)),
             np.nanargmin(_per_step(vm, np.nanmin)), np.nanargmax(_per_step(vm, np.nanmax))]
    if series["line_loading_pct"].shape[1]:
        picks.append(np.nanargmax(_per_step(series["line_loading_pct"][ok], np.nanmax)))
    return np.unique(ok[picks])


SEVERITY = ("trafo_loading_pct", "vm_min_pu", "vm_max_pu", "line_loading_pct")  # per kept step, as it ran


def steps_table(series: dict) -> pd.DataFrame:
    """The worst steps as a run's record keeps them: index `step`, columns `p_mw:<i>` and `q_mvar:<i>` for the
    i-th bus of the feeder (its `net.bus` order; an unbalanced run's summed over the phases), and each step's
    highest transformer and line loading and lowest and highest voltage (`s:<name>`), by which a study picks a
    level's worst steps over its samples."""
    steps = worst_steps(series)
    n = series["p_bus_mw"].shape[1]
    vm = _voltages(series)[steps]
    severity = np.column_stack([_per_step(series["trafo_loading_pct"][steps], np.nanmax),
                                _per_step(vm, np.nanmin), _per_step(vm, np.nanmax),
                                _per_step(series["line_loading_pct"][steps], np.nanmax)])
    data = np.hstack([series["p_bus_mw"][steps], series["q_bus_mvar"][steps], severity])
    columns = [f"p_mw:{i}" for i in range(n)] + [f"q_mvar:{i}" for i in range(n)] + [f"s:{c}" for c in SEVERITY]
    return pd.DataFrame(data, index=pd.Index(steps, name="step"), columns=columns)


def steps_arrays(tables: list[pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """p_mw, q_mvar (steps x buses) of one or more runs' kept worst steps, stacked."""
    both = pd.concat(tables)
    return (both.filter(regex=r"^p_mw:").to_numpy(), both.filter(regex=r"^q_mvar:").to_numpy())


def planner_limits(band: str, line_limit_pct: float, trafo_limit_pct: float, broken: set[str]) -> Limits:
    """The limits the planner holds: those of the criteria broken (the module docstring), the others open."""
    b = voltage_band(band)
    return Limits(v_min_pu=b.v_min_pu if "undervoltage" in broken else -np.inf,
                  v_max_pu=b.v_max_pu if "overvoltage" in broken else np.inf,
                  line_loading_pct=line_limit_pct if "line_overload" in broken else np.inf,
                  trafo_loading_pct=trafo_limit_pct if "trafo_overload" in broken else np.inf)


def unplannable(broken: set[str], unbalanced: bool) -> str:
    """Why a plan cannot be made ('' if it can)."""
    why = [text for c, text in UNPLANNABLE.items() if c in broken]
    if unbalanced:
        why.append("an unbalanced run (the planner solves balanced power flows)")
    return "; ".join(why)


def plan(net: pp.pandapowerNet, p_mw: np.ndarray, q_mvar: np.ndarray, costs: Costs, limits: Limits
         ) -> tuple[pp.pandapowerNet | None, list[Measure], str]:
    """The reinforced feeder (with the steps kept in it), its measures and '', or (None, [], why) when the
    standard measures do not suffice or a step's power flow does not converge."""
    try:
        net, measures = reinforce(net, p_mw, q_mvar, costs, limits)
    except ModelError as exc:
        return None, [], str(exc)
    except LoadflowNotConverged:
        return None, [], "reinforcement: a worst step's power flow does not converge in pandapower (voltage collapse)"
    net["hostcap_steps_p_mw"] = pd.DataFrame(np.atleast_2d(p_mw))
    net["hostcap_steps_q_mvar"] = pd.DataFrame(np.atleast_2d(q_mvar))
    return net, measures, ""


def reinforce_run(result, costs: Costs, trafo_criterion: str) -> tuple[pp.pandapowerNet | None, list[Measure], str,
                                                                       np.ndarray]:
    """The plan of one run (a RunResult): reinforced feeder, measures, why unsolved ('' if solved), worst steps."""
    from hostcap.studies.hosting import violated_criteria

    s, sc = result.series, result.scenario
    broken = set(violated_criteria(result.metrics, trafo_criterion))
    steps = worst_steps(s)
    why = unplannable(broken, result.inputs.unbalanced)
    if why:
        return None, [], why, steps
    limits = planner_limits(sc.band, sc.line_limit_pct, sc.trafo_limit_pct, broken)
    net, measures, why = plan(result.inputs.feeder.net, s["p_bus_mw"][steps], s["q_bus_mvar"][steps], costs, limits)
    return net, measures, why, steps


def write_plan(net: pp.pandapowerNet | None, measures: list[Measure], out: Path) -> None:
    """reinforced.json (when there is a plan) and reinforcement.csv in `out`."""
    if net is not None:
        with atomic_path(out / "reinforced.json", suffix=".json") as tmp:
            pp.to_json(net, str(tmp))
    write_text(measures_frame(measures).to_csv(index=False), out / "reinforcement.csv")


def with_measure(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of plans (`reinforcement_measures.csv`) that build something (not `unsolved`, not nothing)."""
    return rows[rows["kind"].notna() & (rows["kind"] != "")]


def measures_frame(measures: list[Measure]) -> pd.DataFrame:
    return pd.DataFrame([asdict(m) for m in measures], columns=MEASURE_COLUMNS)
