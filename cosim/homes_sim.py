"""Households and the EV fleet in one mosaik simulator, one entity each.

`Households` outputs net demand (load minus rooftop PV) `p_kw` and reactive demand `q_kvar` per connection
point. `Fleet` takes `vm_pu` per connection point (from the grid, time-shifted: the voltage of the previous
step) and outputs the EVs' `p_kw` per connection point. The fleet reads its households' own net demand
(used by v2h) inside the simulator: that is the home's own meter, not grid feedback.
Records every EV's power and stored energy, and the running unmet and driven energy.
"""
import numpy as np

from hostcap.cosim.base import PopulationSim, summed
from hostcap.models.fleet import depart, integrate, limit_power
from hostcap.models.strategies import Controller


class HomesSim(PopulationSim):
    MODELS = {"Households": ["p_kw", "q_kvar"], "Fleet": ["vm_pu", "p_kw"]}

    def setup(self):
        inp = self.inputs
        self.fleet, self.mob, self.households = inp.fleet, inp.mobility, inp.households
        self.n_cp = len(inp.feeder.connection_points)
        self.controller = Controller(self.scenario.strategy, self.fleet, self.mob, inp.levels, self.dt_h,
                                     self.scenario.curve())
        self.e_kwh = self.fleet.initial_e_kwh.copy()
        self.unmet_kwh = np.zeros(self.fleet.n)
        self.driven_kwh = np.zeros(self.fleet.n)
        self.record(ev_p_kw=self.fleet.n, ev_e_kwh=self.fleet.n)

    def step(self, time, inputs, max_advance):
        t, fleet, mob = time, self.fleet, self.mob
        vm_pu = summed(inputs.get("fleet", {}), "vm_pu", self.n_cp) if "fleet" in inputs else np.ones(self.n_cp)
        household_kw = self.households.net_p_kw(t)
        e, unmet, driven = depart(self.e_kwh, mob.departs[t], mob.trip_kwh[t], fleet.target_kwh)
        p = self.controller.setpoints(t, e, household_kw, vm_pu)
        p = limit_power(p, e, mob.plugged[t], fleet, self.dt_h)
        self.e_kwh, _, _ = integrate(e, p, fleet, self.dt_h)
        self.unmet_kwh += unmet
        self.driven_kwh += driven
        self.recording["ev_p_kw"][t] = p
        self.recording["ev_e_kwh"][t] = self.e_kwh
        self.outputs = {
            "households": {"p_kw": household_kw.tolist(), "q_kvar": self.households.q_kvar(t).tolist()},
            "fleet": {"p_kw": np.bincount(fleet.cp, weights=p, minlength=self.n_cp).tolist()},
        }
        return time + 1

    def finalize(self):
        self.recording["ev_unmet_kwh"] = self.unmet_kwh
        self.recording["ev_driven_kwh"] = self.driven_kwh
        super().finalize()
