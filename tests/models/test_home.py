"""The one home step (`models/home.py`), with no grid: samples stepped together are the samples stepped one by
one, the meter's export limit holds, the EVs' energy balance closes, and `v2g_optimal`'s programme is what
the home step plays back."""
import numpy as np
import pytest

from hostcap.models.home import Homes, uncontrolled_counterfactual
from hostcap.models.meter import VoltVarCurve
from hostcap.models.strategies import Horizon, make_strategy
from hostcap.studies.scenario.inputs import build_batch
from hostcap.studies.scenario.settings import Scenario

SC = dict(penetration=1.0, v2g_share=0.5, days=1, battery_wear=None, tariff=None)


def homes(strategy: str, batch, **kw) -> Homes:
    inp = batch.first
    horizon = Horizon(fleet=batch.fleet, mobility=batch.mobility, levels=inp.levels, dt_h=inp.dt_s / 3600.0,
                      n_steps=inp.n_steps, standard_load_kw=inp.standard_load_kw, ev_offsets=batch.ev_offsets)
    return Homes(households=inp.households, fleet=batch.fleet, mobility=batch.mobility,
                 strategy=make_strategy(strategy, horizon), dt_h=horizon.dt_h, n_samples=batch.n_samples, **kw)


def steps(h: Homes, n: int) -> dict[str, np.ndarray]:
    out = [h.step(t) for t in range(n)]
    return {k: np.array([getattr(s, k) for s in out]) for k in ("ev_p_kw", "ev_e_kwh", "household_p_kw",
                                                                "fleet_p_kw", "pv_curtailed_kw")}


@pytest.mark.parametrize("strategy", ["uncontrolled", "smart", "v2g_tou", "v2h"])
def test_samples_stepped_together_are_the_samples_stepped_alone(strategy):
    scenarios = [Scenario(strategy=strategy, sample=k, **SC) for k in range(3)]
    together = steps(homes(strategy, build_batch(scenarios), export_limit_kw=2.0), 96)
    n_ev, n_cp = build_batch(scenarios[:1]).n_ev, build_batch(scenarios[:1]).n_cp
    for k, sc in enumerate(scenarios):
        alone = steps(homes(strategy, build_batch([sc]), export_limit_kw=2.0), 96)
        for name, v in alone.items():
            per = n_ev if name.startswith("ev_") else n_cp
            np.testing.assert_array_equal(together[name][:, k * per:(k + 1) * per], v, err_msg=name)


def test_the_export_limit_holds_at_every_meter_and_the_evs_energy_closes():
    batch = build_batch([Scenario(strategy="v2g_tou", **SC)])
    h = homes("v2g_tou", batch, export_limit_kw=0.0, volt_var=VoltVarCurve())
    s = steps(h, 96)
    assert (s["household_p_kw"] + s["fleet_p_kw"] >= -1e-9).all()  # no meter exports
    assert (s["ev_p_kw"] < 0).any()  # while the EVs still discharge into their homes
    f, dt_h = batch.fleet, h.dt_h
    p = s["ev_p_kw"]
    moved = (f.eta_ch * np.maximum(p, 0) - np.maximum(-p, 0) / f.eta_dis).sum(axis=0) * dt_h
    np.testing.assert_allclose(s["ev_e_kwh"][-1], f.initial_e_kwh + moved - h.driven_kwh, atol=1e-9)


def test_the_optimal_schedule_is_played_back_by_the_home_step_and_the_counterfactual_is_uncontrolled():
    batch = build_batch([Scenario(strategy="uncontrolled", **SC)])
    inp = batch.first
    schedule = np.where(batch.mobility.plugged[:inp.n_steps], 1.5, 0.0)  # 1.5 kW whenever plugged in
    horizon = Horizon(fleet=batch.fleet, mobility=batch.mobility, levels=inp.levels, dt_h=inp.dt_s / 3600.0,
                      n_steps=inp.n_steps)
    h = Homes(households=inp.households, fleet=batch.fleet, mobility=batch.mobility, dt_h=horizon.dt_h,
              strategy=make_strategy("v2g_optimal", horizon, schedule_kw=schedule))
    s = steps(h, inp.n_steps)
    p, cut = s["ev_p_kw"], ~np.isclose(s["ev_p_kw"], schedule)
    assert (p <= schedule + 1e-12).all() and cut.mean() < 0.5
    assert (s["ev_e_kwh"][cut] >= np.broadcast_to(batch.fleet.capacity_kwh, p.shape)[cut] - 1e-9).all()  # full
    unc_p, unc_e = uncontrolled_counterfactual(homes("uncontrolled", batch, batteries=False), inp.n_steps)
    np.testing.assert_array_equal(unc_p, steps(homes("uncontrolled", batch), inp.n_steps)["ev_p_kw"])
    assert unc_e.shape == (inp.n_steps, batch.fleet.n)
