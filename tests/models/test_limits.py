"""Voltage criteria on synthetic series with known answers (EN 50160's weekly statistic, the hard limits)."""
import numpy as np
import pytest

from hostcap.models.errors import InputError
from hostcap.models.limits import BANDS, voltage_band, voltage_violations

WEEK_10MIN = 7 * 144  # 10-minute values in a week


def week(n_low: int, low_pu: float = 0.88, n: int = WEEK_10MIN) -> np.ndarray:
    """One bus, a week of 10-minute values at 1.0 pu of which the first n_low are at low_pu."""
    v = np.ones((n, 1))
    v[:n_low] = low_pu
    return v


def test_en50160_weekly_statistic_94_percent_fails_96_passes():
    en = voltage_band("en50160")
    fails = voltage_violations(week(round(0.06 * WEEK_10MIN)), 600.0, en)
    passes = voltage_violations(week(round(0.04 * WEEK_10MIN)), 600.0, en)
    assert fails[0][0] and not fails[1][0]
    assert not passes[0][0] and not passes[1][0]
    # the hard limit of the same name fails on the first value outside
    assert voltage_violations(week(1), 600.0, voltage_band("en50160_strict"))[0][0]


def test_en50160_one_value_below_085_fails_whatever_the_rest():
    v = week(1, low_pu=0.84)
    assert voltage_violations(v, 600.0, voltage_band("en50160"))[0][0]
    assert not voltage_violations(week(1, low_pu=0.86), 600.0, voltage_band("en50160"))[0][0]


def test_en50160_allows_no_value_above_110():
    v = np.ones((WEEK_10MIN, 1))
    v[5] = 1.101
    under, over = voltage_violations(v, 600.0, voltage_band("en50160"))
    assert over[0] and not under[0]


def test_en50160_takes_10_minute_means_of_shorter_steps_and_weeks_apart():
    en = voltage_band("en50160")
    # 5-min steps: one 5-min value at 0.82 next to one at 1.0 is a 10-min mean of 0.91, inside
    v = np.ones((2 * WEEK_10MIN, 1))
    v[0] = 0.82
    assert not voltage_violations(v, 300.0, en)[0][0]
    # two weeks of 15-min values: 4 % low in each week passes, 8 % in the second week alone fails
    per_week = 7 * 96
    two = np.ones((2 * per_week, 1))
    two[:round(0.04 * per_week)] = 0.88
    two[per_week:per_week + round(0.04 * per_week)] = 0.88
    assert not voltage_violations(two, 900.0, en)[0][0]
    two[per_week:per_week + round(0.08 * per_week)] = 0.88
    assert voltage_violations(two, 900.0, en)[0][0]
    assert "15-min values (the step is longer than EN 50160's 10 min)" in en.statistic_note(900.0)
    assert "10-min means" in en.statistic_note(300.0)


def test_nan_steps_are_left_out_and_buses_are_judged_apart():
    v = np.ones((WEEK_10MIN, 2))
    v[:, 1] = np.nan
    v[:10, 1] = 0.80  # the only values of bus 1 are all below 0.85
    under, _ = voltage_violations(v, 600.0, voltage_band("en50160"))
    assert under.tolist() == [False, True]


@pytest.mark.parametrize("name, low, high", [("ansi_a", 0.95, 1.05), ("ansi_b", 110 / 120, 127 / 120),
                                             ("en50160_strict", 0.90, 1.10)])
def test_hard_limits_of_ansi_c84_1_and_strict_en50160(name, low, high):
    band = BANDS[name]
    assert (band.v_min_pu, band.v_max_pu) == pytest.approx((low, high))
    v = np.array([[1.0, low - 1e-4, 1.0], [1.0, 1.0, high + 1e-4]])
    under, over = voltage_violations(v, 900.0, band)
    assert under.tolist() == [False, True, False] and over.tolist() == [False, False, True]


def test_unknown_band_is_named():
    with pytest.raises(InputError, match="band: unknown 'ansi', choose one of en50160, en50160_strict"):
        voltage_band("ansi")


def test_en50160_unbalance_more_than_5_percent_of_a_week_above_2_percent_fails():
    from hostcap.models.limits import unbalance_statistic, unbalance_violations

    vuf = np.full((WEEK_10MIN, 3), 0.5)
    vuf[:round(0.06 * WEEK_10MIN), 0] = 2.5  # 6 % of the week above 2 %: fails
    vuf[:round(0.04 * WEEK_10MIN), 1] = 2.5  # 4 %: passes
    vuf[:, 2] = np.nan  # never energised
    np.testing.assert_array_equal(unbalance_violations(vuf, 600.0), [True, False, False])
    stat = unbalance_statistic(vuf, 600.0)
    assert stat[0] == 2.5 and stat[1] == 0.5 and np.isnan(stat[2])


def test_a_bus_breaks_the_voltage_criterion_when_one_of_its_phases_does():
    v = np.ones((10, 2, 3))
    v[3, 1, 2] = 1.06  # bus 1, phase c
    under, over = voltage_violations(v, 900.0, voltage_band("ansi_a"))
    np.testing.assert_array_equal(over, [False, True])
    assert not under.any()
