"""Households and the EV fleet in one mosaik simulator, one entity each, around the home step
(`models/home.Homes`: households, PV, home batteries, EVs and their strategy of all S samples).

`Households` outputs the homes' net demand (load minus rooftop PV, with their batteries) `p_kw` and reactive
demand `q_kvar` per connection point. `Fleet` takes `vm_pu` per connection point (from the grid,
time-shifted: the voltage of the previous step) and outputs the EVs' `p_kw` and `q_kvar` per connection point
(three-phase runs: `p_abc_kw`, `q_abc_kvar` per connection point and phase, for both). With outages the grid
tells the fleet which connection points have supply (`energised`, time-shifted: the grid sends each step's
state at the end of the previous one). Under `v2g_peak_shave` the fleet takes the aggregator's bounds
(`fleet_lo_kw`, `fleet_hi_kw`) and reports its telemetry (`p_total_kw`, `due_kwh`). Under `dimming_14a` the
fleet takes the grid operator's `dimmed` per sample (time-shifted), which caps the chargers and the heat pumps.
Records the homes' series (`models/series.py`).
"""
import numpy as np

from hostcap.cosim.base import PopulationSim, summed


class HomesSim(PopulationSim):
    MODELS = {"Households": ["p_kw", "q_kvar", "p_abc_kw", "q_abc_kvar"],
              "Fleet": ["vm_pu", "fleet_lo_kw", "fleet_hi_kw", "p_kw", "q_kvar", "p_abc_kw", "q_abc_kvar",
                        "p_total_kw", "due_kwh", "energised", "dimmed"]}

    def step(self, time, inputs, max_advance):
        fin = inputs.get("fleet", {})
        energised = summed(fin, "energised")
        bounds = (summed(fin, "fleet_lo_kw"), summed(fin, "fleet_hi_kw")) if "fleet_hi_kw" in fin else None
        homes = self.model
        on = None
        if homes.critical_load_share is not None:  # a run with outages: supply as the grid reports it
            on = energised > 0.5 if energised is not None else np.ones(homes.n_cp, bool)
        dimmed = summed(fin, "dimmed")
        s = homes.step(time, vm_pu=summed(fin, "vm_pu"), on=on, fleet_bounds_kw=bounds,
                       dimmed=None if dimmed is None else dimmed > 0.5)
        self.keep(time, s)
        p, q = ("p_kw", "q_kvar") if homes.phases is None else ("p_abc_kw", "q_abc_kvar")
        fleet_out = {p: s.fleet_p_kw, q: s.fleet_q_kvar}
        if s.p_total_kw is not None:
            fleet_out.update(p_total_kw=s.p_total_kw, due_kwh=s.due_kwh)
        self.outputs = {"households": {p: s.household_p_kw, q: s.household_q_kvar}, "fleet": fleet_out}
        return time + 1

    def finalize(self):
        homes, rec = self.model, self.recording
        shape = rec["ev_unmet_kwh"].shape
        rec["ev_unmet_kwh"][:] = homes.unmet_kwh.reshape(shape)
        rec["ev_driven_kwh"][:] = homes.driven_kwh.reshape(shape)
        if "ev_trips_short_after_outage" in rec:
            rec["ev_trips_short_after_outage"][:] = homes.trips_short.reshape(shape)
        if "ev_dimmed_kwh" in rec:
            rec["ev_dimmed_kwh"][:] = homes.ev_dimmed_kwh.reshape(shape)
        super().finalize()
