"""Rooftop PV that households add along an adoption pathway (`pv` in a study's `pathway`, `pv_share` of a run):
who gets a system and how large, drawn once per study seed and feeder (not per Monte Carlo sample, like the
heat pumps: every sample and level of a feeder sees the same PV), nested over shares.

The feeder's own PV counts: a household whose connection point already has PV is one of the share. Each other
household has a candidate system whose size is drawn whether it adopts or not, so a home's system is the same at
every share: lognormal, median `median_kwp` 8 kWp, sigma 0.35, at most `max_kwp` 30 kWp (a documented
assumption: German homes mostly install 5-15 kWp, and 30 kWp is the EEG's limit for the simplest small-system
rules). It produces SimBench's rooftop PV profile PV3 times its rating (`feeders/profiles.pv_shape`), at unity
power factor, as the feeder's own PV does.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PvParams:
    median_kwp: float = 8.0
    sigma: float = 0.35
    max_kwp: float = 30.0


@dataclass(frozen=True)
class PvCandidates:
    order: np.ndarray  # adoption order over households
    kwp: np.ndarray  # per household


def draw_pv(rng: np.random.Generator, n_households: int, params: PvParams = PvParams()) -> PvCandidates:
    order = rng.permutation(n_households)
    kwp = np.minimum(params.median_kwp * np.exp(params.sigma * rng.standard_normal(n_households)), params.max_kwp)
    return PvCandidates(order, kwp)
