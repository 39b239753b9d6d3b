"""The study file: a YAML document validated by `StudySpec` (pydantic).

An invalid file is refused with one line naming the file, the field, the value and what is allowed.
`studies/study.schema.json` is the exported JSON schema (`hostcap schema`); a test keeps it in sync.

Input rules beyond types: names are safe slugs (they become folder and file names); feeders, periods
and strategies are unique; the file's size and alias expansion are bounded before any object is built
from it, and a mapping may not repeat a key (`studies/yaml_input.py`); a study has at most `MAX_SCENARIOS`
scenarios. Relative paths (feeder files, profiles, trips) are resolved against the study file's folder, so
remote Dask workers and Snakemake rules see the same files.
"""
import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hostcap.feeders import DEFAULT_FEEDER
from hostcap.feeders.profiles import FLAT
from hostcap.models.errors import InputError
from hostcap.models.population import MAX_EVS_PER_HOUSEHOLD
from hostcap.models.series import table_names
from hostcap.models.strategies import STRATEGIES
from hostcap.studies.cost_file import SHIPPED as SHIPPED_COSTS
from hostcap.studies.cost_file import load_costs
from hostcap.studies.errors import input_error
from hostcap.studies.feeder_sets import FeederSet
from hostcap.studies.scenario.settings import IsoDate, RunSettings
from hostcap.studies.tariff_file import load_tariff
from hostcap.studies.yaml_input import load_yaml

TIMESERIES = table_names()  # every table a run may write (`models/series.py`), those of its power flow
SLUG = r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$"  # no '/', no '..', no leading dot
MAX_SCENARIOS = 100_000  # a 2-core machine runs about 10,000 week-long scenarios an hour
MAX_NAME_BYTES = 150  # a feeder's file name; a run's key adds about 60 bytes, file systems allow 255


def safe_name(key: str) -> str:
    """A file or folder name for a key or feeder name: no '/', never starting with a dot."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return "_" + name if name.startswith(".") or not name else name


def in_study_folder(path: str, info: ValidationInfo) -> Path:
    """A path from the study file: relative ones against the study file's folder (`base_dir`)."""
    base = (info.context or {}).get("base_dir")
    return Path(path) if base is None or Path(path).is_absolute() else Path(base) / path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Period(Strict):
    name: str = Field(pattern=SLUG, max_length=64, description="Short name used in keys and tables.")
    start: IsoDate = Field(description="First day, YYYY-MM-DD (within the feeder's profiles).")
    days: int = Field(ge=1, le=366)


SEASONS = {"winter": 1, "spring": 4, "summer": 7, "autumn": 10}  # the middle month of each meteorological season
WHOLE = ("year", "seasons")


def whole_periods(what: str, first_day: pd.Timestamp, n_days: int) -> list[Period]:
    """`year`: every whole day of the feeder's profiles. `seasons`: one week per meteorological season
    (northern hemisphere), the first Monday-to-Sunday week that starts in the season's middle month (January,
    April, July, October) of the profiles' first year: in 2016, the SimBench year, the weeks of 4 January, 4
    April, 4 July and 3 October."""
    if what == "year":
        return [Period(name="year", start=f"{first_day:%Y-%m-%d}", days=min(n_days, 366))]
    out = []
    for name, month in SEASONS.items():
        first = pd.Timestamp(year=first_day.year, month=month, day=1)
        monday = first + pd.Timedelta(days=(7 - first.weekday()) % 7)
        out.append(Period(name=name, start=f"{monday:%Y-%m-%d}", days=7))
    return out


class Samples(Strict):
    """Adaptive sampling (`studies/adaptive.py`): `min` samples at every level, then `step` more at a time, up
    to `max`, only where the level's interval still straddles the threshold."""

    min: int = Field(ge=1, le=MAX_SCENARIOS)
    max: int = Field(ge=1, le=MAX_SCENARIOS)
    step: int = Field(10, ge=1, description="Samples added at a time to a level that is still undecided.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class FeederEntry(Strict):
    """A feeder of the study. In the file: a reference string, or a mapping with its own profiles/trips."""

    ref: str = Field(description="simbench:<code>, a pandapower JSON file, or pandapower:<networks function>.")
    name: str = Field("", description="Name in keys, tables and file names; default: the reference as written.")
    profiles: str | None = Field(None, description="CSV/Parquet profiles of the feeder, or `flat` (rated power "
                                 "every step); default: the feeder's own (SimBench), else standard household profiles.")
    trips: str | None = Field(None, description="CSV/Parquet trip table: vehicle, departure, arrival, energy_kwh.")
    region: str | None = Field(None, max_length=200, description="The feeder's region (a fleet's grouping).")
    x: float | None = Field(None, ge=-180, le=180, description="The substation's longitude (WGS 84).")
    y: float | None = Field(None, ge=-90, le=90, description="The substation's latitude (WGS 84).")
    customer_class: str | None = Field(None, max_length=200, description="e.g. residential, mixed, commercial.")
    source: str | None = Field(None, description="The feeder set it comes from (`studies/feeder_sets.py`): a "
                               "member that fails its input checks is recorded and left out; a feeder named alone "
                               "stops the study.")

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data, info: ValidationInfo):
        """A string is a reference; relative file paths resolve against the study file's folder."""
        data = {"ref": data} if isinstance(data, str) else data
        if not isinstance(data, dict) or not isinstance(data.get("ref"), str):
            return data
        base = (info.context or {}).get("base_dir")
        data = {**data, "name": data.get("name") or data["ref"]}
        for field in ("ref", "profiles", "trips"):
            path = data.get(field)
            if field == "ref" and path.startswith(("simbench:", "pandapower:")) or field == "profiles" and path == FLAT:
                continue
            if isinstance(path, str) and base is not None and not Path(path).is_absolute():
                data[field] = str((Path(base) / path).resolve())
        return data

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        if not v.isprintable():
            raise ValueError("a feeder name must be printable text")
        if len(safe_name(v).encode()) > MAX_NAME_BYTES:
            raise ValueError(f"a feeder name is at most {MAX_NAME_BYTES} bytes as a file name")
        if safe_name(v) == "fleet":
            raise ValueError("a feeder may not be named fleet: maps/fleet.html is the fleet map")
        return v

    def files(self) -> list[str]:
        """The files this feeder's runs read."""
        is_file = not self.ref.startswith(("simbench:", "pandapower:"))
        return [f for f in ((self.ref if is_file else None), self.profiles if self.profiles != FLAT else None,
                            self.trips) if f]


SLURM_WORD = r"^[A-Za-z0-9_.,:+-]+$"  # a Slurm account, partition, interface: no space, quote or newline


class Slurm(Strict):
    """dask-jobqueue SLURMCluster settings; account and partition are the user's. They are written into the
    job script's #SBATCH lines, so each is one word of a safe alphabet (a newline or quote could add a command)."""

    account: str | None = Field(None, pattern=SLURM_WORD)
    partition: str | None = Field(None, pattern=SLURM_WORD)
    jobs: int = Field(2, ge=1)
    cores: int = Field(4, ge=1, description="Cores per job (one Dask worker per core).")
    memory: str = Field("16GB", pattern=r"^\d+(\.\d+)?\s?[KMGT]i?B$", description="Memory per job, e.g. 16GB.")
    walltime: str = Field("01:00:00", pattern=r"^(\d+-)?\d{1,3}:\d{2}(:\d{2})?$", description="[D-]HH:MM[:SS]")
    interface: str | None = Field(None, pattern=SLURM_WORD,
                                  description="Network interface of the scheduler and workers, e.g. ib0.")


class DaskSettings(Strict):
    workers: int | None = Field(None, ge=1, description="Local workers; default: the machine's cores.")
    scheduler: str | None = Field(None, description="Address of an existing scheduler, tcp://HOST:PORT.")
    scheduler_file: str | None = None
    slurm: Slurm | None = None
    samples_per_run: int | Literal["auto"] = Field(
        "auto", description="Monte Carlo samples of one feeder, period, strategy and level co-simulated together "
        "in one run (`studies/scenario/run.run_batch`; the numbers do not depend on it); auto: as many as the "
        "recordings "
        "and trips of a run fit in 40 % of a worker's memory, at most 16.")

    @field_validator("samples_per_run")
    @classmethod
    def _positive(cls, v):
        if v != "auto" and v < 1:
            raise ValueError("samples_per_run must be at least 1, or auto")
        return v


FIRST_YEAR, LAST_YEAR = 2000, 2100


class Reinforcement(Strict):
    """What the feeder needs (`studies/reinforce.py`, `studies/flexibility.py`): the planner on every sample
    that breaks a limit, its cost from a cost file, and with a pathway the present value of the build-out."""

    costs: str | None = Field(None, description="The cost file (`studies/costs/`), relative to the study file's "
                              "folder; default: the shipped German one, studies/costs/de_dena.yaml (dena/eDisGo).")
    density: Literal["auto", "rural", "urban"] = Field(
        "auto", description="Which cable cost the feeders' sites take; auto: urban for a SimBench semiurb or "
        "urban feeder, rural otherwise.")
    discount_rate: float = Field(0.05, ge=0.0, le=0.3, description="Real discount rate per year for the present "
                                 "value of a pathway's build-out (default 5 %, near the equity rate the "
                                 "Bundesnetzagentur allows new grid assets, 5.07 % before corporate tax, BK4-21-055).")
    lifetime_years: int = Field(40, ge=1, le=100, description="Depreciation period of the equipment, for the "
                                "avoided cost per year (StromNEV annex 1: LV cables 40-45 years, distribution "
                                "transformers 30-40 years).")

    @property
    def cost_file(self) -> Path:
        return SHIPPED_COSTS if self.costs is None else Path(self.costs)

    @field_validator("costs")
    @classmethod
    def _cost_file(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        path = in_study_folder(v, info)
        try:
            load_costs(path)
        except InputError as exc:
            raise ValueError(str(exc).removeprefix("costs: ")) from None
        return str(path.resolve())


class PathwayYear(Strict):
    """One year of an adoption pathway: EVs per household (0-2, above 1 second cars) and the shares of the
    households with a heat pump and with rooftop PV (the feeder's own counted)."""

    ev: float = Field(ge=0.0, le=MAX_EVS_PER_HOUSEHOLD)
    heat_pump: float = Field(0.0, ge=0.0, le=1.0)
    pv: float = Field(0.0, ge=0.0, le=1.0)


class StudySpec(Strict, RunSettings):
    name: str = Field(pattern=SLUG, max_length=64, description="Results go to results/<name>/.")
    feeders: list[str | FeederEntry] = Field(
        [FeederEntry(ref=DEFAULT_FEEDER, name=DEFAULT_FEEDER)], min_length=1,
        description="Feeders: a reference, a mapping {ref, name, profiles, trips, region, x, y, customer_class}, "
        "or a set of feeders: {simbench: lv, scenario: 0}, {glob: PATTERN}, {csv: FILE} (`studies/feeder_sets.py`).")
    periods: list[Period | Literal[WHOLE]] = Field(  # type: ignore[valid-type]
        min_length=1, description="Weeks or other spans of the profiles; `year` (every day of the profiles) or "
        "`seasons` (one week per season) as entries of their own.")
    strategies: list[Literal[STRATEGIES]] = Field(min_length=1)  # type: ignore[valid-type]
    penetrations: list[float] | None = Field(None, min_length=1, description="EV penetration levels, EVs per "
                                             "household, 0..2 (above 1: every household one, some a second; "
                                             "models/population.py); or give a `pathway`.")
    pathway: dict[int, PathwayYear] | None = Field(
        None, min_length=1, description="In place of `penetrations`: year -> adoption that year, e.g. {2030: {ev: "
        "0.4, heat_pump: 0.15}, 2035: {ev: 0.8, heat_pump: 0.3, pv: 0.5}} (shares of the households; ev: EVs per "
        "household). The levels are the years (and 0, the feeder alone); adoption is nested (a home keeps what it "
        "had), so EVs must grow from year to year (they tell the levels apart) and heat pumps and PV may not shrink. "
        "first_violation_year.csv gives the year each feeder first breaks a limit.")
    v2g_shares: list[float] = Field([0.5], min_length=1, description="Bidirectional shares of the EVs, 0..1.")
    heat_pump_shares: list[float] | None = Field(
        None, min_length=1, description="Shares of the households with a heat pump, 0..1, an axis of the study: "
        "every level runs at every share (nested: a home with a heat pump at 20 % has one at 40 %), and the hosting "
        "capacity is given per share. Not with a pathway (its years give the shares) nor with `heat_pump_share`; "
        "without it, every run has `heat_pump_share` (default 0).")
    samples: Annotated[int, Field(ge=1, le=MAX_SCENARIOS)] | Samples = Field(
        10, description="Monte Carlo samples per level, or {min, max, step}: adaptive, more only where the level "
        "is undecided (`studies/adaptive.py`).")
    max_violation_probability: float = Field(0.05, ge=0.0, le=1.0)
    reinforcement: Reinforcement | None = Field(
        None, description="true, or {costs, density, discount_rate, lifetime_years}: plan what each sample that "
        "breaks a limit needs, its cost, and the cost each strategy avoids or defers (reinforcement.csv).")
    headroom: bool = Field(False, description="Each LV bus's headroom per strategy and level: the extra load and "
                           "generation it takes before a limit breaks (headroom.parquet, `studies/headroom.py`).")
    keep_timeseries: list[Literal[TIMESERIES]] = Field(  # type: ignore[valid-type]
        [], description="Time series each run writes under results/<name>/runs/<key>/.")
    dask: DaskSettings = DaskSettings()

    @field_validator("pathway")
    @classmethod
    def _growing(cls, v: dict[int, PathwayYear] | None) -> dict[int, PathwayYear] | None:
        if v is None:
            return v
        years = sorted(v)
        if not FIRST_YEAR <= years[0] <= years[-1] <= LAST_YEAR:
            raise ValueError(f"years lie in {FIRST_YEAR}..{LAST_YEAR}")
        steps = list(zip(years, years[1:]))
        if v[years[0]].ev <= 0.0 or any(v[b].ev <= v[a].ev for a, b in steps):
            bad = next((b for a, b in steps if v[b].ev <= v[a].ev), years[0])
            raise ValueError(f"{bad}: ev must grow from year to year, above 0 (the years are told apart by "
                             "their EVs; adoption is nested)")
        for share in ("heat_pump", "pv"):
            if any(getattr(v[b], share) < getattr(v[a], share) for a, b in steps):
                bad = next(b for a, b in steps if getattr(v[b], share) < getattr(v[a], share))
                raise ValueError(f"{bad}: {share} may not shrink (adoption is nested)")
        return {y: v[y] for y in years}

    @model_validator(mode="after")
    def _levels_given_once(self):
        """Penetrations or a pathway; a validated spec written out (the pipeline's copy) holds both, the
        penetrations being the pathway's EVs."""
        derived = None if self.pathway is None else [y.ev for y in self.pathway.values()]
        if (self.penetrations is None and derived is None) or (
                self.penetrations is not None and derived is not None and self.penetrations != derived):
            raise ValueError("penetrations: give penetrations or a pathway, one of them")
        if self.heat_pump_shares is not None and (self.pathway is not None or self.heat_pump_share > 0.0):
            raise ValueError("heat_pump_shares: not with a pathway (its years give the shares) nor with "
                             "heat_pump_share (give one)")
        if self.pathway is not None:
            for field, key in (("heat_pump_share", "heat_pump"), ("pv_share", "pv")):
                if getattr(self, field) > 0.0:
                    raise ValueError(f"{field}: with a pathway, give each year's {key} share in the pathway")
            object.__setattr__(self, "penetrations", [y.ev for y in self.pathway.values()])
        return self

    def level_settings(self, level: float) -> dict:
        """What a level sets beside its EVs: with a pathway, its year's heat-pump and PV shares (the feeder
        alone, level 0, keeps the study's)."""
        year = self.year_of(level)
        if year is None:
            return {}
        return {"heat_pump_share": self.pathway[year].heat_pump, "pv_share": self.pathway[year].pv}

    @property
    def level_years(self) -> dict[float, int]:
        """A pathway's levels (EVs per household) and their years; empty without a pathway."""
        return {} if self.pathway is None else {a.ev: y for y, a in self.pathway.items()}

    def year_of(self, level: float) -> int | None:
        """The pathway year of a level (None: no pathway, or level 0)."""
        return self.level_years.get(level)

    @property
    def heat_pump_axis(self) -> list[float]:
        """The heat-pump shares every level runs at (empty with a pathway: each year has its own)."""
        if self.pathway is not None:
            return []
        return self.heat_pump_shares if self.heat_pump_shares is not None else [self.heat_pump_share]

    @field_validator("reinforcement", mode="before")
    @classmethod
    def _switch(cls, v):
        """`true` is the default settings, `false` none."""
        return {} if v is True else None if v is False else v

    @field_validator("penetrations", "v2g_shares", "heat_pump_shares")
    @classmethod
    def _fractions(cls, v: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if v is None:
            return v
        top = MAX_EVS_PER_HOUSEHOLD if info.field_name == "penetrations" else 1
        bad = [x for x in v if not 0.0 <= x <= top]
        if bad:
            raise ValueError(f"{bad[0]} is outside 0..{top}")
        if len(set(v)) != len(v):
            raise ValueError("levels must be distinct")
        return sorted(v)

    @field_validator("strategies", "keep_timeseries")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        _no_repeats(v)
        return v

    @field_validator("periods")
    @classmethod
    def _distinct_periods(cls, v: list) -> list:
        explicit = [p for p in v if isinstance(p, Period)]
        _no_repeats(cls._period_names(v), "period name")
        _no_repeats([f"{p.start} + {p.days} d" for p in explicit], "period")
        return v

    @staticmethod
    def _period_names(periods: list) -> list[str]:
        names = []
        for p in periods:
            names += [p.name] if isinstance(p, Period) else ["year"] if p == "year" else list(SEASONS)
        return names

    @property
    def period_names(self) -> list[str]:
        return self._period_names(self.periods)

    def periods_of(self, feeder: FeederEntry) -> list[Period]:
        """The study's periods on this feeder: `year` and `seasons` from the feeder's own profiles."""
        if all(isinstance(p, Period) for p in self.periods):
            return list(self.periods)
        from hostcap.feeders import load_feeder

        index = load_feeder(feeder.ref, feeder.profiles).profiles.index
        first = index[0].normalize()
        n_days = int((index[-1] - first) / pd.Timedelta(days=1)) + 1
        if index[-1] + (index[1] - index[0]) < first + pd.Timedelta(days=n_days):
            n_days -= 1  # the last day is not whole
        out = []
        for p in self.periods:
            out += [p] if isinstance(p, Period) else whole_periods(p, first, n_days)
        return out

    @property
    def samples_min(self) -> int:
        return self.samples if isinstance(self.samples, int) else self.samples.min

    @property
    def samples_max(self) -> int:
        return self.samples if isinstance(self.samples, int) else self.samples.max

    @property
    def exact_baseline(self) -> bool:
        """Level 0 has no random input, so one sample of it is exact (see `studies/hosting.py`)."""
        return self.outages is None or self.outages.saifi is None

    @field_validator("feeders", mode="before")
    @classmethod
    def _expand_sets(cls, v, info: ValidationInfo):
        """A feeder set (a mapping with simbench, glob or csv) becomes its feeders."""
        if not isinstance(v, list):
            return v
        out = []
        for i, f in enumerate(v):
            if isinstance(f, dict) and {"simbench", "glob", "csv"} & set(f):
                try:
                    fs = FeederSet.model_validate(f)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    where = ".".join(str(x) for x in (i, *err["loc"]))
                    raise ValueError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None
                try:
                    out += fs.expand((info.context or {}).get("base_dir"))
                except ValueError as exc:
                    raise ValueError(f"{i}: {exc}") from None
            else:
                out.append(f)
        return out

    @field_validator("feeders")
    @classmethod
    def _distinct_feeders(cls, v: list, info: ValidationInfo) -> list[FeederEntry]:
        v = [FeederEntry.model_validate(f, context=info.context) if isinstance(f, str) else f for f in v]
        _no_repeats([f.name for f in v], "feeder name")
        files = {}
        for f in v:  # each feeder's files (its GeoPackage, maps, series) are named after its name
            other = files.setdefault(safe_name(f.name), f.name)
            if other != f.name:
                raise ValueError(f"feeder names '{other}' and '{f.name}' give the same file name "
                                 f"'{safe_name(f.name)}'; rename one")
        _no_repeats([f"{f.ref} {f.profiles} {f.trips}" for f in v], "feeder")
        return v

    @field_validator("tariff", mode="before")
    @classmethod
    def _tariff_file(cls, v, info: ValidationInfo):
        """A string is a tariff file, relative to the study file's folder; so is an inline tariff's
        price_series."""
        if isinstance(v, dict) and isinstance(v.get("price_series"), str):
            series = in_study_folder(v["price_series"], info)
            if not series.is_file():
                raise ValueError(f"price_series: file not found: {series}")
            return {**v, "price_series": str(series.resolve())}
        if not isinstance(v, str):
            return v
        try:
            return load_tariff(in_study_folder(v, info))
        except InputError as exc:
            raise ValueError(str(exc).removeprefix("tariff: ")) from None

    @model_validator(mode="after")
    def _bounded(self):
        n = self.n_scenarios()
        if n > MAX_SCENARIOS:
            raise ValueError(f"samples: the study has {n:,} scenarios, more than the {MAX_SCENARIOS:,} allowed; "
                             "use fewer samples, levels, strategies or periods, or split the study")
        return self

    @property
    def levels(self) -> list[float]:
        """The penetration levels run: the study's, and 0 (the feeder alone, the baseline) always."""
        return sorted(set(self.penetrations) | {0.0})

    def n_scenarios(self) -> int:
        """Scenarios with `max` samples at every level (the most an adaptive study can run)."""
        return (len(self.feeders) * len(self.period_names) * len(self.strategies) * len(self.levels)
                * len(self.v2g_shares) * max(1, len(self.heat_pump_axis)) * self.samples_max)

    def feeder(self, name: str) -> FeederEntry:
        for f in self.feeders:
            if f.name == name:
                return f
        raise InputError(f"feeder: '{name}' is not a feeder of study {self.name} "
                         f"({', '.join(f.name for f in self.feeders)})")

    def spec_hash(self) -> str:
        """Hash of everything that changes a run's numbers (not the Dask settings nor kept series).
        Informational (manifest, report): resume is keyed per scenario, see `studies/records.py`."""
        data = self.model_dump(mode="json", exclude={"dask", "keep_timeseries", "name", "reinforcement", "headroom",
                                                      "max_violation_probability"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _no_repeats(values: list[str], what: str = "entry") -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} '{v}' is listed twice")
        seen.add(v)


def load_spec(path: str | Path) -> StudySpec:
    path = Path(path)
    return parse_spec(load_yaml(path, "study file"), str(path), base_dir=path.resolve().parent)


def parse_spec(data, source: str = "study", base_dir: str | Path | None = None) -> StudySpec:
    """Validate a study (a mapping). Relative paths resolve against base_dir (default: the current folder)."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: a study file is a mapping of fields")
    try:
        return StudySpec.model_validate(data, context={"base_dir": str(base_dir or Path.cwd())})
    except ValidationError as exc:
        raise input_error(exc, source) from None


def json_schema() -> str:
    return json.dumps(StudySpec.model_json_schema(), indent=2) + "\n"
