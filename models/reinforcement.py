"""What an LV feeder needs so that its worst steps hold every limit: standard reinforcement measures, applied
one kind at a time and checked with a fresh pandapower power flow after each, as eDisGo's heuristic does
(openego/eDisGo, `edisgo/flex_opt/reinforce_grid.py`; its standard equipment, after Rehtanz et al.,
"Verteilnetzstudie für das Land Baden-Württemberg", 2017, and its costs, after the dena-Verteilnetzstudie, 2012):

1. an overloaded transformer is replaced by the smallest standard size that carries the worst step (pandapower's
   0.25, 0.4 and 0.63 MVA types of its voltage); above the largest, standard transformers are added in parallel;
2. an overloaded cable gets standard cables (NAYY 4x150) laid beside it, as many as its worst step needs;
3. a voltage outside the band: a standard cable is laid beside the line nearest the station on the path from the
   station to the worst bus that has none yet, one at a time, until every bus holds (the shortest reinforcement
   that moves the voltage most: the station's end of the path carries the whole path's current).

The steps are given as the power drawn at each bus (`p_mw`, `q_mvar`: steps x buses, negative: fed in), as a
run records it; the feeder's own loads and generators are replaced by them. Each measure names its element,
its length and its cost from a cost file (`studies/costs/`). What this leaves out: replacing a cable by a
larger one (it is paralleled), a feeder split or a new station, and the MV grid."""
import copy
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as top

from hostcap.models.errors import ModelError

MAX_MEASURES = 200


@dataclass(frozen=True)
class Costs:
    """Reinforcement costs and standard equipment (a cost file's fields; `studies/costs/de_dena.yaml`)."""

    lv_cable_keur_per_km: float  # including earthwork
    mv_lv_transformer_keur: float
    standard_cable: str = "NAYY 4x150 SE"
    largest_transformer_kva: float = 630.0


@dataclass(frozen=True)
class Measure:
    kind: str  # "transformer", "parallel transformer", "parallel cable (overload)", "parallel cable (voltage)"
    element: str  # e.g. "trafo 0", "line 12"
    detail: str
    length_km: float
    cost_eur: float
    capacity_kva: float = 0.0  # a transformer measure: the rated power it leaves (units x kVA)


@dataclass(frozen=True)
class Limits:
    v_min_pu: float = 0.9
    v_max_pu: float = 1.1
    line_loading_pct: float = 100.0
    trafo_loading_pct: float = 100.0


def _with_steps(net: pp.pandapowerNet) -> pp.pandapowerNet:
    """A copy of the feeder whose loads and generators are out of service and one load per bus carries a step."""
    net = copy.deepcopy(net)
    for table in ("load", "sgen", "storage"):
        if len(net[table]):
            net[table]["in_service"] = False
    net.load.drop(net.load.index[net.load["name"].eq("step")], inplace=True)
    for b in net.bus.index:
        pp.create_load(net, b, p_mw=0.0, q_mvar=0.0, name="step")
    return net


def _solve(net, p_mw: np.ndarray, q_mvar: np.ndarray) -> list[dict]:
    """Per step: bus voltages, line and transformer loadings from pandapower's Newton-Raphson power flow."""
    steps = net.load.index[net.load["name"].eq("step")]
    out = []
    for p, q in zip(p_mw, q_mvar):
        net.load.loc[steps, "p_mw"] = p
        net.load.loc[steps, "q_mvar"] = q
        pp.runpp(net, numba=False)
        out.append({"vm": net.res_bus["vm_pu"].copy(), "line": net.res_line["loading_percent"].copy(),
                    "trafo": net.res_trafo["loading_percent"].copy()})
    return out


def _worst(results: list[dict], key: str, how=np.max):
    return how(np.vstack([r[key].to_numpy() for r in results]), axis=0)


def _trafo_types(net, trafo: int) -> list[tuple[float, str]]:
    """The standard MV/LV transformer types for this transformer's voltages, by rated power (kVA)."""
    vn_hv, vn_lv = net.trafo.at[trafo, "vn_hv_kv"], net.trafo.at[trafo, "vn_lv_kv"]
    types = pp.available_std_types(net, "trafo")
    ok = types[np.isclose(types["vn_hv_kv"], vn_hv) & np.isclose(types["vn_lv_kv"], vn_lv)]
    return sorted((float(r.sn_mva) * 1e3, name) for name, r in ok.iterrows())


def _reinforce_transformers(net, loading: np.ndarray, limits: Limits, costs: Costs) -> list[Measure]:
    out = []
    for i, pct in zip(net.trafo.index, loading):
        if pct <= limits.trafo_loading_pct:
            continue
        parallel = int(net.trafo.at[i, "parallel"])
        need_kva = net.trafo.at[i, "sn_mva"] * 1e3 * parallel * pct / limits.trafo_loading_pct
        types = [t for t in _trafo_types(net, i) if t[0] <= costs.largest_transformer_kva]
        if not types:
            raise ModelError(f"reinforcement: no standard transformer for trafo {i}'s voltages")
        fits = [t for t in types if t[0] >= need_kva]
        kva, name = fits[0] if fits else types[-1]
        n = 1 if fits else int(np.ceil(need_kva / kva))
        old = net.trafo.at[i, "sn_mva"] * 1e3
        pp.change_std_type(net, i, name, element="trafo")
        net.trafo.at[i, "parallel"] = n
        kind = "transformer" if n == 1 else "parallel transformer"
        out.append(Measure(kind, f"trafo {i}", f"{parallel} x {old:g} kVA -> {n} x {kva:g} kVA ({name})", 0.0,
                           n * costs.mv_lv_transformer_keur * 1e3, n * kva))
    return out


def _parallel_cable(net, line: int, n: int, costs: Costs, kind: str) -> Measure:
    length = float(net.line.at[line, "length_km"])
    pp.create_line(net, net.line.at[line, "from_bus"], net.line.at[line, "to_bus"], length, costs.standard_cable,
                   parallel=n, name=f"reinforcement of line {line}")
    return Measure(kind, f"line {line}", f"{n} x {costs.standard_cable} beside it", n * length,
                   n * length * costs.lv_cable_keur_per_km * 1e3)


def _reinforce_overloads(net, loading: np.ndarray, limits: Limits, costs: Costs) -> list[Measure]:
    out = []
    cable = pp.load_std_type(net, costs.standard_cable, "line")
    for i, pct in zip(net.line.index, loading):
        if pct <= limits.line_loading_pct:
            continue
        own_ka = net.line.at[i, "max_i_ka"] * net.line.at[i, "df"] * net.line.at[i, "parallel"]  # its rating
        n = int(np.ceil(own_ka * (pct / limits.line_loading_pct - 1.0) / cable["max_i_ka"]))
        out.append(_parallel_cable(net, i, max(n, 1), costs, "parallel cable (overload)"))
    return out


def _path_lines(net, station_bus: int, bus: int) -> list[int]:
    """The lines on the path from the station's LV bus to `bus`, station end first."""
    graph = top.create_nxgraph(net, include_trafos=False, multi=True)
    nodes = nx.shortest_path(graph, station_bus, bus)
    lines = []
    for a, b in zip(nodes[:-1], nodes[1:]):
        edges = [k for k in graph[a][b] if k[0] == "line"]
        lines.append(min(k[1] for k in edges))
    return lines


def reinforce(net: pp.pandapowerNet, p_mw: np.ndarray, q_mvar: np.ndarray, costs: Costs,
              limits: Limits = Limits()) -> tuple[pp.pandapowerNet, list[Measure]]:
    """The reinforced feeder (a copy, with the steps' loads in place) and the measures that make every step
    hold the limits (the module docstring); ModelError if MAX_MEASURES do not."""
    net = _with_steps(net)
    p_mw, q_mvar = np.atleast_2d(p_mw), np.atleast_2d(q_mvar)
    station = int(net.trafo["lv_bus"].iloc[0])
    done_for_voltage: set[int] = set()
    measures: list[Measure] = []
    while len(measures) < MAX_MEASURES:
        res = _solve(net, p_mw, q_mvar)
        trafo, line = _worst(res, "trafo"), _worst(res, "line")
        if (trafo > limits.trafo_loading_pct).any():
            measures += _reinforce_transformers(net, trafo, limits, costs)
            continue
        if (line > limits.line_loading_pct).any():
            measures += _reinforce_overloads(net, line, limits, costs)
            continue
        lo, hi = _worst(res, "vm", np.min), _worst(res, "vm", np.max)
        off = np.maximum(limits.v_min_pu - lo, hi - limits.v_max_pu)
        lv = net.bus["vn_kv"].to_numpy() < 1.0
        if not (off[lv] > 1e-9).any():
            return net, measures
        worst = int(net.bus.index[lv][np.argmax(off[lv])])
        todo = [ln for ln in _path_lines(net, station, worst) if ln not in done_for_voltage]
        if not todo:
            raise ModelError(f"reinforcement: bus {worst} stays outside the voltage band with every line to it "
                             "paralleled (it needs a feeder split or a new station)")
        done_for_voltage.add(todo[0])
        measures.append(_parallel_cable(net, todo[0], 1, costs, "parallel cable (voltage)"))
    raise ModelError(f"reinforcement: the limits still break after {MAX_MEASURES} measures")
