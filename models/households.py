"""Households: active and reactive demand from the feeder's load profiles and their heat pumps
(`models/heat_pump.py`), rooftop PV from its sgen profiles (unity power factor, as SimBench's sgens), arrays of
shape (n_steps, n_connection_points), and their PV home batteries (`models/battery.py`) with what those do when
the homes have no EV."""
from dataclasses import dataclass

import numpy as np

from hostcap.models.battery import HomeBatteries
from hostcap.models.heat_pump import HeatPumps


@dataclass(frozen=True)
class Households:
    p_load_kw: np.ndarray
    q_load_kvar: np.ndarray
    p_pv_kw: np.ndarray
    batteries: HomeBatteries
    p_battery_no_ev_kw: np.ndarray  # the batteries' power with no EV (`battery_series` on load - PV)
    p_heat_pump_kw: np.ndarray  # the heat pumps' part of p_load_kw
    heat_pumps: HeatPumps
    hp_el_kw: np.ndarray  # (n_steps, n_heat_pumps) each heat pump's electric power, undimmed
    hp_heat_kw: np.ndarray  # (n_steps, n_heat_pumps) the heat it delivers (its home's demand)

    def net_p_kw(self, t: int) -> np.ndarray:
        """Net active demand per connection point at step t before any battery (load minus PV; <0 exports)."""
        return self.p_load_kw[t] - self.p_pv_kw[t]

    def no_ev_p_kw(self, t: int) -> np.ndarray:
        """Net active demand per connection point at step t of the homes without EVs, batteries included."""
        return self.p_load_kw[t] - self.p_pv_kw[t] + self.p_battery_no_ev_kw[t]

    def q_kvar(self, t: int) -> np.ndarray:
        return self.q_load_kvar[t]


def resample(a: np.ndarray, factor: float) -> np.ndarray:
    """Change the step of a (steps x columns) profile by `factor` = new step / old step: block means when
    coarser (energy-preserving), repeated values when finer. factor or 1/factor must be an integer."""
    if factor >= 1:
        k = int(round(factor))
        n = a.shape[0] // k
        return a[: n * k].reshape(n, k, *a.shape[1:]).mean(axis=1)
    return np.repeat(a, int(round(1 / factor)), axis=0)
