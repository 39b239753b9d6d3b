"""The mosaik world of one run of S Monte Carlo samples: `run_world()` wires the simulators around the
run's model objects, steps them and returns their recordings.

    Homes.Households --p_kw, q_kvar--> Grid.Feeder
    Homes.Fleet      --p_kw, q_kvar--> Grid.Feeder --vm_cp_pu (time-shifted, as vm_pu)--> Homes.Fleet

(three-phase runs: p_abc_kw, q_abc_kvar per connection point and phase instead).

Two in-process simulators with three entities in all, whatever the number of vehicles, households and
samples: mosaik's scheduling costs about 0.1 ms per simulator and step, more than the power flow itself, so
the samples of one feeder, period, strategy and level share one world, one exchange per step and one power
flow call (`cosim/base.py`); each sample's numbers are the same as in a run of its own (tests check it). With
an aggregator (`v2g_peak_shave`) a third simulator (`cosim/aggregator_sim.py`) reads the transformer and
bounds the fleet's power; under `dimming_14a` the grid operator's simulator (`cosim/dso_sim.py`) reads the
transformer and the lowest voltage and dims the homes' chargers and heat pumps; with outages the grid tells the
homes which connection points have supply. The
world runs with `lazy_stepping=False`: a simulator may step ahead of its successors where the data flow
allows, which changes no value (time-shifted inputs still arrive a step late) and saved about 7 % per step.
"""
import uuid

import mosaik
import numpy as np
from mosaik.exceptions import NonSerializableOutputsError

from hostcap.cosim.base import RECORDINGS
from hostcap.feeders.powerflow.feeder_step import FeederStep
from hostcap.models.aggregator import Aggregator
from hostcap.models.dimming import Dimmer
from hostcap.models.home import Homes
from hostcap.models.series import recorded

SIM_CONFIG = {
    "Homes": {"python": "hostcap.cosim.homes_sim:HomesSim"},
    "Grid": {"python": "hostcap.cosim.grid_sim:GridSim"},
    "Aggregator": {"python": "hostcap.cosim.aggregator_sim:AggregatorSim"},
    "Dso": {"python": "hostcap.cosim.dso_sim:DsoSim"},
}


def run_world(homes: Homes, feeder: FeederStep, aggregator: Aggregator | None, *, n_steps: int, dt_s: float,
              sizes: dict[str, int], progress: bool = False, label: str = "",
              dimmer: Dimmer | None = None) -> dict[str, np.ndarray]:
    """Step the homes, the feeder, the aggregator and the grid operator's dimmer (None: none) through n_steps
    steps of dt_s seconds in one mosaik world; the recordings by series name (S x steps x shape,
    `models/series.py`). sizes: the element counts of one sample (ev, cp, bus, line, trafo)."""
    outages = homes.critical_load_share is not None
    flags = dict(unbalanced=feeder.unbalanced, batteries=homes.batteries is not None, outages=outages,
                 aggregator=aggregator is not None, dimming=dimmer is not None)
    token = uuid.uuid4().hex
    common = dict(sizes=sizes, n_samples=homes.n_samples, n_steps=n_steps, token=token)
    world = mosaik.World(SIM_CONFIG, time_resolution=dt_s, skip_greetings=True, configure_logging=False)
    sim = world.start("Homes", model=homes, series=tuple(recorded("homes", **flags)), **common)
    households, fleet = sim.Households(), sim.Fleet()
    grid = world.start("Grid", model=feeder, series=tuple(recorded("grid", **flags)), progress=progress, label=label,
                       **common).Feeder()
    power = ("p_abc_kw", "q_abc_kvar") if feeder.unbalanced else ("p_kw", "q_kvar")
    world.connect(households, grid, *power)
    world.connect(fleet, grid, *power)
    world.connect(grid, fleet, ("vm_cp_pu", "vm_pu"), time_shifted=True, initial_data={"vm_cp_pu": np.ones(homes.n_cp)})
    if outages:
        world.connect(grid, fleet, "energised", time_shifted=True, initial_data={"energised": feeder.energised(0)})
    if aggregator is not None:
        agg = world.start("Aggregator", model=aggregator, series=tuple(recorded("aggregator", **flags)),
                          **common).Aggregator()
        world.connect(grid, agg, "p_slack_kw")
        world.connect(fleet, agg, ("p_total_kw", "p_fleet_kw"), "due_kwh")
        lo, hi = aggregator.first_bounds_kw()
        world.connect(agg, fleet, "fleet_lo_kw", "fleet_hi_kw", time_shifted=True,
                      initial_data={"fleet_lo_kw": lo, "fleet_hi_kw": hi})
    if dimmer is not None:
        dso = world.start("Dso", model=dimmer, series=tuple(recorded("dso", **flags)), **common).Dso()
        world.connect(grid, dso, "trafo_loading_max_pct", "vm_min_pu")
        world.connect(dso, fleet, "dimmed", time_shifted=True, initial_data={"dimmed": np.zeros(homes.n_samples)})
    try:
        world.run(until=n_steps, print_progress=False, lazy_stepping=False)
    except NonSerializableOutputsError as exc:
        # mosaik takes any TypeError inside a step for unserialisable inputs (ours are arrays, by design):
        # the simulator's own error is the one to report
        raise (exc.__context__ or exc) from None
    finally:
        rec = RECORDINGS.pop(token, None)
    return rec
