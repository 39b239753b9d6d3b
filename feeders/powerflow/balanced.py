"""Power flow of a feeder for S sets of net demand per bus at once: pandapower (reference) and a fast exact
solver.

Both solvers replace the feeder's loads, sgens and storages by one constant-power injection per bus (load sign:
p > 0 consumption) and keep every other element of the net. `solve(p_mw, q_mvar)` takes (S, n_bus) arrays,
one row per Monte Carlo sample of a batched run (`cosim/world.py`), and returns bus voltages, line and
transformer loading (pandapower's definitions: current over rated current, highest of both ends) and the
slack's P/Q, each with a leading sample axis, and whether each sample converged.

`FastSolver` is the fixed-point (implicit Z-bus / current-injection) iteration
    V_n <- Y_nn^-1 (conj(S_n / V_n) - Y_ns V_s)
on pandapower's own admittance matrix, with Y_nn factorised once per feeder (SuperLU, `lu_factors`) and
reused every step (Teng, "A direct approach for distribution system load flow solutions", IEEE Trans. Power
Del. 18(3), 2003, gives the radial form; this is its general Y-bus version). It solves the same equations as
pandapower's Newton-Raphson, iterated until a step changes no voltage by more than 1e-9 pu, so the two agree
to well within 1e-6 pu (tests check it). The iteration and its triangular solves are compiled (numba) and
run sample by sample with the same scalar code, so a sample's voltages do not depend on which samples share
its batch (bit for bit), and a sample that does not converge is handed to pandapower alone.
"""
import copy
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from hostcap.feeders.powerflow.common import Ratings, SampleRows
from hostcap.feeders.powerflow.kernels import csr_arrays, fixed_point, flows, lu_factors
from hostcap.models.errors import InputError


@dataclass
class FlowResult(SampleRows):
    vm_pu: np.ndarray  # (S, n_bus), in net.bus order
    line_loading_pct: np.ndarray  # (S, n_line)
    trafo_loading_pct: np.ndarray  # (S, n_trafo)
    p_slack_mw: np.ndarray  # (S,)
    q_slack_mvar: np.ndarray  # (S,)
    converged: np.ndarray  # (S,) bool


def _injection_net(net):
    """Copy of the net whose loads, sgens and storages are out of service and which has one load per bus
    (storages are the homes' batteries, `feeders/load.py`: their power is in the injections)."""
    work = copy.deepcopy(net)
    for element in ("load", "sgen", "storage"):
        work[element]["in_service"] = False
    pp.create_loads(work, work.bus.index, p_mw=0.0, q_mvar=0.0, name="hostcap_injection")
    return work


class PandapowerSolver:
    """Reference: pandapower's Newton-Raphson (runpp), sample by sample."""

    def __init__(self, net, *, injection_net: bool = True):
        self.net = _injection_net(net) if injection_net else copy.deepcopy(net)
        self._inj = self.net.load.index[self.net.load["name"] == "hostcap_injection"]

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray, samples: np.ndarray | None = None) -> FlowResult:
        """As `FastSolver.solve`; `samples` changes nothing here (each solve starts afresh)."""
        n = len(p_mw)
        net = self.net
        out = empty_result(net, n)
        for k in range(n):
            net.load.loc[self._inj, "p_mw"] = p_mw[k]
            net.load.loc[self._inj, "q_mvar"] = q_mvar[k]
            try:
                pp.runpp(net)
            except pp.LoadflowNotConverged:
                continue
            out.vm_pu[k] = net.res_bus["vm_pu"].to_numpy()
            out.line_loading_pct[k] = net.res_line["loading_percent"].to_numpy()
            out.trafo_loading_pct[k] = net.res_trafo["loading_percent"].to_numpy()
            out.p_slack_mw[k] = float(net.res_ext_grid["p_mw"].sum())
            out.q_slack_mvar[k] = float(net.res_ext_grid["q_mvar"].sum())
            out.converged[k] = True
        return out


def empty_result(net, n: int) -> FlowResult:
    """NaN results of n samples that did not converge."""
    def nan(*shape):
        return np.full((n, *shape), np.nan)

    return FlowResult(nan(len(net.bus)), nan(len(net.line)), nan(len(net.trafo)), nan(), nan(), np.zeros(n, bool))


class FastSolver:
    """Fixed-point iteration on pandapower's Y-bus with a reused sparse LU factorisation of Y_nn."""

    def __init__(self, net, *, tol_pu: float = 1e-9, max_iter: int = 100):
        self.net = work = _injection_net(net)
        if len(work.gen[work.gen.in_service]) or len(work.ward) or len(work.xward):
            raise InputError("solver fast: the feeder has generators or wards; set solver: pandapower")
        # pandapower's internal model (ppci) of the zero-injection case; without numba, whose compile (3-5 s a
        # process) buys nothing for one power flow
        pp.runpp(work, numba=False)
        ppci = work._ppc["internal"]
        self.base_mva = float(ppci["baseMVA"])
        ybus = ppci["Ybus"].tocsr()
        self.ref = np.asarray(ppci["ref"], dtype=np.int64)
        self.pq = np.asarray(ppci["pq"], dtype=np.int64)
        if len(ppci["pv"]):
            raise InputError("solver fast: the feeder has voltage-controlled buses; set solver: pandapower")
        self._lu = lu_factors(ybus[self.pq][:, self.pq])
        self.y_ns_vs = ybus[self.pq][:, self.ref] @ ppci["V"][self.ref]
        self.s_base = ppci["Sbus"][self.pq]  # injections of elements other than loads and sgens
        self.v_start = ppci["V"].copy()
        self.v = None  # (S, n) the last converged voltages of each sample; set on the first solve
        self._y_ref = csr_arrays(ybus[self.ref])
        self._yf, self._yt = csr_arrays(ppci["Yf"]), csr_arrays(ppci["Yt"])
        self.bus_lookup = work._pd2ppc_lookups["bus"][work.bus.index.to_numpy()]
        pq_pos = np.full(len(self.v_start), -1, np.int64)
        pq_pos[self.pq] = np.arange(len(self.pq))
        self.bus_pq = pq_pos[self.bus_lookup]  # each bus's position among the pq buses, -1 at the slack
        branch = ppci["branch"]
        self.ratings = Ratings.of(work)
        self._pct_per_pu = self.ratings.pct_per_pu(branch[:, 0].real.astype(np.int64),
                                                   branch[:, 1].real.astype(np.int64),
                                                   ppci["bus"][:, 9].real, self.base_mva)  # BASE_KV
        self.tol_pu, self.max_iter = tol_pu, max_iter
        self._fallback = None

    def fresh(self) -> "FastSolver":
        """A copy at the start voltages that shares the read-only set-up (matrices, lookups, ratings)."""
        out = copy.copy(self)
        out.v, out._fallback = None, None
        return out

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray, samples: np.ndarray | None = None) -> FlowResult:
        """Solve the samples (rows) of p_mw, q_mvar (S, n_bus); `samples`: which of the run's samples the rows
        are (default: all, in order), each starting from its own last converged voltages."""
        n_s = len(p_mw)
        rows = np.arange(n_s) if samples is None else np.asarray(samples)
        have = 0 if self.v is None else len(self.v)
        if have <= rows.max():
            grown = np.tile(self.v_start, (rows.max() + 1 - have, 1))
            self.v = grown if self.v is None else np.vstack([self.v, grown])
        converged = np.zeros(n_s, bool)
        fixed_point(self._lu, p_mw, q_mvar, self.bus_pq, self.s_base, self.base_mva, self.y_ns_vs, self.v, rows,
                    self.pq, self.tol_pu, self.max_iter, converged)
        vm_pu, branches = np.empty((n_s, len(self.bus_lookup))), np.empty((n_s, len(self._pct_per_pu[0])))
        s_slack = np.empty(n_s, np.complex128)
        flows(self.v, rows, self.bus_lookup, *self._yf, *self._yt, *self._pct_per_pu, *self._y_ref, self.ref,
              self.base_mva, vm_pu, branches, s_slack)
        out = FlowResult(vm_pu, branches[:, self.ratings.line], branches[:, self.ratings.trafo], s_slack.real,
                         s_slack.imag, np.ones(n_s, bool))
        if not converged.all():
            self.v[rows[~converged]] = self.v_start  # the fixed point restarts from there after a failure
            # the fixed point can fail on heavily loaded steps where Newton-Raphson still converges:
            # hand those samples to pandapower, which decides whether they really diverge
            bad = np.flatnonzero(~converged)
            if self._fallback is None:
                self._fallback = PandapowerSolver(self.net, injection_net=False)
            out.set_rows(bad, self._fallback.solve(p_mw[bad], q_mvar[bad]))
        return out
