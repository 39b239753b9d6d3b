"""Three-phase (unbalanced) power flow of a feeder for S sets of per-phase net demand per bus at once:
pandapower's `runpp_3ph` (reference) and a fast solver of the same equations.

Both replace the feeder's loads and generation by one wye-connected constant-power injection per bus and
phase (load sign: p > 0 consumption; phase-to-neutral, the neutral earthed, as pandapower models an LV
feeder) and keep every other element, with the sequence data of `feeders/sequence.py`. `solve(p_mw, q_mvar)`
takes (S, n_bus, 3) arrays (phases a, b, c last) and returns per-phase bus voltages, the voltage unbalance
factor |V2| / |V1| (EN 50160 cl. 4.2.5, IEC 61000-4-30), line and transformer loading on their worst phase
and the neutral (residual) current |Ia + Ib + Ic| of each line, all by pandapower's `res_*_3ph` definitions.

`FastSolver3ph` works in the sequence frame, as `runpp_3ph` does: the zero-, positive- and negative-sequence
networks are decoupled (pandapower's lines are transposed), only the loads couple them. It iterates
    I_abc = conj(S_abc / V_abc),  I_012 = T^-1 I_abc,
    V1_n <- Y1_nn^-1 (I1_n - Y1_ns V1_s),   V0 <- Y0^-1 I0,   V2 <- Y2^-1 I2
(the positive sequence holds the slack's voltage; the external grid's zero- and negative-sequence source
impedance is a shunt at its bus, as in `runpp_3ph`) with the three matrices factorised once per feeder
(SuperLU), until no voltage moves by 1e-9 pu: the fixed point of `balanced.py` on three sequence
networks. `runpp_3ph` solves the positive sequence by Newton-Raphson inside the same outer loop, so both
reach the same solution (tests: within 1e-6 pu per phase, on the IEEE European LV test feeder too).
"""
import copy
from dataclasses import dataclass

import numpy as np
import pandapower as pp
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV, BUS_TYPE, PV, REF, VA, VM
from scipy import sparse

from hostcap.feeders.powerflow.common import Ratings, SampleRows
from hostcap.feeders.powerflow.kernels import csr_arrays, fixed_point_3ph, flows_3ph, lu_factors
from hostcap.feeders.sequence import with_sequence_data
from hostcap.models.errors import InputError

PHASES = ("a", "b", "c")


@dataclass
class Flow3Result(SampleRows):
    vm_pu: np.ndarray  # (S, n_bus, 3) phase-to-neutral magnitudes, net.bus order
    vuf_pct: np.ndarray  # (S, n_bus) |V2| / |V1| x 100
    line_loading_pct: np.ndarray  # (S, n_line), worst phase
    trafo_loading_pct: np.ndarray  # (S, n_trafo), worst phase
    line_i_n_ka: np.ndarray  # (S, n_line) |Ia + Ib + Ic|, the larger of both ends
    p_slack_mw: np.ndarray  # (S,) all three phases
    q_slack_mvar: np.ndarray
    converged: np.ndarray  # (S,) bool


def empty_result_3ph(net, n: int) -> Flow3Result:
    def nan(*shape):
        return np.full((n, *shape), np.nan)

    n_bus, n_line = len(net.bus), len(net.line)
    return Flow3Result(nan(n_bus, 3), nan(n_bus), nan(n_line), nan(len(net.trafo)), nan(n_line), nan(), nan(),
                       np.zeros(n, bool))


def injection_net_3ph(net, ref: str = "feeder"):
    """Copy of the net with sequence data (`feeders/sequence.py`) whose loads and generation are out of
    service and which has one wye asymmetric load per bus (`name` hostcap_injection)."""
    work = with_sequence_data(net, ref)
    for element in ("load", "sgen", "storage", "asymmetric_load", "asymmetric_sgen"):
        if element in work and len(work[element]):
            work[element]["in_service"] = False
    for bus in work.bus.index:
        pp.create_asymmetric_load(work, bus, name="hostcap_injection", type="wye")
    return work


REF_TOL_PU = 1e-9
REF_RESTARTS = 20


class PandapowerSolver3ph:
    """Reference: pandapower's runpp_3ph, sample by sample. Its outer loop stops at a fixed power mismatch of
    3e-8 MVA per bus, which leaves voltages up to 6e-6 pu short of the solution on the IEEE European LV
    feeder; so each solve restarts it from its own results (init="results") until no phase voltage moves by
    more than REF_TOL_PU (two to four restarts; the solution does not change, only how close it gets)."""

    def __init__(self, net, ref: str = "feeder", *, injection_net: bool = True):
        self.net = injection_net_3ph(net, ref) if injection_net else net
        load = self.net.asymmetric_load
        self._inj = load.index[load["name"] == "hostcap_injection"]

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray, samples: np.ndarray | None = None) -> Flow3Result:
        """As `FastSolver3ph.solve`."""
        net, n = self.net, len(p_mw)
        out = empty_result_3ph(net, n)
        cols = [f"{x}_{ph}_{u}" for x, u in (("p", "mw"), ("q", "mvar")) for ph in PHASES]
        for k in range(n):
            net.asymmetric_load.loc[self._inj, cols] = np.hstack([p_mw[k], q_mvar[k]])
            try:
                _runpp_3ph_converged(net)
            except pp.LoadflowNotConverged:
                continue
            bus, line, trafo = net.res_bus_3ph, net.res_line_3ph, net.res_trafo_3ph
            out.vm_pu[k] = bus[[f"vm_{ph}_pu" for ph in PHASES]].to_numpy()
            out.vuf_pct[k] = bus["unbalance_percent"].to_numpy()
            out.line_loading_pct[k] = line["loading_percent"].to_numpy() if len(line) else []
            out.line_i_n_ka[k] = line["i_n_ka"].to_numpy() if len(line) else []
            out.trafo_loading_pct[k] = trafo["loading_percent"].to_numpy() if len(trafo) else []
            eg = net.res_ext_grid_3ph
            out.p_slack_mw[k] = float(eg[[f"p_{ph}_mw" for ph in PHASES]].to_numpy().sum())
            out.q_slack_mvar[k] = float(eg[[f"q_{ph}_mvar" for ph in PHASES]].to_numpy().sum())
            out.converged[k] = True
        return out


def _runpp_3ph_converged(net) -> None:
    """runpp_3ph, restarted from its results until the phase voltages settle (PandapowerSolver3ph)."""
    columns = [f"vm_{ph}_pu" for ph in PHASES]
    pp.runpp_3ph(net, tolerance_mva=1e-10)
    vm = net.res_bus_3ph[columns].to_numpy()
    for _ in range(REF_RESTARTS):
        pp.runpp_3ph(net, tolerance_mva=1e-10, init="results")
        vm, before = net.res_bus_3ph[columns].to_numpy(), vm
        if np.nanmax(np.abs(vm - before), initial=0.0) < REF_TOL_PU:
            return
    raise pp.LoadflowNotConverged("runpp_3ph: voltages still move after its restarts")


def _sequence_cases(net):
    """pandapower's internal sequence cases of the net as `runpp_3ph` builds them (run once on it first,
    which sets the options): the positive-sequence case, (Ybus, Yf, Yt) of the zero, positive and negative
    sequence, and the external grid's shunt (gs, bs) that Y0 and Y2 include at its bus."""
    from pandapower.build_bus import _add_ext_grid_sc_impedance
    from pandapower.pd2ppc import _pd2ppc
    from pandapower.pypower.makeYbus import makeYbus

    _, ppci1 = _pd2ppc(net, sequence=1)
    _, ppci2 = _pd2ppc(net, sequence=2)
    shunt = _add_ext_grid_sc_impedance(net, ppci2)
    _, ppci0 = _pd2ppc(net, sequence=0)
    ys = [makeYbus(p["baseMVA"], p["bus"], p["branch"]) for p in (ppci0, ppci1, ppci2)]
    return ppci1, ys, shunt


class FastSolver3ph:
    """The sequence-frame fixed point (module docstring) on pandapower's own sequence admittance matrices."""

    def __init__(self, net, ref: str = "feeder", *, tol_pu: float = 1e-9, max_iter: int = 200):
        self.net = work = injection_net_3ph(net, ref)
        if len(work.gen[work.gen.in_service]) or len(work.ward) or len(work.xward) or len(work.ext_grid) != 1:
            raise InputError("phases unbalanced: the fast solver takes one external grid and no generators or "
                             "wards; set solver: pandapower")
        # sets the options and checks that the zero-injection case solves; without numba, whose compile (2 s a
        # process) buys nothing for one power flow
        pp.runpp_3ph(work, numba=False)
        ppci1, ys, (gs_eg, bs_eg) = _sequence_cases(work)
        self.base_mva = float(ppci1["baseMVA"])
        bus1 = ppci1["bus"]
        self.ref = np.flatnonzero(bus1[:, BUS_TYPE].real == REF).astype(np.int64)
        if len(self.ref) != 1 or np.any(bus1[:, BUS_TYPE].real == PV):
            raise InputError("phases unbalanced: the fast solver takes one slack and no voltage-controlled bus; "
                             "set solver: pandapower")
        n = len(bus1)
        self.pq = np.setdiff1d(np.arange(n), self.ref).astype(np.int64)
        y0, y1, y2 = (m[0].tocsr() for m in ys)
        self._lu = (lu_factors(y0), lu_factors(y1[self.pq][:, self.pq]), lu_factors(y2))
        v_ref = bus1[self.ref, VM].real * np.exp(1j * np.deg2rad(bus1[self.ref, VA].real))
        self.y1_ns_vs = y1[self.pq][:, self.ref] @ v_ref
        self.v_start = np.zeros((3, n), complex)
        self.v_start[1] = v_ref[0]
        self.v = None
        # the slack's current into the feeder leaves out the source impedance's shunt (as runpp_3ph)
        shunt = np.zeros(n, complex)
        shunt[self.ref] = (gs_eg + 1j * bs_eg) / self.base_mva
        eg_shunt = sparse.diags(shunt, format="csr")
        # each quantity's three sequence matrices on one block diagonal, rows sequence by sequence (`flows_3ph`)
        y_ref = sparse.block_diag([(y if i == 1 else y - eg_shunt)[self.ref] for i, y in enumerate((y0, y1, y2))])
        yf, yt = (sparse.block_diag([m[end] for m in ys]) for end in (1, 2))  # branch currents at each end
        self._csr = tuple(csr_arrays(m) for m in (yf, yt, y_ref))
        self.bus_lookup = work._pd2ppc_lookups["bus"][work.bus.index.to_numpy()]
        branch = ppci1["branch"]
        f_bus, t_bus = (branch[:, c].real.astype(np.int64) for c in (F_BUS, T_BUS))
        base_kv = bus1[:, BASE_KV].real
        self.ratings = Ratings.of(work)
        # per-phase base: a current of |I| pu is |I| sqrt(3) S_base / V_base kA, three times the balanced one
        self._pct_per_pu = self.ratings.pct_per_pu(f_bus, t_bus, base_kv, 3.0 * self.base_mva)
        ka = np.sqrt(3.0) * self.base_mva / base_kv
        line_on = np.zeros(len(branch))
        line_on[self.ratings.line] = self.ratings.line_on
        self._n_ka = (ka[f_bus] * line_on, ka[t_bus] * line_on)  # neutral currents: lines in service only
        self.tol_pu, self.max_iter = tol_pu, max_iter
        self._fallback = None
        self._at: dict[int, np.ndarray] = {}

    def fresh(self) -> "FastSolver3ph":
        out = copy.copy(self)
        out.v, out._fallback = None, None
        return out

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray, samples: np.ndarray | None = None) -> Flow3Result:
        """Solve the samples (rows) of p_mw, q_mvar (S, n_bus, 3); `samples`: which of the run's samples the
        rows are (default all, in order), each starting from its own last converged voltages. A sample the
        fixed point does not solve is handed to runpp_3ph, which decides whether it diverges."""
        n_s, n = len(p_mw), self.v_start.shape[1]
        rows = np.arange(n_s) if samples is None else np.asarray(samples)
        have = 0 if self.v is None else len(self.v)
        if have <= rows.max():
            grown = np.tile(self.v_start, (rows.max() + 1 - have, 1, 1))
            self.v = grown if self.v is None else np.concatenate([self.v, grown])
        at = self._at.get(n_s)  # position of each (sample, bus, phase) among S x 3 x internal buses
        if at is None:
            at = self._at[n_s] = ((np.arange(n_s)[:, None, None] * 3 + np.arange(3)[None, None, :]) * n
                                  + self.bus_lookup[None, :, None]).ravel()
        size = n_s * 3 * n  # fused buses add up
        s_abc = -(np.bincount(at, p_mw.ravel(), size) + 1j * np.bincount(at, q_mvar.ravel(), size))
        s_abc = s_abc.reshape(n_s, 3, n) / self.base_mva  # injection, pu of the per-phase base
        v = self.v[rows]
        converged = np.zeros(n_s, bool)
        fixed_point_3ph(*self._lu, self.pq, s_abc, self.y1_ns_vs, v, self.tol_pu, self.max_iter, converged)
        out = self._results(v)
        self.v[rows] = v
        if not converged.all():
            bad = np.flatnonzero(~converged)
            self.v[rows[bad]] = self.v_start
            if self._fallback is None:
                self._fallback = PandapowerSolver3ph(self.net, injection_net=False)
            out.set_rows(bad, self._fallback.solve(p_mw[bad], q_mvar[bad]))
        return out

    def _results(self, v012: np.ndarray) -> Flow3Result:
        """Results of sequence voltages v012 (S, 3, n internal buses), pandapower's res_*_3ph definitions."""
        n_s, n_bus, n_br = len(v012), len(self.bus_lookup), len(self._n_ka[0])
        vm, vuf = np.empty((n_s, n_bus, 3)), np.empty((n_s, n_bus))
        branches, neutral = np.empty((n_s, n_br)), np.empty((n_s, n_br))
        s_slack = np.empty(n_s, np.complex128)
        (f_ptr, f_idx, f_dat), (t_ptr, t_idx, t_dat), (r_ptr, r_idx, r_dat) = self._csr
        flows_3ph(v012.reshape(n_s, -1), self.bus_lookup, f_ptr, f_idx, f_dat, t_ptr, t_idx, t_dat,
                  *self._pct_per_pu, *self._n_ka, r_ptr, r_idx, r_dat, self.ref[0], self.base_mva, vm, vuf, branches,
                  neutral, s_slack)
        li, tr = self.ratings.line, self.ratings.trafo
        return Flow3Result(vm, vuf, branches[:, li], branches[:, tr], neutral[:, li], s_slack.real, s_slack.imag,
                           np.ones(n_s, bool))
