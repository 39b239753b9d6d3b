"""Per-node headroom by bisection on the fast power flow, against the limit worked out by hand: a short cable whose
rated current binds, a long one whose far-end voltage binds, and generation against the band's upper limit; and
pandapower agrees that 1 % more breaks the limit and 1 % less does not."""
import copy

import numpy as np
import pandapower as pp
import pytest

from hostcap.feeders.powerflow import FastSolver
from hostcap.models.headroom import bus_headroom
from hostcap.models.reinforcement import Limits

LIMITS = Limits(v_min_pu=0.9, v_max_pu=1.1, line_loading_pct=100.0, trafo_loading_pct=100.0)


def one_cable(length_km: float) -> pp.pandapowerNet:
    """MV slack, a 1 MVA transformer (never the limit here) and one NAYY 4x150 cable to a far bus."""
    net = pp.create_empty_network()
    mv, station, far = pp.create_bus(net, 20.0), pp.create_bus(net, 0.4), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, mv)
    pp.create_transformer_from_parameters(net, mv, station, sn_mva=1.0, vn_hv_kv=20.0, vn_lv_kv=0.4, vk_percent=6.0,
                                          vkr_percent=1.0, pfe_kw=0.0, i0_percent=0.0)
    pp.create_line(net, station, far, length_km, "NAYY 4x150 SE")
    return net


def far_end(net, length_km: float, generation: bool = False):
    names = (net.bus.index.to_numpy(), net.line.index.to_numpy(), net.trafo.index.to_numpy())
    zero = np.zeros((1, len(net.bus)))
    return bus_headroom(FastSolver(net), zero, zero, np.array([2]), LIMITS, generation, names=names)


def pandapower_at(net, p_mw: float) -> pp.pandapowerNet:
    net = copy.deepcopy(net)
    pp.create_load(net, 2, p_mw=p_mw)
    pp.runpp(net, numba=False)
    return net


def test_a_short_cable_binds_at_its_rated_current():
    net = one_cable(0.01)
    h = far_end(net, 0.01)
    assert h.limit == ["line 0"]
    kw = float(h.kw[0])
    at = pandapower_at(net, kw / 1e3)
    i_max_ka = float(net.line.at[0, "max_i_ka"])
    by_hand_kw = np.sqrt(3) * 0.4 * at.res_bus.at[2, "vm_pu"] * i_max_ka * 1e3  # P = sqrt(3) V I at pf 1
    assert kw == pytest.approx(by_hand_kw, rel=0.01)
    assert pandapower_at(net, 1.01 * kw / 1e3).res_line.at[0, "loading_percent"] > 100
    assert pandapower_at(net, 0.99 * kw / 1e3).res_line.at[0, "loading_percent"] <= 100


def test_a_long_cable_binds_at_the_far_ends_voltage_and_generation_at_the_upper_limit():
    net = one_cable(0.6)
    load = far_end(net, 0.6)
    assert load.limit == ["undervoltage bus 2"]
    assert pandapower_at(net, 1.01 * load.kw[0] / 1e3).res_bus.at[2, "vm_pu"] < 0.9
    assert pandapower_at(net, 0.99 * load.kw[0] / 1e3).res_bus.at[2, "vm_pu"] >= 0.9
    gen = far_end(net, 0.6, generation=True)
    assert gen.limit[0] in ("overvoltage bus 2", "line 0")
    at = pandapower_at(net, -0.99 * gen.kw[0] / 1e3)
    assert at.res_bus.at[2, "vm_pu"] <= 1.1 and at.res_line.at[0, "loading_percent"] <= 100
    over = pandapower_at(net, -1.01 * gen.kw[0] / 1e3)
    assert over.res_bus.at[2, "vm_pu"] > 1.1 or over.res_line.at[0, "loading_percent"] > 100


def test_a_bus_that_breaks_a_limit_already_has_none():
    net = one_cable(0.01)
    names = (net.bus.index.to_numpy(), net.line.index.to_numpy(), net.trafo.index.to_numpy())
    p = np.zeros((1, len(net.bus)))
    p[0, 2] = 0.25  # 250 kW at the far end: above the cable's rating already
    h = bus_headroom(FastSolver(net), p, np.zeros_like(p), np.array([1, 2]), LIMITS, names=names)
    assert list(h.kw) == [0.0, 0.0] and h.limit == ["line 0", "line 0"]
