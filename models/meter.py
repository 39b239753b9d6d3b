"""Utility rules at the household meter and the bidirectional charger's reactive power.

Export limit (`export_limit_kw`, per connection point): the meter's net export (EV discharge plus PV minus
the household's own load) may not exceed the limit; 0 means no export (a "zero export" connection, as
G100 export limitation in Great Britain or "Nulleinspeisung" in Germany). The EV's discharge is cut first;
what PV alone still exports beyond the limit is curtailed at the inverter.

Volt-var (`q_control: volt_var`): IEEE 1547-2018 clause 5.3.3, Table 8, Category B default curve:
V1 0.92 pu -> 44 % of the nameplate apparent power injected, V2 0.98 and V3 1.02 pu -> 0,
V4 1.08 pu -> 44 % absorbed, linear in between and flat beyond. Applied by bidirectional chargers while
plugged in, nameplate = their discharge rating, with active-power priority (|q| <= sqrt(S^2 - p^2)).
Sign as pandapower loads: q > 0 absorbs (consumes) reactive power and lowers the voltage.
"""
from dataclasses import dataclass

import numpy as np


def limit_ev_export(p_ev_kw: np.ndarray, household_net_kw: np.ndarray, limit_kw: float,
                    home_share: np.ndarray | float = 1.0) -> np.ndarray:
    """EV power (per EV) with discharge cut so that the meter exports at most `limit_kw`: household_net +
    the home's EVs' power >= -limit. household_net_kw is per EV's connection point; each EV may take its
    `home_share` (`Fleet.home_share`) of the meter's room."""
    return np.maximum(p_ev_kw, -np.maximum(household_net_kw + limit_kw, 0.0) * home_share)


def curtail_pv(net_kw: np.ndarray, pv_kw: np.ndarray, limit_kw: float) -> np.ndarray:
    """PV to curtail per connection point (kW, <= its PV) so that net demand >= -limit_kw."""
    return np.minimum(np.maximum(-limit_kw - net_kw, 0.0), pv_kw)


@dataclass(frozen=True)
class VoltVarCurve:
    """Breakpoints (pu) and reactive power as a share of nameplate apparent power, >0 absorbing."""

    v_pu: tuple[float, ...] = (0.92, 0.98, 1.02, 1.08)
    q_frac: tuple[float, ...] = (-0.44, 0.0, 0.0, 0.44)

    def q_kvar(self, v_pu: np.ndarray, s_kva: np.ndarray, p_kw: np.ndarray) -> np.ndarray:
        """Reactive power at voltage v_pu for chargers of apparent power s_kva delivering p_kw."""
        q = np.interp(v_pu, self.v_pu, self.q_frac) * s_kva
        room = np.sqrt(np.maximum(s_kva**2 - p_kw**2, 0.0))
        return np.clip(q, -room, room)
