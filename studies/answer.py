"""A study's answer in words, one code path for every place that says it: the conclusion that opens the
report, and the closing lines of `hostcap study`, `hostcap hosting` and `hostcap.study()`.

The conclusion says, per feeder, which strategies break which limit from which level of EVs and in which
periods, which host every level, and which of the two hosting-capacity numbers to quote (the 95 %
confident one, `hc_confident_frac`; `studies/hosting.py` defines both). It is built from
hosting_capacity.csv and, for the periods, runs.parquet.
"""
import json
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.models.limits import voltage_band
from hostcap.studies.gis import name_in_study, same_variant
from hostcap.studies.hosting import (
    CRITERIA,
    TRAFO_CRITERIA,
    baseline_notes,
    in_study_order,
    min_samples_confident,
    read_hosting,
    too_few_samples,
)
from hostcap.studies.hosting import criteria as criteria_of


@dataclass(frozen=True)
class Line:
    """One line a study prints: on stdout, or on stderr (`err`: notes, warnings, failures)."""
    text: str
    err: bool = False


def echo(lines: list[Line]) -> None:
    """Print the lines, each to its stream."""
    for line in lines:
        print(line.text, file=sys.stderr if line.err else sys.stdout, flush=True)


def pct(x) -> str:
    """A level or share as the report writes it: '40 %' ('none' for NaN)."""
    return "none" if x is None or not np.isfinite(x) else f"{100 * x:.0f} %"


def answer_lines(hc: pd.DataFrame) -> list[str]:
    """One line per feeder, strategy and V2G share of hosting_capacity.csv: hosting capacity (estimate and
    95 % confident, in % of households, and EVs) and what binds above it."""
    lines = []
    heat = "heat_pump_share" in hc and bool((hc["heat_pump_share"] > 0).any())
    for r in hc.itertuples():
        point = "none" if pd.isna(r.hc_point_frac) else f"{r.hc_point_frac:.0%}"
        sure = "none" if pd.isna(r.hc_confident_frac) else f"{r.hc_confident_frac:.0%}"
        evs = "" if pd.isna(r.hc_evs) else f" ({r.hc_evs:.0f} EVs)"
        binds = (r.binding.replace(";", ", ") if isinstance(r.binding, str) and r.binding
                 else "nothing up to the top level")
        homes = f", {r.heat_pump_share:.0%} of homes with a heat pump" if heat else ""
        lines.append(f"{r.feeder} | {r.strategy} ({r.v2g_share:.0%} bidirectional{homes}): hosting capacity "
                     f"{point}{evs}, "
                     f"{sure} at 95 % confidence; binding: {binds}")
    return lines


def _criteria_words(spec, criteria: list[str]) -> str:
    """The limits broken, in words: "the 0.95-1.05 pu voltage limit (overvoltage; ANSI C84.1-2020 Range A
    service voltage) and the transformer's 100 % loading limit"."""
    band = voltage_band(spec.band)
    voltage = [c for c in ("undervoltage", "overvoltage") if c in criteria]
    words = [f"the {band.v_min_pu:.2f}-{band.v_max_pu:.2f} pu voltage limit ({' and '.join(voltage)}; "
             f"{band.source.split(',')[0]})"] if voltage else []
    other = {"trafo_overload": f"the transformer's {spec.trafo_limit_pct:g} % loading limit",
             "line_overload": f"a line's {spec.line_limit_pct:g} % loading limit",
             "unbalance": "EN 50160's 2 % voltage unbalance",
             "nonconverged": "the power flow (it does not converge: voltage collapse)"}
    return _join(words + [other[c] for c in criteria if c in other])


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _breaking_periods(spec, runs: pd.DataFrame, row: dict, level: float, criteria: list[str]) -> list[str]:
    """The periods (study order) in which some run of this feeder and variant (`row`: a mapping with their
    columns) at this level breaks one of `criteria`."""
    at = runs[(runs["status"] == "ok") & same_variant(runs, row) & np.isclose(runs["penetration"], level)]
    metric = criteria_of(spec.trafo_criterion)
    broke = at[(at[[metric[c] for c in criteria]] > 0).any(axis=1)]
    order = spec.period_names
    return sorted(set(broke["period"]), key=lambda p: order.index(p) if p in order else len(order))


def _outcome(spec, row, runs: pd.DataFrame, levels: list[float]) -> tuple:
    """What one variant's row of hosting_capacity.csv says, as a key that equal outcomes share."""
    top = max(levels)
    point, sure = row.hc_point_frac, row.hc_confident_frac
    evs = None if pd.isna(row.hc_evs) else round(float(row.hc_evs))
    base = row.baseline_violates if isinstance(row.baseline_violates, str) else ""
    if base:
        return ("baseline", base)
    if np.isfinite(point) and point >= top:
        return ("hosts", top, evs, sure)
    above = [lv for lv in levels if not np.isfinite(point) or lv > point]
    first = above[0] if above else top
    criteria = [c for c in (row.binding or "").split(";") if c] if isinstance(row.binding, str) else []
    periods = tuple(_breaking_periods(spec, runs, row._asdict(), first, criteria)) if criteria else ()
    return ("breaks", tuple(criteria), first, periods, point, evs, sure)


def _phrase(spec, key: tuple, names: list[str]) -> str:
    """One clause of the conclusion for the variants `names` that share the outcome `key`."""
    many = len(names) > 1
    who = _join(names)
    if key[0] == "baseline":
        return (f"the feeder breaks {_criteria_words(spec, key[1].split(';'))} already without EVs, so "
                f"{who} {'have' if many else 'has'} no hosting capacity for that reason")
    if key[0] == "hosts":
        _, top, evs, sure = key
        count = f" ({evs} EVs)" if evs is not None else ""
        shown = ", shown at 95 % confidence" if np.isfinite(sure) and sure >= top else \
            f"; 95 % confident: {pct(sure)}"
        return f"{who} host{'' if many else 's'} every level up to {pct(top)}{count}{shown}"
    _, criteria, first, periods, point, evs, sure = key
    where = f" in {_join(list(periods))}" if periods else ""
    what = _criteria_words(spec, list(criteria)) if criteria else "a limit"
    count = f", {evs} EVs" if evs is not None else ""
    year = f" ({spec.year_of(first)})" if spec.year_of(first) is not None else ""
    return (f"{who} break{'' if many else 's'} {what} from {pct(first)} EVs{year}{where} (hosting capacity "
            f"{pct(sure)} at 95 % confidence; estimate {pct(point)}{count})")


def conclusion(spec, hosting: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """The study's answer in a sentence per feeder and one that says which number to quote: what breaks,
    where (feeder, periods), from which level and under which strategy, and what hosts every level.
    `hosting`: hosting_capacity.csv; `runs`: runs.parquet (its feeder, period, strategy, v2g_share,
    penetration, status and violation columns)."""
    if hosting.empty:
        return []
    hosting = in_study_order(spec, hosting)
    levels = sorted(set(runs["penetration"]) | set(spec.penetrations)) if len(runs) else sorted(spec.penetrations)
    sentences = []
    for feeder, rows in hosting.groupby("feeder", sort=False):
        groups: dict[tuple, list[str]] = {}
        for r in rows.itertuples():
            groups.setdefault(_outcome(spec, r, runs, levels), []).append(name_in_study(spec, r._asdict()))
        rank = {"baseline": 0, "breaks": 1, "hosts": 2}  # what breaks first: the news
        clauses = [_phrase(spec, key, names) for key, names in sorted(groups.items(), key=lambda kv: rank[kv[0][0]])]
        shares = "" if len(spec.v2g_shares) > 1 else f" ({pct(spec.v2g_shares[0])} of the EVs bidirectional)"
        sentences.append(f"On {feeder}{shares}: {'; '.join(clauses)}.")
    need = min_samples_confident(spec.max_violation_probability)
    quote = (f"Quote the hosting capacity at 95 % confidence (hc_confident_frac), the level the samples show to "
             f"be safe; the estimate (hc_point_frac) is the highest level at which at most "
             f"{pct(spec.max_violation_probability)} of the samples broke a limit.")
    if hosting["samples_limit_confident"].astype(bool).any():
        have = int(hosting.loc[hosting["samples_limit_confident"].astype(bool), "n_samples_min"].min())
        quote += (f" Here {have} samples at a level are too few to show it safe ({need} are needed): run more "
                  "samples before quoting a level.")
    return sentences + [quote]


def answer_groups(spec, hosting: pd.DataFrame) -> list[dict]:
    """The answer's details, per feeder (study order): a line per outcome, naming together the variants
    that share it (hosting capacity, its 95 % confident value, EVs, what binds)."""
    out = []
    for feeder, rows in in_study_order(spec, hosting).groupby("feeder", sort=False):
        lines: dict[str, list[str]] = {}
        for r in rows.itertuples():
            evs = "" if pd.isna(r.hc_evs) else f" ({r.hc_evs:.0f} EVs)"
            binds = (r.binding.replace(";", ", ") if isinstance(r.binding, str) and r.binding
                     else "nothing up to the top level")
            text = (f"hosting capacity {pct(r.hc_point_frac)}{evs}, {pct(r.hc_confident_frac)} at 95 % confidence; "
                    f"binding: {binds}")
            lines.setdefault(text, []).append(name_in_study(spec, r._asdict()))
        out.append({"feeder": feeder, "lines": [f"{', '.join(names)}: {text}" for text, names in lines.items()]})
    return out


def year_lines(spec, table: pd.DataFrame) -> list[str]:
    """One line per feeder, strategy and share of first_violation_year.csv: the year it first breaks a limit
    (estimate, with its probability and interval), the year it breaks at 95 % confidence, and the first year a
    violation cannot be ruled out; or that it holds through the pathway's last year; and the first year with the
    transformer judged by the other transformer criterion (`trafo_criterion`)."""
    last = max(spec.pathway)
    lines = []
    years = [c for c in table.columns if c.startswith(("first_violation_year", "first_possible_violation_year"))]
    table = table.astype({c: "Int64" for c in years})  # a CSV column with an empty cell reads as float
    other = next(t for t in TRAFO_CRITERIA if t != spec.trafo_criterion)
    words = {"loading": "judged by its loading", "thermal": "judged thermally (IEC 60076-7)"}
    for r in in_study_order(spec, table).itertuples():
        who = f"{r.feeder} | {name_in_study(spec, r._asdict())}"
        alt = getattr(r, f"first_violation_year_trafo_{other}", None)
        alt = "" if alt is None else (f"; with the transformer {words[other]}: "
                                      + (f"{alt}" if not pd.isna(alt) else f"holds through {last}"))
        maybe = ("" if pd.isna(r.first_possible_violation_year)
                 else f"; a violation cannot be ruled out from {r.first_possible_violation_year}")
        if pd.isna(r.first_violation_year):
            shown = "shown at 95 % confidence" if pd.isna(r.first_possible_violation_year) else "estimate"
            lines.append(f"{who}: holds every limit through {last} ({shown}){maybe}{alt}")
            continue
        sure = ("not shown at 95 % confidence by " + str(last) if pd.isna(r.first_violation_year_confident)
                else f"at 95 % confidence by {r.first_violation_year_confident}")
        lines.append(f"{who}: first breaks a limit in {r.first_violation_year} ({r.binding.replace(';', ', ')}; "
                     f"P(violation) {pct(r.p_violation)}, 95 % interval {pct(r.p_violation_lo)}-"
                     f"{pct(r.p_violation_hi)}; {pct(r.ev_per_household)} EVs, {pct(r.heat_pump_share)} heat pumps, "
                     f"{pct(r.pv_share)} PV); "
                     f"{sure}{maybe}{alt}")
    return lines


RUN_COLUMNS = ["feeder", "period", "strategy", "v2g_share", "heat_pump_share", "penetration", "status",
               *CRITERIA.values(), *TRAFO_CRITERIA.values()]


def answer(spec, paths) -> list[Line]:
    """The hosting-capacity answer of a study whose outputs are in `paths` (a StudyPaths): a line per
    feeder, strategy and share, the conclusion, and the notes (baseline, too few samples) on stderr."""
    hosting = in_study_order(spec, read_hosting(paths.hosting))
    runs = pd.read_parquet(paths.runs)
    runs = runs[[c for c in RUN_COLUMNS if c in runs]]
    lines = [Line(text) for text in answer_lines(hosting)]
    if spec.pathway is not None and paths.first_violation.is_file():
        lines += [Line(text) for text in year_lines(spec, pd.read_csv(paths.first_violation))]
    if spec.reinforcement is not None and paths.reinforcement.is_file() and paths.reinforcement.stat().st_size > 1:
        from hostcap.studies.feeder_needs import needs_lines

        years = pd.read_csv(paths.first_violation) if spec.pathway is not None else None
        lines += [Line(text) for text in needs_lines(spec, pd.read_csv(paths.reinforcement), years)]
    lines += [Line(text) for text in conclusion(spec, hosting, runs)]
    lines += [Line(f"note: {note}", err=True) for note in baseline_notes(hosting)]
    if warn := too_few_samples(hosting):
        lines.append(Line(f"note: {warn}", err=True))
    return lines


def study_dates(spec) -> list[str]:
    """The first and last day of each period: one line, or one per set of feeders whose `year` or `seasons`
    fall on other days (they follow each feeder's profiles)."""
    from hostcap.studies.scenario.settings import date_span

    feeders_of = {}
    for f in spec.feeders:
        text = ", ".join(f"{p.name} {date_span(p.start, p.days)}" for p in spec.periods_of(f))
        feeders_of.setdefault(text, []).append(f.name)
    if len(feeders_of) == 1:
        return [f"dates: {text}"]
    return [f"dates ({', '.join(names)}): {text}" for text, names in feeders_of.items()]


def study_lines(spec, paths, counts: dict, *, elapsed_s: float, hosting: bool = True) -> list[Line]:
    """What a study says when it ends, for `hostcap study` and `hostcap.study()` alike: where it wrote and
    what ran, the dates and profiles, what adaptive sampling saved, failures, the answer (`answer`) and a
    warning for runs that did not converge."""
    from hostcap.models.metrics import NONCONVERGED_MAX_SHARE
    from hostcap.studies.runner import without_failed

    left_out = counts.get("failed_feeders", [])
    spec = without_failed(spec, left_out)
    lines = [Line(f"{spec.name}: {counts['total']} scenarios, {counts['skipped']} already done, {counts['ran']} "
                  f"run, {counts['failed']} failed, {elapsed_s:.1f} s -> {paths.root}")]
    lines += [Line(text) for text in study_dates(spec)]
    if paths.manifest.is_file():
        profiles = json.loads(paths.manifest.read_text()).get("profiles", {})
        lines += [Line(f"profiles ({name}): {source}") for name, source in profiles.items()]
    if not isinstance(spec.samples, int):
        lines.append(Line(f"adaptive samples: {counts['total']} scenarios instead of {counts['max_everywhere']} with "
                          f"{spec.samples.max} samples at every level ({counts['max_everywhere'] - counts['total']} "
                          "saved)"))
    lines += [Line(f"failed: {n} x {error}", err=True) for error, n in counts["errors"].items()]
    lines += [Line(f"feeder {f['feeder']} ({f['source']}) left out: {f['error']}", err=True) for f in left_out]
    if hosting and counts["failed"] < counts["total"] and paths.hosting.is_file():
        lines += answer(spec, paths)
    if counts["unreliable"]:
        lines.append(Line(f"warning: {counts['unreliable']} runs did not converge at more than "
                          f"{NONCONVERGED_MAX_SHARE:.0%} of their steps (column nonconverged_share)", err=True))
    return lines
