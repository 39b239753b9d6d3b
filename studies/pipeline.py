"""The pipeline's steps as functions: the `hostcap` CLI and the Snakefile's rules call these; their files'
places are `studies/layout.py`.

    prepare_feeder -> run_study (runner) -> write_hosting (runner) -> write_gis -> write_maps /
    write_webmap -> write_report
"""
from pathlib import Path

import pandapower as pp
import pandas as pd
import pyarrow.parquet as pq

from hostcap.feeders import load_feeder
from hostcap.feeders.geodata import topology_layers
from hostcap.models.errors import InputError
from hostcap.studies import maps
from hostcap.studies.atomic import atomic_path
from hostcap.studies.fleet import fleet_variants
from hostcap.studies.fleet_map import fleet_map
from hostcap.studies.flexibility import headline_period
from hostcap.studies.gis import study_layers, write_gpkg
from hostcap.studies.layout import feeder_slug, prepared_feeder, study_paths
from hostcap.studies.report import write_report as _write_report
from hostcap.studies.runner import study_spec
from hostcap.studies.spec import StudySpec
from hostcap.studies.styles import loading_scale, study_styles, voltage_scale
from hostcap.studies.variants import variant_table, variants

MAP_ROWS = 4  # variants per figure of small multiples in the report: four rows fit an A4 landscape page


def _require(path: Path, step: str) -> Path:
    if not path.is_file():
        raise InputError(f"{path} does not exist; run `hostcap {step}` on the study file first")
    return path


def prepare_feeder(ref: str, out_dir: str | Path, name: str | None = None,
                   profiles: str | None = None) -> tuple[Path, Path]:
    """The validated net (pandapower JSON) and a GeoPackage of its topology, named after `name` (default:
    the reference)."""
    out_dir = Path(out_dir)
    feeder = load_feeder(ref, profiles)
    net_path, gpkg_path = prepared_feeder(feeder_slug(name or ref), out_dir)
    with atomic_path(net_path, suffix=".json") as tmp:
        pp.to_json(feeder.net, str(tmp))
    write_gpkg(topology_layers(feeder), gpkg_path)
    return net_path, gpkg_path


def gis_path(spec: StudySpec, out: str | Path, ref: str) -> Path:
    return study_paths(spec, out).gis(feeder_slug(ref))


def map_path(spec: StudySpec, out: str | Path, ref: str, variant: str, kind: str) -> Path:
    return study_paths(spec, out).static_map(feeder_slug(ref), variant, kind)


def webmap_path(spec: StudySpec, out: str | Path, ref: str) -> Path:
    return study_paths(spec, out).webmap(feeder_slug(ref))


def write_gis(spec: StudySpec, out: str | Path, ref: str) -> Path:
    paths = study_paths(spec, out)
    loc = pd.read_parquet(_require(paths.locational, "hosting"))
    households = pd.read_parquet(_require(paths.households, "study"))
    headroom = pd.read_parquet(paths.headroom) if paths.headroom.is_file() else None
    path = gis_path(spec, out, ref)
    write_gpkg(study_layers(spec.feeder(ref), loc, households, spec.level_years, reinforcement_inputs(spec, out),
                            headroom), path, study_styles(spec.band, spec.trafo_limit_pct, spec.line_limit_pct))
    return path


def reinforcement_inputs(spec: StudySpec, out: str | Path) -> tuple | None:
    """The plans' measure rows and reinforcement.csv of the period a plan is quoted for, and the threshold
    (None without `reinforcement`)."""
    if spec.reinforcement is None:
        return None
    paths = study_paths(spec, out)
    period = headline_period(spec)
    rows = pd.read_csv(_require(paths.reinforcement_measures, "hosting"))
    table = pd.read_csv(_require(paths.reinforcement, "hosting"))
    return rows[rows["period"] == period], table[table["period"] == period], spec.max_violation_probability


def periods_text(spec: StudySpec, out: str | Path, ref: str) -> str:
    """The feeder's periods as the study ran them (its runs table), in the study file's order: the maps need
    no feeder load for them (a SimBench feeder takes 4 s to read)."""
    path = _require(study_paths(spec, out).runs, "study")
    columns = ["feeder", "period", "start", "days"]
    if not set(columns) <= set(pq.read_schema(path).names):
        raise InputError(f"{path} has no run dates (an older version wrote it); delete it and run `hostcap study` "
                         "on the study file again (it rebuilds the tables from the records, running nothing)")
    runs = pd.read_parquet(path, columns=columns)
    runs = runs[(runs["feeder"] == spec.feeder(ref).name) & runs["period"].isin(spec.period_names)]
    runs = runs.drop_duplicates("period").sort_values("period", key=lambda names: names.map(spec.period_names.index))
    return ", ".join(f"{p} ({start} + {days} d)" for p, start, days in zip(runs["period"], runs["start"], runs["days"]))


def map_title(spec: StudySpec, ref: str, variant: str, kind: str, periods: str) -> str:
    """Feeder, strategy, V2G share (and heat-pump share), what is drawn, voltage criterion and periods (as
    `periods_text` gives them)."""
    strategy, share, heat = variant_parts(spec, variant)
    heat = "" if len(spec.heat_pump_axis) <= 1 else f", {heat:.0%} of households with a heat pump"
    return (f"{ref} | {strategy}, {share:.0%} of EVs bidirectional{heat} | {maps.KINDS[kind]}\n"
            f"criterion {spec.band}; periods {periods}; study {spec.name}")


def variant_parts(spec: StudySpec, variant: str) -> tuple[str, float, float | None]:
    table = variant_table(spec)
    if variant in table:
        return table[variant]
    raise InputError(f"variant: '{variant}' is not in study {spec.name} ({', '.join(variants(spec))})")


def scales(spec: StudySpec) -> dict:
    """The study's fixed colour scales (`studies/styles.py`)."""
    return {"vscale": voltage_scale(spec.band), "lscale": loading_scale(spec.line_limit_pct, spec.trafo_limit_pct)}


def write_maps(spec: StudySpec, out: str | Path, ref: str, variant_names: list[str] | None = None,
               kinds: list[str] | None = None) -> list[Path]:
    """The feeder's static maps, each variant (default: all) by each kind (default: both), from one read of its
    GeoPackage: a fleet's maps are one process per feeder, not one per picture."""
    names = variant_names or variants(spec)
    for name in names:
        variant_parts(spec, name)  # refuses a variant the study does not have, before any I/O
    layers = maps.read_layers(_require(gis_path(spec, out, ref), "gis"))
    periods = periods_text(spec, out, ref)
    written = []
    for name in names:
        for kind in kinds or list(maps.KINDS):
            path = map_path(spec, out, ref, name, kind)
            path.parent.mkdir(parents=True, exist_ok=True)
            maps.static_map(layers, name, kind, path, map_title(spec, ref, name, kind, periods),
                            levels=spec.penetrations, **scales(spec))
            written.append(path)
    return written


def write_webmap(spec: StudySpec, out: str | Path, ref: str, basemap: bool = False) -> Path:
    layers = maps.read_layers(_require(gis_path(spec, out, ref), "gis"))
    path = webmap_path(spec, out, ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    maps.interactive_map(layers, variants(spec), spec.penetrations, path,
                         f"{ref} | study {spec.name} | criterion {spec.band}; periods {periods_text(spec, out, ref)}",
                         basemap=basemap, years=spec.level_years, **scales(spec))
    return path


def write_fleet_map(spec: StudySpec, out: str | Path) -> Path:
    """maps/fleet.html (`studies/fleet_map.py`) under the study's first strategy, `uncontrolled` where it has it."""
    paths = study_paths(spec, out)
    fleet = pd.read_csv(_require(paths.fleet, "hosting"))
    variants_ = fleet_variants(fleet)
    if not variants_:
        raise InputError(f"{paths.fleet}: no feeder ran; nothing to map")
    first = next((v for v in variants_ if v.startswith("uncontrolled")), variants_[0])
    path = paths.fleet_map
    path.parent.mkdir(parents=True, exist_ok=True)
    title = f"study {spec.name}: {len(fleet)} feeder{'s' if len(fleet) != 1 else ''}, {first}"
    fleet_map(fleet, lambda name: _require(gis_path(spec, out, name), "gis"), first, spec.penetrations, path, title,
              years=spec.level_years or None)
    return path


def report_maps(spec: StudySpec, out: str | Path, periods: dict[str, str]) -> list[tuple[str, bytes]]:
    """Per feeder, the small multiples (variant x level) drawn from its GeoPackage, so that the report
    depends on the GIS layers and not on the PNG files: (title, PNG bytes), at most MAP_ROWS variants a
    figure so that each fits a printed page whole. periods: feeder name -> its `periods_text`."""
    images = []
    names = variants(spec)
    parts = [names[i:i + MAP_ROWS] for i in range(0, len(names), MAP_ROWS)]
    for feeder in spec.feeders:
        layers = maps.read_layers(_require(gis_path(spec, out, feeder.name), "gis"))
        for part in parts:
            title = (f"{feeder.name}: worst bus voltage and highest loading per strategy and EV penetration "
                     f"(criterion {spec.band}; periods {periods[feeder.name]}); rows: {', '.join(part)}")
            images.append((title, maps.small_multiples_png(layers, part, spec.penetrations, title,
                                                           years=spec.level_years, **scales(spec))))
    return images


def write_report(spec: StudySpec, out: str | Path) -> tuple[Path, Path]:
    spec = study_spec(spec, out)  # without the feeders of a set that failed their checks
    paths = study_paths(spec, out)
    _require(paths.runs, "study")
    _require(paths.hosting, "hosting")
    root = paths.root
    webmaps = [(f.name, webmap_path(spec, out, f.name).relative_to(root).as_posix()) for f in spec.feeders]
    periods = {f.name: periods_text(spec, out, f.name) for f in spec.feeders}
    return _write_report(spec, root, report_maps(spec, out, periods), webmaps, list(periods.items()))
