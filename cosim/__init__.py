"""Co-simulation: mosaik 3 simulators around models/ and the grid, and `run_scenario()`."""
