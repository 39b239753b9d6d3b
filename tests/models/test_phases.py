"""Phase connections: who is on which phase, and the draws are balanced in expectation."""
import numpy as np

from hostcap.models.phases import cap_chargers, draw_circuits, phase_weights, single_phase_connection


def test_circuits_keep_the_feeders_phase_and_draw_three_phase_homes_evenly():
    phase = np.array(["abc"] * 30_000 + ["b", "c", "a"])
    circuit = draw_circuits(np.random.default_rng(1), phase)
    np.testing.assert_array_equal(circuit[-3:], [1, 2, 0])
    share = np.bincount(circuit[:-3], minlength=3) / 30_000
    assert np.all(np.abs(share - 1 / 3) < 4 * np.sqrt(2 / 9 / 30_000))  # within 4 standard errors
    again = draw_circuits(np.random.default_rng(1), phase)
    np.testing.assert_array_equal(circuit, again)


def test_weights_follow_the_devices_size_and_the_connection():
    phase = np.array(["abc", "abc", "c", "abc"])
    circuit = np.array([0, 1, 2, 2])
    w = phase_weights(phase=phase, circuit=circuit, pv_rated_kw=np.array([4.6, 7.8, 10.0, 0.0]),
                      ev_cp=np.array([0, 1, 2]), ev_p_ch_max_kw=np.array([3.7, 11.0, 7.4]))
    for m in (w.load, w.pv, w.ev):
        np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(w.load[[0, 1, 3]], 1 / 3)  # a symmetric load stays symmetric
    np.testing.assert_array_equal(w.load[2], [0, 0, 1])  # a single-phase home on its phase
    np.testing.assert_array_equal(w.pv[0], [1, 0, 0])  # 4.6 kW: single-phase, on the circuit
    np.testing.assert_allclose(w.pv[1], 1 / 3)  # above VDE-AR-N 4105's 4.6 kVA: three-phase
    np.testing.assert_array_equal(w.pv[2], [0, 0, 1])  # a single-phase home's PV is single-phase
    np.testing.assert_array_equal(w.ev[0], [1, 0, 0])  # a 3.7 kW wallbox on the circuit
    np.testing.assert_allclose(w.ev[1], 1 / 3)  # 11 kW: three-phase
    np.testing.assert_array_equal(w.ev[2], [0, 0, 1])  # on the home's phase


def test_a_single_phase_home_takes_at_most_a_single_phase_charger():
    single = single_phase_connection(np.array(["a", "abc"]))
    np.testing.assert_array_equal(single, [True, False])
    np.testing.assert_array_equal(cap_chargers(np.array([11.0, 11.0]), single), [7.4, 11.0])
