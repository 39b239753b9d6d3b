"""Refuse feeders a study cannot trust, each with one message naming what is wrong."""
import networkx as nx
import pandapower as pp
import pandapower.topology as top

from hostcap.models.errors import InputError


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
