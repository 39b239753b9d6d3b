"""The `v2g_peak_shave` aggregator as its own mosaik simulator (one entity).

    Grid.Feeder --p_slack_kw (time-shifted)--> Aggregator --fleet_lo_kw, fleet_hi_kw--> Homes.Fleet
    Homes.Fleet --p_kw (time-shifted, as p_fleet_kw)--> Aggregator

It sees only what a real aggregator sees: the transformer's metered power and the fleet's own power of the
previous step, and its target; the fleet turns the bounds into per-EV power (`models/aggregator.py`).
Records the target it applied at each step.
"""
import numpy as np

from hostcap.cosim.base import PopulationSim, summed
from hostcap.cosim.base_case import no_ev_slack_kw
from hostcap.models.aggregator import fleet_bounds_kw


def daily_targets_kw(no_ev_kw: np.ndarray, steps_per_day: int, target_kw: float | str) -> np.ndarray:
    """Target per step: a fixed kW value, or `auto`: the previous day's highest no-EV demand (the first day
    its own)."""
    if target_kw != "auto":
        return np.full(len(no_ev_kw), float(target_kw))
    days = np.nanmax(np.asarray(no_ev_kw, float).reshape(-1, steps_per_day), axis=1)
    previous = np.concatenate([days[:1], days[:-1]])
    return np.repeat(previous, steps_per_day)


class AggregatorSim(PopulationSim):
    MODELS = {"Aggregator": ["p_slack_kw", "p_fleet_kw", "fleet_lo_kw", "fleet_hi_kw"]}

    def setup(self):
        inp, sc = self.inputs, self.scenario
        self.no_ev_kw = no_ev_slack_kw(sc)
        self.target_kw = daily_targets_kw(self.no_ev_kw, int(round(86400 / inp.dt_s)), sc.peak_target_kw)
        self.n_cp = len(inp.feeder.connection_points)
        self.record(peak_target_kw=None)

    def step(self, time, inputs, max_advance):
        inp = inputs.get("aggregator", {})
        p_slack = float(summed(inp, "p_slack_kw", 1)[0]) if "p_slack_kw" in inp else np.nan
        p_fleet = float(summed(inp, "p_fleet_kw", self.n_cp).sum())
        if not np.isfinite(p_slack):  # no reading (a diverged step): forecast from the no-EV baseline
            p_slack, p_fleet = self.no_ev_kw[time], 0.0
        lo, hi = fleet_bounds_kw(p_slack, p_fleet, self.target_kw[time], self.scenario.trafo_export_limit_kw)
        self.recording["peak_target_kw"][time] = self.target_kw[time]
        self.outputs = {"aggregator": {"fleet_lo_kw": lo, "fleet_hi_kw": hi}}
        return time + 1
