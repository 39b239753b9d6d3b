"""The zero- and negative-sequence data a three-phase power flow needs, where a feeder lacks them.

pandapower's `runpp_3ph` (and `feeders/powerflow/three_phase.py`, which solves the same equations) needs, besides the
positive-sequence data every feeder has:
- lines: `r0_ohm_per_km`, `x0_ohm_per_km`, `c0_nf_per_km`. Where missing: R0 = 4 R1 and X0 = 4 X1, the
  four-core LV cable whose neutral has the phase conductors' cross-section (the neutral carries the return
  current 3 I0, so Z0 ~ Zph + 3 Zn = 4 Z1; Kersting, "Distribution System Modeling and Analysis", 4th ed.,
  2017, ch. 4), and C0 = C1. SimBench feeders carry no zero-sequence data; the IEEE European LV test feeder
  carries its own (its cable: R0/R1 = 3.4) and keeps it.
- transformers: `vector_group` (from the standard type's name, e.g. "Dyn5" -> "Dyn", the usual MV/LV
  distribution transformer; "Dyn" when the name says nothing), `vk0_percent` = vk, `vkr0_percent` = vkr,
  `mag0_percent` = 100, `mag0_rx` = 0, `si0_hv_partial` = 0.9 (the values the IEEE European LV feeder's
  transformer carries in pandapower). Only earthed LV windings are accepted (Dyn, YNyn, Yzn, as pandapower's
  three-phase power flow supports): without an earthed star point a single-phase load has no return path.
- external grid: short-circuit power `s_sc_max_mva` = 100 MVA with R/X 0.1 and X0/X = 1, R0/X0 = 0.1, a
  typical 20 kV network (IEC 60909-0:2016 sec. 6.2 gives the network feeder's impedance from these); it
  only sets the negative sequence behind the transformer, which a Dyn transformer's LV side barely sees.
"""
import copy
import re

import numpy as np

from hostcap.models.errors import InputError

EARTHED_GROUPS = ("Dyn", "YNyn", "Yzn")
CABLE_Z0_PER_Z1 = 4.0
EXT_GRID_DEFAULTS = {"s_sc_max_mva": 100.0, "rx_max": 0.1, "x0x_max": 1.0, "r0x0_max": 0.1}
TRAFO_DEFAULTS = {"mag0_percent": 100.0, "mag0_rx": 0.0, "si0_hv_partial": 0.9}


def _missing(table, column: str) -> np.ndarray:
    if column not in table:
        return np.ones(len(table), bool)
    return table[column].isna().to_numpy()


def _fill(table, column: str, values) -> None:
    """Set `column` where it is missing (NaN or absent) to `values` (a scalar or one value per row)."""
    missing = _missing(table, column)
    if column not in table:
        table[column] = np.nan
    table[column] = table[column].astype(float)
    table.loc[missing, column] = np.broadcast_to(np.asarray(values, float), (len(table),))[missing]


def _vector_group(trafo) -> list[str]:
    groups = []
    for given, std_type in zip(trafo.get("vector_group", [None] * len(trafo)), trafo["std_type"]):
        if isinstance(given, str) and given:
            groups.append(re.sub(r"\d+$", "", given))
            continue
        found = re.search(r"\b(Dyn|YNyn|Yzn|Yyn|Yy|Dy|YNd|Yd)\d*\b", str(std_type or ""))
        groups.append(found.group(1) if found else "Dyn")
    return groups


def check_earthed(net, ref: str = "feeder") -> None:
    """Refuse, with one line, a transformer without an earthed LV star point (module docstring)."""
    if not len(net.trafo):
        return
    bad = [f"{i} ({g})" for i, g, on in zip(net.trafo.index, _vector_group(net.trafo), net.trafo["in_service"])
           if on and g not in EARTHED_GROUPS]
    if bad:
        raise InputError(f"feeder {ref}: transformer {bad[0]} has no earthed LV star point; an unbalanced power "
                         f"flow needs one of {', '.join(EARTHED_GROUPS)} (or use phases: balanced)")


def with_sequence_data(net, ref: str = "feeder"):
    """A copy of `net` with every zero/negative-sequence parameter a three-phase power flow needs (kept where
    given, filled as the module docstring says where not). Refuses a transformer without an earthed LV star
    point."""
    check_earthed(net, ref)
    net = copy.deepcopy(net)
    line = net.line
    _fill(line, "r0_ohm_per_km", CABLE_Z0_PER_Z1 * line["r_ohm_per_km"].to_numpy(float))
    _fill(line, "x0_ohm_per_km", CABLE_Z0_PER_Z1 * line["x_ohm_per_km"].to_numpy(float))
    _fill(line, "c0_nf_per_km", line["c_nf_per_km"].to_numpy(float))
    trafo = net.trafo
    if len(trafo):
        trafo["vector_group"] = _vector_group(trafo)
        _fill(trafo, "vk0_percent", trafo["vk_percent"].to_numpy(float))
        _fill(trafo, "vkr0_percent", trafo["vkr_percent"].to_numpy(float))
        for column, value in TRAFO_DEFAULTS.items():
            _fill(trafo, column, value)
    for column, value in EXT_GRID_DEFAULTS.items():
        _fill(net.ext_grid, column, value)
    return net
