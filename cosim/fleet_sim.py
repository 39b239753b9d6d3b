"""The EV fleet as one mosaik entity: all vehicles' set-points, limits and state of charge per step.

Inputs: `vm_pu` per connection point (from the grid, time-shifted: the voltage of the previous step) and
`household_kw`, each household's own net demand (from the households, same step; used by v2h).
Outputs: `p_kw` per connection point (the grid's input), and per vehicle `ev_p_kw`, `ev_e_kwh`, plus the
running totals `unmet_kwh` and `driven_kwh`.
"""
import numpy as np

from hostcap.cosim.base import PopulationSim, summed
from hostcap.models.fleet import depart, integrate, limit_power
from hostcap.models.strategies import Controller


class FleetSim(PopulationSim):
    MODEL = "Fleet"
    ATTRS = ["vm_pu", "household_kw", "p_kw", "ev_p_kw", "ev_e_kwh", "unmet_kwh", "driven_kwh"]

    def setup(self):
        inp = self.inputs
        self.fleet, self.mob = inp.fleet, inp.mobility
        self.n_cp = len(inp.feeder.connection_points)
        self.controller = Controller(self.scenario.strategy, self.fleet, self.mob, inp.levels, self.dt_h,
                                     self.scenario.curve())
        self.e_kwh = self.fleet.initial_e_kwh.copy()
        self.unmet_kwh = 0.0
        self.driven_kwh = 0.0

    def step(self, time, inputs, max_advance):
        inp = inputs.get(self.eid, {})
        vm_pu = summed(inp, "vm_pu", self.n_cp) if "vm_pu" in inp else np.ones(self.n_cp)
        household_kw = summed(inp, "household_kw", self.n_cp)
        fleet, mob, t = self.fleet, self.mob, time
        e, unmet, driven = depart(self.e_kwh, mob.departs[t], mob.trip_kwh[t], fleet.target_kwh)
        p = self.controller.setpoints(t, e, household_kw, vm_pu)
        p = limit_power(p, e, mob.plugged[t], fleet, self.dt_h)
        self.e_kwh, _, _ = integrate(e, p, fleet, self.dt_h)
        self.unmet_kwh += float(unmet.sum())
        self.driven_kwh += float(driven.sum())
        self.outputs = {
            "p_kw": np.bincount(fleet.cp, weights=p, minlength=self.n_cp).tolist(),
            "ev_p_kw": p.tolist(),
            "ev_e_kwh": self.e_kwh.tolist(),
            "unmet_kwh": self.unmet_kwh,
            "driven_kwh": self.driven_kwh,
        }
        return time + 1
