"""The home step: one step of every home of S Monte Carlo samples at once: households (load, rooftop PV),
PV home batteries, the EV fleet and its charging strategy, behind each home's meter.

The one place a home's step is written: the co-simulation's homes simulator (`cosim/homes_sim.py`) calls it
every step with what the grid reported, the counterfactual of the same cars charged `uncontrolled`
(`uncontrolled_counterfactual`) calls it with the run's supply, and `v2g_optimal`'s programme is played
back through it (its strategy returns the schedule).

A step, in order:
1. EVs that leave take their trip's energy (`fleet.depart`); a shortfall against the target counts where the
   car was plugged in before leaving (a driver who did not plug it in chose so).
2. The strategy's set-points (`models/strategies.py`), cut to the chargers' ratings and the batteries' room
   (`fleet.limit_power`) and, with an export limit, EV discharge cut at the meter (`models/meter.py`).
3. The home batteries work against each meter's net demand with the EVs' power (`models/battery.py`; they
   store what they can before any PV is curtailed), then PV is curtailed to the export limit.
4. With volt-var, bidirectional chargers set their reactive power from the voltage the grid reported for
   the previous step (IEEE 1547-2018 Cat. B, `meter.VoltVarCurve`).
5. With outages, at a dark connection point nothing flows to the grid; a V2H-capable, plugged-in EV islands
   its home and serves its critical load (`models/outage.py`), any other EV there idles, and the battery
   idles. EVs whose home has been dark count the trips their battery could not cover afterwards.
6. The EVs' batteries integrate the step's power (`fleet.integrate`).
With §14a dimming (`models/dimming.py`), in a step the grid operator dims, the heat pumps are capped first (their
homes' heat deficit carried to later steps) and the chargers after step 2.
Under `v2g_peak_shave` the fleet also reports its telemetry to the aggregator: its total power and the
grid-side energy its plugged-in EVs still need to reach their targets, summed per hour of departure over
the next `DEADLINE_HOURS` (cumulative: what is due within 1, 2, ... hours).

Arrays are flat over samples: per connection point S x n_cp (sample-major), per EV the fleet of all samples
(`Fleet.cp` numbers connection points over S x n_cp). The households are the same in every sample.
"""
from dataclasses import dataclass

import numpy as np

from hostcap.models.aggregator import DEADLINE_HOURS, DEADLINE_LEAD_H
from hostcap.models.battery import HomeBatteries, self_consumption_kw, stored_kwh
from hostcap.models.dimming import HeatPumpDimming, StaggeredRelease, device_cap_kw
from hostcap.models.fleet import Fleet, depart, integrate, limit_power
from hostcap.models.households import Households
from hostcap.models.meter import VoltVarCurve, curtail_pv, limit_ev_export
from hostcap.models.mobility import Mobility
from hostcap.models.outage import island_fleet
from hostcap.models.phases import PhaseWeights
from hostcap.models.strategies import Strategy


@dataclass
class HomeStep:
    """One step's results. Per EV: `ev_p_kw` (what each battery does, islanding included), `ev_q_kvar` and
    the grid-side power (`grid_ev_p_kw`: 0 at a dark home), `ev_e_kwh` after the step; per connection point
    `pv_curtailed_kw`, the batteries' `battery_p_kw` and `battery_e_kwh` (None without batteries), the homes'
    net demand seen by the grid (`household_p_kw`, `household_q_kvar`) and the EVs' (`fleet_p_kw`,
    `fleet_q_kvar`), per phase for an unbalanced run (flat S x n_cp x 3); with outages `powered`, `islanded`
    and `backup_served_kw`; with telemetry `p_total_kw` (per sample) and `due_kwh` (S x DEADLINE_HOURS)."""

    ev_p_kw: np.ndarray
    ev_q_kvar: np.ndarray
    ev_e_kwh: np.ndarray
    pv_curtailed_kw: np.ndarray
    household_p_kw: np.ndarray
    household_q_kvar: np.ndarray
    fleet_p_kw: np.ndarray
    fleet_q_kvar: np.ndarray
    battery_p_kw: np.ndarray | None = None
    battery_e_kwh: np.ndarray | None = None
    powered: np.ndarray | None = None
    islanded: np.ndarray | None = None
    backup_served_kw: np.ndarray | None = None
    p_total_kw: np.ndarray | None = None
    due_kwh: np.ndarray | None = None
    heat_pump_p_kw: np.ndarray | None = None
    heat_deficit_kwh: np.ndarray | None = None


class Homes:
    """The homes of S samples and their state (EV and battery energy, shortfalls, trips driven)."""

    def __init__(self, *, households: Households, fleet: Fleet, mobility: Mobility, strategy: Strategy, dt_h: float,
                 n_samples: int = 1, batteries: bool = True, export_limit_kw: float | None = None,
                 volt_var: VoltVarCurve | None = None, phases: PhaseWeights | None = None,
                 critical_load_share: float | None = None, v2h_capable: np.ndarray | None = None,
                 telemetry: bool = False, dimming: bool = False):
        """phases: each device's phase weights (`models/phases.py`) for an unbalanced run, None for a balanced
        one; critical_load_share: what an islanded home keeps on (`Outages.critical_load_share`), None
        without outages; batteries: step the households' home batteries (False: they are left out, as for
        a counterfactual of the EVs alone); dimming: the grid operator may dim the chargers and heat pumps
        (`models/dimming.py`; `step`'s `dimmed`)."""
        self.households, self.fleet, self.mob, self.strategy, self.dt_h = households, fleet, mobility, strategy, dt_h
        self.n_samples = n_samples
        self.n_cp_one = households.p_load_kw.shape[1]
        self.n_cp = n_samples * self.n_cp_one  # connection points of all samples
        self.home_cp = fleet.cp % self.n_cp_one
        self.ev_sample = fleet.cp // self.n_cp_one
        self.export_limit_kw, self.volt_var, self.phases = export_limit_kw, volt_var, phases
        self.critical_load_share = critical_load_share
        self.v2h_capable = np.zeros(fleet.n, bool) if v2h_capable is None else v2h_capable
        self.telemetry = telemetry
        self.e_kwh = fleet.initial_e_kwh.copy()
        self.unmet_kwh = np.zeros(fleet.n)
        self.driven_kwh = np.zeros(fleet.n)
        bat = households.batteries
        self.batteries: HomeBatteries | None = bat.tile(n_samples) if batteries and bat.present else None
        if self.batteries is not None:
            self.battery_e_kwh = self.batteries.e_initial_kwh.copy()
        self.after_outage = np.zeros(fleet.n, bool)  # the EV's home has been dark in this run
        self.trips_short = np.zeros(fleet.n)  # trips after that which the battery could not cover
        if phases is not None:  # where each device's power goes: connection point x phase, flat
            self.ev_at = (fleet.cp[:, None] * 3 + np.arange(3)).ravel()
        self.dimming = dimming
        if dimming:
            hp = households.heat_pumps
            self.hp_cp = (np.arange(n_samples)[:, None] * self.n_cp_one + hp.cp[None, :]).ravel()
            self.hp_sample = np.repeat(np.arange(n_samples), hp.n)
            self.hp_dim = HeatPumpDimming.of(np.tile(hp.p_el_rated_kw, n_samples), np.tile(hp.p_th_rated_kw, n_samples))
            self.hp_deficit_kwh = np.zeros(n_samples * hp.n)
            self.hp_delay = np.tile((np.arange(hp.n) + 0.5) * 0.6180339887 % 1.0, n_samples)  # spread evenly
            self.ev_cap_kw = device_cap_kw(fleet.p_ch_max_kw, heat_pump=False)
            self.ev_dimmed_kwh = np.zeros(fleet.n)
            self.release = StaggeredRelease(n_samples, dt_h * 3600.0)

    def step(self, t: int, *, vm_pu: np.ndarray | None = None, on: np.ndarray | None = None,
             fleet_bounds_kw: tuple[np.ndarray, np.ndarray] | None = None,
             dimmed: np.ndarray | None = None) -> HomeStep:
        """Step t. vm_pu: each connection point's voltage of the previous step, as the grid reports it
        (nominal where it has no reading: `FeederStep`; 1.0 where None); on: True
        where a connection point has supply (None: everywhere, and no outage bookkeeping);
        fleet_bounds_kw: the aggregator's (lo, hi) per sample; dimmed: True for the samples the grid
        operator dims in this step (a run with dimming; None: none); after a lift each device stays capped for
        its own delay (`models/dimming.StaggeredRelease`)."""
        fleet, mob, hh, n_s = self.fleet, self.mob, self.households, self.n_samples
        vm_pu = np.ones(self.n_cp) if vm_pu is None else vm_pu
        household_kw = np.tile(hh.net_p_kw(t), n_s)
        hp_change_kw = 0.0
        if self.dimming:
            self.release.step(np.zeros(n_s, bool) if dimmed is None else dimmed)
            hp_kw = np.tile(hh.hp_el_kw[t], n_s)
            served, self.hp_deficit_kwh = self.hp_dim.step(self.hp_deficit_kwh, np.tile(hh.hp_heat_kw[t], n_s), hp_kw,
                                                           self.release.capped(self.hp_sample, self.hp_delay),
                                                           self.dt_h)
            hp_change_kw = np.bincount(self.hp_cp, weights=served - hp_kw, minlength=self.n_cp)
            household_kw = household_kw + hp_change_kw
        e, unmet, driven = depart(self.e_kwh, mob.departs[t], mob.trip_kwh[t],
                                  np.where(mob.plugged[max(t - 1, 0)], fleet.target_kwh, 0.0))
        if self.critical_load_share is not None and on is not None:
            self.trips_short += self.after_outage & mob.departs[t] & (driven < mob.trip_kwh[t] - 1e-9)
            self.after_outage |= ~on[fleet.cp]
        p = self.strategy.setpoints(t, e, household_kw, vm_pu, fleet_bounds_kw)
        p = limit_power(p, e, mob.plugged[t], fleet, self.dt_h)
        if self.dimming:
            capped = np.where(self.release.capped(self.ev_sample, fleet.start_offset), np.minimum(p, self.ev_cap_kw), p)
            self.ev_dimmed_kwh += (p - capped) * self.dt_h
            p = capped
        curtailed = np.zeros(self.n_cp)
        if self.export_limit_kw is not None:
            p = limit_ev_export(p, household_kw[fleet.cp], self.export_limit_kw, fleet.home_share)
        meter_kw = household_kw + np.bincount(fleet.cp, weights=p, minlength=self.n_cp)  # before battery and curtailing
        pv_kw = np.tile(hh.p_pv_kw[t], n_s)
        bat_kw, bat_e = self._battery(meter_kw, pv_kw, on)
        if self.export_limit_kw is not None:
            curtailed = curtail_pv(meter_kw + bat_kw, pv_kw, self.export_limit_kw)
        q = (self.volt_var.q_kvar(vm_pu[fleet.cp], fleet.p_dis_max_kw * mob.plugged[t], p) if self.volt_var
             else np.zeros(fleet.n))
        p_grid, q_grid = p, q
        hh_p, hh_q = household_kw + curtailed + bat_kw, np.tile(hh.q_kvar(t), n_s)
        outage = {}
        if on is not None:
            p, outage = self._ride_through(t, on, e, p)
            dark_ev = ~on[fleet.cp]
            p_grid, q_grid = np.where(dark_ev, 0.0, p), np.where(dark_ev, 0.0, q)
            hh_p, hh_q = np.where(on, hh_p, 0.0), np.where(on, hh_q, 0.0)
        self.e_kwh, _, _ = integrate(e, p, fleet, self.dt_h)
        self.unmet_kwh += unmet
        self.driven_kwh += driven
        if self.phases is None:
            fleet_p = np.bincount(fleet.cp, weights=p_grid, minlength=self.n_cp)
            fleet_q = np.bincount(fleet.cp, weights=q_grid, minlength=self.n_cp)
        else:
            w = self.phases
            load_kw = np.tile(hh.p_load_kw[t], n_s) + hp_change_kw  # hh_p = load_kw - pv_kw
            pv_kw = pv_kw - curtailed
            if on is not None:
                load_kw, pv_kw = np.where(on, load_kw, 0.0), np.where(on, pv_kw, 0.0)
            hh_p = ((load_kw + bat_kw)[:, None] * w.load - pv_kw[:, None] * w.pv).ravel()
            hh_q = (hh_q[:, None] * w.load).ravel()
            n3 = 3 * self.n_cp
            fleet_p = np.bincount(self.ev_at, weights=(p_grid[:, None] * w.ev).ravel(), minlength=n3)
            fleet_q = np.bincount(self.ev_at, weights=(q_grid[:, None] * w.ev).ravel(), minlength=n3)
        out = HomeStep(ev_p_kw=p, ev_q_kvar=q_grid, ev_e_kwh=self.e_kwh, pv_curtailed_kw=curtailed,
                       household_p_kw=hh_p, household_q_kvar=hh_q, fleet_p_kw=fleet_p, fleet_q_kvar=fleet_q,
                       battery_p_kw=None if self.batteries is None else bat_kw, battery_e_kwh=bat_e, **outage)
        if self.telemetry:
            out.p_total_kw, out.due_kwh = self._telemetry(t, p_grid)
        if self.dimming:
            out.heat_pump_p_kw = np.tile(hh.p_heat_pump_kw[t], n_s) + hp_change_kw
            out.heat_deficit_kwh = np.bincount(self.hp_cp, weights=self.hp_deficit_kwh, minlength=self.n_cp)
        return out

    def _battery(self, meter_kw: np.ndarray, pv_kw: np.ndarray, on: np.ndarray | None):
        """The home batteries' power (S x n_cp; 0 without batteries) against each meter's net demand with the
        EVs' power, idle at a dark connection point, and their stored energy after the step."""
        if self.batteries is None:
            return 0.0, None
        p = self_consumption_kw(meter_kw=meter_kw, pv_kw=pv_kw, e_kwh=self.battery_e_kwh, bat=self.batteries,
                                dt_h=self.dt_h)
        if on is not None:
            p = np.where(on, p, 0.0)
        self.battery_e_kwh = stored_kwh(self.battery_e_kwh, p, self.batteries, self.dt_h)
        return p, self.battery_e_kwh

    def _ride_through(self, t: int, on: np.ndarray, e_kwh: np.ndarray, p_kw: np.ndarray):
        """EV power with outages: at dark connection points islanding EVs serve their homes and the others
        idle; and per connection point its supply, islanding EVs and the demand they served."""
        fleet, hh = self.fleet, self.households
        dark_ev = ~on[fleet.cp]
        isl = dark_ev & self.mob.plugged[t] & self.v2h_capable
        cp, home = fleet.cp[isl], self.home_cp[isl]
        share = 1.0 / np.bincount(cp)[cp]  # two islanding cars share their home's demand
        p_isl, served = island_fleet(fleet, isl, demand_kw=self.critical_load_share * hh.p_load_kw[t, home] * share,
                                     pv_kw=hh.p_pv_kw[t, home] * share, e_kwh=e_kwh[isl], dt_h=self.dt_h)
        p = np.where(dark_ev, 0.0, p_kw)
        p[isl] = p_isl
        return p, {"powered": on.astype(float), "islanded": np.bincount(cp, minlength=self.n_cp).astype(float),
                   "backup_served_kw": np.bincount(cp, weights=served, minlength=self.n_cp)}

    def _telemetry(self, t: int, p_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the aggregator: each sample's fleet power, and the grid-side energy its plugged-in EVs still
        need, summed per hour of departure (the last hour: all that leave later), cumulative."""
        fleet, mob, n_s = self.fleet, self.mob, self.n_samples
        need = np.maximum(fleet.target_kwh - self.e_kwh, 0.0) / fleet.eta_ch * mob.plugged[t + 1]
        steps = mob.next_departure_step[t + 1] - (t + 1)
        k = DEADLINE_HOURS
        hour = np.clip(np.ceil(steps * self.dt_h - DEADLINE_LEAD_H).astype(int), 1, k) - 1
        due = np.bincount(self.ev_sample * k + hour, weights=need, minlength=n_s * k)
        p_total = np.bincount(self.ev_sample, weights=p_grid, minlength=n_s).astype(float)
        return p_total, np.cumsum(due.reshape(n_s, k), axis=1).ravel()


def uncontrolled_counterfactual(homes: Homes, n_steps: int, powered: np.ndarray | None = None
                                ) -> tuple[np.ndarray, np.ndarray]:
    """The same cars on the same trips charged `uncontrolled`, stepped by `homes` (built with the
    `uncontrolled` strategy and without home batteries, which change no EV's power): (power, stored energy
    at the end of each step), steps x EVs. Needs no grid (uncontrolled charging reads no voltage). With
    outages, `powered` (steps x connection points) is the run's supply: an EV at a dark home idles, or
    islands it as in the run. The counterfactual of a household's saving and of the battery wear that V2G
    or V2H adds."""
    p_out, e_out = np.zeros((n_steps, homes.fleet.n)), np.zeros((n_steps, homes.fleet.n))
    for t in range(n_steps):
        s = homes.step(t, on=None if powered is None else powered[t])
        p_out[t], e_out[t] = s.ev_p_kw, s.ev_e_kwh
    return p_out, e_out
