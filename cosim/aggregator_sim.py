"""The `v2g_peak_shave` aggregator as its own mosaik simulator (one entity) around `models/aggregator.Aggregator`.

    Grid.Feeder --p_slack_kw--> Aggregator --fleet_lo_kw, fleet_hi_kw (time-shifted)--> Homes.Fleet
    Homes.Fleet --p_total_kw (as p_fleet_kw), due_kwh--> Aggregator

At the end of each step it reads what a real aggregator sees, the transformer's metered power and its
fleet's telemetry (power, the energy still needed, when the EVs leave), and sets the fleet's bounds for
the next step; the fleet turns the bounds into per-EV power (`models/aggregator.dispatch`). One time-shifted
connection closes the loop. Records the target and the fill level of each step. Each sample of a batch has
its own readings, bounds and fill level: the values crossing mosaik hold one entry per sample.
"""
from dataclasses import dataclass

import numpy as np

from hostcap.cosim.base import PopulationSim, summed


@dataclass
class _Recorded:
    peak_target_kw: np.ndarray
    fill_level_kw: np.ndarray


class AggregatorSim(PopulationSim):
    MODELS = {"Aggregator": ["p_slack_kw", "p_fleet_kw", "due_kwh", "fleet_lo_kw", "fleet_hi_kw"]}

    def step(self, time, inputs, max_advance):
        inp, agg = inputs.get("aggregator", {}), self.model
        lo, hi, fill = agg.step(time, summed(inp, "p_slack_kw"), summed(inp, "p_fleet_kw"), summed(inp, "due_kwh"))
        self.keep(time, _Recorded(np.full(self.n_samples, agg.target_kw[time]), fill))
        self.outputs = {"aggregator": {"fleet_lo_kw": lo, "fleet_hi_kw": hi}}
        return time + 1
