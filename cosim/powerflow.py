"""Power flow of a feeder for given net demand per bus: pandapower (reference) and a fast exact solver.

Both solvers replace the feeder's loads and sgens by one constant-power injection per bus (load sign:
p > 0 consumption) and keep every other element of the net. They return bus voltages, line and transformer
loading (pandapower's definitions: current over rated current, highest of both ends) and the slack's P/Q.

`FastSolver` is the fixed-point (implicit Z-bus / current-injection) iteration
    V_n <- Y_nn^-1 (conj(S_n / V_n) - Y_ns V_s)
on pandapower's own admittance matrix, with Y_nn factorised once per feeder and reused every step
(Teng, "A direct approach for distribution system load flow solutions", IEEE Trans. Power Del. 18(3), 2003,
gives the radial form; this is its general Y-bus version). It solves the same equations as pandapower's
Newton-Raphson, iterated until a step changes no voltage by more than 1e-9 pu, so the two agree to
well within 1e-6 pu (tests check it).
"""
import copy
from dataclasses import dataclass

import numpy as np
import pandapower as pp
from scipy.sparse.linalg import splu

from hostcap.models.errors import InputError

SOLVERS = ("fast", "pandapower")
DENSE_MAX_BUSES = 1500


@dataclass
class FlowResult:
    vm_pu: np.ndarray  # per bus, in net.bus order
    line_loading_pct: np.ndarray
    trafo_loading_pct: np.ndarray
    p_slack_mw: float
    q_slack_mvar: float
    converged: bool


def _injection_net(net):
    """Copy of the net whose loads and sgens are out of service and which has one load per bus."""
    work = copy.deepcopy(net)
    work.load["in_service"] = False
    work.sgen["in_service"] = False
    pp.create_loads(work, work.bus.index, p_mw=0.0, q_mvar=0.0, name="hostcap_injection")
    return work


_FAST: dict[str, "FastSolver"] = {}  # net key -> a solver built for it, never stepped
FAST_CACHE = 4


def make_solver(name: str, net, net_key: str | None = None):
    """A solver for the net. With `net_key` (what identifies the net: the feeder, its MV voltage and the shared
    net object's identity) the fast solver's set-up (an injection copy of the net, a power flow and the
    factorisation, about 0.1 s on the default feeder, a third of a week-long run) is done once per process,
    and each call gets a fresh copy that starts from the same voltages, so a run's numbers do not depend on
    the runs before it."""
    if name == "pandapower":
        return PandapowerSolver(net)
    if name != "fast":
        raise InputError(f"solver: unknown '{name}', choose one of {', '.join(SOLVERS)}")
    if net_key is None:
        return FastSolver(net)
    if net_key not in _FAST:
        if len(_FAST) >= FAST_CACHE:
            _FAST.pop(next(iter(_FAST)))
        _FAST[net_key] = FastSolver(net)
    return _FAST[net_key].fresh()


class PandapowerSolver:
    """Reference: pandapower's Newton-Raphson (runpp) every step."""

    def __init__(self, net, *, injection_net: bool = True):
        self.net = _injection_net(net) if injection_net else copy.deepcopy(net)
        self._inj = self.net.load.index[self.net.load["name"] == "hostcap_injection"]

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> FlowResult:
        net = self.net
        net.load.loc[self._inj, "p_mw"] = p_mw
        net.load.loc[self._inj, "q_mvar"] = q_mvar
        try:
            pp.runpp(net)
        except pp.LoadflowNotConverged:
            return _diverged(net)
        return FlowResult(net.res_bus["vm_pu"].to_numpy(), net.res_line["loading_percent"].to_numpy(),
                          net.res_trafo["loading_percent"].to_numpy(), float(net.res_ext_grid["p_mw"].sum()),
                          float(net.res_ext_grid["q_mvar"].sum()), True)


def _diverged(net) -> FlowResult:
    nan = np.full
    return FlowResult(nan(len(net.bus), np.nan), nan(len(net.line), np.nan), nan(len(net.trafo), np.nan),
                      np.nan, np.nan, False)


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
        y_nn = ybus[self.pq][:, self.pq].tocsc()
        # small feeders: a dense inverse (one mat-vec per iteration) beats sparse triangular solves
        self._solve = (np.linalg.inv(y_nn.toarray()).__matmul__ if len(self.pq) <= DENSE_MAX_BUSES
                       else splu(y_nn).solve)
        self.y_ns_vs = ybus[self.pq][:, self.ref] @ ppci["V"][self.ref]
        self.s_base = ppci["Sbus"][self.pq]  # injections of elements other than loads and sgens
        self.v = ppci["V"].copy()
        self.v_start = self.v.copy()
        self.y_ref, self.yf, self.yt = ybus[self.ref], ppci["Yf"].tocsr(), ppci["Yt"].tocsr()
        self.bus_lookup = work._pd2ppc_lookups["bus"][work.bus.index.to_numpy()]
        self.vn_kv = ppci["bus"][:, 9].real  # BASE_KV
        branch = ppci["branch"]
        self.f_bus = branch[:, 0].real.astype(np.int64)
        self.t_bus = branch[:, 1].real.astype(np.int64)
        self._line = self._branch_slice(work, "line")
        self._trafo = self._branch_slice(work, "trafo")
        line, trafo = work.line, work.trafo
        self.line_i_max_ka = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy()
        self.line_on = line["in_service"].to_numpy(bool)
        self.trafo_vn = np.column_stack([trafo["vn_hv_kv"], trafo["vn_lv_kv"]])
        self.trafo_rating = (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy()
        self.trafo_on = trafo["in_service"].to_numpy(bool)
        self.tol_pu, self.max_iter = tol_pu, max_iter
        self._fallback = None

    def fresh(self) -> "FastSolver":
        """A copy at the start voltages that shares the read-only set-up (matrices, lookups, ratings)."""
        out = copy.copy(self)
        out.v, out._fallback = self.v_start.copy(), None
        return out

    @staticmethod
    def _branch_slice(net, element):
        lookup = net._pd2ppc_lookups["branch"].get(element)
        return slice(*lookup) if lookup is not None else slice(0, 0)

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> FlowResult:
        # per-bus demand -> complex injection at internal (ppci) buses; fused buses add up
        n = len(self.v)
        s_inj = -(np.bincount(self.bus_lookup, p_mw, n) + 1j * np.bincount(self.bus_lookup, q_mvar, n))
        s_n = s_inj[self.pq] / self.base_mva + self.s_base
        v = self.v.copy()
        v_n = v[self.pq]
        converged = False
        for _ in range(self.max_iter):
            v_new = self._solve(np.conj(s_n / v_n) - self.y_ns_vs)
            step = np.max(np.abs(v_new - v_n))
            v_n = v_new
            if step < self.tol_pu:
                converged = True
                break
            if not np.isfinite(step) or step > 10.0:
                break
        if not converged:
            # the fixed point can fail on heavily loaded steps where Newton-Raphson still converges:
            # hand the step to pandapower, which decides whether it really diverges
            self.v = self.v_start.copy()
            if self._fallback is None:
                self._fallback = PandapowerSolver(self.net, injection_net=False)
            return self._fallback.solve(p_mw, q_mvar)
        v[self.pq] = v_n
        self.v = v
        return self._results(v)

    def _results(self, v: np.ndarray) -> FlowResult:
        i_f = self.yf @ v
        i_t = self.yt @ v
        s_f = np.abs(v[self.f_bus] * np.conj(i_f)) * self.base_mva
        s_t = np.abs(v[self.t_bus] * np.conj(i_t)) * self.base_mva
        i_f_ka = s_f / (np.abs(v[self.f_bus]) * self.vn_kv[self.f_bus]) / np.sqrt(3)
        i_t_ka = s_t / (np.abs(v[self.t_bus]) * self.vn_kv[self.t_bus]) / np.sqrt(3)
        li = self._line
        line = np.maximum(i_f_ka[li], i_t_ka[li]) / self.line_i_max_ka * 100.0
        tr = self._trafo
        trafo = np.maximum(i_f_ka[tr] * self.trafo_vn[:, 0], i_t_ka[tr] * self.trafo_vn[:, 1]) \
            * np.sqrt(3) / self.trafo_rating * 100.0
        s_slack = v[self.ref] * np.conj(self.y_ref @ v) * self.base_mva
        return FlowResult(np.abs(v[self.bus_lookup]), np.where(self.line_on, line, 0.0),
                          np.where(self.trafo_on, trafo, 0.0), float(s_slack.real.sum()),
                          float(s_slack.imag.sum()), True)
