"""The study file: a YAML document validated by `StudySpec` (pydantic).

An invalid file is refused with one line naming the file, the field, the value and what is allowed.
`studies/study.schema.json` is the exported JSON schema (`hostcap schema`); a test keeps it in sync.
"""
import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hostcap.cosim.scenario import IsoDate
from hostcap.feeders import DEFAULT_FEEDER
from hostcap.models.errors import InputError
from hostcap.models.strategies import STRATEGIES
from hostcap.studies.errors import input_error

Fraction = Field(ge=0.0, le=1.0)
TIMESERIES = ("res_bus/vm_pu", "res_line/loading_percent", "res_trafo/loading_percent", "res_ext_grid/p_mw",
              "res_ext_grid/q_mvar", "bus/p_mw", "bus/q_mvar", "ev/soc_kwh", "ev/p_kw")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="Short name used in keys and tables.")
    start: IsoDate = Field(description="First day, YYYY-MM-DD (within the feeder's profiles).")
    days: int = Field(ge=1, le=366)


class Slurm(Strict):
    """dask-jobqueue SLURMCluster settings; account and partition are the user's."""

    account: str | None = None
    partition: str | None = None
    jobs: int = Field(2, ge=1)
    cores: int = Field(4, ge=1, description="Cores per job (one Dask worker per core).")
    memory: str = "16GB"
    walltime: str = "01:00:00"


class DaskSettings(Strict):
    workers: int | None = Field(None, ge=1, description="Local workers; default: the machine's cores.")
    scheduler: str | None = Field(None, description="Address of an existing scheduler, tcp://HOST:PORT.")
    scheduler_file: str | None = None
    slurm: Slurm | None = None


class StudySpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Results go to results/<name>/.")
    feeders: list[str] = Field([DEFAULT_FEEDER], min_length=1)
    periods: list[Period] = Field(min_length=1)
    strategies: list[Literal[STRATEGIES]] = Field(min_length=1)  # type: ignore[valid-type]
    penetrations: list[float] = Field(min_length=1, description="EV penetration levels, 0..1.")
    v2g_shares: list[float] = Field([0.5], min_length=1, description="Bidirectional shares of the EVs, 0..1.")
    samples: int = Field(10, ge=1, description="Monte Carlo samples per level.")
    seed: int = Field(0, ge=0)
    band: Literal["en50160", "ansi"] = "en50160"
    line_limit_pct: float = Field(100.0, gt=0)
    trafo_limit_pct: float = Field(100.0, gt=0)
    max_violation_probability: float = Field(0.05, ge=0.0, le=1.0)
    step_min: float = Field(15.0, gt=0)
    solver: Literal["fast", "pandapower"] = "fast"
    keep_timeseries: list[Literal[TIMESERIES]] = Field(  # type: ignore[valid-type]
        [], description="Time series each run writes under results/<name>/runs/<key>/.")
    dask: DaskSettings = DaskSettings()

    @field_validator("penetrations", "v2g_shares")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0.0 <= x <= 1.0]
        if bad:
            raise ValueError(f"{bad[0]} is outside 0..1")
        if len(set(v)) != len(v):
            raise ValueError("levels must be distinct")
        return sorted(v)

    def spec_hash(self) -> str:
        """Hash of everything that changes a run's numbers (not the Dask settings nor kept series)."""
        data = self.model_dump(mode="json", exclude={"dask", "keep_timeseries", "name"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def load_spec(path: str | Path) -> StudySpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"study file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}") from None
    return parse_spec(data, str(path))


def parse_spec(data, source: str = "study") -> StudySpec:
    if not isinstance(data, dict):
        raise InputError(f"{source}: a study file is a mapping of fields")
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, source) from None


def json_schema() -> str:
    return json.dumps(StudySpec.model_json_schema(), indent=2) + "\n"
