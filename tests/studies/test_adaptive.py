"""Adaptive sampling on a real Dask cluster: the chosen samples and every output do not depend on the number
of workers; a level far from the threshold stops at `min`, an undecided one grows to `max`."""
import pandas as pd
import pytest

from hostcap.studies.adaptive import first_round, next_round
from hostcap.studies.layout import StudyPaths
from hostcap.studies.runner import run_study
from hostcap.studies.spec import parse_spec
from hostcap.studies.sweep import plan

# one winter and one summer day of the default feeder: v2g_tou breaks ANSI Range A at 100 % in every
# sample (far above the threshold), nothing breaks at 50 % (undecided until 59 clean samples)
ADAPTIVE = {"name": "adaptive", "periods": [{"name": "w", "start": "2016-01-11", "days": 1},
                                            {"name": "s", "start": "2016-07-04", "days": 1}],
            "strategies": ["v2g_tou"], "penetrations": [0.0, 0.5, 1.0], "samples": {"min": 4, "max": 12, "step": 4},
            "max_violation_probability": 0.25, "seed": 5, "band": "ansi_a", "battery_wear": None}


def test_one_and_two_workers_choose_the_same_samples_and_write_the_same_outputs(tmp_path):
    spec = parse_spec(ADAPTIVE)
    one = run_study(spec, tmp_path / "one", workers=1, progress=False)
    two = run_study(spec, tmp_path / "two", workers=2, progress=False)
    # level 0 once per week; 1.0: 4 samples x 2 weeks, all violating (lo > 25 %): stops at min;
    # 0.5: 1 of 4 violate (undecided), then 8, then 12 (max), still undecided (ub 34 %)
    assert one == two
    a, b = StudyPaths(tmp_path / "one" / "adaptive"), StudyPaths(tmp_path / "two" / "adaptive")
    runs = pd.read_parquet(a.runs)
    pd.testing.assert_frame_equal(runs.drop(columns="wall_s"), pd.read_parquet(b.runs).drop(columns="wall_s"))
    for name in ("hosting", "probability", "customer_value"):
        assert getattr(a, name).read_text() == getattr(b, name).read_text()
    per_level = runs.groupby("penetration")["sample"].nunique().to_dict()
    assert per_level == {0.0: 1, 0.5: 12, 1.0: 4}
    assert one["total"] == 2 * (1 + 12 + 4) and one["max_everywhere"] == 2 * 3 * 12
    prob = pd.read_csv(a.probability).set_index("penetration")
    assert prob.loc[1.0, "n_violating"] == 4 and prob.loc[1.0, "p_violation_lo"] > 0.25
    assert prob.loc[0.5, "n_violating"] == 1 and prob.loc[0.5, "p_violation_ub"] > 0.25
    assert prob.loc[0.5, "p_violation_lo"] <= 0.25  # neither shown safe nor unsafe at max
    hc = pd.read_csv(a.hosting).iloc[0]
    assert hc["hc_point_frac"] == 0.5 and hc["hc_confident_frac"] == 0.0 and hc["binding"] == "overvoltage"
    # the manifest says what adaptive sampling saved, and a rerun runs nothing
    again = run_study(spec, tmp_path / "one", workers=1, progress=False)
    assert again["ran"] == 0 and again["total"] == one["total"]


def test_the_rule_grows_only_undecided_levels_that_can_still_move_hc_confident():
    spec = parse_spec({**ADAPTIVE, "penetrations": [0.0, 0.3, 0.6, 1.0], "periods": ADAPTIVE["periods"][:1]})
    planned = plan(spec)
    chosen = first_round(spec, planned)
    assert sorted({c["sample"] for _, c in chosen}) == [0, 1, 2, 3]
    violating = {0.3: 1, 0.6: 4, 1.0: 0}  # 0.6 shown unsafe: 1.0 above it cannot move hc_confident
    results = {c["key"]: {"status": "ok", "overvoltage_buses": int(c["sample"] < violating.get(c["penetration"], 0))}
               for _, c in chosen}
    grown = next_round(spec, planned, chosen, results)
    assert {(c["penetration"], c["sample"]) for _, c in grown} == {(0.3, s) for s in range(4, 8)}
    assert next_round(parse_spec({**ADAPTIVE, "samples": 4}), planned, chosen, results) == []
    # a feeder that breaks a limit with no EV: no level grows (its hosting capacity is empty anyway)
    broken = {**results, **{c["key"]: {"status": "ok", "overvoltage_buses": 3}
                            for _, c in chosen if c["penetration"] == 0.0}}
    assert next_round(spec, planned, chosen, broken) == []
    # a level whose every run failed is not grown, nor is anything above it
    failed = {key: ({"status": "failed"} if key.split("|")[3] == "p0.300" else r) for key, r in results.items()}
    assert next_round(spec, planned, chosen, failed) == []


@pytest.mark.parametrize("samples", [{"min": 5, "max": 3}, {"min": 0, "max": 3}])
def test_bad_sample_ranges_are_refused(samples):
    from hostcap.models.errors import InputError

    with pytest.raises(InputError, match="samples"):
        parse_spec({**ADAPTIVE, "samples": samples})
