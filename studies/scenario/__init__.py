"""One run of the co-simulation, outside the mosaik layer: its settings (`settings.py`: `Scenario`,
`RunSettings`), its inputs (`inputs.py`), the feeder without EVs (`base_case.py`), the run itself
(`run.py`: `run_scenario`, `run_batch`) and what it gives (`result.py`: `RunResult`)."""
