"""Where a study's files go, declared once: the study runner, the pipeline's steps (`studies/pipeline.py`,
the CLI) and the Snakefile take every path from here.

    <out>/<study>/                  runs.parquet, elements.parquet, households.parquet, manifest.json,
                                    hosting_capacity.csv, violation_probability.csv, locational.parquet,
                                    with `headroom` headroom.parquet,
                                    customer_value.csv, fleet.csv, fleet_statistics.csv,
                                    report.html, report.pdf; with a pathway
                                    first_violation_year.csv; with `reinforcement`, reinforcement.csv
                                    and reinforcement_measures.csv
    <out>/<study>/reinforced/<feeder>/<variant>__<period>__<level>.json   a reinforced feeder
    <out>/<study>/records/          one record per scenario (`studies/records.py`)
    <out>/<study>/runs/<key>/       the time series a scenario keeps
    <out>/<study>/gis/<feeder>.gpkg
    <out>/<study>/maps/<feeder>.html, maps/<feeder>/<variant>__<kind>.png, maps/fleet.html
    resources/feeders/<feeder>.json, .gpkg   a prepared feeder (the pipeline's first step)
    resources/<study>/study.yaml             the validated study file the pipeline's rules read

`<feeder>` is the feeder's name in file-name form (`feeder_slug`). A method given a Snakemake wildcard such
as "{feeder}" in place of a slug returns the rule's path pattern.
"""
from dataclasses import dataclass
from pathlib import Path

from hostcap.studies.spec import StudySpec, safe_name

RESOURCES = Path("resources")
RESULTS = "results"  # the default --out of every step


def feeder_slug(name: str) -> str:
    """File-name form of a feeder's name."""
    return safe_name(name)


def prepared_feeder(slug: str, out_dir: str | Path = RESOURCES / "feeders") -> tuple[Path, Path]:
    """A prepared feeder's net (pandapower JSON) and its topology (GeoPackage)."""
    return Path(out_dir) / f"{slug}.json", Path(out_dir) / f"{slug}.gpkg"


def spec_copy(study_name: str) -> Path:
    """The validated study file that the pipeline's rules read."""
    return RESOURCES / study_name / "study.yaml"


@dataclass
class StudyPaths:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.runs = self.root / "runs.parquet"
        self.elements = self.root / "elements.parquet"
        self.households = self.root / "households.parquet"
        self.customer_value = self.root / "customer_value.csv"
        self.hosting = self.root / "hosting_capacity.csv"
        self.probability = self.root / "violation_probability.csv"
        self.first_violation = self.root / "first_violation_year.csv"
        self.locational = self.root / "locational.parquet"
        self.headroom = self.root / "headroom.parquet"
        self.fleet = self.root / "fleet.csv"
        self.fleet_statistics = self.root / "fleet_statistics.csv"
        self.reinforcement = self.root / "reinforcement.csv"
        self.reinforcement_measures = self.root / "reinforcement_measures.csv"
        self.reinforced = self.root / "reinforced"
        self.manifest = self.root / "manifest.json"
        self.report_html = self.root / "report.html"
        self.report_pdf = self.root / "report.pdf"
        self.timeseries = self.root / "runs"
        self.records = self.root / "records"
        self.lock = self.root / ".lock"

    def outputs(self) -> list[Path]:
        return [*self.tables, *self.hosting_outputs, self.manifest]

    @property
    def tables(self) -> list[Path]:
        """What the study step writes from the records."""
        return [self.runs, self.elements, self.households]

    @property
    def hosting_outputs(self) -> list[Path]:
        return [self.hosting, self.probability, self.locational, self.customer_value, self.fleet,
                self.fleet_statistics]

    @property
    def reinforcement_outputs(self) -> list[Path]:
        """What a study with `reinforcement` writes beside the hosting outputs."""
        return [self.reinforcement, self.reinforcement_measures]

    def reinforced_net(self, slug: str, variant: str, period: str, level_tag: str) -> Path:
        return self.reinforced / slug / f"{variant}__{period}__{level_tag}.json"

    def series_dir(self, key: str) -> Path:
        return self.timeseries / safe_name(key)

    def gis(self, slug: str) -> Path:
        return self.root / "gis" / f"{slug}.gpkg"

    def static_map(self, slug: str, variant: str, kind: str) -> Path:
        return self.root / "maps" / slug / f"{variant}__{kind}.png"

    def webmap(self, slug: str) -> Path:
        return self.root / "maps" / f"{slug}.html"

    @property
    def fleet_map(self) -> Path:
        """The fleet map, beside the feeders' maps it links to (no feeder may be named `fleet`)."""
        return self.root / "maps" / "fleet.html"


def study_paths(spec: StudySpec, out_root: str | Path) -> StudyPaths:
    """Where a study's results go: <out_root>/<study name>/."""
    return StudyPaths(Path(out_root) / spec.name)
