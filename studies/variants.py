"""A study's variants and their names (the maps' and GIS columns' `<v>`): light to import, because the
Snakefile needs them at every Snakemake start, and a cluster's batch job starts Snakemake once per feeder."""
from hostcap.studies.spec import StudySpec


def variant_name(strategy: str, v2g_share: float, shares: list[float], heat_pump_share: float | None = None,
                 heat_pump_shares: list[float] = ()) -> str:
    """A variant's name: the strategy, then `_b050` where a study has several bidirectional shares and `_h030`
    where it has several heat-pump shares."""
    name = strategy if len(shares) == 1 else f"{strategy}_b{round(v2g_share * 100):03d}"
    return name if len(heat_pump_shares) <= 1 else f"{name}_h{round(heat_pump_share * 100):03d}"


def variant_table(spec: StudySpec) -> dict[str, tuple[str, float, float | None]]:
    """The study's variants by name: (strategy, bidirectional share, heat-pump share; None with a pathway)."""
    heat = spec.heat_pump_axis or [None]
    return {variant_name(s, b, spec.v2g_shares, h, spec.heat_pump_axis): (s, b, h)
            for s in spec.strategies for b in spec.v2g_shares for h in heat}


def variants(spec: StudySpec) -> list[str]:
    return list(variant_table(spec))
