"""Time-of-use tariff used by the `smart`, `v2g_tou` and `v2h` strategies.

Default shape (the project's documented default, a typical three-band residential TOU tariff such as
those offered to EV owners, e.g. UK "Economy 7"-style night rates): peak 17:00-21:00, off-peak
22:00-06:00, shoulder otherwise. Only the order of the bands matters to the strategies.
"""
from dataclasses import dataclass

import numpy as np

OFF_PEAK, SHOULDER, PEAK = 0, 1, 2


@dataclass(frozen=True)
class Tariff:
    peak_start_h: float = 17.0
    peak_end_h: float = 21.0
    off_peak_start_h: float = 22.0
    off_peak_end_h: float = 6.0

    def levels(self, hour_of_day: np.ndarray) -> np.ndarray:
        """Price level (OFF_PEAK, SHOULDER, PEAK) for each hour-of-day value (float hours, 0 <= h < 24)."""
        h = np.asarray(hour_of_day, dtype=float)
        level = np.full(h.shape, SHOULDER, dtype=np.int8)
        level[(h >= self.peak_start_h) & (h < self.peak_end_h)] = PEAK
        if self.off_peak_start_h > self.off_peak_end_h:  # wraps midnight
            off = (h >= self.off_peak_start_h) | (h < self.off_peak_end_h)
        else:
            off = (h >= self.off_peak_start_h) & (h < self.off_peak_end_h)
        level[off] = OFF_PEAK
        return level
