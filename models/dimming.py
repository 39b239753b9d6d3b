"""§14a EnWG dimming: the grid operator caps controllable consumers (EV chargers, heat pumps) while the feeder is
congested, and lifts the cap when it has recovered (BNetzA, BK6-22-300, 27 Nov 2023, "netzorientierte
Steuerung"). The strategy `dimming_14a` charges as `uncontrolled` (the customer does nothing) and is dimmed.

The operator (`Dimmer`, its own simulator `cosim/dso_sim.py`) reads, at the end of each step, what its grid-state
estimation sees: the highest transformer loading and the lowest bus voltage of the step (per Monte Carlo
sample). It starts dimming for the next step when the loading reaches `ON_SHARE` of the transformer limit or
the lowest voltage falls within `V_MARGIN_ON_PU` of the voltage criterion's lower limit (or the power flow did
not converge), keeps it for at least `HOLD_H` (a control command in the rule's 15-minute grid holds for a
while), and lifts it once loading is below `OFF_SHARE` of the limit and the voltage `V_MARGIN_OFF_PU` above
the lower limit. After a lift each device resumes after its own delay, uniform in 0-`RELEASE_SPREAD_MIN`
(`StaggeredRelease`: for an EV its charger's randomised delay, `Fleet.start_offset`), so that the devices do not
all come back in one step; the operator acts on the previous step's state, so the first step of a congestion
is never caught.

While dimming is active each controllable device may draw at most `DIM_KW` (4.2 kW, the rule's guaranteed
minimum per device), a heat pump of more than `LARGE_KW` (11 kW) `LARGE_FACTOR` (40 %) of its rating (the
rule's factor for heat pumps and air conditioning above 11 kW). A dimmed EV charges later (its energy is
deferred, and unmet at departure if the car leaves first). A dimmed heat pump's home cools: the heat it did
not deliver is a deficit (kWh of heat) that the heat pump makes up once undimmed, at up to its rated output;
the building's heat capacity bounds it: a home whose deficit would cool it by more than `COMFORT_K` is not
dimmed further (C = tau * H, with H = rated heat output / (`INDOOR_C` - design temperature) and the time
constant `TAU_H` = 50 h of a medium-weight house, within the 30-100 h that DIN EN ISO 52016-1's
classes span for houses).
"""
from dataclasses import dataclass

import numpy as np

from hostcap.models.heat_pump import DESIGN_T_C

DIM_KW = 4.2  # BK6-22-300, Anlage 1, 4.2: the power a controllable consumer keeps while dimmed
LARGE_KW = 11.0  # heat pumps (and air conditioning) above this keep LARGE_FACTOR of their rating
LARGE_FACTOR = 0.4
ON_SHARE, OFF_SHARE = 0.95, 0.80  # of the transformer limit: dim at, lift below
V_MARGIN_ON_PU, V_MARGIN_OFF_PU = 0.01, 0.02  # above the voltage criterion's lower limit: dim within, lift above
HOLD_H = 1.0
RELEASE_SPREAD_MIN = 30.0
TAU_H = 50.0
INDOOR_C = 20.0
COMFORT_K = 1.0


def device_cap_kw(rated_kw: np.ndarray, heat_pump: bool) -> np.ndarray:
    """The most each device may draw while dimmed."""
    rated_kw = np.asarray(rated_kw, float)
    if heat_pump:
        return np.where(rated_kw > LARGE_KW, LARGE_FACTOR * rated_kw, np.minimum(rated_kw, DIM_KW))
    return np.minimum(rated_kw, DIM_KW)


@dataclass
class Dimmer:
    """The grid operator of S samples: `step` reads a step's grid state and says, per sample, whether the next
    step is dimmed."""

    n_samples: int
    dt_s: float
    trafo_limit_pct: float
    v_min_pu: float  # the voltage criterion's lower limit

    def __post_init__(self):
        self.active = np.zeros(self.n_samples, bool)
        self.held = np.zeros(self.n_samples)  # steps dimmed so far in this episode
        self.hold_steps = max(int(round(HOLD_H * 3600.0 / self.dt_s)), 1)

    def step(self, trafo_loading_pct: np.ndarray, vm_min_pu: np.ndarray) -> np.ndarray:
        """Whether each sample's next step is dimmed, from this step's highest transformer loading and lowest
        voltage (NaN: no reading, the power flow did not converge)."""
        loading = np.nan_to_num(trafo_loading_pct, nan=np.inf)
        vmin = np.nan_to_num(vm_min_pu, nan=-np.inf)
        start = (loading >= ON_SHARE * self.trafo_limit_pct) | (vmin < self.v_min_pu + V_MARGIN_ON_PU)
        calm = (loading < OFF_SHARE * self.trafo_limit_pct) & (vmin > self.v_min_pu + V_MARGIN_OFF_PU)
        self.held = np.where(self.active, self.held + 1, 0)
        self.active = start | (self.active & ~(calm & (self.held >= self.hold_steps)))
        return self.active.copy()


@dataclass
class StaggeredRelease:
    """Per sample, the steps since the operator last dimmed (0 while it dims; large before it ever has); a
    device is capped while its sample is dimmed and, after a lift, for its own delay (`delay_frac` in [0, 1)
    times RELEASE_SPREAD_MIN)."""

    n_samples: int
    dt_s: float

    def __post_init__(self):
        self.since = np.full(self.n_samples, 1 << 30)
        self.spread_steps = RELEASE_SPREAD_MIN * 60.0 / self.dt_s

    def step(self, dimmed: np.ndarray) -> None:
        self.since = np.where(dimmed, 0, self.since + 1)

    def capped(self, sample_of: np.ndarray, delay_frac: np.ndarray) -> np.ndarray:
        """Whether each device (its sample, its delay) is capped in this step."""
        return self.since[sample_of] <= np.round(delay_frac * self.spread_steps)


@dataclass
class HeatPumpDimming:
    """The dimmed heat pumps of S samples, per heat pump (S x n_heat_pumps, flat): their caps and the homes'
    heat deficit (module docstring)."""

    cap_kw: np.ndarray  # while dimmed
    p_th_rated_kw: np.ndarray
    capacity_kwh_per_k: np.ndarray  # the building's heat capacity C

    @classmethod
    def of(cls, p_el_rated_kw: np.ndarray, p_th_rated_kw: np.ndarray) -> "HeatPumpDimming":
        """From each heat pump's ratings."""
        h_kw_per_k = p_th_rated_kw / (INDOOR_C - DESIGN_T_C)
        return cls(device_cap_kw(p_el_rated_kw, heat_pump=True), p_th_rated_kw, TAU_H * h_kw_per_k)

    def step(self, deficit_kwh: np.ndarray, heat_kw: np.ndarray, p_el_kw: np.ndarray, dimmed: np.ndarray,
             dt_h: float) -> tuple[np.ndarray, np.ndarray]:
        """(electric power, deficit after the step) of each home's heat pump: its demand's heat (heat_kw, at
        electric p_el_kw), plus the deficit made up at up to its rated output, cut to its cap where `dimmed`
        but never so far that the deficit passes COMFORT_K; heat converts at the step's own COP."""
        cop = np.divide(heat_kw, p_el_kw, out=np.ones_like(heat_kw), where=p_el_kw > 0)
        want_th = np.minimum(heat_kw + deficit_kwh / dt_h, np.maximum(self.p_th_rated_kw, heat_kw))
        floor_th = np.maximum(heat_kw - (COMFORT_K * self.capacity_kwh_per_k - deficit_kwh) / dt_h, 0.0)
        th = np.where(dimmed, np.maximum(np.minimum(want_th, self.cap_kw * cop), floor_th), want_th)
        return th / cop, np.maximum(deficit_kwh + (heat_kw - th) * dt_h, 0.0)
