"""A study's reinforcement plans (`reinforcement:` in the study file; the planner's rules: `studies/reinforce.py`).

A plan is made per run that breaks a limit, from its kept worst steps, and, in a study of several periods, per
sample over every period it breaks a limit in (period `all`): what must be built so that the sample holds in
every season. Plans of the same steps and limits are made once. They run on the study's Dask cluster when it
has one, else one after another: a plan is a few pandapower power flows per measure (about 0.1 s each on a
130-bus feeder), and only runs that break a limit need one.

`plan_rows` gives one row per plan and measure (`reinforcement_measures.csv`): the sample's coordinates, the
period, `status` (`planned` or `unsolved`, with the reason in `detail`), the measure's kind, element, detail,
length and cost; a plan that needs nothing on its worst steps has one row with no kind and cost 0.
`write_reinforced` writes the reinforced feeder a planner would build per feeder, variant and level (the
sample at the study's confidence, `studies/flexibility.py`) as pandapower JSON with its worst steps."""
from dataclasses import asdict, dataclass

import numpy as np
import pandapower as pp
import pandas as pd

from hostcap.feeders import load_feeder
from hostcap.models.reinforcement import Costs, Limits
from hostcap.studies.atomic import atomic_path
from hostcap.studies.cost_file import load_costs
from hostcap.studies.gis import level_tag, variant_columns, variant_names
from hostcap.studies.hosting import criteria, group_of
from hostcap.studies.layout import feeder_slug
from hostcap.studies.reinforce import (
    ALL_PERIODS,
    MEASURE_COLUMNS,
    plan,
    planner_limits,
    steps_arrays,
    unplannable,
)
from hostcap.studies.spec import FeederEntry, StudySpec


def site_density(feeder: FeederEntry, setting: str) -> str:
    """The cable cost a feeder's site takes (`reinforcement.density`): auto is urban for a SimBench semiurb or
    urban feeder, rural for any other."""
    if setting != "auto":
        return setting
    code = feeder.ref.removeprefix("simbench:") if feeder.ref.startswith("simbench:") else ""
    return "urban" if "urb" in code else "rural"


def feeder_costs(spec: StudySpec) -> dict[str, Costs]:
    """Feeder name -> the planner's costs (the study's cost file at the feeder's site density)."""
    r = spec.reinforcement
    return {f.name: load_costs(r.cost_file, site_density(f, r.density)) for f in spec.feeders}


def sample_columns(runs: pd.DataFrame) -> list[str]:
    """What names a sample: its feeder, variant, level and sample number."""
    return [*group_of(runs), "penetration", "sample"]


@dataclass(frozen=True)
class Unit:
    """One plan: a run (its period) or a sample over its periods (ALL_PERIODS)."""

    coords: tuple  # sample_columns' values
    period: str
    feeder: str
    keys: tuple[str, ...]  # the runs whose worst steps it holds
    broken: frozenset[str]
    unbalanced: bool


def units(spec: StudySpec, runs: pd.DataFrame) -> list[Unit]:
    """The plans a study's runs need: one per run that breaks a limit, and in a study of several periods one per
    such sample over its periods."""
    ok = runs[runs["status"] == "ok"]
    crit = criteria(spec.trafo_criterion)
    broken = [frozenset(c for c, m in crit.items() if row[m] > 0) for _, row in ok[list(crit.values())].iterrows()]
    ok = ok.assign(broken=broken)
    ok = ok[ok["broken"].map(bool)]
    cols = sample_columns(runs)
    out = []
    for coords, g in ok.groupby(cols, sort=True):
        feeder = g["feeder"].iloc[0]
        for row in g.itertuples(index=False):
            out.append(Unit(coords, row.period, feeder, (row.key,), row.broken, bool(row.unbalanced)))
        if len(spec.period_names) > 1:
            out.append(Unit(coords, ALL_PERIODS, feeder, tuple(g["key"]), frozenset().union(*g["broken"]),
                            bool(g["unbalanced"].any())))
    return out


def _plan_job(ref: str, profiles: str | None, p_mw: np.ndarray, q_mvar: np.ndarray, costs: Costs,
              limits: Limits) -> tuple[list[dict], str]:
    """A Dask task: the measures of one plan (as dicts) and why it is unsolved ('')."""
    _, measures, why = plan(load_feeder(ref, profiles).net, p_mw, q_mvar, costs, limits)
    return [asdict(m) for m in measures], why


def _job(spec: StudySpec, unit: Unit, steps_of, costs: dict[str, Costs]) -> tuple | str:
    """The planner's arguments for a unit, or why it cannot be planned."""
    why = unplannable(unit.broken, unit.unbalanced)
    tables = [steps_of(k) for k in unit.keys]
    if not why and any(t is None for t in tables):
        why = "the record kept no worst steps (run the study again)"
    if why:
        return why
    feeder = spec.feeder(unit.feeder)
    p, q = steps_arrays(tables)
    limits = planner_limits(spec.band, spec.line_limit_pct, spec.trafo_limit_pct, set(unit.broken))
    return feeder.ref, feeder.profiles, p, q, costs[unit.feeder], limits


def _signature(job: tuple) -> tuple:
    ref, profiles, p, q, costs, limits = job
    return ref, profiles, p.tobytes(), q.tobytes(), costs, limits


def plan_rows(spec: StudySpec, runs: pd.DataFrame, steps_of, client=None) -> pd.DataFrame:
    """One row per plan and measure (the module docstring). `steps_of(key)`: a run's kept worst steps (None if
    it kept none); `client`: a callable giving the study's Dask client to plan on, or None to plan here."""
    todo = units(spec, runs)
    costs = feeder_costs(spec) if todo else {}
    jobs = [_job(spec, u, steps_of, costs) for u in todo]
    distinct: dict[tuple, int] = {}  # the same steps and limits are planned once
    args = []
    for job in jobs:
        if not isinstance(job, str):
            sig = _signature(job)
            if sig not in distinct:
                distinct[sig] = len(args)
                args.append(job)
    if client is not None and args:
        dask = client()
        results = dask.gather(dask.map(_plan_job, *zip(*args), pure=False))
    else:
        results = [_plan_job(*a) for a in args]
    cols = sample_columns(runs)
    rows = []
    for unit, job in zip(todo, jobs):
        base = {**dict(zip(cols, unit.coords)), "period": unit.period, "criteria": ";".join(sorted(unit.broken))}
        if isinstance(job, str):
            rows.append({**base, "status": "unsolved", "detail": job, "cost_eur": np.nan})
            continue
        measures, why = results[distinct[_signature(job)]]
        if why:
            rows.append({**base, "status": "unsolved", "detail": why, "cost_eur": np.nan})
        elif not measures:
            rows.append({**base, "status": "planned", "detail": "nothing needed on the worst steps", "cost_eur": 0.0})
        rows += [{**base, "status": "planned", **m} for m in measures]
    out = pd.DataFrame(rows, columns=[*cols, "period", "criteria", "status", *MEASURE_COLUMNS])
    return out.astype({"length_km": float, "cost_eur": float})


def write_reinforced(spec: StudySpec, paths, designs: pd.DataFrame, runs: pd.DataFrame, steps_of) -> list:
    """The reinforced feeder of each design sample (`designs`: rows with sample_columns and `period`), planned
    again and written as pandapower JSON with its worst steps under `paths.reinforced` (a StudyPaths). Returns
    the paths written."""
    if designs.empty:
        return []
    costs = feeder_costs(spec)
    by_unit = {(u.coords, u.period): u for u in units(spec, runs)}
    cols = sample_columns(runs)
    names = variant_names(designs)
    written = []
    for _, row in designs.iterrows():
        job = _job(spec, by_unit[(tuple(row[c] for c in cols), row["period"])], steps_of, costs)
        if isinstance(job, str):
            continue
        net, _, why = plan(load_feeder(job[0], job[1]).net, *job[2:])
        if why:
            continue
        path = paths.reinforced_net(feeder_slug(row["feeder"]), names[tuple(row[variant_columns(designs)])],
                                    row["period"], level_tag(row["penetration"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".json") as tmp:
            pp.to_json(net, str(tmp))
        written.append(path)
    return written
