"""Each strategy does what its docstring claims, on the pure models (no grid)."""
import numpy as np
import pandas as pd
import pytest

from hostcap.models.choices import STRATEGIES
from hostcap.models.errors import InputError
from hostcap.models.fleet import depart, draw_vehicle_parameters, integrate, limit_power, make_fleet
from hostcap.models.mobility import build_mobility, draw_trips
from hostcap.models.strategies import STRATEGY_CLASSES, Horizon, Strategy, VoltWattCurve, make_strategy
from hostcap.models.tariff import OFF_PEAK, PEAK, Tariff

DT_H = 0.25
DAYS = 3
STEPS = DAYS * 96


def setup(n=60, bidir_share=0.5, seed=3):
    rng = np.random.default_rng(seed)
    cand = draw_vehicle_parameters(rng, n)
    bidir = rng.random(n) < bidir_share
    fleet = make_fleet(cand, pick=np.arange(n), cp=np.arange(n), bidirectional=bidir, ids=[str(i) for i in range(n)])
    weekdays = pd.date_range("2016-01-11", periods=DAYS + 1, freq="D").weekday.to_numpy()
    trips = draw_trips(rng, n_vehicles=n, weekdays=weekdays, steps_per_day=96)
    mob = build_mobility(trips, n_vehicles=n, n_steps=STEPS + 96)
    levels = Tariff().levels((np.arange(STEPS + 96) * DT_H) % 24)
    return fleet, mob, levels


def simulate(strategy, fleet, mob, levels, household_kw=None, vm=None, standard_load_kw=None, **params):
    horizon = Horizon(fleet=fleet, mobility=mob, levels=levels, dt_h=DT_H, n_steps=STEPS,
                      standard_load_kw=standard_load_kw)
    ctl = make_strategy(strategy, horizon, **params)
    e = fleet.initial_e_kwh.copy()
    ps, unmet = [], 0.0
    for t in range(STEPS):
        e, u, _ = depart(e, mob.departs[t], mob.trip_kwh[t], fleet.target_kwh)
        unmet += u.sum()
        hh = np.zeros(fleet.n) if household_kw is None else household_kw[t]
        v = np.ones(fleet.n) if vm is None else vm(t, ps)
        p = limit_power(ctl.setpoints(t, e, hh, v), e, mob.plugged[t], fleet, DT_H)
        e, _, _ = integrate(e, p, fleet, DT_H)
        ps.append(p)
    return np.array(ps), unmet


def test_uncontrolled_charges_at_full_power_until_target():
    fleet, mob, levels = setup()
    p, unmet = simulate("uncontrolled", fleet, mob, levels)
    assert unmet == 0.0
    charging = p > 0
    full = np.isclose(p, fleet.p_ch_max_kw)
    # each charging session is full power but for its last (topping-up) step
    assert (full | ~charging).sum() >= 0.8 * p.size


def test_smart_charges_only_in_cheapest_slots_and_meets_targets():
    fleet, mob, levels = setup()
    p_smart, unmet = simulate("smart", fleet, mob, levels)
    p_unc, _ = simulate("uncontrolled", fleet, mob, levels)
    assert unmet == 0.0
    peak = levels[:STEPS] == PEAK
    assert p_smart[peak].sum() < 0.05 * p_unc[peak].sum()
    assert p_smart[levels[:STEPS] == OFF_PEAK].sum() > 0.9 * p_smart.sum()
    assert p_smart.sum(axis=1).max() < p_unc.sum(axis=1).max()


def test_smart_spreads_toward_the_valley_of_the_standard_load_profile():
    fleet, mob, levels = setup()
    hour = (np.arange(STEPS + 96) * DT_H) % 24
    evening_tail = (hour >= 22) | (hour < 1)
    standard_kw = np.where(evening_tail, 80.0, 20.0)  # households still busy until 01:00, quiet after
    flat, unmet_flat = simulate("smart", fleet, mob, levels, start_delay_max_s=0.0)
    shaped, unmet = simulate("smart", fleet, mob, levels, start_delay_max_s=0.0, standard_load_kw=standard_kw)
    assert unmet == unmet_flat == 0.0
    tail, quiet = evening_tail[:STEPS], (hour[:STEPS] >= 1) & (hour[:STEPS] < 6)
    # room below the profile's peak: 0.8 kW per slot in the tail against 60.8 after, so the fleet waits
    assert shaped[tail].sum(axis=1).mean() < 0.3 * flat[tail].sum(axis=1).mean()
    assert shaped[quiet].sum() > flat[quiet].sum()
    nights = slice(0, (DAYS - 1) * 96 + 24)  # up to the last 06:00: the last night is cut at midnight
    assert shaped[nights].sum() == pytest.approx(flat[nights].sum(), rel=1e-3)  # the same energy, moved


def test_smart_randomised_delay_thins_the_first_step_of_the_cheap_window():
    fleet, mob, levels = setup()
    first = np.flatnonzero((levels[1:STEPS] == OFF_PEAK) & (levels[:STEPS - 1] != OFF_PEAK)) + 1
    at_once, _ = simulate("smart", fleet, mob, levels, start_delay_max_s=0.0)
    delayed, unmet = simulate("smart", fleet, mob, levels, start_delay_max_s=1800.0)
    assert unmet == 0.0
    # a 0-30 min delay leaves a 15 min step on average a quarter of its charging (half wait past its end)
    ratio = delayed[first].sum() / at_once[first].sum()
    assert 0.1 < ratio < 0.5


def test_v2g_discharges_bidirectional_evs_in_peak_only_and_meets_targets():
    fleet, mob, levels = setup()
    p, unmet = simulate("v2g_tou", fleet, mob, levels)
    assert unmet == 0.0
    dis = p < 0
    assert dis.any()
    assert not dis[:, ~fleet.bidirectional].any()
    assert (levels[:STEPS][dis.any(axis=1)] == PEAK).all()


def test_v2h_covers_only_own_household_demand_and_uses_pv_surplus():
    fleet, mob, levels = setup()
    rng = np.random.default_rng(4)
    household = rng.uniform(-3.0, 4.0, size=(STEPS, fleet.n))
    p, unmet = simulate("v2h", fleet, mob, levels, household_kw=household)
    assert unmet == 0.0
    dis = p < 0
    assert dis.any()
    assert (-p[dis] <= household[dis] + 1e-9).all()  # never exports
    assert not dis[:, ~fleet.bidirectional].any()
    surplus = (household < 0) & mob.plugged[:STEPS]
    assert (p[surplus] > 0).mean() > 0.5  # charges from PV surplus even above the target


def test_volt_watt_follows_the_curve():
    fleet, mob, levels = setup()
    p_low, _ = simulate("volt_watt", fleet, mob, levels, vm=lambda t, ps: np.full(fleet.n, 0.90))
    p_ok, _ = simulate("volt_watt", fleet, mob, levels, vm=lambda t, ps: np.full(fleet.n, 1.0))
    p_high, _ = simulate("volt_watt", fleet, mob, levels, vm=lambda t, ps: np.full(fleet.n, 1.10))
    p_unc, _ = simulate("uncontrolled", fleet, mob, levels)
    np.testing.assert_allclose(p_ok, p_unc)
    assert (p_low <= 1e-9).all() and (p_low[:, fleet.bidirectional] < 0).any()
    assert p_high.sum() > p_unc.sum()  # absorbs beyond the target


def test_unknown_strategy_and_bad_curve_refused():
    fleet, mob, levels = setup(n=2)
    with pytest.raises(InputError, match="strategy: unknown 'greedy'"):
        make_strategy("greedy", Horizon(fleet=fleet, mobility=mob, levels=levels, dt_h=DT_H))
    with pytest.raises(InputError, match="increase"):
        VoltWattCurve(v_pu=(0.95, 0.92, 0.98))


def test_every_strategy_is_one_registered_class_with_its_docstring():
    """The registry is the list of choices (a new strategy is one new class), each class names itself and
    documents what it does; settings reach a class's parameters (`from_settings`)."""
    assert list(STRATEGY_CLASSES) == list(STRATEGIES)
    for name, cls in STRATEGY_CLASSES.items():
        assert issubclass(cls, Strategy) and cls.name == name and f"`{name}`" in cls.__doc__
    fleet, mob, levels = setup(n=4)
    horizon = Horizon(fleet=fleet, mobility=mob, levels=levels, dt_h=DT_H, n_steps=STEPS)
    assert (make_strategy("smart", horizon, start_delay_max_s=0.0)._wait_h == 0.0).all()
    assert STRATEGY_CLASSES["v2g_peak_shave"].aggregator and not STRATEGY_CLASSES["smart"].aggregator
