"""Adaptive sampling: which of the sweep's samples a study runs.

A study with `samples: N` runs samples 0..N-1 at every level. With `samples: {min, max, step}` it runs
samples 0..min-1 at every level, then, in rounds, `step` more (the next sample numbers, up to `max`) at each
level of a feeder x strategy x bidirectional share that is still undecided and can still move
`hc_confident_frac`:
- undecided: the level's 95 % interval straddles the threshold, neither `p_violation_ub` <= threshold
  (shown safe at 95 % confidence) nor `p_violation_lo` > threshold (shown unsafe);
- can still move `hc_confident_frac`: no lower level of the same feeder, strategy and share is shown unsafe, or
  has reached `max` without being shown safe (hc_confident_frac stops below it whatever this level shows).
A sample is all periods of the study; a sample with a failed run is counted as taken but not as evidence,
and a level none of whose samples finished is not grown (nor are the levels above it). Level 0 with an exact
baseline (`studies/hosting.py`) has its one sample; if it violates, no level grows (the hosting capacity is
empty whatever the EVs do).

Each round's choice depends only on the results of the samples already chosen, whose numbers do not depend
on the workers, so the chosen set, and every output, is the same for any number of workers or any
interrupt and resume.
"""
from collections import defaultdict

import pandas as pd

from hostcap.studies.hosting import AXES, GROUP, clopper_pearson, criteria, upper_bound
from hostcap.studies.spec import StudySpec

LEVEL = (*GROUP, *AXES, "penetration")  # the axes a study has (`hosting.group_of`), then the level


def _level_keys(coords: dict) -> list[str]:
    return [k for k in LEVEL if k in coords]


def _level(coords: dict) -> tuple:
    return tuple(coords[k] for k in _level_keys(coords))


def first_round(spec: StudySpec, planned: list) -> list:
    """The scenarios every study runs: `min` samples at every level (all of them with `samples: N`)."""
    return [(s, c) for s, c in planned if c["sample"] < spec.samples_min]


def next_round(spec: StudySpec, planned: list, chosen: list, results: dict[str, dict]) -> list:
    """The scenarios to add after `chosen` have run (`results`: key -> a finished run's result dict, ok or
    not); [] when the study is complete."""
    if isinstance(spec.samples, int):
        return []
    taken = defaultdict(int)  # level -> samples chosen
    for _, c in chosen:
        level = _level(c)
        taken[level] = max(taken[level], c["sample"] + 1)
    k, n = _evidence(chosen, results, spec.trafo_criterion)
    thr, top = spec.max_violation_probability, spec.samples_max
    grow = {}
    for group in sorted({lv[:-1] for lv in taken}):
        blocked = False
        for pen in sorted(lv[-1] for lv in taken if lv[:-1] == group):
            level = (*group, pen)
            kk, nn = k.get(level, 0), n.get(level, 0)
            if (pen == 0.0 and spec.exact_baseline) or nn == 0:  # run once; or every run failed
                blocked = blocked or kk > 0 or nn == 0
                continue
            lo, _ = clopper_pearson(kk, nn)
            safe, unsafe = float(upper_bound(kk, nn)) <= thr, float(lo) > thr
            if not (safe or unsafe or blocked) and taken[level] < top:
                grow[level] = (taken[level], min(taken[level] + spec.samples.step, top))
            blocked = blocked or unsafe or (taken[level] >= top and not safe)
    return [(s, c) for s, c in planned
            if (r := grow.get(_level(c))) and r[0] <= c["sample"] < r[1]]


def _evidence(chosen: list, results: dict[str, dict], trafo_criterion: str) -> tuple[dict, dict]:
    """Per level: violating samples (the transformer judged by `trafo_criterion`) and samples whose runs all
    finished (all periods)."""
    metrics = criteria(trafo_criterion).values()
    rows = [{**{key: c[key] for key in _level_keys(c)}, "sample": c["sample"], "ok": r.get("status") == "ok",
             "violated": r.get("status") == "ok" and any((r.get(m) or 0) > 0 for m in metrics)}
            for _, c in chosen if (r := results.get(c["key"])) is not None]
    if not rows:
        return {}, {}
    keys = _level_keys(rows[0])
    per_sample = pd.DataFrame(rows).groupby([*keys, "sample"]).agg(ok=("ok", "all"), violated=("violated", "any"))
    per_sample = per_sample[per_sample["ok"]]
    by_level = per_sample.groupby(keys)["violated"]
    return by_level.sum().to_dict(), by_level.size().to_dict()
