"""The sweep: one scenario per feeder x period x strategy x penetration x bidirectional share x sample, up to
the study's largest sample count (`studies/adaptive.py` chooses which of them run). The penetration levels
always include 0, the feeder without EVs (its baseline); with `exact_baseline` (no random input at level 0)
it has one sample, sample 0. Without a pathway every level runs at each of the study's heat-pump shares (the
coordinate `heat_pump_share`, `StudySpec.heat_pump_axis`). With a pathway the levels are its years' EV shares,
each with its year's heat-pump and PV shares, and the runs carry their `year` (none at level 0),
`year_heat_pump_share` and `year_pv_share`.

Keys are stable strings; a scenario's random draws depend only on (study seed, feeder name, sample) — see
`models/population.py` — so placements are nested across penetration levels and every strategy sees the
same cars and trips. Results therefore do not depend on the number of workers or the order of execution.
"""
from hostcap.studies.scenario.settings import RunSettings, Scenario
from hostcap.studies.spec import StudySpec


def scenario_key(feeder: str, period: str, strategy: str, penetration: float, v2g_share: float, sample: int,
                 heat_pump_share: float | None = None) -> str:
    """`heat_pump_share`: given only by a study with a `heat_pump_shares` axis."""
    heat = "" if heat_pump_share is None else f"|h{heat_pump_share:.3f}"
    return f"{feeder}|{period}|{strategy}|p{penetration:.3f}|b{v2g_share:.3f}{heat}|s{sample}"


def plan(spec: StudySpec) -> list[tuple[Scenario, dict]]:
    """Every scenario of the study with its sweep coordinates (the leading columns of runs.parquet)."""
    settings = {name: getattr(spec, name) for name in RunSettings.model_fields}  # passed to every scenario
    out = []
    for feeder in spec.feeders:
        for period in spec.periods_of(feeder):
            for strategy in spec.strategies:
                for pen in spec.levels:
                    for heat in spec.heat_pump_axis or [None]:
                        level = {**settings, **spec.level_settings(pen)}
                        if heat is None:
                            extra = {"year": spec.year_of(pen), "year_heat_pump_share": level["heat_pump_share"],
                                     "year_pv_share": level["pv_share"]}
                        else:
                            level["heat_pump_share"], extra = heat, {"heat_pump_share": heat}
                        tag = heat if spec.heat_pump_shares is not None else None
                        for share in spec.v2g_shares:
                            for sample in range(1 if pen == 0.0 and spec.exact_baseline else spec.samples_max):
                                key = scenario_key(feeder.name, period.name, strategy, pen, share, sample, tag)
                                scenario = Scenario(
                                    key=key, feeder=feeder.ref, feeder_name=feeder.name, profiles=feeder.profiles,
                                    trips=feeder.trips, strategy=strategy, penetration=pen, v2g_share=share,
                                    start=period.start, days=period.days, sample=sample, **level)
                                coords = {"key": key, "feeder": feeder.name, "period": period.name,
                                          "strategy": strategy, "penetration": pen, "v2g_share": share,
                                          "sample": sample, **extra}
                                out.append((scenario, coords))
    return out


def sweep(spec: StudySpec) -> list[Scenario]:
    return [scenario for scenario, _ in plan(spec)]


def curve_keys(spec: StudySpec, coords: list[dict]) -> list[str]:
    """The runs the report draws duration curves of (`feeder/extremes`, kept by the study): sample 0 at the
    highest level in each feeder's first period (the study file's order), one per strategy and V2G share;
    `coords` are sweep coordinates (`plan`'s, or the rows of runs.parquet), kept in their order."""
    top, order = max(spec.levels), spec.period_names
    first = {}
    for c in coords:
        if c["feeder"] not in first or order.index(c["period"]) < order.index(first[c["feeder"]]):
            first[c["feeder"]] = c["period"]
    return [c["key"] for c in coords
            if c["penetration"] == top and c["sample"] == 0 and c["period"] == first[c["feeder"]]]
