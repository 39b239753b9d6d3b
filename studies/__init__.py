"""Studies: the CLI, run outputs, and (later) study specs, sweeps, hosting capacity, maps and reports."""
