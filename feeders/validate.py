"""Refuse feeders a study cannot trust, each with one message naming what is wrong."""
import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as top

from hostcap.models.errors import InputError

MAX_ELEMENT_MW = 1000.0  # a load or generator above a GW is no distribution customer: a unit error
MAX_ELEMENT_MW_TEXT = f"a finite number of at most {MAX_ELEMENT_MW:g} MW (Mvar) in size"
# (table, column, what a value must be, test): values nothing can be computed from (a NaN load, a line of no
# impedance: a power flow divides by it) or that describe no real feeder (a negative length). Lines in or out of
# service alike: a switch may put one back.
VALUE_RULES = [
    ("line", "length_km", "finite and above 0", lambda v: np.isfinite(v) & (v > 0)),
    ("line", "r_ohm_per_km", "finite and at least 0", lambda v: np.isfinite(v) & (v >= 0)),
    ("line", "x_ohm_per_km", "finite and at least 0", lambda v: np.isfinite(v) & (v >= 0)),
    ("line", "max_i_ka", "finite and above 0", lambda v: np.isfinite(v) & (v > 0)),
    ("bus", "vn_kv", "finite and above 0", lambda v: np.isfinite(v) & (v > 0)),
    ("trafo", "sn_mva", "finite and above 0", lambda v: np.isfinite(v) & (v > 0)),
    ("trafo", "vk_percent", "finite and above 0", lambda v: np.isfinite(v) & (v > 0)),
    ("trafo", "vkr_percent", "finite and at least 0", lambda v: np.isfinite(v) & (v >= 0)),
    ("ext_grid", "vm_pu", "finite and above 0", lambda v: np.isfinite(v) & (v > 0)),
    ("load", "p_mw", MAX_ELEMENT_MW_TEXT, lambda v: np.abs(v) <= MAX_ELEMENT_MW),
    ("load", "q_mvar", MAX_ELEMENT_MW_TEXT, lambda v: np.abs(v) <= MAX_ELEMENT_MW),
    ("sgen", "p_mw", MAX_ELEMENT_MW_TEXT, lambda v: np.abs(v) <= MAX_ELEMENT_MW),
]


def check_values(net, ref: str) -> None:
    """Refuse a line of non-finite, negative or zero length, impedance or rating, a bus, transformer or
    external grid of no finite rating, and a load or sgen of non-finite power, naming the element and the
    value; before anything is built from the net."""
    for table, column, must, ok in VALUE_RULES:
        values = net[table][column].to_numpy(float)
        bad = np.flatnonzero(~ok(values))
        if bad.size:
            raise InputError(f"feeder {ref}: {table} {net[table].index[bad[0]]}: {column} is {values[bad[0]]:g}; "
                             f"it must be {must}")
    z = np.hypot(net.line["r_ohm_per_km"].to_numpy(float), net.line["x_ohm_per_km"].to_numpy(float))
    bad = np.flatnonzero(z == 0)
    if bad.size:
        raise InputError(f"feeder {ref}: line {net.line.index[bad[0]]}: r_ohm_per_km and x_ohm_per_km are both 0; "
                         "a line has an impedance")


def validate_net(net, ref: str) -> None:
    """No external grid, islanded buses, no loads or a diverging base-case power flow are refused."""
    ext = net.ext_grid[net.ext_grid.in_service]
    if ext.empty:
        raise InputError(f"feeder {ref}: no external grid (slack) in service")
    if net.load[net.load.in_service].empty:
        raise InputError(f"feeder {ref}: no loads in service")
    graph = top.create_nxgraph(net, respect_switches=True, include_out_of_service=False)
    supplied = set()
    for bus in ext.bus:
        supplied |= nx.node_connected_component(graph, bus)
    islanded = sorted(set(net.bus.index[net.bus.in_service]) - supplied)
    if islanded:
        names = ", ".join(str(b) for b in islanded[:5]) + (" ..." if len(islanded) > 5 else "")
        raise InputError(f"feeder {ref}: {len(islanded)} bus(es) not connected to the slack: {names}")
    try:
        pp.runpp(net, numba=False)  # a check of one power flow: numba's compile (3 s a process) buys nothing
    except pp.LoadflowNotConverged:
        raise InputError(f"feeder {ref}: base-case power flow does not converge") from None
