import numpy as np
import pandas as pd
import pytest

from hostcap.models.errors import InputError
from hostcap.models.mobility import Trips, build_mobility, draw_trips, trips_from_table


def test_dense_arrays_from_trips():
    trips = Trips(np.array([0, 0, 1]), np.array([2, 8, 3]), np.array([5, 10, 4]), np.array([4.0, 6.0, 1.0]))
    mob = build_mobility(trips, n_vehicles=2, n_steps=12)
    assert mob.plugged[:, 0].tolist() == [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    assert mob.plugged[:, 1].tolist() == [1, 1, 1, 0] + [1] * 8
    assert mob.departs[:, 0].nonzero()[0].tolist() == [2, 8]
    assert mob.next_departure_step[:, 0].tolist() == [2, 2, 2, 8, 8, 8, 8, 8, 8, 12, 12, 12]
    assert mob.next_trip_kwh[:, 0].tolist() == [4, 4, 4, 6, 6, 6, 6, 6, 6, 0, 0, 0]


def test_overlapping_trips_refused():
    trips = Trips(np.array([0, 0]), np.array([2, 3]), np.array([5, 6]), np.array([1.0, 1.0]))
    with pytest.raises(InputError, match="overlapping"):
        build_mobility(trips, n_vehicles=1, n_steps=10)


def test_draws_are_seeded_and_plausible():
    weekdays = pd.date_range("2016-01-11", periods=14, freq="D").weekday.to_numpy()
    a = draw_trips(np.random.default_rng(5), n_vehicles=500, weekdays=weekdays, steps_per_day=96)
    b = draw_trips(np.random.default_rng(5), n_vehicles=500, weekdays=weekdays, steps_per_day=96)
    assert all(np.array_equal(x, y) for x, y in zip(a.__dict__.values(), b.__dict__.values()))
    assert (a.arrival_step > a.departure_step).all()
    per_vehicle_day = a.energy_kwh.sum() / (500 * 14)
    assert 3.0 < per_vehicle_day < 10.0  # ~40 km * 0.18 kWh/km * share of driving days


def test_trip_table_mapping_and_errors(tmp_path):
    table = pd.DataFrame({"vehicle": ["ev3", "ev9"], "departure": ["2016-01-11 07:00", "2016-01-11 08:00"],
                          "arrival": ["2016-01-11 17:00", "2016-01-11 09:00"], "energy_kwh": [12.0, 3.0]})
    feeder = dict(possible_ids={"ev1", "ev3", "ev9"}, start=pd.Timestamp("2016-01-11"), dt_s=900)
    trips = trips_from_table(table, vehicle_ids=["ev1", "ev3"], capacity_kwh=np.array([50.0, 50.0]), **feeder)
    assert trips.vehicle.tolist() == [1] and trips.departure_step.tolist() == [28]  # ev9 was not drawn
    assert trips.arrival_step.tolist() == [68]
    one = dict(vehicle_ids=["ev3"], capacity_kwh=np.array([50.0]), **feeder)
    for bad, message in [(table.drop(columns="energy_kwh"), "energy_kwh"),
                         (table.assign(arrival=table["departure"]), "after its departure"),
                         (table.assign(vehicle=["ev3", "0"]), "vehicle '0' is no EV of this feeder"),
                         (table.assign(energy_kwh=[1e9, 3.0]), "a trip of 1e\\+09 kWh by ev3 needs more than its "
                                                               "battery \\(50 kWh\\)"),
                         (table.assign(energy_kwh=[np.inf, 3.0]), "finite number"),
                         (table.assign(departure=["2016-01-11T07:00+01:00", "2016-01-11T08:00+01:00"],
                                       arrival=["2016-01-11T17:00+01:00", "2016-01-11T09:00+01:00"]), "UTC offset")]:
        with pytest.raises(InputError, match=message):
            trips_from_table(bad, **one)


def test_drivers_who_plug_in_about_three_times_a_week_as_in_electric_nation():
    """p = 0.55 with the default trips: about three plug-ins a week, and a car is always plugged in once its
    trips since the last plug-in took more than PLUG_IN_DRIVEN_SHARE of its battery; p = 1: every return."""
    from hostcap.models.mobility import PLUG_IN_DRIVEN_SHARE, Trips, plugs_in
    from hostcap.studies.scenario.inputs import build_inputs
    from hostcap.studies.scenario.settings import Scenario

    every, some = (build_inputs(Scenario(penetration=1.0, days=28, plug_in_probability=p, battery_wear=None))
                   for p in (1.0, 0.55))
    n = every.n_steps

    def per_week(m):
        return (m.plugged[1:n] & ~m.plugged[:n - 1]).sum() / m.plugged.shape[1] / 4

    assert per_week(every.mobility) == pytest.approx((every.mobility.departs[:n]).sum() / every.fleet.n / 4, abs=0.05)
    assert 2.7 < per_week(some.mobility) < 3.6
    assert (every.mobility.departs == some.mobility.departs).all()  # the same trips, only the plugging differs
    # three trips of 10 kWh on a 60 kWh battery: never plugged in by chance, so after the third (30 kWh > 24)
    trips = Trips(np.zeros(3, np.int64), np.array([10, 30, 50]), np.array([20, 40, 60]), np.full(3, 10.0))
    plug = plugs_in(trips, u=np.ones(3), probability=0.5, capacity_kwh=np.array([60.0]))
    assert list(plug) == [False, False, True] and 30.0 > PLUG_IN_DRIVEN_SHARE * 60.0
