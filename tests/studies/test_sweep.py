import numpy as np

from hostcap.studies.scenario.inputs import build_inputs
from hostcap.studies.spec import parse_spec
from hostcap.studies.sweep import sweep

SPEC = {"name": "t", "periods": [{"name": "w", "start": "2016-01-11", "days": 1}],
        "strategies": ["uncontrolled", "smart", "v2g_tou"], "penetrations": [0.2, 0.4, 0.6], "samples": 2, "seed": 5}


def pick(scenarios, **where):
    return next(s for s in scenarios if all(getattr(s, k) == v for k, v in where.items()))


def test_nested_placement_and_identical_fleets_across_strategies():
    scenarios = sweep(parse_spec(SPEC))
    # level 0, the baseline, always runs, once: it has no random input
    assert len(scenarios) == 3 * (1 + 3 * 2) and parse_spec(SPEC).n_scenarios() == 3 * 4 * 2
    assert {s.penetration for s in scenarios} == {0.0, 0.2, 0.4, 0.6}
    for sample in (0, 1):
        evs = [set(build_inputs(pick(scenarios, strategy="smart", penetration=p, sample=sample)).fleet.vehicle_id)
               for p in (0.2, 0.4, 0.6)]
        assert evs[0] < evs[1] < evs[2]
        a = build_inputs(pick(scenarios, strategy="uncontrolled", penetration=0.4, sample=sample))
        b = build_inputs(pick(scenarios, strategy="v2g_tou", penetration=0.4, sample=sample))
        assert a.fleet.vehicle_id == b.fleet.vehicle_id
        np.testing.assert_array_equal(a.fleet.capacity_kwh, b.fleet.capacity_kwh)
        np.testing.assert_array_equal(a.fleet.bidirectional, b.fleet.bidirectional)
        np.testing.assert_array_equal(a.mobility.trip_kwh, b.mobility.trip_kwh)
        np.testing.assert_array_equal(a.mobility.plugged, b.mobility.plugged)
    s0 = build_inputs(pick(scenarios, strategy="smart", penetration=0.6, sample=0)).fleet.vehicle_id
    s1 = build_inputs(pick(scenarios, strategy="smart", penetration=0.6, sample=1)).fleet.vehicle_id
    assert s0 != s1  # samples draw different fleets


def test_keys_are_stable_and_seeds_do_not_depend_on_order():
    a = sweep(parse_spec(SPEC))
    b = sweep(parse_spec({**SPEC, "strategies": ["v2g_tou", "smart", "uncontrolled"], "penetrations": [0.6, 0.2, 0.4]}))
    assert sorted(s.model_dump_json() for s in a) == sorted(s.model_dump_json() for s in b)
