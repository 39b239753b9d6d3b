"""The fast solver agrees with pandapower's Newton-Raphson on the same injections."""
import numpy as np
import pytest

from hostcap.studies.scenario.settings import Scenario


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


def test_lu_factors_solve_exactly_without_fill_on_a_radial_feeder_and_pivot_where_they_must():
    from scipy import sparse

    from hostcap.feeders import load_feeder
    from hostcap.feeders.powerflow import FastSolver
    from hostcap.feeders.powerflow.kernels import lu_factors, lu_solve

    def solve(factors, rhs):
        y, out = np.empty_like(rhs), np.empty_like(rhs)
        lu_solve(*factors, rhs, y, out)
        return out

    solver = FastSolver(load_feeder("simbench:1-LV-rural3--0-sw").net)
    y_nn = solver.net._ppc["internal"]["Ybus"][solver.pq][:, solver.pq]
    factors = lu_factors(y_nn)
    assert len(factors[2]) + len(factors[5]) == 2 * y_nn.shape[0] + (y_nn.nnz - y_nn.shape[0])  # a tree: no fill
    rhs = np.exp(0.3j * np.arange(y_nn.shape[0]))
    np.testing.assert_allclose(y_nn @ solve(factors, rhs), rhs, atol=1e-12)
    # tiny diagonal pivots: without pivoting the solve is off by 1e4; the pivoting factorisation is used
    m = sparse.csc_matrix(np.array([[1e-20, 1.0, 0.0], [1.0, 1e-20, 0.0], [0.0, 0.0, 1.0]], complex))
    rhs = np.array([1.0, 2j, 3.0])
    np.testing.assert_allclose(m @ solve(lu_factors(m), rhs), rhs, atol=1e-15)
