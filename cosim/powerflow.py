"""Power flow of a feeder for S sets of net demand per bus at once: pandapower (reference) and a fast exact
solver.

Both solvers replace the feeder's loads and sgens by one constant-power injection per bus (load sign:
p > 0 consumption) and keep every other element of the net. `solve(p_mw, q_mvar)` takes (S, n_bus) arrays,
one row per Monte Carlo sample of a batched run (`cosim/world.py`), and returns bus voltages, line and
transformer loading (pandapower's definitions: current over rated current, highest of both ends) and the
slack's P/Q, each with a leading sample axis, and whether each sample converged.

`FastSolver` is the fixed-point (implicit Z-bus / current-injection) iteration
    V_n <- Y_nn^-1 (conj(S_n / V_n) - Y_ns V_s)
on pandapower's own admittance matrix, with Y_nn factorised once per feeder (SuperLU, COLAMD ordering) and
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
from numba import njit
from scipy.sparse.linalg import splu

from hostcap.models.errors import InputError

SOLVERS = ("fast", "pandapower")


class SampleRows:
    """Results with the sample first in every field (a dataclass's)."""

    def set_rows(self, rows: np.ndarray, part) -> None:
        """Take the results of samples `rows` from `part` (one row per entry of `rows`)."""
        for name in self.__dataclass_fields__:
            getattr(self, name)[rows] = getattr(part, name)


@dataclass
class FlowResult(SampleRows):
    vm_pu: np.ndarray  # (S, n_bus), in net.bus order
    line_loading_pct: np.ndarray  # (S, n_line)
    trafo_loading_pct: np.ndarray  # (S, n_trafo)
    p_slack_mw: np.ndarray  # (S,)
    q_slack_mvar: np.ndarray  # (S,)
    converged: np.ndarray  # (S,) bool


def _injection_net(net):
    """Copy of the net whose loads and sgens are out of service and which has one load per bus."""
    work = copy.deepcopy(net)
    work.load["in_service"] = False
    work.sgen["in_service"] = False
    pp.create_loads(work, work.bus.index, p_mw=0.0, q_mvar=0.0, name="hostcap_injection")
    return work


_FAST: dict[tuple, object] = {}  # (net key, unbalanced) -> a solver built for it, never stepped
FAST_CACHE = 4


def make_solver(name: str, net, net_key: str | None = None, *, unbalanced: bool = False):
    """A solver for the net: balanced (this module) or three-phase (`cosim/powerflow3ph.py`). With `net_key`
    (what identifies the net: the feeder, its MV voltage and the shared net object's identity) the fast
    solver's set-up (an injection copy of the net, a power flow and the factorisation, about 0.1 s on the
    default feeder, a third of a week-long run; 0.5 s three-phase) is done once per process, and each call
    gets a fresh copy that starts from the same voltages, so a run's numbers do not depend on the runs
    before it."""
    from hostcap.cosim.powerflow3ph import FastSolver3ph, PandapowerSolver3ph

    reference, fast = (PandapowerSolver3ph, FastSolver3ph) if unbalanced else (PandapowerSolver, FastSolver)
    if name == "pandapower":
        return reference(net)
    if name != "fast":
        raise InputError(f"solver: unknown '{name}', choose one of {', '.join(SOLVERS)}")
    if net_key is None:
        return fast(net)
    key = (net_key, unbalanced)
    if key not in _FAST:
        if len(_FAST) >= FAST_CACHE:
            _FAST.pop(next(iter(_FAST)))
        _FAST[key] = fast(net)
    return _FAST[key].fresh()


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


@dataclass(frozen=True)
class Ratings:
    """What turns branch-end currents (kA, in pandapower's internal branch order) into pandapower's
    loading_percent: lines' current over max_i_ka x df x parallel, transformers' over their rated current
    at each side, the higher end; out-of-service branches 0."""

    line: slice  # the lines' and the transformers' rows among the internal branches
    trafo: slice
    line_i_max_ka: np.ndarray
    line_on: np.ndarray
    trafo_vn_kv: np.ndarray  # (n_trafo, 2) rated voltage of the HV and LV side
    trafo_sn_mva: np.ndarray
    trafo_on: np.ndarray

    @classmethod
    def of(cls, net) -> "Ratings":
        """The ratings of a net on which pandapower has built its internal model (a power flow ran)."""
        lookups = net._pd2ppc_lookups["branch"]
        line, trafo = net.line, net.trafo
        return cls(slice(*lookups["line"]) if "line" in lookups else slice(0, 0),
                   slice(*lookups["trafo"]) if "trafo" in lookups else slice(0, 0),
                   (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy(), line["in_service"].to_numpy(bool),
                   np.column_stack([trafo["vn_hv_kv"], trafo["vn_lv_kv"]]),
                   (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy(), trafo["in_service"].to_numpy(bool))

    def loading_pct(self, i_f_ka: np.ndarray, i_t_ka: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(line, transformer) loading, % (..., n_line), (..., n_trafo), of current magnitudes (..., n_branch)
        at the from and the to end."""
        li, tr = self.line, self.trafo
        line = np.maximum(i_f_ka[..., li], i_t_ka[..., li]) / self.line_i_max_ka * 100.0
        trafo = np.maximum(i_f_ka[..., tr] * self.trafo_vn_kv[:, 0], i_t_ka[..., tr] * self.trafo_vn_kv[:, 1]) \
            * np.sqrt(3) / self.trafo_sn_mva * 100.0
        return np.where(self.line_on, line, 0.0), np.where(self.trafo_on, trafo, 0.0)


def empty_result(net, n: int) -> FlowResult:
    """NaN results of n samples that did not converge."""
    def nan(*shape):
        return np.full((n, *shape), np.nan)

    return FlowResult(nan(len(net.bus)), nan(len(net.line)), nan(len(net.trafo)), nan(), nan(), np.zeros(n, bool))


@njit(cache=True)
def lu_solve(lp, li, lx, up, ui, ux, perm_r, perm_c, rhs, y, out):
    """out = A^-1 rhs with SuperLU's factors Pr A Pc = L U (CSC, sorted indices, L with unit diagonal, U's
    diagonal last in each column); y is scratch of the same length."""
    n = len(rhs)
    for i in range(n):
        y[perm_r[i]] = rhs[i]
    for j in range(n):  # forward: L
        yj = y[j]
        for m in range(lp[j] + 1, lp[j + 1]):
            y[li[m]] -= lx[m] * yj
    for j in range(n - 1, -1, -1):  # backward: U
        y[j] /= ux[up[j + 1] - 1]
        yj = y[j]
        for m in range(up[j], up[j + 1] - 1):
            y[ui[m]] -= ux[m] * yj
    for i in range(n):
        out[i] = y[perm_c[i]]


def lu_factors(matrix) -> tuple:
    """SuperLU's factorisation of a sparse matrix (COLAMD ordering) as the arrays `lu_solve` takes."""
    lu = splu(matrix.tocsc())
    lower, upper = lu.L.tocsc(), lu.U.tocsc()
    lower.sort_indices()
    upper.sort_indices()
    return (lower.indptr.astype(np.int64), lower.indices.astype(np.int64), lower.data,
            upper.indptr.astype(np.int64), upper.indices.astype(np.int64), upper.data,
            lu.perm_r.astype(np.int64), lu.perm_c.astype(np.int64))


@njit(cache=True)
def _fixed_point(lu, s_n, y_ns_vs, v_n, tol_pu, max_iter, converged):
    """The fixed-point iteration for each sample (row) of s_n and v_n; v_n is updated in place where it
    converges (no voltage changes by tol_pu or more), left as it was where it does not (diverging: a change
    above 10 pu or not finite; or max_iter reached). Each iteration solves Y_nn x = conj(S / V) - Y_ns V_s
    with the factors `lu` of Y_nn (`lu_factors`)."""
    n = v_n.shape[1]
    rhs, y, x = np.empty(n, np.complex128), np.empty(n, np.complex128), np.empty(n, np.complex128)
    v = np.empty(n, np.complex128)
    tol2 = tol_pu * tol_pu
    for k in range(v_n.shape[0]):
        v[:] = v_n[k]
        for _ in range(max_iter):
            for i in range(n):  # conj(S / V) = conj(S) V / |V|^2: one real division, no complex one
                vi = v[i]
                rhs[i] = np.conj(s_n[k, i]) * vi / (vi.real * vi.real + vi.imag * vi.imag) - y_ns_vs[i]
            lu_solve(*lu, rhs, y, x)
            step2, finite = 0.0, True  # the largest squared change, and whether every change is a number
            for i in range(n):
                d = x[i] - v[i]
                d2 = d.real * d.real + d.imag * d.imag
                if d2 > step2:
                    step2 = d2
                elif np.isnan(d2):
                    finite = False
                v[i] = x[i]
            if not finite or not step2 <= 100.0:
                break
            if step2 < tol2:
                converged[k] = True
                v_n[k] = v
                break


@njit(cache=True)
def _branch_currents_ka(v, f_ptr, f_idx, f_dat, t_ptr, t_idx, t_dat, f_bus, t_bus, vn_kv, base_mva):
    """Current magnitude at the from and the to end of each branch, kA, for voltages v (S, n): I = Yf V and
    Yt V (CSR), in kA as pandapower has it (|S| / (sqrt(3) |V| V_base) with S = V conj(I), i.e.
    |I| S_base / (sqrt(3) V_base))."""
    n_s, n_br = v.shape[0], len(f_bus)
    i_f_ka, i_t_ka = np.empty((n_s, n_br)), np.empty((n_s, n_br))
    root3 = np.sqrt(3.0)
    for k in range(n_s):
        for b in range(n_br):
            i_f, i_t = 0j, 0j
            for m in range(f_ptr[b], f_ptr[b + 1]):
                i_f += f_dat[m] * v[k, f_idx[m]]
            for m in range(t_ptr[b], t_ptr[b + 1]):
                i_t += t_dat[m] * v[k, t_idx[m]]
            i_f_ka[k, b] = abs(i_f) * base_mva / (vn_kv[f_bus[b]] * root3)
            i_t_ka[k, b] = abs(i_t) * base_mva / (vn_kv[t_bus[b]] * root3)
    return i_f_ka, i_t_ka


class FastSolver:
    """Fixed-point iteration on pandapower's Y-bus with a reused sparse LU factorisation of Y_nn."""

    def __init__(self, net, *, tol_pu: float = 1e-9, max_iter: int = 100):
        self.net = work = _injection_net(net)
        if len(work.gen[work.gen.in_service]) or len(work.ward) or len(work.xward):
            raise InputError("solver fast: the feeder has generators or wards; use --solver pandapower")
        pp.runpp(work)  # builds pandapower's internal model (ppci) of the zero-injection case
        ppci = work._ppc["internal"]
        self.base_mva = float(ppci["baseMVA"])
        ybus = ppci["Ybus"].tocsr()
        self.ref = np.asarray(ppci["ref"], dtype=np.int64)
        self.pq = np.asarray(ppci["pq"], dtype=np.int64)
        if len(ppci["pv"]):
            raise InputError("solver fast: the feeder has voltage-controlled buses; use --solver pandapower")
        self._lu = lu_factors(ybus[self.pq][:, self.pq])
        self.y_ns_vs = ybus[self.pq][:, self.ref] @ ppci["V"][self.ref]
        self.s_base = ppci["Sbus"][self.pq]  # injections of elements other than loads and sgens
        self.v_start = ppci["V"].copy()
        self.v = None  # (S, n) the last converged voltages of each sample; set on the first solve
        self.y_ref = ybus[self.ref]
        self._yf, self._yt = ((m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data)
                              for m in (ppci["Yf"].tocsr(), ppci["Yt"].tocsr()))
        self.bus_lookup = work._pd2ppc_lookups["bus"][work.bus.index.to_numpy()]
        self.vn_kv = ppci["bus"][:, 9].real  # BASE_KV
        branch = ppci["branch"]
        self.f_bus = branch[:, 0].real.astype(np.int64)
        self.t_bus = branch[:, 1].real.astype(np.int64)
        self.ratings = Ratings.of(work)
        self.tol_pu, self.max_iter = tol_pu, max_iter
        self._fallback = None
        self._at: dict[int, np.ndarray] = {}  # S -> position of each (sample, bus) among S x internal buses

    def fresh(self) -> "FastSolver":
        """A copy at the start voltages that shares the read-only set-up (matrices, lookups, ratings)."""
        out = copy.copy(self)
        out.v, out._fallback = None, None
        return out

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray, samples: np.ndarray | None = None) -> FlowResult:
        """Solve the samples (rows) of p_mw, q_mvar (S, n_bus); `samples`: which of the run's samples the rows
        are (default: all, in order), each starting from its own last converged voltages."""
        n_s, n = len(p_mw), len(self.v_start)
        rows = np.arange(n_s) if samples is None else np.asarray(samples)
        have = 0 if self.v is None else len(self.v)
        if have <= rows.max():
            grown = np.tile(self.v_start, (rows.max() + 1 - have, 1))
            self.v = grown if self.v is None else np.vstack([self.v, grown])
        # per-bus demand -> complex injection at internal (ppci) buses; fused buses add up
        at = self._at.get(n_s)
        if at is None:
            at = self._at[n_s] = (np.arange(n_s)[:, None] * n + self.bus_lookup[None, :]).ravel()
        s_inj = -(np.bincount(at, p_mw.ravel(), n_s * n) + 1j * np.bincount(at, q_mvar.ravel(), n_s * n))
        s_n = s_inj.reshape(n_s, n)[:, self.pq] / self.base_mva + self.s_base
        v = self.v[rows]
        v_n = v[:, self.pq]
        converged = np.zeros(n_s, bool)
        _fixed_point(self._lu, s_n, self.y_ns_vs, v_n, self.tol_pu, self.max_iter, converged)
        v[:, self.pq] = v_n
        out = self._results(v)
        self.v[rows] = v
        if not converged.all():
            self.v[rows[~converged]] = self.v_start  # the fixed point restarts from there after a failure
            # the fixed point can fail on heavily loaded steps where Newton-Raphson still converges:
            # hand those samples to pandapower, which decides whether they really diverge
            bad = np.flatnonzero(~converged)
            if self._fallback is None:
                self._fallback = PandapowerSolver(self.net, injection_net=False)
            out.set_rows(bad, self._fallback.solve(p_mw[bad], q_mvar[bad]))
        return out

    def _results(self, v: np.ndarray) -> FlowResult:
        """Results of voltages v (S, n internal buses)."""
        i_f_ka, i_t_ka = _branch_currents_ka(v, *self._yf, *self._yt, self.f_bus, self.t_bus, self.vn_kv,
                                             self.base_mva)
        line, trafo = self.ratings.loading_pct(i_f_ka, i_t_ka)
        s_slack = (v[:, self.ref] * np.conj((self.y_ref @ v.T).T) * self.base_mva).sum(axis=1)
        return FlowResult(np.abs(v[:, self.bus_lookup]), line, trafo, s_slack.real.copy(), s_slack.imag.copy(),
                          np.ones(len(v), bool))
