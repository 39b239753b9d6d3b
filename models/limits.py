"""Operating limits from named standards.

- EN 50160:2010, clause 4.2.2 (LV supply voltage variations): 230 V +/- 10 % -> 0.90-1.10 pu.
- ANSI C84.1-2020, Range A (service voltage): +/- 5 % -> 0.95-1.05 pu.
Thermal limits: 100 % of the line's rated current (max_i_ka) and of the transformer's rated power (sn_mva),
pandapower's loading_percent definitions.
"""
from dataclasses import dataclass

from hostcap.models.errors import InputError


@dataclass(frozen=True)
class VoltageBand:
    name: str
    v_min_pu: float
    v_max_pu: float
    source: str


BANDS = {
    "en50160": VoltageBand("en50160", 0.90, 1.10, "EN 50160:2010 cl. 4.2.2, Un +/- 10 %"),
    "ansi": VoltageBand("ansi", 0.95, 1.05, "ANSI C84.1-2020 Range A, +/- 5 %"),
}


def voltage_band(name: str) -> VoltageBand:
    try:
        return BANDS[name]
    except KeyError:
        raise InputError(f"band: unknown '{name}', choose one of {', '.join(BANDS)}") from None
