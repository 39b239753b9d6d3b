"""Co-simulation: mosaik 3 simulators around models/ and the grid, `run_scenario()` and `run_batch()` (S
Monte Carlo samples in one world)."""
