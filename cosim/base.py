"""What every simulator here shares: mosaik-api-v3, one entity per population, one step per time unit.

The world's time resolution is the scenario's step (seconds), so mosaik time t is step t. Each simulator
receives the scenario as a JSON string (so it could also run out of process) and builds its arrays with
`build_inputs()`, which is cached in-process.
"""
import mosaik_api_v3
import numpy as np

from hostcap.cosim.scenario import Scenario, build_inputs


def meta(model: str, attrs: list[str]) -> dict:
    return {"api_version": "3.0", "type": "time-based",
            "models": {model: {"public": True, "params": [], "attrs": attrs}}}


class PopulationSim(mosaik_api_v3.Simulator):
    """One entity standing for a whole population; subclasses set MODEL and ATTRS."""

    MODEL: str = ""
    ATTRS: list[str] = []

    def __init__(self):
        super().__init__(meta(self.MODEL, self.ATTRS))
        self.eid = self.MODEL.lower()
        self.outputs: dict = {}

    def init(self, sid, time_resolution=1.0, scenario: str = "", **sim_params):
        self.scenario = Scenario.model_validate_json(scenario)
        self.inputs = build_inputs(self.scenario)
        self.dt_h = self.inputs.dt_s / 3600.0
        self.setup(**sim_params)
        return self.meta

    def setup(self, **sim_params) -> None:
        """Build the simulator's state from self.inputs."""

    def create(self, num, model, **model_params):
        if num != 1 or model != self.MODEL:
            raise ValueError(f"{type(self).__name__} has exactly one {self.MODEL} entity")
        return [{"eid": self.eid, "type": model}]

    def get_data(self, outputs):
        return {eid: {attr: self.outputs[attr] for attr in attrs} for eid, attrs in outputs.items()}


def summed(inputs: dict, attr: str, n: int) -> np.ndarray:
    """Sum of all sources' values (lists of length n) of one input attribute; zeros if none."""
    values = inputs.get(attr)
    if not values:
        return np.zeros(n)
    total = None
    for v in values.values():
        total = np.asarray(v, dtype=float) if total is None else total + np.asarray(v, dtype=float)
    return total
