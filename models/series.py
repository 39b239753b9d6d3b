"""The series a run records, declared once: name, who records it, its shape, unit, when it is recorded, and
the pandapower OutputWriter table it is written as (`studies/outputs.py`). The simulators preallocate and
fill their recordings from this table (`cosim/base.py`), the study runner's memory model sizes a run by it
(`studies/memory.py`) and the writers name their tables by it.

Shapes are given per sample and step by dimension names: `ev` (the sample's EVs), `cp` (connection points),
`bus`, `line`, `trafo` (the net's elements, in table order) and `phase` (a, b, c). A recording holds
S x steps x shape; a series with `per_step=False` is one value per run and element (S x shape). A table
name holds `{3ph}` where the balanced and three-phase tables differ (`res_line_3ph/...`) and `{phase}` where a
`phase` dimension is written as one table per phase (`res_bus_3ph/vm_a_pu`, ...).
"""
from dataclasses import dataclass
from math import prod

PHASES = "abc"
CONDITIONS = ("always", "balanced", "unbalanced", "batteries", "outages", "aggregator", "dimming")


@dataclass(frozen=True)
class Series:
    name: str
    source: str  # the simulator that records it: homes, grid, aggregator or dso
    dims: tuple[str, ...]
    unit: str
    when: str = "always"  # one of CONDITIONS
    table: str | None = None  # OutputWriter table; None: not written as a table of its own
    per_step: bool = True
    description: str = ""

    def shape(self, sizes: dict[str, int]) -> tuple[int, ...]:
        """The shape of one sample's value at one step (of the run for `per_step=False`)."""
        return tuple(3 if d == "phase" else sizes[d] for d in self.dims)

    def tables(self, unbalanced: bool) -> list[str]:
        """The OutputWriter tables this series is written as (one per phase for a `phase` dimension)."""
        if self.table is None:
            return []
        name = self.table.replace("{3ph}", "_3ph" if unbalanced else "")
        return [name.format(phase=ph) for ph in PHASES] if "{phase}" in name else [name]


SERIES = (
    # the homes (`models/home.py`)
    Series("ev_p_kw", "homes", ("ev",), "kW", table="ev/p_kw", description="each EV's power, >0 charging"),
    Series("ev_q_kvar", "homes", ("ev",), "kvar", description="each charger's reactive power (volt-var)"),
    Series("ev_e_kwh", "homes", ("ev",), "kWh", table="ev/soc_kwh", description="each EV's stored energy"),
    Series("pv_curtailed_kw", "homes", ("cp",), "kW", description="PV curtailed for the export limit"),
    Series("battery_p_kw", "homes", ("cp",), "kW", "batteries", "storage/p_kw", description="home batteries"),
    Series("battery_e_kwh", "homes", ("cp",), "kWh", "batteries", "storage/e_kwh"),
    Series("powered", "homes", ("cp",), "1", "outages", description="1 where the connection point has supply"),
    Series("islanded", "homes", ("cp",), "1", "outages", description="EVs islanding the home"),
    Series("backup_served_kw", "homes", ("cp",), "kW", "outages", description="demand served by V2H backup"),
    Series("ev_unmet_kwh", "homes", ("ev",), "kWh", per_step=False, description="shortfall at departures"),
    Series("ev_driven_kwh", "homes", ("ev",), "kWh", per_step=False, description="energy driven"),
    Series("ev_trips_short_after_outage", "homes", ("ev",), "1", "outages", per_step=False,
           description="trips the battery could not cover after its home had been dark"),
    Series("heat_pump_p_kw", "homes", ("cp",), "kW", "dimming", "heat_pump/p_kw",
           description="the heat pumps' power, dimmed (`models/dimming.py`)"),
    Series("heat_deficit_kwh", "homes", ("cp",), "kWh", "dimming",
           description="heat the dimmed heat pumps owe their home"),
    Series("ev_dimmed_kwh", "homes", ("ev",), "kWh", "dimming", per_step=False,
           description="charging the EV's charger could not draw while dimmed"),
    # the feeder (`feeders/powerflow/feeder_step.py`)
    Series("vm_pu", "grid", ("bus",), "pu", "balanced", "res_bus/vm_pu", description="bus voltage"),
    Series("vm_abc_pu", "grid", ("bus", "phase"), "pu", "unbalanced", "res_bus_3ph/vm_{phase}_pu"),
    Series("vuf_pct", "grid", ("bus",), "%", "unbalanced", "res_bus_3ph/unbalance_percent",
           description="voltage unbalance factor |V2|/|V1|"),
    Series("line_loading_pct", "grid", ("line",), "%", table="res_line{3ph}/loading_percent"),
    Series("line_i_n_ka", "grid", ("line",), "kA", "unbalanced", "res_line_3ph/i_n_ka",
           description="neutral current"),
    Series("trafo_loading_pct", "grid", ("trafo",), "%", table="res_trafo{3ph}/loading_percent"),
    Series("p_bus_mw", "grid", ("bus",), "MW", table="bus/p_mw", description="net demand per bus, load sign"),
    Series("q_bus_mvar", "grid", ("bus",), "Mvar", table="bus/q_mvar"),
    Series("p_abc_bus_mw", "grid", ("bus", "phase"), "MW", "unbalanced", "bus/p_{phase}_mw"),
    Series("q_abc_bus_mvar", "grid", ("bus", "phase"), "Mvar", "unbalanced", "bus/q_{phase}_mvar"),
    Series("p_slack_mw", "grid", (), "MW", table="res_ext_grid/p_mw", description="the transformer's import"),
    Series("q_slack_mvar", "grid", (), "Mvar", table="res_ext_grid/q_mvar"),
    Series("converged", "grid", (), "1", description="1 where the step's power flow converged"),
    # the aggregator (`models/aggregator.py`)
    Series("peak_target_kw", "aggregator", (), "kW", "aggregator", description="transformer import target"),
    Series("fill_level_kw", "aggregator", (), "kW", "aggregator", description="valley-fill level"),
    # the grid operator's §14a dimming (`models/dimming.py`)
    Series("dimmed", "dso", (), "1", "dimming", description="1 where the operator dims the step"),
)
BY_NAME = {s.name: s for s in SERIES}
EXTREMES = "feeder/extremes"  # derived per step from the voltages and transformer loading (`studies/outputs.py`)


def recorded(source: str | None = None, *, unbalanced: bool, batteries: bool, outages: bool,
             aggregator: bool, dimming: bool = False) -> list[Series]:
    """The series a run records (of one source, or all), given what the run has."""
    held = {"always": True, "balanced": not unbalanced, "unbalanced": unbalanced, "batteries": batteries,
            "outages": outages, "aggregator": aggregator, "dimming": dimming}
    return [s for s in SERIES if held[s.when] and (source is None or s.source == source)]


def table_names() -> tuple[str, ...]:
    """Every OutputWriter table a run may write (balanced or three-phase), and the derived extremes."""
    names = [t for s in SERIES for unb in (False, True) for t in s.tables(unb)
             if not (s.when == "unbalanced" and not unb) and not (s.when == "balanced" and unb)]
    return (*dict.fromkeys(names), EXTREMES)


def bytes_per_step(series: list[Series], sizes: dict[str, int], itemsize: int = 8) -> int:
    """Memory of one sample's recordings per step."""
    return sum(prod(s.shape(sizes)) * itemsize for s in series if s.per_step)
