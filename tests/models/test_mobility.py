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
    trips = trips_from_table(table, vehicle_ids=["ev1", "ev3"], start=pd.Timestamp("2016-01-11"), dt_s=900)
    assert trips.vehicle.tolist() == [1] and trips.departure_step.tolist() == [28]
    assert trips.arrival_step.tolist() == [68]
    with pytest.raises(InputError, match="energy_kwh"):
        trips_from_table(table.drop(columns="energy_kwh"), vehicle_ids=["ev3"], start=pd.Timestamp("2016-01-11"), dt_s=900)
    bad = table.assign(arrival=table["departure"])
    with pytest.raises(InputError, match="after its departure"):
        trips_from_table(bad, vehicle_ids=["ev3"], start=pd.Timestamp("2016-01-11"), dt_s=900)
