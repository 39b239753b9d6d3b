"""Export limits at the meter and the IEEE 1547-2018 Category B volt-var curve."""
import numpy as np
import pytest

from hostcap.models.meter import VoltVarCurve, curtail_pv, limit_ev_export


def test_export_limit_cuts_ev_discharge_then_pv():
    # homes: 2 kW load; 1 kW load; PV surplus of 3 kW
    net = np.array([2.0, 1.0, -3.0])
    p_ev = np.array([-5.0, -5.0, -5.0])
    assert limit_ev_export(p_ev, net, 0.0) == pytest.approx([-2.0, -1.0, 0.0])
    assert limit_ev_export(p_ev, net, 1.5) == pytest.approx([-3.5, -2.5, 0.0])
    assert limit_ev_export(np.array([4.0, 0.0, 1.0]), net, 0.0) == pytest.approx([4.0, 0.0, 1.0])  # charging untouched
    pv = np.array([0.0, 0.5, 5.0])
    assert curtail_pv(np.array([0.0, 0.0, -3.0]), pv, 0.0) == pytest.approx([0.0, 0.0, 3.0])
    assert curtail_pv(np.array([0.0, 0.0, -3.0]), pv, 1.0) == pytest.approx([0.0, 0.0, 2.0])


def test_volt_var_category_b_defaults():
    curve = VoltVarCurve()
    s = np.full(6, 10.0)
    v = np.array([0.90, 0.92, 0.95, 1.00, 1.05, 1.10])
    q = curve.q_kvar(v, s, np.zeros(6))
    assert q == pytest.approx([-4.4, -4.4, -2.2, 0.0, 2.2, 4.4])  # >0 absorbs (load sign)
    # active power has priority: |q| <= sqrt(S^2 - p^2)
    assert curve.q_kvar(np.array([1.10]), np.array([10.0]), np.array([-9.8])) == pytest.approx([np.sqrt(100 - 96.04)])
    assert curve.q_kvar(np.array([1.10]), np.array([0.0]), np.array([0.0])) == pytest.approx([0.0])  # not plugged
