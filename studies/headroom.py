"""A study's per-node headroom (`headroom.parquet`): for every LV bus, per feeder, variant and level, the extra load
and the extra generation it can take before a limit breaks (`models/headroom.py`), on every worst step the
level's runs kept, over all its samples and periods (each run keeps its steps of highest transformer loading,
lowest and highest voltage and highest line loading: `studies/reinforce.steps_table`). So the headroom holds in
every worst moment of every sample that the study recorded: "can a 22 kW wallbox, a 50 kW charger or 10 kW of V2G
export connect here, with this many EVs charging this way?". It is an upper bound where a bus's own service cable
binds: that cable may peak when its own home charges, a moment no feeder-wide extreme picks. The limits are the
study's: its voltage band's limits on every value (`models/limits.py`; not EN 50160's weekly 95 % statistic,
which the hosting capacity uses), `line_limit_pct`, `trafo_limit_pct`. Balanced power flow (an unbalanced
study's steps are summed over the phases).

Columns: the variant's and level's (with a pathway `year`), `bus` (the net's index), `station` (the
transformer's LV bus: the substation's headroom), `load_headroom_kw`,
`gen_headroom_kw` (0 where the bus breaks a limit already; at most `models.headroom.MAX_KW`), `load_limit`,
`gen_limit` (what breaks first). The jobs run on the study's Dask cluster when it has one."""
import numpy as np
import pandas as pd

from hostcap.feeders import load_feeder
from hostcap.feeders.powerflow import FastSolver
from hostcap.models.headroom import bus_headroom
from hostcap.models.limits import voltage_band
from hostcap.models.reinforcement import Limits
from hostcap.studies.hosting import group_of
from hostcap.studies.reinforce import steps_arrays
from hostcap.studies.spec import StudySpec

COLUMNS = ["bus", "station", "load_headroom_kw", "gen_headroom_kw", "load_limit", "gen_limit"]


def level_steps(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Every kept step of a level's runs, each distinct one once. (Only the level's most severe step by each
    measure was not enough: a service cable can peak at another run's step; an independent review found buses
    breaking a limit at 99 % of their headroom that way.)"""
    return pd.concat(tables, ignore_index=True).drop_duplicates()


def _headroom_job(ref: str, profiles: str | None, p_mw: np.ndarray, q_mvar: np.ndarray, limits: Limits) -> dict:
    """A Dask task: the headroom of every LV bus of a feeder on the steps."""
    net = load_feeder(ref, profiles).net
    lv = np.flatnonzero(net.bus["vn_kv"].to_numpy() < 1.0)
    names = (net.bus.index.to_numpy(), net.line.index.to_numpy(), net.trafo.index.to_numpy())
    solver = FastSolver(net)
    load = bus_headroom(solver, p_mw, q_mvar, lv, limits, names=names)
    gen = bus_headroom(solver.fresh(), p_mw, q_mvar, lv, limits, generation=True, names=names)
    bus = net.bus.index.to_numpy()[lv]
    return {"bus": bus, "station": np.isin(bus, net.trafo["lv_bus"].to_numpy()), "load_headroom_kw": load.kw,
            "gen_headroom_kw": gen.kw, "load_limit": load.limit, "gen_limit": gen.limit}


def headroom_table(spec: StudySpec, runs: pd.DataFrame, steps_of, client=None) -> pd.DataFrame:
    """headroom.parquet (the module docstring). `steps_of(key)`: a run's kept steps; `client`: a callable
    giving the study's Dask client, or None to compute here."""
    ok = runs[runs["status"] == "ok"]
    keys = [*group_of(runs), "penetration"]
    band = voltage_band(spec.band)
    limits = Limits(band.v_min_pu, band.v_max_pu, spec.line_limit_pct, spec.trafo_limit_pct)
    jobs, coords = [], []
    for key, g in ok.groupby(keys, sort=True):
        tables = [t for t in (steps_of(k) for k in g["key"]) if t is not None]
        if not tables:
            continue
        p, q = steps_arrays([level_steps(tables)])
        feeder = spec.feeder(g["feeder"].iloc[0])
        jobs.append((feeder.ref, feeder.profiles, p, q, limits))
        coords.append(dict(zip(keys, key)))
    if client is not None and jobs:
        dask = client()
        results = dask.gather(dask.map(_headroom_job, *zip(*jobs), pure=False))
    else:
        results = [_headroom_job(*j) for j in jobs]
    parts = [pd.DataFrame(r).assign(**c) for r, c in zip(results, coords)]
    if not parts:
        return pd.DataFrame(columns=[*keys, *COLUMNS])
    out = pd.concat(parts, ignore_index=True)[[*keys, *COLUMNS]]
    if spec.pathway is not None:
        out.insert(len(keys), "year", out["penetration"].map(spec.level_years).astype("Int64"))
    return out
