"""Who gets an EV: nested placement and per-household candidate vehicles drawn from one seed.

Every household gets a candidate vehicle (parameters and trips) and a place in a random adoption order,
whatever the penetration. At penetration x the first round(x * n) households in that order have an EV, so
placements are nested (those at 40 % include those at 20 %). A household's EV is bidirectional when its own
uniform draw is below the bidirectional share, so bidirectional sets are nested too. The draws depend only
on (study seed, feeder, sample): strategies and penetration levels see identical cars and trips.

Penetration is EVs per household and may exceed 1 (at most 2): at x > 1 every household has its first car and
the first round((x - 1) * n) households of a second adoption order a second one (1.5: every home one, half of
them two). A second car is drawn as a first one (parameters, trips, bidirectional draw; the mobility model has
no household-level pattern), from streams of its own, so every first car keeps its draws, and has a charger of
its own (the feeder's own charging point, SimBench's `HLS_`, is the first car's).
"""
import zlib
from dataclasses import dataclass

import numpy as np

from hostcap.models.fleet import FleetParams, draw_vehicle_parameters


def sample_seed_sequence(seed: int, feeder_ref: str, sample: int) -> np.random.SeedSequence:
    """The seed sequence of one Monte Carlo sample on one feeder (stable across runs and machines)."""
    return np.random.SeedSequence([int(seed), zlib.crc32(feeder_ref.encode()), int(sample)])


def feeder_seed_sequence(seed: int, feeder_ref: str, stream: str) -> np.random.SeedSequence:
    """The seed sequence of a draw made once per study seed and feeder, the same in every sample (`stream`
    names it, e.g. "heat pumps"); four words, so it is none of `sample_seed_sequence`'s."""
    return np.random.SeedSequence([int(seed), zlib.crc32(feeder_ref.encode()), zlib.crc32(stream.encode()), 1])


MAX_EVS_PER_HOUSEHOLD = 2


@dataclass(frozen=True)
class Candidates:
    order: np.ndarray  # adoption order over households (indices into `households`)
    u_bidirectional: np.ndarray  # per household
    vehicles: dict  # per-household candidate vehicle parameters
    trips_rng: np.random.Generator
    second: "Candidates | None" = None  # the second cars' (penetration above 1)

    def chosen(self, households: np.ndarray, penetration: float, bidirectional_share: float):
        """(connection-point index of each EV; their bidirectional flags; their candidates `pick`): first cars
        in household order, then second cars; `pick` numbers the first cars' candidates 0..n-1 and the second
        cars' n..2n-1 (`all_vehicles`)."""
        n = len(households)
        n_ev = int(round(penetration * n))
        pick = np.sort(self.order[:min(n_ev, n)])
        bidir = self.u_bidirectional[pick] < bidirectional_share
        if n_ev > n:
            two = np.sort(self.second.order[:n_ev - n])
            pick = np.concatenate([pick, n + two])
            bidir = np.concatenate([bidir, self.second.u_bidirectional[two] < bidirectional_share])
        return households[pick % n], bidir, pick

    def all_vehicles(self) -> dict:
        """Every candidate's parameters: the first cars', then the second cars' where drawn."""
        if self.second is None:
            return self.vehicles
        return {k: np.concatenate([v, self.second.vehicles[k]]) for k, v in self.vehicles.items()}


def draw_candidates(seq: np.random.SeedSequence, n_households: int, params: FleetParams = FleetParams(),
                    second: np.random.SeedSequence | None = None) -> Candidates:
    """The households' candidate cars from `seq`, and with `second` (a stream of its own) their second cars."""
    placement, vehicles, trips = (np.random.default_rng(s) for s in seq.spawn(3))
    order = placement.permutation(n_households)
    u_bidir = placement.random(n_households)
    return Candidates(order, u_bidir, draw_vehicle_parameters(vehicles, n_households, params), trips,
                      None if second is None else draw_candidates(second, n_households, params))


def nested_adoption(order: np.ndarray, share: float, own: np.ndarray) -> np.ndarray:
    """Positions (into the households) of the homes that have a device at `share` of the households: the
    feeder's own (`own`, boolean per household) count towards it; the others adopt in `order` until the
    share is reached (round(share x n), never fewer than the feeder's own). Nested: a share's homes include
    a smaller share's."""
    n_target = int(round(share * len(own)))
    later = order[~own[order]]
    extra = max(n_target - int(own.sum()), 0)
    return np.sort(np.concatenate([np.flatnonzero(own), later[:extra]]))
