"""Phase connections of households, rooftop PV and EV chargers on a four-wire LV feeder.

Each connection point has a phase connection from its feeder (`feeders/load.py`: "a", "b", "c", or "abc"
three-phase) and one single-phase circuit (`circuit`, 0-2 for a-c) where its single-phase devices connect:
the connection's own phase where it is single-phase; on a three-phase connection drawn uniformly from
a, b, c with the run's seed, so each phase gets a third of the single-phase devices in expectation (what a
utility knows of a three-phase home's wiring: nothing).

- Household load: on the connection's phase(s), a three-phase connection's load split equally (SimBench and
  pandapower `load`s are symmetric by definition).
- EV chargers: single-phase up to `CHARGER_SINGLE_PHASE_MAX_KW` (230 V x 32 A; the fleet's 3.7 kW
  wallboxes), on the circuit; larger ones (11 kW) three-phase. A single-phase connection point takes no
  three-phase charger: its charger is single-phase and at most 7.4 kW (`cap_chargers`). V2G discharge flows
  on the same phase(s) as charging.
- Rooftop PV: single-phase up to `PV_SINGLE_PHASE_MAX_KW` rated, on the circuit; larger three-phase.
  VDE-AR-N 4105:2018 cl. 5.5.2 allows at most 4.6 kVA of unbalance per connection, so larger inverters are
  three-phase.
"""
from dataclasses import dataclass

import numpy as np

CHARGER_SINGLE_PHASE_MAX_KW = 7.4
PV_SINGLE_PHASE_MAX_KW = 4.6
_INDEX = {"a": 0, "b": 1, "c": 2}


@dataclass(frozen=True)
class PhaseWeights:
    """The share of each device's power on phases a, b, c (rows sum to 1)."""

    load: np.ndarray  # (n_cp, 3)
    pv: np.ndarray  # (n_cp, 3)
    ev: np.ndarray  # (n_ev, 3)
    circuit: np.ndarray  # (n_cp,) 0-2, the phase of each connection point's single-phase devices


def single_phase_connection(phase: np.ndarray) -> np.ndarray:
    """True where a connection point's phase ("a", "b", "c", "abc") is a single phase."""
    return np.isin(np.asarray(phase, str), list(_INDEX))


def draw_circuits(rng: np.random.Generator, phase: np.ndarray) -> np.ndarray:
    """The single-phase circuit of each connection point: its phase, or drawn uniformly where three-phase
    (one draw per connection point, whether used or not, so the draws do not depend on the feeder's data)."""
    drawn = rng.integers(0, 3, len(phase))
    own = np.array([_INDEX.get(str(p), -1) for p in phase], np.int64)
    return np.where(own >= 0, own, drawn)


def _weights(single: np.ndarray, circuit: np.ndarray) -> np.ndarray:
    """(n, 3): one-hot on `circuit` where `single`, a third on each phase elsewhere."""
    w = np.full((len(single), 3), 1.0 / 3.0)
    w[single] = 0.0
    w[np.flatnonzero(single), circuit[single]] = 1.0
    return w


def cap_chargers(p_ch_max_kw: np.ndarray, single_cp: np.ndarray) -> np.ndarray:
    """Charger ratings with those at single-phase connection points capped to a single-phase charger's."""
    return np.where(single_cp, np.minimum(p_ch_max_kw, CHARGER_SINGLE_PHASE_MAX_KW), p_ch_max_kw)


def phase_weights(*, phase: np.ndarray, circuit: np.ndarray, pv_rated_kw: np.ndarray, ev_cp: np.ndarray,
                  ev_p_ch_max_kw: np.ndarray) -> PhaseWeights:
    """Phase shares of every household load, PV system and EV charger (module docstring)."""
    single_cp = single_phase_connection(phase)
    pv_single = single_cp | (pv_rated_kw <= PV_SINGLE_PHASE_MAX_KW)
    ev_single = single_cp[ev_cp] | (ev_p_ch_max_kw <= CHARGER_SINGLE_PHASE_MAX_KW)
    return PhaseWeights(load=_weights(single_cp, circuit), pv=_weights(pv_single, circuit),
                        ev=_weights(ev_single, circuit[ev_cp]), circuit=circuit)
