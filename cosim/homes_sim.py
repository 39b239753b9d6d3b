"""Households and the EV fleet in one mosaik simulator, one entity each.

`Households` outputs net demand (load minus rooftop PV) `p_kw` and reactive demand `q_kvar` per connection
point. `Fleet` takes `vm_pu` per connection point (from the grid, time-shifted: the voltage of the previous
step) and outputs the EVs' `p_kw` and `q_kvar` per connection point. The fleet reads its households' own net
demand (used by v2h and by the meter's export limit) inside the simulator: that is the home's own meter,
not grid feedback. With an export limit, EV discharge and then PV are cut at the meter
(`models/meter.py`); with volt-var, bidirectional chargers set their reactive power from the voltage the
grid reported for the previous step.
With outages the grid tells the fleet which connection points have supply (`energised`, time-shifted: the
grid sends each step's state at the end of the previous one). At a dark connection point nothing flows to
the grid; a V2H-capable, plugged-in EV islands its home and serves it (`models/outage.py`), any other EV
there idles.
PV home batteries (`models/battery.py`) work against each home's meter: its net demand with the EVs' power
of the step, before any PV curtailment for the export limit (the battery stores what it can first); they
idle while their home is dark. Their power is part of the households' output.
Under `v2g_peak_shave` the fleet also reports its telemetry to the aggregator: its total power and the
grid-side energy its plugged-in EVs still need to reach their targets, summed per hour of departure over the
next `DEADLINE_HOURS` (cumulative: what is due within 1, 2, ... hours). Records every EV's power, reactive
power and stored energy, curtailed PV, the home batteries' power and energy, and the running unmet and driven
energy.

All S samples of a batch step together (`cosim/base.py`): the EVs of all samples are one fleet whose
connection points run over S x n_cp, so each model below is one array operation over every EV of every
sample; the households, the same in every sample, are repeated per sample.
"""
import numpy as np

from hostcap.cosim.base import PopulationSim, summed
from hostcap.cosim.base_case import no_ev_slack_kw
from hostcap.models.aggregator import DEADLINE_HOURS, DEADLINE_LEAD_H
from hostcap.models.battery import self_consumption_kw, stored_kwh
from hostcap.models.fleet import depart, integrate, limit_power
from hostcap.models.meter import VoltVarCurve, curtail_pv, limit_ev_export
from hostcap.models.optimal import optimal_schedule
from hostcap.models.outage import island_fleet
from hostcap.models.strategies import Controller
from hostcap.models.wear import discharge_wear_cost


class HomesSim(PopulationSim):
    MODELS = {"Households": ["p_kw", "q_kvar", "p_abc_kw", "q_abc_kvar"],
              "Fleet": ["vm_pu", "fleet_lo_kw", "fleet_hi_kw", "p_kw", "q_kvar", "p_abc_kw", "q_abc_kvar",
                        "p_total_kw", "due_kwh", "energised"]}

    def setup(self):
        b, inp, sc = self.batch, self.inputs, self.scenario
        self.fleet, self.mob, self.households = b.fleet, b.mobility, inp.households
        self.n_cp = b.n_samples * b.n_cp  # connection points of all samples
        self.home_cp = b.home_cp
        schedule = None
        if sc.strategy == "v2g_optimal":  # each sample's fleet has its own programme
            hh = inp.households  # the homes' net demand with their batteries as without EVs (the optimum's forecast)
            hh_net = hh.p_load_kw - hh.p_pv_kw + hh.p_battery_no_ev_kw
            schedule = np.concatenate([optimal_schedule(
                r.fleet, r.mobility, other_kw=no_ev_slack_kw(sc),
                price=None if sc.tariff is None else inp.price_per_kwh, n_steps=inp.n_steps,
                dt_h=self.dt_h, trafo_export_limit_kw=sc.trafo_export_limit_kw, household_net_kw=hh_net[:, r.fleet.cp],
                export_limit_kw=sc.export_limit_kw, setpoint_h=sc.setpoint_h,
                wear_cost_per_kwh=discharge_wear_cost(sc.battery_wear)) for r in b.samples], axis=1)
        self.controller = Controller(sc.strategy, self.fleet, self.mob, inp.levels, self.dt_h, sc.curve(), schedule,
                                     sc.start_delay_max_s, inp.standard_load_kw, ev_offsets=b.ev_offsets)
        self.e_kwh = self.fleet.initial_e_kwh.copy()
        self.unmet_kwh = np.zeros(self.fleet.n)
        self.driven_kwh = np.zeros(self.fleet.n)
        self.export_limit_kw = sc.export_limit_kw
        self.volt_var = VoltVarCurve() if sc.q_control == "volt_var" else None
        self.telemetry = sc.strategy == "v2g_peak_shave"
        self.unbalanced = inp.unbalanced
        if self.unbalanced:  # where each device's power goes: connection point x phase, flat
            self.ev_at = (self.fleet.cp[:, None] * 3 + np.arange(3)).ravel()
        per_cp, per_ev = (b.n_cp,), (b.n_ev,)
        self.record(ev_p_kw=per_ev, ev_e_kwh=per_ev, ev_q_kvar=per_ev, pv_curtailed_kw=per_cp)
        bat = inp.households.batteries
        self.batteries = bat.tile(b.n_samples) if bat.present else None
        if self.batteries is not None:
            self.battery_e_kwh = self.batteries.e_initial_kwh.copy()
            self.record(battery_p_kw=per_cp, battery_e_kwh=per_cp)
        self.outages = sc.outages
        if self.outages is not None:
            self.record(powered=per_cp, islanded=per_cp, backup_served_kw=per_cp)
            self.after_outage = np.zeros(self.fleet.n, bool)  # the EV's home has been dark in this run
            self.trips_short = np.zeros(self.fleet.n)  # trips after that which the battery could not cover

    def step(self, time, inputs, max_advance):
        t, fleet, mob, b = time, self.fleet, self.mob, self.batch
        fin = inputs.get("fleet", {})
        vm_pu = summed(fin, "vm_pu")
        if vm_pu is None:
            vm_pu = np.ones(self.n_cp)
        household_kw = np.tile(self.households.net_p_kw(t), b.n_samples)
        # a shortfall counts where the car was plugged in before leaving: a driver who did not plug it in chose so
        e, unmet, driven = depart(self.e_kwh, mob.departs[t], mob.trip_kwh[t],
                                  np.where(mob.plugged[max(t - 1, 0)], fleet.target_kwh, 0.0))
        on = None
        if self.outages is not None:
            energised = summed(fin, "energised")
            on = energised > 0.5 if energised is not None else np.ones(self.n_cp, bool)
            self.trips_short += self.after_outage & mob.departs[t] & (driven < mob.trip_kwh[t] - 1e-9)
            self.after_outage |= ~on[fleet.cp]
        bounds = (summed(fin, "fleet_lo_kw"), summed(fin, "fleet_hi_kw")) if "fleet_hi_kw" in fin else None
        p = self.controller.setpoints(t, e, household_kw, vm_pu, bounds)
        p = limit_power(p, e, mob.plugged[t], fleet, self.dt_h)
        curtailed = np.zeros(self.n_cp)
        if self.export_limit_kw is not None:
            p = limit_ev_export(p, household_kw[fleet.cp], self.export_limit_kw)
        meter_kw = household_kw + np.bincount(fleet.cp, weights=p, minlength=self.n_cp)  # before battery and curtailing
        pv_kw = np.tile(self.households.p_pv_kw[t], b.n_samples)
        bat_kw = self._battery(t, meter_kw, pv_kw, on)
        if self.export_limit_kw is not None:
            curtailed = curtail_pv(meter_kw + bat_kw, pv_kw, self.export_limit_kw)
        q = (self.volt_var.q_kvar(vm_pu[fleet.cp], fleet.p_dis_max_kw * mob.plugged[t], p) if self.volt_var
             else np.zeros(fleet.n))
        p_grid, q_grid = p, q
        hh_p, hh_q = household_kw + curtailed + bat_kw, np.tile(self.households.q_kvar(t), b.n_samples)
        if on is not None:
            p = self._ride_through(t, on, e, p)
            dark_ev = ~on[fleet.cp]
            p_grid, q_grid = np.where(dark_ev, 0.0, p), np.where(dark_ev, 0.0, q)
            hh_p, hh_q = np.where(on, hh_p, 0.0), np.where(on, hh_q, 0.0)
        self.e_kwh, _, _ = integrate(e, p, fleet, self.dt_h)
        self.unmet_kwh += unmet
        self.driven_kwh += driven
        rec = self.recording
        per_ev, per_cp = (b.n_samples, b.n_ev), (b.n_samples, b.n_cp)
        rec["ev_p_kw"][:, t] = p.reshape(per_ev)
        rec["ev_q_kvar"][:, t] = q_grid.reshape(per_ev)
        rec["ev_e_kwh"][:, t] = self.e_kwh.reshape(per_ev)
        rec["pv_curtailed_kw"][:, t] = curtailed.reshape(per_cp)
        fleet_out, hh_out = {}, {}
        if self.unbalanced:
            w = b.phases
            load_kw = np.tile(self.households.p_load_kw[t], b.n_samples)  # hh_p = load_kw - pv_kw
            pv_kw = pv_kw - curtailed
            if on is not None:
                load_kw, pv_kw = np.where(on, load_kw, 0.0), np.where(on, pv_kw, 0.0)
            hh_out["p_abc_kw"] = ((load_kw + bat_kw)[:, None] * w.load - pv_kw[:, None] * w.pv).ravel()
            hh_out["q_abc_kvar"] = (hh_q[:, None] * w.load).ravel()
            n3 = 3 * self.n_cp
            fleet_out["p_abc_kw"] = np.bincount(self.ev_at, weights=(p_grid[:, None] * w.ev).ravel(), minlength=n3)
            fleet_out["q_abc_kvar"] = np.bincount(self.ev_at, weights=(q_grid[:, None] * w.ev).ravel(), minlength=n3)
        else:
            hh_out = {"p_kw": hh_p, "q_kvar": hh_q}
            fleet_out["p_kw"] = np.bincount(fleet.cp, weights=p_grid, minlength=self.n_cp)
            fleet_out["q_kvar"] = np.bincount(fleet.cp, weights=q_grid, minlength=self.n_cp)
        if self.telemetry:  # for the aggregator: the fleet's power, and the grid-side energy its plugged-in EVs
            # still need, summed per hour of departure (the last hour: all that leave later), cumulative
            need = np.maximum(fleet.target_kwh - self.e_kwh, 0.0) / fleet.eta_ch * mob.plugged[t + 1]
            steps = mob.next_departure_step[t + 1] - (t + 1)
            k = DEADLINE_HOURS
            hour = np.clip(np.ceil(steps * self.dt_h - DEADLINE_LEAD_H).astype(int), 1, k) - 1
            due = np.bincount(b.ev_sample * k + hour, weights=need, minlength=self.n_samples * k)
            fleet_out.update(p_total_kw=self._by_sample(p_grid),
                             due_kwh=np.cumsum(due.reshape(self.n_samples, k), axis=1).ravel())
        self.outputs = {"households": hh_out, "fleet": fleet_out}
        return time + 1

    def _battery(self, t: int, meter_kw: np.ndarray, pv_kw: np.ndarray, on: np.ndarray | None):
        """The home batteries' power (S x n_cp; 0 without batteries) against each meter's net demand with the
        EVs' power; idle at a dark connection point. Records power and stored energy."""
        if self.batteries is None:
            return 0.0
        p = self_consumption_kw(meter_kw=meter_kw, pv_kw=pv_kw, e_kwh=self.battery_e_kwh, bat=self.batteries,
                                dt_h=self.dt_h)
        if on is not None:
            p = np.where(on, p, 0.0)
        self.battery_e_kwh = stored_kwh(self.battery_e_kwh, p, self.batteries, self.dt_h)
        shape = (self.n_samples, self.batch.n_cp)
        self.recording["battery_p_kw"][:, t] = p.reshape(shape)
        self.recording["battery_e_kwh"][:, t] = self.battery_e_kwh.reshape(shape)
        return p

    def _by_sample(self, ev_values: np.ndarray) -> np.ndarray:
        """Sum of a per-EV value over each sample's EVs, (S,) (zeros, as floats, without EVs)."""
        return np.bincount(self.batch.ev_sample, weights=ev_values, minlength=self.n_samples).astype(float)

    def _ride_through(self, t: int, on: np.ndarray, e_kwh: np.ndarray, p_kw: np.ndarray) -> np.ndarray:
        """EV power with outages: at dark connection points islanding EVs serve their homes and the others
        idle. Records supply, islanding and the demand served per connection point."""
        fleet, hh, rec = self.fleet, self.households, self.recording
        dark_ev = ~on[fleet.cp]
        isl = dark_ev & self.mob.plugged[t] & self.batch.v2h_capable
        cp, home = fleet.cp[isl], self.home_cp[isl]
        p_isl, served = island_fleet(fleet, isl, demand_kw=self.outages.critical_load_share * hh.p_load_kw[t, home],
                                     pv_kw=hh.p_pv_kw[t, home], e_kwh=e_kwh[isl], dt_h=self.dt_h)
        p = np.where(dark_ev, 0.0, p_kw)
        p[isl] = p_isl
        shape = (self.n_samples, self.batch.n_cp)
        rec["powered"][:, t] = on.reshape(shape)
        rec["islanded"][:, t] = np.bincount(cp, minlength=self.n_cp).reshape(shape)
        rec["backup_served_kw"][:, t] = np.bincount(cp, weights=served, minlength=self.n_cp).reshape(shape)
        return p

    def finalize(self):
        per_ev = (self.n_samples, self.batch.n_ev)
        if self.outages is not None:
            self.recording["ev_trips_short_after_outage"] = self.trips_short.reshape(per_ev)
        self.recording["ev_unmet_kwh"] = self.unmet_kwh.reshape(per_ev)
        self.recording["ev_driven_kwh"] = self.driven_kwh.reshape(per_ev)
        super().finalize()
