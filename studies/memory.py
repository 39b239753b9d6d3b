"""How many samples one Dask task may co-simulate at once: the memory model of a run, from the series it
records (`models/series.py`) and its trips."""
import numpy as np

from hostcap.models.series import bytes_per_step, recorded
from hostcap.models.strategies import STRATEGY_CLASSES
from hostcap.studies.scenario.inputs import build_inputs
from hostcap.studies.scenario.settings import Scenario
from hostcap.studies.spec import StudySpec

AUTO_MAX_SAMPLES = 16
AUTO_MEMORY_SHARE = 0.4
TRIP_BYTES_PER_EV_STEP = 26  # `Mobility`: two bools, two floats and an int64 per vehicle and step


def auto_samples_per_run(spec: StudySpec, worker_memory_bytes: float | None) -> int:
    """Samples per run such that a run's arrays fit in AUTO_MEMORY_SHARE of a worker's memory; at most
    AUTO_MAX_SAMPLES, at least 1. Per sample they are its recordings (every series the study's runs record,
    float64 per step, `models/series.recorded`) and its trips (`Mobility`), with as many EVs per connection
    point as the highest level places (two above 1), on the longest period of each feeder. The share leaves
    room for the previous run's trips while the next is built and for the process itself: on a year of the
    default feeder at S = 10, 0.40 GB per sample measured against 0.49 GB estimated."""
    if worker_memory_bytes is None:
        return AUTO_MAX_SAMPLES
    per_sample = 0.0
    aggregator = any(STRATEGY_CLASSES[s].aggregator for s in spec.strategies)
    dimming = any(STRATEGY_CLASSES[s].dso for s in spec.strategies)
    evs_per_cp = int(np.ceil(max(spec.levels)))
    for entry in spec.feeders:
        period = max(spec.periods_of(entry), key=lambda p: p.days)
        inp = build_inputs(Scenario(feeder=entry.ref, profiles=entry.profiles, start=period.start, days=period.days,
                                    step_min=spec.step_min, penetration=0.0, phases=spec.phases))
        net, n_cp = inp.feeder.net, len(inp.cp_bus_pos)
        n_ev = max(evs_per_cp, 1) * n_cp
        sizes = dict(ev=n_ev, cp=n_cp, bus=len(net.bus), line=len(net.line), trafo=len(net.trafo))
        series = recorded(unbalanced=inp.unbalanced, batteries=inp.households.batteries.present,
                          outages=spec.outages is not None, aggregator=aggregator, dimming=dimming)
        per_sample = max(per_sample, inp.n_steps * (bytes_per_step(series, sizes) + n_ev * TRIP_BYTES_PER_EV_STEP))
    fit = int(AUTO_MEMORY_SHARE * worker_memory_bytes // per_sample)
    return max(1, min(AUTO_MAX_SAMPLES, fit))
