"""S samples co-simulated in one mosaik world (`run_batch`) give, sample by sample, the numbers of the
samples run one by one: every metric and every recorded time series, under every strategy, with outages,
an export limit and volt-var, and with a sample whose power flow diverges at some steps."""
import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from hostcap.models.errors import InputError
from hostcap.models.strategies import STRATEGIES
from hostcap.studies.scenario.run import run_batch, run_scenario
from hostcap.studies.scenario.settings import Scenario

OUTAGES = {"windows": [{"start": "2016-01-11T18:00", "hours": 3}], "saifi": 20.0, "caidi_h": 2.0, "v2h_share": 0.5}


def assert_same(batched, alone):
    assert batched.scenario == alone.scenario
    assert batched.series.keys() == alone.series.keys()
    for name, a in alone.series.items():
        b = batched.series[name]
        assert b.shape == a.shape, name
        np.testing.assert_allclose(b.astype(float), a.astype(float), rtol=0, atol=1e-9, err_msg=name)
    assert batched.metrics.keys() == alone.metrics.keys()
    for name, a in alone.metrics.items():
        b = batched.metrics[name]
        if isinstance(a, float):
            assert b == pytest.approx(a, abs=1e-9, nan_ok=True), name
        else:
            assert b == a, name
    pd.testing.assert_frame_equal(batched.element_summaries(), alone.element_summaries())
    pd.testing.assert_frame_equal(batched.customers(), alone.customers())


CASES = {s: dict(strategy=s) for s in STRATEGIES} | {
    "v2g_tou, export limit and volt-var": dict(strategy="v2g_tou", export_limit_kw=2.0, q_control="volt_var"),
    "v2h with outages": dict(strategy="v2h", outages=OUTAGES),
}


@pytest.mark.parametrize("case", CASES)
def test_batched_samples_equal_samples_run_one_by_one(case):
    base = Scenario(penetration=0.8, v2g_share=0.6, days=1, battery_wear=None, **CASES[case])
    samples = [base.model_copy(update={"sample": k, "key": f"s{k}"}) for k in range(7)]
    alone = [run_scenario(s) for s in samples]
    for size in (1, 3, 7):
        for batched, single in zip(run_batch(samples[:size]), alone[:size]):
            assert_same(batched, single)
    # which samples share a batch changes nothing either
    for batched, single in zip(run_batch([samples[5], samples[2], samples[6]]), [alone[5], alone[2], alone[6]]):
        assert_same(batched, single)


def test_a_sample_that_diverges_does_not_touch_the_others(tmp_path, tiny_net_factory):
    net = tiny_net_factory(line_km=0.5, line_type="NAYY 4x50 SE")
    pp.to_json(net, str(tmp_path / "weak.json"))
    p = np.full(96, 0.004)
    p[76:84] = 0.113  # 19:00-21:00: near the feeder's limit, so whether it diverges depends on the EVs
    pd.DataFrame({"load.p_mw.0": p}, index=pd.date_range("2016-01-11", periods=96, freq="15min")).to_csv(
        tmp_path / "prof.csv")
    # named: the draws (seeded by the feeder's name) must not depend on the test's temporary folder
    samples = [Scenario(feeder=str(tmp_path / "weak.json"), feeder_name="weak", profiles=str(tmp_path / "prof.csv"),
                        days=1, penetration=1.0, sample=k, key=f"s{k}") for k in range(7)]
    batched = run_batch(samples)
    steps = [r.metrics["nonconverged_steps"] for r in batched]
    assert min(steps) == 0 and max(steps) > 0, steps  # the case this test is about
    for b, s in zip(batched, samples):
        assert_same(b, run_scenario(s))


def test_a_batch_holds_samples_of_one_scenario_only():
    with pytest.raises(InputError, match="differ only in their sample"):
        run_batch([Scenario(days=1), Scenario(days=1, sample=1, penetration=0.2)])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_batch_without_evs_runs_under_every_strategy(strategy):
    """Level 0 (the feeder alone): samples without a single EV, as a study runs them, under every strategy."""
    results = run_batch([Scenario(strategy=strategy, penetration=0.0, days=1, sample=k, key=f"s{k}")
                         for k in range(2)])
    for r in results:
        assert r.metrics["n_ev"] == 0 and r.metrics["ev_charged_kwh"] == 0.0
        assert r.metrics["peak_demand_kw"] == pytest.approx(r.metrics["peak_demand_no_ev_kw"], abs=1e-6)


def test_a_simulators_type_error_is_reported_as_itself(monkeypatch):
    """mosaik reads any TypeError inside a step as inputs it cannot serialise (ours are arrays): the run
    reports the simulator's own error, which is what a study records."""
    from hostcap.cosim import homes_sim

    def step(self, time, inputs, max_advance):
        raise TypeError("the simulator's own error")

    monkeypatch.setattr(homes_sim.HomesSim, "step", step)
    with pytest.raises(TypeError, match="the simulator's own error"):
        run_scenario(Scenario(days=1))
