"""The mosaik 3 adapter layer: simulators that turn mosaik's calls into calls of the run's model objects
(`homes_sim.py`: the home step of models/; `grid_sim.py`: the feeder's power flow; `aggregator_sim.py`: the
`v2g_peak_shave` aggregator) and `world.run_world()`, which wires them for one run of S samples. The run
itself, its settings, inputs and results are `hostcap.studies.scenario`."""
