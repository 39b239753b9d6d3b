"""The grid operator's §14a dimming as its own mosaik simulator (one entity) around `models/dimming.Dimmer`.

    Grid.Feeder --trafo_loading_max_pct, vm_min_pu--> Dso --dimmed (time-shifted)--> Homes.Fleet

At the end of each step it reads what the operator's grid-state estimation sees (the highest transformer
loading and the lowest voltage of each sample) and says which samples' next step is dimmed; the homes cap their
chargers and heat pumps in it. Records, per step, whether the step was dimmed.
"""
from dataclasses import dataclass

import numpy as np

from hostcap.cosim.base import PopulationSim, summed


@dataclass
class _Recorded:
    dimmed: np.ndarray


class DsoSim(PopulationSim):
    MODELS = {"Dso": ["trafo_loading_max_pct", "vm_min_pu", "dimmed"]}

    def step(self, time, inputs, max_advance):
        inp, dimmer = inputs.get("dso", {}), self.model
        self.keep(time, _Recorded(dimmer.active.astype(float)))  # what holds in this step
        active = dimmer.step(summed(inp, "trafo_loading_max_pct"), summed(inp, "vm_min_pu"))
        self.outputs = {"dso": {"dimmed": active.astype(float)}}
        return time + 1
