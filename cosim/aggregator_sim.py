"""The `v2g_peak_shave` aggregator as its own mosaik simulator (one entity).

    Grid.Feeder --p_slack_kw--> Aggregator --fleet_lo_kw, fleet_hi_kw (time-shifted)--> Homes.Fleet
    Homes.Fleet --p_total_kw (as p_fleet_kw), due_kwh--> Aggregator

At the end of each step it reads what a real aggregator sees, the transformer's metered power and its
fleet's telemetry (power, the energy still needed, when the EVs leave), and sets the fleet's bounds for
the next step with that step's target and valley-fill level; the fleet turns the bounds into per-EV power
(`models/aggregator.py`). One time-shifted connection closes the loop. Records the target and the fill
level of each step. Each sample of a batch has its own aggregator state (readings, bounds, fill level): the
values crossing mosaik hold one entry per sample.
"""
import numpy as np

from hostcap.cosim.base import PopulationSim, summed
from hostcap.cosim.base_case import no_ev_slack_kw
from hostcap.models.aggregator import DEADLINE_HOURS, deadline_fill_level_kw, fleet_bounds_kw


def daily_targets_kw(no_ev_kw: np.ndarray, steps_per_day: int, target_kw: float | str) -> np.ndarray:
    """Target per step: a fixed kW value, or `auto`: the previous day's highest no-EV demand (the first day
    its own)."""
    if target_kw != "auto":
        return np.full(len(no_ev_kw), float(target_kw))
    days = np.nanmax(np.asarray(no_ev_kw, float).reshape(-1, steps_per_day), axis=1)
    previous = np.concatenate([days[:1], days[:-1]])
    return np.repeat(previous, steps_per_day)


def first_bounds_kw(scenario, n_samples: int) -> dict:
    """The bounds for the run's first step, before any reading: from the no-EV forecast (one per sample)."""
    no_ev = no_ev_slack_kw(scenario)
    target = daily_targets_kw(no_ev, int(round(1440 / scenario.step_min)), scenario.peak_target_kw)[0]
    lo, hi = fleet_bounds_kw(float(no_ev[0]), 0.0, target, scenario.trafo_export_limit_kw)
    return {"fleet_lo_kw": np.full(n_samples, lo), "fleet_hi_kw": np.full(n_samples, hi)}


class AggregatorSim(PopulationSim):
    MODELS = {"Aggregator": ["p_slack_kw", "p_fleet_kw", "due_kwh", "fleet_lo_kw", "fleet_hi_kw"]}

    def setup(self):
        inp, sc = self.inputs, self.scenario
        self.no_ev_kw = no_ev_slack_kw(sc)
        spd = int(round(86400 / inp.dt_s))
        self.target_kw = daily_targets_kw(self.no_ev_kw, spd, sc.peak_target_kw)
        # day-ahead forecast: the previous day's no-EV demand at the same time (the first day its own),
        # one more day past the run's end
        self.forecast_kw = np.concatenate([self.no_ev_kw[:spd], self.no_ev_kw])  # the day before, same time
        self.ends = np.arange(1, DEADLINE_HOURS + 1) * int(round(3600.0 / inp.dt_s))  # steps to each deadline
        self.record(peak_target_kw=(), fill_level_kw=())

    def step(self, time, inputs, max_advance):
        inp = inputs.get("aggregator", {})
        p_slack, p_fleet = summed(inp, "p_slack_kw"), summed(inp, "p_fleet_kw")
        nxt = min(time + 1, len(self.target_kw) - 1)
        blind = ~np.isfinite(p_slack)  # no reading (a diverged step): forecast from the no-EV baseline
        p_slack, p_fleet = np.where(blind, self.no_ev_kw[nxt], p_slack), np.where(blind, 0.0, p_fleet)
        due = summed(inp, "due_kwh").reshape(self.n_samples, DEADLINE_HOURS)
        ahead = self.forecast_kw[nxt:nxt + self.ends[-1]]
        fill = np.array([deadline_fill_level_kw(ahead, d, self.ends, self.dt_h) for d in due])
        lo, hi = fleet_bounds_kw(p_slack, p_fleet, self.target_kw[nxt], self.scenario.trafo_export_limit_kw, fill,
                                 self.forecast_kw[nxt])
        self.recording["peak_target_kw"][:, time] = self.target_kw[time]
        self.recording["fill_level_kw"][:, time] = fill
        self.outputs = {"aggregator": {"fleet_lo_kw": lo, "fleet_hi_kw": hi}}
        return time + 1
