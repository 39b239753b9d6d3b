"""The fast solver agrees with pandapower's Newton-Raphson on the same injections."""
import numpy as np
import pytest

from hostcap.cosim.scenario import Scenario


@pytest.mark.parametrize("feeder", ["simbench:1-LV-rural3--0-sw", "simbench:1-LV-semiurb4--0-sw"])
def test_fast_and_reference_solvers_agree_over_a_day(run_cache, feeder):
    base = dict(feeder=feeder, strategy="volt_watt", penetration=1.0, v2g_share=0.5, days=1)
    fast = run_cache(Scenario(**base, solver="fast"))
    ref = run_cache(Scenario(**base, solver="pandapower"))
    # same closed loop, so the same injections step by step
    np.testing.assert_allclose(fast.series["p_bus_mw"], ref.series["p_bus_mw"], atol=1e-9)
    assert np.max(np.abs(fast.series["vm_pu"] - ref.series["vm_pu"])) < 1e-6
    np.testing.assert_allclose(fast.series["line_loading_pct"], ref.series["line_loading_pct"], atol=1e-4)
    np.testing.assert_allclose(fast.series["trafo_loading_pct"], ref.series["trafo_loading_pct"], atol=1e-4)
    np.testing.assert_allclose(fast.series["p_slack_mw"], ref.series["p_slack_mw"], atol=1e-8)
