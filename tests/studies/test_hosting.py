"""Hosting-capacity and locational logic on synthetic run tables with known answers."""
import numpy as np
import pandas as pd
import pytest

from hostcap.models.limits import BANDS
from hostcap.studies.hosting import (
    GROUP,
    RENAMED_COLUMNS,
    baseline_notes,
    clopper_pearson,
    first_violation_years,
    highest_safe_level,
    hosting_capacity,
    locational,
    lower_bound,
    min_samples_confident,
    read_hosting,
    too_few_samples,
    upper_bound,
    violation_probability,
)

LEVELS = [0.0, 0.2, 0.4, 0.6]


def runs_table(p_any: dict, samples=20, periods=("w",)):
    """Runs where, per strategy and level, the first round(p * samples) samples break the undervoltage
    limit (in the first period only), under the study's criterion and ansi_a; en50160 is never broken."""
    rows = []
    for strategy, probs in p_any.items():
        for level, p in zip(LEVELS, probs):
            for sample in range(samples):
                for i, period in enumerate(periods):
                    bad = sample < round(p * samples) and i == 0
                    rows.append({"key": f"{strategy}|{period}|{level}|{sample}", "feeder": "f", "period": period,
                                 "strategy": strategy, "penetration": level, "v2g_share": 0.5, "sample": sample,
                                 "status": "ok", "undervoltage_buses": 1 if bad else 0,
                                 "overvoltage_buses": 0, "trafo_overload_hours": 0.0,
                                 **{f"buses_outside_{b}": int(bad and b == "ansi_a") for b in BANDS},
                                 "line_overload_hours": 0.0, "nonconverged_steps": 0, "unbalance_buses": 0,
                                 "n_ev": round(level * 100), "ev_charger_kw": level * 100 * 8.0})
    return pd.DataFrame(rows)


def test_unbalance_is_a_criterion_of_its_own():
    """A bus above EN 50160's 2 % unbalance breaks the `unbalance` criterion (and `any`, under every voltage
    criterion), not a voltage band."""
    runs = runs_table({"uncontrolled": [0, 0, 0, 0]})
    runs.loc[(runs["penetration"] == 0.6) & (runs["sample"] < 5), "unbalance_buses"] = 2
    hc = hosting_capacity(runs, 0.05).set_index("strategy")
    assert hc.loc["uncontrolled", "hc_point_frac"] == 0.4 and hc.loc["uncontrolled", "binding"] == "unbalance"
    assert hc.loc["uncontrolled", "hc_unbalance_frac"] == 0.4
    assert hc.loc["uncontrolled", "hc_undervoltage_frac"] == 0.6
    assert (hc[[f"hc_point_{b}_frac" for b in BANDS]] == 0.4).all(axis=None)


# columns of hosting_capacity.csv that are names, counts, flags or probabilities (0-1, as `p_*`): no unit
UNITLESS = {*GROUP, "binding", "hc_evs", "n_samples_min", "samples_limit_confident", "baseline_violates",
            "threshold", "voltage_criterion", "trafo_criterion", "min_samples_confident", "exact_baseline"}


def test_hosting_columns_name_their_unit_and_a_file_of_0_6_0_still_reads(tmp_path):
    hc = hosting_capacity(runs_table({"uncontrolled": [0, 0, 0.1, 0.5], "v2g_tou": [0, 0, 0, 0.05]}), 0.05)
    unitless = [c for c in hc.columns if c not in UNITLESS and not c.endswith(("_frac", "_kw"))]
    assert unitless == [], "a new column of hosting_capacity.csv without its unit"
    assert {"hc_point_frac", "hc_confident_frac", "uplift_vs_uncontrolled_frac"} <= set(hc.columns)
    assert not set(RENAMED_COLUMNS) & set(hc.columns) and set(RENAMED_COLUMNS.values()) <= set(hc.columns)
    hc.to_csv(tmp_path / "new.csv", index=False)
    old = hc.rename(columns={new: old for old, new in RENAMED_COLUMNS.items()})
    assert {"hc_point", "hc_confident", "hc_overvoltage", "hc_point_ansi_a", "uplift_vs_uncontrolled"} <= set(old)
    old.to_csv(tmp_path / "old.csv", index=False)  # as version 0.6.0 wrote it
    pd.testing.assert_frame_equal(read_hosting(tmp_path / "old.csv"), read_hosting(tmp_path / "new.csv"))
    pd.testing.assert_frame_equal(read_hosting(tmp_path / "new.csv"), pd.read_csv(tmp_path / "new.csv"))


def test_highest_safe_level():
    lv = np.array(LEVELS)
    assert highest_safe_level(lv, np.array([0, 0, 0.1, 0.5]), 0.05) == 0.2
    assert highest_safe_level(lv, np.array([0, 0, 0, 0.05]), 0.05) == 0.6
    assert highest_safe_level(lv, np.array([0, 0.1, 0, 0]), 0.05) == 0.0  # not above a failing level
    assert np.isnan(highest_safe_level(lv, np.array([0.5, 0, 0, 0]), 0.05))
    assert highest_safe_level(lv[::-1], np.array([0.5, 0.1, 0, 0]), 0.05) == 0.2  # order-free


def test_hosting_capacity_counts_and_uplift():
    runs = runs_table({"uncontrolled": [0, 0, 0.1, 0.5], "v2g_tou": [0, 0, 0, 0.05]}, periods=("w", "s"))
    prob = violation_probability(runs).set_index(["strategy", "penetration"])
    assert prob.loc[("uncontrolled", 0.4), "p_undervoltage"] == pytest.approx(0.1)
    assert prob.loc[("uncontrolled", 0.4), "p_violation"] == pytest.approx(0.1)
    assert prob.loc[("uncontrolled", 0.4), "n_violating"] == 2
    assert prob.loc[("uncontrolled", 0.4), "p_overvoltage"] == 0.0
    assert (prob["n_samples"] == 20).all()  # periods are folded into samples
    hc = hosting_capacity(runs, 0.05).set_index("strategy")
    assert hc.loc["uncontrolled", "hc_point_frac"] == 0.2 and hc.loc["v2g_tou", "hc_point_frac"] == 0.6
    assert hc.loc["uncontrolled", "hc_evs"] == 20 and hc.loc["v2g_tou", "hc_charger_kw"] == pytest.approx(480.0)
    assert hc.loc["v2g_tou", "uplift_vs_uncontrolled_frac"] == pytest.approx(0.4)
    assert hc.loc["v2g_tou", "hc_overvoltage_frac"] == 0.6 and hc.loc["uncontrolled", "hc_undervoltage_frac"] == 0.2
    assert hosting_capacity(runs, 0.2).set_index("strategy").loc["uncontrolled", "hc_point_frac"] == 0.4
    # 20 clean samples bound P(violation) at 13.9 % (one-sided 95 %), above 5 %: nothing is confidently safe,
    # and it is said
    assert hc["hc_confident_frac"].isna().all() and (hc["min_samples_confident"] == 59).all()
    assert hc["samples_limit_confident"].all()
    assert "20 samples at a level cannot show P(violation) <= 5% at 95 % confidence" in too_few_samples(
        hc.reset_index())
    assert hc.loc["uncontrolled", "binding"] == "undervoltage" and hc.loc["v2g_tou", "binding"] == ""
    # the same runs judged by each voltage criterion: only ansi_a saw the undervoltage
    assert hc.loc["uncontrolled", "hc_point_ansi_a_frac"] == 0.2
    assert hc.loc["uncontrolled", "hc_point_en50160_frac"] == 0.6
    assert (hc["voltage_criterion"] == "en50160").all()


@pytest.mark.parametrize("k, n", [(0, 10), (0, 59), (0, 72), (1, 10), (3, 20), (10, 10), (5, 60), (17, 40)])
def test_clopper_pearson_equals_the_beta_quantiles(k, n):
    from scipy.stats import beta

    lo, hi = clopper_pearson(np.array([k]), np.array([n]))
    assert lo[0] == pytest.approx(0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1), rel=1e-12, abs=0)
    assert hi[0] == pytest.approx(1.0 if k == n else beta.ppf(0.975, k + 1, n - k), rel=1e-12, abs=0)
    assert lo[0] <= k / n <= hi[0]


def test_clopper_pearson_by_hand_and_the_samples_a_threshold_needs():
    lo, hi = clopper_pearson(np.array([0, 0]), np.array([10, 72]))
    assert hi[0] == pytest.approx(1 - 0.025 ** (1 / 10))  # 30.8 %: ten clean samples say little
    assert hi[1] < 0.05 and lo[1] == 0.0
    # the one-sided 95 % bound: 25.9 % for 0 in 10; 59 clean samples show 5 %, 58 do not
    assert upper_bound(np.array([0]), np.array([10]))[0] == pytest.approx(1 - 0.05 ** (1 / 10))
    assert upper_bound(np.array([0]), np.array([59]))[0] <= 0.05 < upper_bound(np.array([0]), np.array([58]))[0]
    assert min_samples_confident(0.05) == 59 and min_samples_confident(0.10) == 29


@pytest.mark.parametrize("k, n", [(0, 10), (1, 10), (3, 20), (10, 10), (5, 60)])
def test_upper_bound_equals_the_beta_quantile(k, n):
    from scipy.stats import beta

    expected = 1.0 if k == n else beta.ppf(0.95, k + 1, n - k)
    assert upper_bound(np.array([k]), np.array([n]))[0] == pytest.approx(expected, rel=1e-12, abs=0)


def test_hc_confident_on_a_hand_made_table():
    # 80 samples per level: 0 violations at 0 and 0.2, 1 at 0.4 (ub = 5.8 % > 5 %), 4 at 0.6
    runs = runs_table({"smart": [0, 0, 1 / 80, 4 / 80]}, samples=80)
    hc = hosting_capacity(runs, 0.05).set_index("strategy").loc["smart"]
    assert hc["hc_point_frac"] == 0.6  # every estimate <= 5 %
    assert hc["hc_confident_frac"] == 0.2  # 0/80: ub 3.7 %; 1/80: ub 5.8 %
    prob = violation_probability(runs).set_index("penetration")
    assert prob.loc[0.2, "p_violation_ub"] < 0.05 < prob.loc[0.4, "p_violation_ub"]
    assert too_few_samples(hosting_capacity(runs, 0.05)) == ""


def test_an_exact_baseline_has_one_sample_and_no_width():
    runs = runs_table({"smart": [0, 0, 0, 0.5]}, samples=60)
    runs = runs[(runs["penetration"] > 0) | (runs["sample"] == 0)]  # level 0 run once
    prob = violation_probability(runs, exact_baseline=True).set_index("penetration")
    assert prob.loc[0.0, "n_samples"] == 1 and prob.loc[0.0, ["p_violation_lo", "p_violation_ub"]].tolist() == [0, 0]
    hc = hosting_capacity(runs, 0.05, exact_baseline=True).iloc[0]
    assert hc["hc_confident_frac"] == 0.4 and hc["n_samples_min"] == 60 and too_few_samples(
        hosting_capacity(runs, 0.05, exact_baseline=True)) == ""
    assert np.isnan(hosting_capacity(runs, 0.05).iloc[0]["hc_confident_frac"])  # one sample proves nothing


def test_failed_runs_are_left_out():
    runs = runs_table({"uncontrolled": [0, 0, 0.5, 0.5]})
    runs.loc[(runs["penetration"] == 0.4), "status"] = "failed"
    prob = violation_probability(runs)
    assert 0.4 not in set(prob["penetration"])


def test_locational_share_and_lowest_level():
    runs = runs_table({"uncontrolled": [0, 0, 0, 0]}, samples=4)
    el = []
    for _, r in runs.iterrows():
        # bus 7 violates from 0.4 in samples 0 and 1, from 0.6 in samples 2 and 3; bus 8 only in sample 0 at 0.6
        v7 = r["penetration"] >= (0.4 if r["sample"] < 2 else 0.6)
        v8 = r["penetration"] >= 0.6 and r["sample"] == 0
        el += [{"key": r["key"], "element": "bus", "index": 7, "vm_min_pu": 0.85 if v7 else 0.95, "vm_max_pu": 1.0,
                "max_loading_pct": np.nan, "violated": v7},
               {"key": r["key"], "element": "bus", "index": 8, "vm_min_pu": 0.95, "vm_max_pu": 1.0,
                "max_loading_pct": np.nan, "violated": v8}]
    loc = locational(runs, pd.DataFrame(el)).set_index(["index", "penetration"])
    assert loc.loc[(7, 0.4), "p_violation"] == 0.5 and loc.loc[(7, 0.6), "p_violation"] == 1.0
    assert loc.loc[(7, 0.2), "p_violation"] == 0.0 and loc.loc[(7, 0.4), "vm_min_pu"] == 0.85
    assert loc.loc[(7, 0.0), "lowest_violating_penetration"] == pytest.approx(0.5)  # median of .4 .4 .6 .6
    assert np.isnan(loc.loc[(8, 0.6), "lowest_violating_penetration"])  # never in 3 of 4 samples
    lo, hi = clopper_pearson(np.array([2]), np.array([4]))
    assert loc.loc[(7, 0.4), ["n_samples", "n_violating"]].tolist() == [4, 2]
    assert loc.loc[(7, 0.4), "p_violation_lo"] == lo[0] and loc.loc[(7, 0.4), "p_violation_hi"] == hi[0]
    assert loc.loc[(8, 0.6), "p_violation"] == 0.25


def test_lowest_violating_level_uses_the_samples_that_ran_at_every_level():
    """An adaptive study runs its later samples at some levels only: they say nothing about where an element
    first violates. Bus 7 violates from 0.4 in the four samples run everywhere; samples 4-9 ran at 0.2 only."""
    full = runs_table({"smart": [0, 0, 0, 0]}, samples=4)
    more = runs_table({"smart": [0, 0, 0, 0]}, samples=10)
    more = more[(more["penetration"] == 0.2) & (more["sample"] >= 4)]
    runs = pd.concat([full[(full["penetration"] > 0) | (full["sample"] == 0)], more], ignore_index=True)
    el = pd.DataFrame([{"key": r.key, "element": "bus", "index": 7, "vm_min_pu": 0.9, "vm_max_pu": 1.0,
                        "max_loading_pct": np.nan, "violated": r.penetration >= 0.4} for r in runs.itertuples()])
    loc = locational(runs, el).set_index("penetration")
    assert (loc["lowest_violating_penetration"] == 0.4).all()
    assert loc.loc[0.2, "n_samples"] == 10 and loc.loc[0.0, "n_samples"] == 1
    el.loc[el["key"].isin(runs.loc[runs["penetration"] == 0.0, "key"]), "violated"] = True  # broken without EVs
    assert (locational(runs, el)["lowest_violating_penetration"] == 0.0).all()


def test_a_feeder_that_breaks_a_limit_without_evs_is_named_not_blamed_on_the_evs():
    runs = runs_table({"uncontrolled": [0.5, 0.5, 0.6, 0.9], "smart": [0.5, 0.5, 0.5, 0.5]})
    hc = hosting_capacity(runs, 0.05)
    assert (hc["baseline_violates"] == "undervoltage").all() and hc["hc_point_frac"].isna().all()
    notes = baseline_notes(hc)
    assert len(notes) == 2 and notes[0].startswith("f already breaks undervoltage without EVs (smart, 50% bidir")
    clean = hosting_capacity(runs_table({"uncontrolled": [0, 0, 0.1, 0.5]}), 0.05)
    assert (clean["baseline_violates"] == "").all() and baseline_notes(clean) == []


def test_first_violation_year_estimate_confident_and_possible():
    """Levels 0.2, 0.4, 0.6 are the years 2030, 2035, 2040. `smart` breaks in 3 of 20 samples in 2035 (15 %:
    above 5 %, but its one-sided lower bound 1 - ... is not) and in 20 of 20 in 2040 (lower bound
    0.05^(1/20) = 0.861: broken at 95 % confidence); no violation in 2030 (upper bound 1 - 0.05^(1/20) =
    0.139 > 5 %: not ruled out). `uncontrolled` never breaks: no year."""
    prob = violation_probability(runs_table({"smart": [0, 0, 0.15, 1.0], "uncontrolled": [0, 0, 0, 0]}))
    years = {0.2: 2030, 0.4: 2035, 0.6: 2040}
    fv = first_violation_years(prob, years, 0.05).set_index("strategy")
    s = fv.loc["smart"]
    assert (s["first_violation_year"], s["first_violation_year_confident"], s["first_possible_violation_year"]) \
        == (2035, 2040, 2030)
    assert s["binding"] == "undervoltage" and s["p_violation"] == 0.15 and s["ev_per_household"] == 0.4
    u = fv.loc["uncontrolled"]
    assert pd.isna(u["first_violation_year"]) and pd.isna(u["first_violation_year_confident"])
    assert u["first_possible_violation_year"] == 2030 and u["binding"] == ""
    # the bounds in closed form: k = n gives alpha^(1/n); k = 0 gives 0 and 1 - alpha^(1/n) above
    assert lower_bound(np.array([20]), np.array([20]))[0] == pytest.approx(0.05 ** (1 / 20))
    assert lower_bound(np.array([1]), np.array([20]))[0] == pytest.approx(1 - 0.95 ** (1 / 20))
    assert lower_bound(np.array([3]), np.array([20]))[0] < 0.05 < 3 / 20
    assert upper_bound(np.array([0]), np.array([20]))[0] == pytest.approx(1 - 0.05 ** (1 / 20))


def test_the_transformer_is_judged_by_loading_or_by_its_thermal_limits_and_the_answer_is_given_under_both():
    """Samples that overload the transformer above its rating at 0.4 and 0.6, but break its thermal limits
    (IEC 60076-7) only at 0.6: judged by loading the hosting capacity is 0.2, thermally 0.4; both studies give
    both answers, and the adaptive rounds count violations by the study's criterion."""
    from hostcap.studies.adaptive import _evidence
    from hostcap.studies.hosting import violated_criteria

    runs = runs_table({"uncontrolled": [0, 0, 0, 0]})
    runs["trafo_overload_hours"] = np.where(runs["penetration"] >= 0.4, 1.5, 0.0)
    runs["trafo_thermal_limits_broken"] = np.where(runs["penetration"] >= 0.6, 1, 0)
    for criterion, point in (("loading", 0.2), ("thermal", 0.4)):
        hc = hosting_capacity(runs, 0.05, trafo_criterion=criterion).iloc[0]
        assert hc["hc_point_frac"] == point and hc["binding"] == "trafo_overload"
        assert (hc["hc_point_trafo_loading_frac"], hc["hc_point_trafo_thermal_frac"]) == (0.2, 0.4)
        assert hc["trafo_criterion"] == criterion
        prob = violation_probability(runs, trafo_criterion=criterion).set_index("penetration")
        assert list(prob["p_trafo_overload"]) == [0, 0, 1.0 if criterion == "loading" else 0, 1.0]
    row = runs[runs["penetration"] == 0.4].iloc[0].to_dict()
    assert violated_criteria(row, "loading") == ["trafo_overload"] and violated_criteria(row, "thermal") == []
    chosen = [(None, {"feeder": "f", "strategy": "uncontrolled", "v2g_share": 0.5, "penetration": 0.4, "sample": 0,
                      "key": "k"})]
    results = {"k": {**row, "status": "ok"}}
    assert _evidence(chosen, results, "loading")[0] == {("f", "uncontrolled", 0.5, 0.4): 1}
    assert _evidence(chosen, results, "thermal")[0] == {("f", "uncontrolled", 0.5, 0.4): 0}
    # runs from before the thermal model: the loading answer only
    assert "hc_point_trafo_thermal_frac" not in hosting_capacity(runs.drop(columns="trafo_thermal_limits_broken"))
