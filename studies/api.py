"""The Python API for notebooks and scripts, re-exported by the top-level package:

    import hostcap
    r = hostcap.run(strategy="v2g_tou", penetration=0.6, v2g_share=0.5, days=2)
    r.metrics["v_max_pu"], r.violations, r.timeseries("res_bus/vm_pu")
    s = hostcap.study("studies/default.yaml", workers=2)
    s.hosting                                    # hosting_capacity.csv as a DataFrame

`run` co-simulates one scenario in this process (the same `run_scenario` as `hostcap run`); `study` runs a
study file on Dask (the same `run_study` as `hostcap study`; local workers are subprocesses of their own, so
a script needs no `if __name__ == "__main__"` guard), prints what `hostcap study` prints when it ends, and
returns its tables. Both results show what they are and their key numbers when printed (`repr`).
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from hostcap.studies.answer import answer as answer_of
from hostcap.studies.answer import echo, study_lines
from hostcap.studies.errors import input_error
from hostcap.studies.hosting import read_hosting, violated_criteria
from hostcap.studies.layout import RESULTS, StudyPaths, study_paths
from hostcap.studies.outputs import timeseries_tables, write_run
from hostcap.studies.runner import run_study
from hostcap.studies.scenario.result import RunResult
from hostcap.studies.scenario.run import run_scenario
from hostcap.studies.scenario.settings import Scenario
from hostcap.studies.spec import StudySpec, load_spec, parse_spec


@dataclass
class Run:
    """One co-simulated scenario: `metrics` (dict), `violations`, and DataFrames."""
    result: RunResult = field(repr=False)

    @property
    def scenario(self) -> Scenario:
        return self.result.scenario

    @property
    def metrics(self) -> dict:
        return self.result.metrics

    def __repr__(self) -> str:
        """What ran and what came of it: strategy, feeder, EVs, days; extreme voltages, transformer loading,
        peak and the limits broken."""
        sc, m = self.scenario, self.metrics
        return (f"<hostcap.Run {sc.strategy} on {sc.feeder}, {sc.start} + {sc.days} d: {m['n_ev']} EVs "
                f"({sc.penetration:.0%} of households, {sc.v2g_share:.0%} bidirectional); voltage "
                f"{m['v_min_pu']:.3f}-{m['v_max_pu']:.3f} pu, transformer max {m['trafo_max_loading_pct']:.1f} %, "
                f"peak {m['peak_demand_kw']:.1f} kW; limits broken ({sc.band}): "
                f"{', '.join(self.violations) or 'none'}>")

    @property
    def violations(self) -> list[str]:
        return violated_criteria(self.metrics, self.scenario.trafo_criterion)

    @property
    def timeseries_names(self) -> list[str]:
        return list(timeseries_tables(self.result))

    def timeseries(self, name: str) -> pd.DataFrame:
        """A time series in pandapower's OutputWriter layout, e.g. `res_bus/vm_pu` or `ev/p_kw` (index:
        timestamp; columns: element index)."""
        tables = timeseries_tables(self.result)
        if name not in tables:
            raise KeyError(f"no time series '{name}'; choose one of {', '.join(tables)}")
        return tables[name]

    @property
    def elements(self) -> pd.DataFrame:
        """Per bus, line and transformer: extreme voltage or loading and whether it broke its limit."""
        return self.result.element_summaries()

    @property
    def vehicles(self) -> pd.DataFrame:
        return self.result.vehicles()

    @property
    def customers(self) -> pd.DataFrame:
        """One row per connection point: energy, and bills with a priced tariff."""
        return self.result.customers()

    def save(self, out: str | Path, *, wall_s: float = 0.0) -> Path:
        """Write the run as `hostcap run` does (metrics.json, manifest.json, timeseries/...)."""
        write_run(self.result, Path(out), wall_s=wall_s)
        return Path(out)


def run(scenario: Scenario | None = None, /, **options) -> Run:
    """Co-simulate one scenario: a `Scenario`, or its fields as keywords (those of `hostcap run`: feeder,
    strategy, penetration, v2g_share, start, days, step_min, seed, band, ...), with `hostcap run`'s defaults
    (strategy uncontrolled, penetration 0.5, v2g_share 0.5)."""
    if scenario is None:
        try:
            scenario = Scenario(**options)
        except ValidationError as exc:
            raise input_error(exc) from None
    elif options:
        raise TypeError("give a Scenario or keywords, not both")
    return Run(run_scenario(scenario))


@dataclass
class StudyResults:
    """A study's output tables, each read from OUT/<name>/ when asked for, the run counts, and its answer
    (`answer`, also what it shows when printed)."""
    paths: StudyPaths
    counts: dict
    spec: StudySpec | None = field(default=None, repr=False)  # for the answer's study order and conclusion

    def __repr__(self) -> str:
        c = self.counts
        head = (f"<hostcap.StudyResults {self.root.name} in {self.root}: {c.get('total', 0)} scenarios, "
                f"{c.get('failed', 0)} failed, {c.get('skipped', 0)} reused")
        lines = self.answer
        return head + (">" if not lines else "\n" + "\n".join(f"  {line}" for line in lines) + "\n>")

    @property
    def answer(self) -> list[str]:
        """The study's answer as `hostcap study` ends with it: a line per feeder, strategy and V2G share, the
        conclusion, and the notes; empty before hosting capacity is computed."""
        if not self.paths.hosting.is_file():
            return []
        if self.spec is None:
            from hostcap.studies.answer import answer_lines

            return answer_lines(self.hosting)
        return [line.text for line in answer_of(self.spec, self.paths)]

    @property
    def root(self) -> Path:
        return self.paths.root

    @staticmethod
    def _table(path: Path) -> pd.DataFrame:
        if not path.is_file() or path.stat().st_size <= 1:  # an empty customer_value.csv: no households
            return pd.DataFrame()
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)

    @property
    def hosting(self) -> pd.DataFrame:
        """hosting_capacity.csv: per feeder, strategy and V2G share (with this version's column names, also
        from a file an older version wrote: `hosting.read_hosting`)."""
        return read_hosting(self.paths.hosting) if self.paths.hosting.is_file() else pd.DataFrame()

    @property
    def probability(self) -> pd.DataFrame:
        """violation_probability.csv: P(violation) per level with its 95 % interval."""
        return self._table(self.paths.probability)

    @property
    def runs(self) -> pd.DataFrame:
        return self._table(self.paths.runs)

    @property
    def locational(self) -> pd.DataFrame:
        return self._table(self.paths.locational)

    @property
    def customer_value(self) -> pd.DataFrame:
        return self._table(self.paths.customer_value)

    @property
    def reinforcement(self) -> pd.DataFrame:
        """reinforcement.csv (a study with `reinforcement`): what the feeder needs per level, its cost and what
        each strategy avoids; empty without."""
        return self._table(self.paths.reinforcement)

    @property
    def measures(self) -> pd.DataFrame:
        """reinforcement_measures.csv: every plan's measures; empty without `reinforcement`."""
        return self._table(self.paths.reinforcement_measures)


def study(spec: StudySpec | str | Path | dict, out: str | Path = RESULTS, *, workers: int | None = None,
          scheduler: str | None = None, scheduler_file: str | None = None, slurm: bool = False,
          samples_per_run: int | None = None, progress: bool = True) -> StudyResults:
    """Run a study (a spec, a study file's path, or its content as a dict) on Dask, with hosting capacity,
    and return its tables. Finished runs under OUT/<name>/ are reused, as with `hostcap study`. With
    `progress` it shows progress bars and ends with the lines `hostcap study` ends with (`studies/answer.py`)."""
    if isinstance(spec, dict):
        spec = parse_spec(spec, "study")
    elif not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    t0 = time.perf_counter()
    counts = run_study(spec, out, scheduler=scheduler, scheduler_file=scheduler_file, slurm=slurm,
                       workers=workers, samples_per_run=samples_per_run, progress=progress)
    paths = study_paths(spec, out)
    if progress:
        echo(study_lines(spec, paths, counts, elapsed_s=time.perf_counter() - t0))
    return StudyResults(paths, counts, spec)
