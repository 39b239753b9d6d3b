"""The value of flexibility from plans: cost statistics, the median's interval, avoided cost per EV and per
bidirectional EV-year, and a pathway's present value and deferral value, each against a computation of its
own (binomial sums, discounting year by year)."""
import math

import numpy as np
import pandas as pd
import pytest

from hostcap.studies.flexibility import (
    annuity_factor,
    design_samples,
    median_interval,
    pathway_value,
    reinforcement_table,
)
from hostcap.studies.spec import parse_spec

BASE = {"name": "f", "periods": [{"name": "w", "start": "2016-01-04", "days": 1}],
        "strategies": ["uncontrolled", "smart"], "penetrations": [1.0], "samples": 20, "reinforcement": True}


def _runs(n: int, strategies=("uncontrolled", "smart"), levels=(1.0,)) -> pd.DataFrame:
    rows = [{"key": f"{s}-{lv}-{i}", "feeder": "f1", "strategy": s, "v2g_share": 0.5, "penetration": lv,
             "sample": i, "period": "w", "status": "ok", "n_ev": 100, "n_bidirectional": 50,
             "trafo_max_loading_pct": 100.0 + i}
            for s in strategies for lv in levels for i in range(n)]
    return pd.DataFrame(rows)


def _rows(costs: dict[tuple, float], kva: dict[float, float] | None = None) -> pd.DataFrame:
    """Plan rows: (strategy, level, sample) -> the plan's cost (inf: unsolved), a transformer of `kva[cost]`."""
    kva = kva or {c: 630.0 for c in costs.values()}
    out = []
    for (s, lv, i), c in costs.items():
        base = {"feeder": "f1", "strategy": s, "v2g_share": 0.5, "penetration": lv, "sample": i, "period": "w",
                "criteria": "trafo_overload"}
        if np.isinf(c):
            out.append({**base, "status": "unsolved", "detail": "needs a new station", "cost_eur": np.nan})
        else:
            out.append({**base, "status": "planned", "kind": "transformer", "element": "trafo 0",
                        "detail": f"-> {kva[c]:g} kVA", "length_km": 0.0, "cost_eur": c, "capacity_kva": kva[c]})
    return pd.DataFrame(out)


@pytest.mark.parametrize("n", [1, 5, 6, 10, 20, 59, 60])
def test_the_medians_interval_is_the_narrowest_order_statistics_covering_95_percent(n):
    x = np.arange(n, dtype=float)  # the order statistics are their own ranks
    lo, hi = median_interval(x)
    j = int(lo)  # x_(j+1) and x_(n-j) (1-based)
    assert hi == n - 1 - j

    def coverage(j):  # P(x_(j+1) <= median <= x_(n-j)) = 1 - 2 P(Binomial(n, 1/2) <= j)
        return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(j + 1)) / 2 ** n

    if n > 5:
        assert coverage(j) >= 0.95
        assert coverage(j + 1) < 0.95  # one order statistic narrower no longer covers
    else:
        assert (lo, hi) == (0, n - 1)


def test_the_annuity_repays_the_capital_over_the_lifetime():
    for rate, years in [(0.05, 40), (0.0, 20), (0.1, 1)]:
        a = annuity_factor(rate, years)
        assert sum(a / (1 + rate) ** t for t in range(1, years + 1)) == pytest.approx(1.0)


def test_costs_per_level_and_the_cost_avoided_against_uncontrolled_on_the_same_samples():
    spec = parse_spec(BASE)
    unc = [10_000.0] * 14 + [0.0] * 6
    smart = [10_000.0] * 2 + [0.0] * 18
    costs = {("uncontrolled", 1.0, i): c for i, c in enumerate(unc) if c} | {
        ("smart", 1.0, i): c for i, c in enumerate(smart) if c}
    t = reinforcement_table(spec, _runs(20), _rows(costs)).set_index("strategy")
    assert t.loc["uncontrolled", "n_reinforced"] == 14 and t.loc["smart", "n_reinforced"] == 2
    assert t.loc["uncontrolled", "cost_eur"] == 10_000 and t.loc["smart", "cost_eur"] == 0
    # the (1 - 5 %) quantile: the 19th of 20 sorted costs; the 90th percentile the 18th
    assert t.loc["smart", "cost_eur_at_confidence"] == sorted(smart)[18] == 10_000
    assert t.loc["smart", "cost_eur_p90"] == sorted(smart)[17] == 0
    assert t.loc["smart", "avoided_cost_eur"] == np.median(np.array(unc) - np.array(smart)) == 10_000
    assert t.loc["smart", "avoided_cost_eur_at_confidence"] == 0
    assert t.loc["smart", "avoided_cost_eur_per_ev"] == 100.0
    assert t.loc["uncontrolled", "measures"] == "trafo 0: transformer in 14/20"
    # samples the standard measures cannot hold: infinite cost, counted; one in 20 the planner may leave out
    costs[("smart", 1.0, 19)] = np.inf
    t = reinforcement_table(spec, _runs(20), _rows(costs)).set_index("strategy")
    assert t.loc["smart", "n_unsolved"] == 1 and t.loc["smart", "cost_eur_at_confidence"] == 10_000
    costs[("smart", 1.0, 18)] = np.inf
    t = reinforcement_table(spec, _runs(20), _rows(costs)).set_index("strategy")
    assert t.loc["smart", "n_unsolved"] == 2 and np.isinf(t.loc["smart", "cost_eur_at_confidence"])


def test_avoided_cost_per_ev_and_v2gs_own_value_per_bidirectional_ev_year():
    """uncontrolled needs 40,000 EUR in every sample, smart in two of four, the V2G aggregator in none: V2G
    avoids the full cost against uncontrolled but only what smart does not against smart, its own value."""
    spec = parse_spec({**BASE, "samples": 4, "strategies": ["uncontrolled", "smart", "v2g_peak_shave"]})
    costs = {("uncontrolled", 1.0, i): 40_000.0 for i in range(4)} | {("smart", 1.0, i): 40_000.0 for i in (0, 1)}
    t = reinforcement_table(spec, _runs(4, ("uncontrolled", "smart", "v2g_peak_shave")), _rows(costs))
    t = t.set_index("strategy")
    a = 0.05 / (1 - 1.05 ** -40)
    v2g = t.loc["v2g_peak_shave"]
    assert v2g["avoided_cost_eur"] == 40_000 and v2g["avoided_cost_eur_per_ev"] == pytest.approx(400.0)
    assert v2g["avoided_cost_eur_per_bidirectional_ev_year"] == pytest.approx(40_000 * a / 50)
    assert v2g["v2g_reference"] == "smart" and v2g["v2g_avoided_cost_eur"] == np.median([40_000, 40_000, 0, 0])
    assert v2g["v2g_value_eur_per_bidirectional_ev_year"] == pytest.approx(20_000 * a / 50)
    smart = t.loc["smart"]  # never discharges: no value per bidirectional EV
    assert smart["avoided_cost_eur"] == 20_000 and np.isnan(smart["avoided_cost_eur_per_bidirectional_ev_year"])
    assert np.isnan(smart["v2g_value_eur_per_bidirectional_ev_year"]) and smart["v2g_reference"] == ""


def test_a_pathways_build_out_pays_each_swap_discounted_and_its_deferral_is_the_difference():
    spec = parse_spec({**{k: v for k, v in BASE.items() if k != "penetrations"}, "samples": 4,
                       "pathway": {2030: {"ev": 0.4}, 2035: {"ev": 0.8}, 2040: {"ev": 1.2}}})
    levels = (0.4, 0.8, 1.2)
    unc = {0.8: 10_000.0, 1.2: 10_001.0}  # 2035 a 400 kVA transformer, 2040 a 630 kVA one: a second swap
    smart = {1.2: 10_000.0}
    costs = {("uncontrolled", lv, i): c for lv, c in unc.items() for i in range(4)}
    costs |= {("smart", lv, i): c for lv, c in smart.items() for i in range(4)}
    runs, rows = _runs(4, levels=levels), _rows(costs, {10_000.0: 400.0, 10_001.0: 630.0})
    rows.loc[(rows["strategy"] == "smart"), "capacity_kva"] = 400.0
    table = reinforcement_table(spec, runs, rows)
    assert list(table["year"].dropna().unique()) == [2030, 2035, 2040]
    designs = design_samples(spec, runs, rows, table)
    assert set(designs["sample"]) == {3}  # of equal costs, the sample of the highest transformer loading
    v = pathway_value(spec, table, rows, designs).set_index("strategy")
    pv_unc = 10_000 / 1.05 ** 5 + 10_001 / 1.05 ** 10  # each swap paid in its year
    pv_smart = 10_000 / 1.05 ** 10
    assert v.loc["uncontrolled", "reinforcement_pv_eur"] == pytest.approx(pv_unc)
    assert v.loc["smart", "reinforcement_pv_eur"] == pytest.approx(pv_smart)
    assert v.loc["smart", "deferral_value_eur"] == pytest.approx(pv_unc - pv_smart)
    assert v.loc["uncontrolled", "first_reinforcement_year"] == 2035
    assert v.loc["smart", "first_reinforcement_year"] == 2040
    assert v.loc["uncontrolled", "measures_first_needed"] == "trafo 0 transformer 2035"
