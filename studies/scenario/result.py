"""What one run of one sample gives: its metrics (`run_result`), after checking that its energy balances
close, and on request the tables behind them: element summaries, the customers (energy, bills, backup,
wear), the plug-in sessions and the vehicles (`RunResult`).

The counterfactual behind a customer's saving and an EV's extra wear is the same cars on the same trips
charged `uncontrolled`, with the same outages, stepped by the one home step (`models/home.py`).
"""
import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from hostcap.feeders.heat import temperature_c
from hostcap.models.battery import battery_balance
from hostcap.models.customers import customer_energy
from hostcap.models.dimming import HeatPumpDimming
from hostcap.models.errors import ModelError
from hostcap.models.home import Homes, uncontrolled_counterfactual
from hostcap.models.limits import unbalance_violations, voltage_band, voltage_violations
from hostcap.models.metrics import run_metrics
from hostcap.models.optimal import session_table
from hostcap.models.outage import backup_energy
from hostcap.models.strategies import Horizon, make_strategy
from hostcap.models.trafo_thermal import thermal_metrics
from hostcap.models.wear import fleet_fade, run_outside_range_h
from hostcap.studies.scenario.inputs import Inputs
from hostcap.studies.scenario.settings import Scenario


@dataclass
class RunResult:
    scenario: Scenario
    inputs: Inputs
    metrics: dict
    series: dict  # name (`models/series.py`) -> array (steps x shape), or (shape,) for a run total
    totals: dict  # unmet_kwh, driven_kwh

    def element_summaries(self) -> pd.DataFrame:
        """Per bus min/max voltage, per line and transformer max loading, and whether each broke its limit
        (a bus: the run's voltage criterion)."""
        s, sc, net = self.series, self.scenario, self.inputs.feeder.net
        band = voltage_band(sc.band)
        vm = self.vm_phases
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of never-converged runs
            vmin, vmax = np.nanmin(vm, axis=(0, 2)), np.nanmax(vm, axis=(0, 2))
            line = np.nanmax(s["line_loading_pct"], axis=0) if len(net.line) else np.zeros(0)
            trafo = np.nanmax(s["trafo_loading_pct"], axis=0) if len(net.trafo) else np.zeros(0)
        nan = np.nan
        under, over = voltage_violations(vm, self.inputs.dt_s, band)
        unbalance = (unbalance_violations(s["vuf_pct"], self.inputs.dt_s) if self.inputs.unbalanced
                     else np.zeros(len(net.bus), bool))
        parts = [
            pd.DataFrame({"element": "bus", "index": net.bus.index, "vm_min_pu": vmin, "vm_max_pu": vmax,
                          "max_loading_pct": nan, "violated": under | over | unbalance}),
            pd.DataFrame({"element": "line", "index": net.line.index, "vm_min_pu": nan, "vm_max_pu": nan,
                          "max_loading_pct": line, "violated": line > sc.line_limit_pct}),
            pd.DataFrame({"element": "trafo", "index": net.trafo.index, "vm_min_pu": nan, "vm_max_pu": nan,
                          "max_loading_pct": trafo, "violated": trafo > sc.trafo_limit_pct}),
        ]
        out = pd.concat([p for p in parts if len(p)], ignore_index=True)
        out["index"] = out["index"].astype(np.int64)
        return out

    @property
    def vm_phases(self) -> np.ndarray:
        """Bus voltages, steps x buses x phases: the three phases of an unbalanced run, one of a balanced."""
        return self.series["vm_abc_pu"] if self.inputs.unbalanced else self.series["vm_pu"][:, :, None]

    @functools.cached_property
    def charging_only(self) -> tuple[np.ndarray, np.ndarray]:
        """Each EV's power and stored energy (steps x EVs) had the same car on the same trips been charged
        `uncontrolled`, with the same outages (`models/home.uncontrolled_counterfactual`)."""
        inp, sc = self.inputs, self.scenario
        dt_h = inp.dt_s / 3600.0
        horizon = Horizon(fleet=inp.fleet, mobility=inp.mobility, levels=inp.levels, dt_h=dt_h, n_steps=inp.n_steps)
        outages = "powered" in self.series
        homes = Homes(households=inp.households, fleet=inp.fleet, mobility=inp.mobility,
                      strategy=make_strategy("uncontrolled", horizon), dt_h=dt_h, batteries=False,
                      critical_load_share=sc.outages.critical_load_share if outages else None,
                      v2h_capable=inp.v2h_capable)
        return uncontrolled_counterfactual(homes, inp.n_steps, self.series["powered"] > 0.5 if outages else None)

    def customers(self) -> pd.DataFrame:
        """One row per connection point: its bus, EVs, and the household's energy through the meter and
        rooftop-PV use with the run's EVs and without them; with a priced tariff its bills and the saving
        against uncontrolled charging of the same car (`models/customers.py`); with outages its backup
        (`models/outage.py`); with battery wear its EV's (`vehicles`). A dark connection point's meter sees
        nothing."""
        inp, s, f, sc = self.inputs, self.series, self.inputs.fleet, self.scenario
        hh, n, dt_h = inp.households, inp.n_steps, inp.dt_s / 3600.0
        cps = inp.feeder.connection_points
        at_cp = sparse.csr_matrix((np.ones(f.n), (np.arange(f.n), f.cp)), shape=(f.n, len(cps)))
        on = s["powered"] > 0.5 if "powered" in s else np.ones((n, len(cps)), bool)
        ev_kw = np.asarray(s["ev_p_kw"] @ at_cp) * on
        unc_kw = gain_kwh = None
        if sc.tariff is not None:
            unc_p, unc_e = self.charging_only
            unc_kw = np.asarray(unc_p @ at_cp) * on
            gain_kwh = np.bincount(f.cp, weights=(s["ev_e_kwh"][-1] - unc_e[-1]) / f.eta_ch, minlength=len(cps))
        load_kw = hh.p_load_kw[:n]
        if "heat_pump_p_kw" in s:  # dimmed heat pumps: the homes drew what they drew
            load_kw = load_kw + s["heat_pump_p_kw"] - hh.p_heat_pump_kw[:n]
        energy = customer_energy(load_kw=load_kw * on, pv_kw=hh.p_pv_kw[:n] * on,
                                 pv_curtailed_kw=s["pv_curtailed_kw"] * on, ev_kw=ev_kw,
                                 ev_charge_kw=np.maximum(ev_kw, 0.0), export_limit_kw=sc.export_limit_kw, dt_h=dt_h,
                                 tariff=sc.tariff, price_per_kwh=inp.price_per_kwh[:n], ev_uncontrolled_kw=unc_kw,
                                 stored_gain_kwh=gain_kwh, battery_kw=s.get("battery_p_kw", 0.0),
                                 batteries=hh.batteries)
        if sc.outages is not None:
            energy |= backup_energy(load_kw=load_kw, powered=on, islanded=s["islanded"] > 0.5,
                                    served_kw=s["backup_served_kw"], critical_load_share=sc.outages.critical_load_share,
                                    dt_h=dt_h)
            energy["trips_short_after_outage"] = np.bincount(f.cp, weights=s["ev_trips_short_after_outage"],
                                                             minlength=len(cps)).astype(int)
        if sc.battery_wear is not None and f.n:  # the wear of each home's EVs: fade their mean, cost their sum
            v = self.vehicles()
            n_ev = np.bincount(f.cp, minlength=len(cps))
            for col in ["fade_year_pct", "extra_fade_year_pct", f"extra_wear_cost_year_{sc.battery_wear.currency}"]:
                total = np.bincount(f.cp, weights=v[col].to_numpy(), minlength=len(cps))
                energy[col] = np.where(n_ev > 0, total / np.maximum(n_ev, 1) if "fade" in col else total, np.nan)
        return pd.DataFrame({
            "bus": cps["bus"].to_numpy(), "household": cps["household"].to_numpy(),
            "n_ev": np.bincount(f.cp, minlength=len(cps)),
            "n_bidirectional": np.bincount(f.cp, weights=f.bidirectional, minlength=len(cps)).astype(int),
            **energy,
        }, index=cps.index)

    def sessions(self) -> pd.DataFrame:
        """One row per EV and plug-in session that starts in the run (`models/optimal.session_table`): what
        anyone needs to compute the perfect-foresight bound of the same sessions, with the energy each
        session started with in this run and each EV's parameters."""
        inp, f = self.inputs, self.inputs.fleet
        t = session_table(f, inp.mobility, n_steps=inp.n_steps, e_kwh=self.series["ev_e_kwh"], dt_h=inp.dt_s / 3600.0)
        ev = t.pop("ev")
        stamp = lambda k: inp.index[0] + pd.to_timedelta(k * inp.dt_s, unit="s")  # noqa: E731 - beyond the run too
        return pd.DataFrame({
            "sample": self.scenario.sample, "ev": np.asarray(f.vehicle_id)[ev], "arrival": stamp(t.pop("start")),
            "departure": stamp(t.pop("end")), **t, "p_charge_max_kw": f.p_ch_max_kw[ev],
            "p_discharge_max_kw": f.p_dis_max_kw[ev], "capacity_kwh": f.capacity_kwh[ev],
            "eta_charge": f.eta_ch[ev], "eta_discharge": f.eta_dis[ev], "target_kwh": f.target_kwh[ev],
            "reserve_kwh": f.reserve_kwh[ev], "e_initial_kwh": f.initial_e_kwh[ev],
        }).sort_values(["ev", "arrival"], kind="stable").reset_index(drop=True)

    def vehicles(self) -> pd.DataFrame:
        """One row per EV: its bus, connection point and parameters, and with `battery_wear` its capacity
        fade over the run, after the first year and after ten years of a new cell doing the run's days, with
        the run's strategy and charging only (the same car on the same trips charged `uncontrolled`), the extra
        fade against that and the first year's cost, and the hours of the run its cells spent outside the
        cell model's calibrated temperatures (`models/wear.py`)."""
        f, inp, wear = self.inputs.fleet, self.inputs, self.scenario.battery_wear
        cps = inp.feeder.connection_points
        out = pd.DataFrame({
            "vehicle": f.vehicle_id, "cp": f.cp, "bus": cps["bus"].to_numpy()[f.cp],
            "capacity_kwh": f.capacity_kwh, "p_ch_max_kw": f.p_ch_max_kw, "p_dis_max_kw": f.p_dis_max_kw,
            "bidirectional": f.bidirectional, "eta_ch": f.eta_ch, "eta_dis": f.eta_dis,
            "reserve_kwh": f.reserve_kwh, "target_kwh": f.target_kwh, "initial_e_kwh": f.initial_e_kwh,
        }).set_index("vehicle")
        if wear is not None and f.n:
            args = dict(initial_e_kwh=f.initial_e_kwh, capacity_kwh=f.capacity_kwh, index=inp.index, dt_s=inp.dt_s,
                        wear=wear)
            fade, base = fleet_fade(self.series["ev_e_kwh"], **args), fleet_fade(self.charging_only[1], **args)
            extra = fade.year - base.year
            out = out.assign(fade_run_pct=100 * fade.run, fade_year_pct=100 * fade.year,
                             fade_10_years_pct=100 * fade.ten_years, fade_uncontrolled_run_pct=100 * base.run,
                             fade_uncontrolled_year_pct=100 * base.year,
                             fade_uncontrolled_10_years_pct=100 * base.ten_years, extra_fade_year_pct=100 * extra,
                             extra_fade_10_years_pct=100 * (fade.ten_years - base.ten_years),
                             **{f"extra_wear_cost_year_{wear.currency}": extra * f.capacity_kwh * wear.cost_per_kwh},
                             cell_temperature_outside_range_h=run_outside_range_h(inp.index, inp.dt_s, wear))
        return out


def run_result(scenario: Scenario, inputs: Inputs, rec: dict, no_ev_kw: np.ndarray) -> RunResult:
    """One sample's result from its recordings (series name -> steps x shape); no_ev_kw: the feeder's
    transformer import per step without EVs (`base_case.no_ev_slack_kw`)."""
    totals = {"unmet_kwh": float(rec["ev_unmet_kwh"].sum()), "driven_kwh": float(rec["ev_driven_kwh"].sum())}
    rec["converged"] = rec["converged"].astype(bool)
    metrics = run_metrics(
        vm_pu=rec["vm_abc_pu"] if inputs.unbalanced else rec["vm_pu"], vuf_pct=rec.get("vuf_pct"),
        line_i_n_ka=rec.get("line_i_n_ka"), line_loading_pct=rec["line_loading_pct"],
        trafo_loading_pct=rec["trafo_loading_pct"],
        p_slack_mw=rec["p_slack_mw"], p_bus_mw=rec["p_bus_mw"], ev_p_kw=rec["ev_p_kw"],
        ev_unmet_kwh=totals["unmet_kwh"], dt_h=inputs.dt_s / 3600.0, band=voltage_band(scenario.band),
        line_limit_pct=scenario.line_limit_pct, trafo_limit_pct=scenario.trafo_limit_pct)
    fleet = inputs.fleet
    n_bidir = int(fleet.bidirectional.sum())
    e_end = rec["ev_e_kwh"][-1].sum() if fleet.n else 0.0
    metrics["ev_energy_delta_kwh"] = float(e_end - fleet.initial_e_kwh.sum())
    metrics["ev_discharged_kwh_per_bidirectional_ev"] = (metrics["ev_discharged_kwh"] / n_bidir if n_bidir
                                                         else float("nan"))
    metrics["peak_demand_no_ev_kw"] = float(np.nanmax(no_ev_kw)) if np.isfinite(no_ev_kw).any() else float("nan")
    metrics["pv_curtailed_kwh"] = float(rec["pv_curtailed_kw"].sum() * inputs.dt_s / 3600.0)
    metrics["n_ev"] = int(fleet.n)
    metrics["n_bidirectional"] = n_bidir
    metrics["ev_charger_kw"] = float(fleet.p_ch_max_kw.sum())
    metrics |= _heat_pump_metrics(inputs, rec)
    metrics |= _trafo_thermal(scenario, inputs, rec)
    metrics |= _energy_balances(scenario, inputs, rec, metrics, totals)
    if scenario.outages is not None:
        backup = backup_energy(load_kw=inputs.households.p_load_kw[:inputs.n_steps], powered=rec["powered"] > 0.5,
                               islanded=rec["islanded"] > 0.5, served_kw=rec["backup_served_kw"],
                               critical_load_share=scenario.outages.critical_load_share, dt_h=inputs.dt_s / 3600.0)
        home_h = float(backup["outage_h"].sum())
        metrics |= {"outage_home_h": home_h, "backup_home_h": float(backup["backup_h"].sum()),
                    "outage_covered_share": float(backup["backup_h"].sum() / home_h) if home_h else float("nan"),
                    "outage_unserved_kwh": float(backup["outage_unserved_kwh"].sum()),
                    "outage_unserved_no_v2h_kwh": float(backup["outage_unserved_no_v2h_kwh"].sum()),
                    "trips_short_after_outage": int(rec["ev_trips_short_after_outage"].sum())}
    return RunResult(scenario, inputs, metrics, rec, totals)


def _trafo_thermal(scenario: Scenario, inputs: Inputs, rec: dict) -> dict:
    """The transformer's temperatures, ageing and thermal limits (`models/trafo_thermal.py`) in the outdoor
    temperature of the run's DWD TRY region."""
    ambient = temperature_c(inputs.index[:inputs.n_steps], scenario.climate_region)
    return thermal_metrics(rec["trafo_loading_pct"], ambient, inputs.dt_s / 3600.0)


def _heat_pump_metrics(inputs: Inputs, rec: dict) -> dict:
    """The heat pumps' energy, their own coincident peak whenever it falls, and their draw at the feeder's peak
    step (NaN when no step converged); under §14a dimming (`models/dimming.py`) also the hours dimmed, the EV
    charging and the heat it deferred, and the most a home cooled for it (K)."""
    hh, dt_h = inputs.households, inputs.dt_s / 3600.0
    hp_kw = rec["heat_pump_p_kw"] if "heat_pump_p_kw" in rec else hh.p_heat_pump_kw[:inputs.n_steps]  # as run
    total = hp_kw.sum(axis=1)
    ok = np.isfinite(rec["p_slack_mw"])
    out = {"n_heat_pump": int(hh.heat_pumps.n), "heat_pump_kwh": float(total.sum() * dt_h),
           "heat_pump_peak_kw": float(total.max()) if len(total) else 0.0,
           "heat_pump_at_peak_kw": float(total[np.nanargmax(rec["p_slack_mw"])]) if ok.any() else float("nan")}
    if "dimmed" not in rec:
        return out
    hp = hh.heat_pumps
    deficit = rec["heat_deficit_kwh"]
    c_kwh_per_k = np.bincount(hp.cp, weights=HeatPumpDimming.of(hp.p_el_rated_kw, hp.p_th_rated_kw)
                              .capacity_kwh_per_k, minlength=deficit.shape[1])
    cooled_k = np.divide(deficit, c_kwh_per_k, out=np.zeros_like(deficit), where=c_kwh_per_k > 0)
    return out | {"dimmed_h": float(rec["dimmed"].sum() * dt_h), "ev_dimmed_kwh": float(rec["ev_dimmed_kwh"].sum()),
                  "heat_deferred_kwh": float(np.maximum(np.diff(deficit, axis=0, prepend=0.0), 0.0).sum()),
                  "heat_deficit_max_k": float(cooled_k.max()) if cooled_k.size else 0.0}


def _energy_balances(scenario: Scenario, inputs: Inputs, rec: dict, metrics: dict, totals: dict) -> dict:
    """The home batteries' energy balance as metrics (`models/battery.py`; zeros without batteries), after
    checking that the run's physics adds up: network losses are not negative (slack power minus all bus
    demand), and the EVs' and batteries' stored energy changes by what went in and out. A run that fails is
    an error naming the cause (`ModelError`), never a result."""
    dt_h = inputs.dt_s / 3600.0
    tol_kwh = 1e-6 * (1.0 + metrics["energy_import_kwh"] + metrics["export_kwh"])
    if metrics["losses_kwh"] < -tol_kwh:
        raise ModelError(f"run {scenario.key}: network losses are negative ({metrics['losses_kwh']:,.1f} kWh): the "
                         "slack supplies less than the recorded demand, so some injection is not accounted for")
    fleet = inputs.fleet
    if fleet.n:
        p = rec["ev_p_kw"]
        moved = (fleet.eta_ch * np.maximum(p, 0.0) - np.maximum(-p, 0.0) / fleet.eta_dis).sum() * dt_h
        gap = float(rec["ev_e_kwh"][-1].sum() - fleet.initial_e_kwh.sum() - moved + totals["driven_kwh"])
        if not abs(gap) <= tol_kwh + 1e-9 * fleet.capacity_kwh.sum() * len(p):  # NaN power fails too
            raise ModelError(f"run {scenario.key}: the EVs' energy balance does not close by {gap:,.3f} kWh")
    bat = inputs.households.batteries
    if "battery_p_kw" not in rec:
        return {"battery_charged_kwh": 0.0, "battery_discharged_kwh": 0.0, "battery_energy_delta_kwh": 0.0,
                "battery_losses_kwh": 0.0}
    balance = battery_balance(p_kw=rec["battery_p_kw"], e_kwh=rec["battery_e_kwh"], bat=bat, dt_h=dt_h)
    gap = balance.pop("battery_balance_error_kwh")
    if not abs(gap) <= tol_kwh + 1e-9 * bat.capacity_kwh.sum() * len(rec["battery_p_kw"]):
        raise ModelError(f"run {scenario.key}: the home batteries' energy balance does not close by {gap:,.3f} kWh")
    return balance
