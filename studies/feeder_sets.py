"""Feeder sets: one entry of a study's `feeders:` that stands for many feeders, as a utility's fleet does.

- `{simbench: lv, scenario: 0}`: SimBench's six LV grids of a scenario (0 today, 1 and 2 with heat pumps,
  charging points and batteries of 2024 and 2034; Meinecke et al., "SimBench", Energies 13 (2020) 3290):
  `1-LV-rural1--<s>-sw`, rural2, rural3, semiurb4, semiurb5, urban6;
- `{glob: "grids/*.json"}`: every pandapower JSON file the pattern matches, relative to the study file's folder,
  in sorted order, each named by its path as matched;
- `{csv: fleet.csv}`: a table of feeders, one row each: `name`, `ref` (a SimBench code as `simbench:<code>`, a
  pandapower JSON file relative to the CSV's folder, or `pandapower:<function>`), and optionally `profiles`,
  `trips`, `region`, `x` and `y` (the substation's longitude and latitude, WGS 84) and `customer_class`.

Each gives plain feeder entries (`expand`), marked with the set they come from (`source`): a study records a
set member that fails its input checks and goes on without it (`studies/runner.py`), where a feeder named alone
stops the study."""
import glob as globbing
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

SIMBENCH_LV = ("rural1", "rural2", "rural3", "semiurb4", "semiurb5", "urban6")
MAX_SET = 20_000  # feeders a set may give
CSV_COLUMNS = ("name", "ref", "profiles", "trips", "region", "x", "y", "customer_class")
BUILT_IN = ("simbench:", "pandapower:")


class FeederSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    simbench: Literal["lv"] | None = Field(None, description="lv: SimBench's six LV grids of `scenario`.")
    scenario: int | None = Field(None, ge=0, le=2, description="SimBench scenario: 0 (today), 1, 2; default 0.")
    glob: str | None = Field(None, description="pandapower JSON files, e.g. grids/*.json (relative to the study).")
    csv: str | None = Field(None, description="A CSV of feeders: name, ref[, profiles, trips, region, x, y, "
                            "customer_class].")

    @model_validator(mode="after")
    def _one_kind(self):
        given = [k for k in ("simbench", "glob", "csv") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a feeder set is one of {simbench: lv, scenario: 0}, {glob: PATTERN}, {csv: FILE}")
        if self.scenario is not None and self.simbench is None:
            raise ValueError("scenario: only with simbench")
        return self

    def expand(self, base_dir: str | Path | None) -> list[dict]:
        """The set's feeder entries (mappings of FeederEntry's fields, paths absolute)."""
        base = Path(base_dir or Path.cwd())
        if self.simbench is not None:
            s = self.scenario or 0
            label = f"simbench lv scenario {s}"
            return [{"ref": f"simbench:1-LV-{g}--{s}-sw", "source": label} for g in SIMBENCH_LV]
        if self.glob is not None:
            return _globbed(self.glob, base)
        return _listed(base / self.csv if not Path(self.csv).is_absolute() else Path(self.csv))


def _globbed(pattern: str, base: Path) -> list[dict]:
    absolute = Path(pattern).is_absolute()
    found = sorted(globbing.glob(pattern) if absolute else globbing.glob(pattern, root_dir=base))
    files = [f for f in found if (Path(f) if absolute else base / f).is_file()]
    if not files:
        raise ValueError(f"glob '{pattern}' matches no file in {base}")
    if len(files) > MAX_SET:
        raise ValueError(f"glob '{pattern}' matches {len(files):,} files, more than {MAX_SET:,}")
    return [{"ref": str((Path(f) if absolute else base / f).resolve()), "name": f, "source": f"glob {pattern}"}
            for f in files]


def _listed(path: Path) -> list[dict]:
    if not path.is_file():
        raise ValueError(f"csv: file not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=MAX_SET + 1)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ValueError(f"csv: {path}: not a readable CSV ({type(exc).__name__})") from None
    unknown = [c for c in table.columns if c not in CSV_COLUMNS]
    if unknown or not {"name", "ref"} <= set(table.columns):
        raise ValueError(f"csv: {path}: needs columns name and ref, may have {', '.join(CSV_COLUMNS[2:])}"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    if len(table) > MAX_SET:
        raise ValueError(f"csv: {path}: more than {MAX_SET:,} feeders")
    if table.empty:
        raise ValueError(f"csv: {path}: lists no feeder")
    out = []
    for i, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        entry = {k: v for k, v in row.items() if v != ""}
        if "name" not in entry or "ref" not in entry:
            raise ValueError(f"csv: {path}, line {i}: name and ref are required")
        for field in ("ref", "profiles", "trips"):
            value = entry.get(field)
            if value and not value.startswith(BUILT_IN) and value != "flat" and not Path(value).is_absolute():
                entry[field] = str((path.parent / value).resolve())
        for field in ("x", "y"):
            if field in entry:
                try:
                    entry[field] = float(entry[field])
                except ValueError:
                    raise ValueError(f"csv: {path}, line {i}: {field} '{entry[field]}' is not a number") from None
        out.append({**entry, "source": f"csv {path.name}"})
    return out
