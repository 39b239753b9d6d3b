"""Who gets an EV: nested placement and per-household candidate vehicles drawn from one seed.

Every household gets a candidate vehicle (parameters and trips) and a place in a random adoption order,
whatever the penetration. At penetration x the first round(x * n) households in that order have an EV, so
placements are nested (those at 40 % include those at 20 %). A household's EV is bidirectional when its own
uniform draw is below the bidirectional share, so bidirectional sets are nested too. The draws depend only
on (study seed, feeder, sample): strategies and penetration levels see identical cars and trips.
"""
import zlib
from dataclasses import dataclass

import numpy as np

from hostcap.models.fleet import FleetParams, draw_vehicle_parameters


def sample_seed_sequence(seed: int, feeder_ref: str, sample: int) -> np.random.SeedSequence:
    """The seed sequence of one Monte Carlo sample on one feeder (stable across runs and machines)."""
    return np.random.SeedSequence([int(seed), zlib.crc32(feeder_ref.encode()), int(sample)])


@dataclass(frozen=True)
class Candidates:
    order: np.ndarray  # adoption order over households (indices into `households`)
    u_bidirectional: np.ndarray  # per household
    vehicles: dict  # per-household candidate vehicle parameters
    trips_rng: np.random.Generator

    def chosen(self, households: np.ndarray, penetration: float, bidirectional_share: float):
        """(connection-point indices with an EV, sorted; their bidirectional flags)."""
        n_ev = int(round(penetration * len(households)))
        pick = np.sort(self.order[:n_ev])
        return households[pick], self.u_bidirectional[pick] < bidirectional_share, pick


def draw_candidates(seq: np.random.SeedSequence, n_households: int, params: FleetParams = FleetParams()) -> Candidates:
    placement, vehicles, trips = (np.random.default_rng(s) for s in seq.spawn(3))
    order = placement.permutation(n_households)
    u_bidir = placement.random(n_households)
    return Candidates(order, u_bidir, draw_vehicle_parameters(vehicles, n_households, params), trips)
