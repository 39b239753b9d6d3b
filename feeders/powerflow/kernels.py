"""The power flow's compiled (numba) kernels and the LU factors they solve with, for the balanced
(`balanced.py`) and the three-phase (`three_phase.py`) fast solvers.

They share one file because numba's on-disk cache notices changes only in a function's own file: a cached
kernel that called `lu_solve` from another file kept the old `lu_solve` after it changed.
"""
import numpy as np
from numba import njit
from scipy.sparse.linalg import splu

A = np.exp(2j * np.pi / 3)  # X_abc = T X_012, T = [[1, 1, 1], [1, A^2, A], [1, A, A^2]] (pandapower's Tabc)
A2 = A * A


@njit(cache=True)
def lu_solve(lp, li, lx, up, ui, ux, perm_r, perm_c, rhs, y, out):
    """out = A^-1 rhs with SuperLU's factors Pr A Pc = L U (CSC, sorted indices, L with unit diagonal, U's
    diagonal last in each column and stored as its reciprocal: `lu_factors`); y is scratch of the same
    length."""
    n = len(rhs)
    for i in range(n):
        y[perm_r[i]] = rhs[i]
    for j in range(n):  # forward: L
        yj = y[j]
        for m in range(lp[j] + 1, lp[j + 1]):
            y[li[m]] -= lx[m] * yj
    for j in range(n - 1, -1, -1):  # backward: U
        yj = y[j] * ux[up[j + 1] - 1]
        y[j] = yj
        for m in range(up[j], up[j + 1] - 1):
            y[ui[m]] -= ux[m] * yj
    for i in range(n):
        out[i] = y[perm_c[i]]


def lu_factors(matrix) -> tuple:
    """SuperLU's factorisation of a sparse matrix as the arrays `lu_solve` takes (U's diagonal as its
    reciprocal). An admittance matrix has a symmetric pattern and a dominant diagonal, so it is factorised
    without pivoting in a minimum-degree order of A + A^T, which on a radial feeder is an elimination order
    without fill-in: 510 non-zeros in L and U on the default feeder, 36,414 on the 9,099-bus MV+LV one,
    against 705 and 46,380 with SuperLU's default (COLAMD, partial pivoting), measured. Should that fail (a
    zero pivot) or lose accuracy (a residual above 1e-12 of the right-hand side on a test vector), the
    default is used."""
    a = matrix.tocsc()
    rhs = np.exp(1j * np.arange(a.shape[0]))
    try:
        lu = splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        exact = np.linalg.norm(a @ lu.solve(rhs) - rhs) <= 1e-12 * np.linalg.norm(rhs)
    except RuntimeError:  # SuperLU: "Factor is exactly singular"
        exact = False
    if not exact:
        lu = splu(a)
    lower, upper = lu.L.tocsc(), lu.U.tocsc()
    lower.sort_indices()
    upper.sort_indices()
    upper.data[upper.indptr[1:] - 1] = 1.0 / upper.data[upper.indptr[1:] - 1]  # a product, not a division, per solve
    return (lower.indptr.astype(np.int64), lower.indices.astype(np.int64), lower.data,
            upper.indptr.astype(np.int64), upper.indices.astype(np.int64), upper.data,
            lu.perm_r.astype(np.int64), lu.perm_c.astype(np.int64))


@njit(cache=True)
def fixed_point(lu, p_mw, q_mvar, bus_pq, s_base, base_mva, y_ns_vs, v_all, rows, pq, tol_pu, max_iter,
                converged):
    """The fixed-point iteration for each sample k of p_mw, q_mvar (S, n_bus: demand per bus, load sign),
    from and into v_all[rows[k]] (internal bus voltages); updated in place where it converges (no voltage
    changes by tol_pu or more), left as it was where it does not (diverging: a change above 10 pu or not
    finite; or max_iter reached). The injection at pq bus j is s_base[j] less the demand of the net's buses
    that map to it (`bus_pq`, -1 for the slack); each iteration solves Y_nn x = conj(S / V) - Y_ns V_s with
    the factors `lu` of Y_nn (`lu_factors`). The samples are solved one after the other with the same
    scalar code, so a sample's voltages do not depend on the others in its batch, bit for bit. (Solving
    them side by side, one column each with the columns innermost, gained 10 % on the default feeder, 84
    against 93 us per step at S = 10, and lost 4 % on the MV+LV one, 7.5 against 7.2 ms, measured: the
    simpler form stays.)"""
    n = len(pq)
    s_n = np.empty(n, np.complex128)
    rhs, y, x = np.empty(n, np.complex128), np.empty(n, np.complex128), np.empty(n, np.complex128)
    v = np.empty(n, np.complex128)
    tol2 = tol_pu * tol_pu
    for k in range(p_mw.shape[0]):
        s_n[:] = s_base
        for b in range(p_mw.shape[1]):
            j = bus_pq[b]
            if j >= 0:
                s_n[j] -= complex(p_mw[k, b], q_mvar[k, b]) / base_mva
        row = rows[k]
        for i in range(n):
            v[i] = v_all[row, pq[i]]
        for _ in range(max_iter):
            for i in range(n):  # conj(S / V) = conj(S) V / |V|^2: one real division, no complex one
                vi = v[i]
                rhs[i] = np.conj(s_n[i]) * vi / (vi.real * vi.real + vi.imag * vi.imag) - y_ns_vs[i]
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
                for i in range(n):
                    v_all[row, pq[i]] = v[i]
                break


@njit(cache=True, inline="always")
def _abs(z):
    """|z| as sqrt(re^2 + im^2): numba's abs(z) is the slower, overflow-safe hypot."""
    return np.sqrt(z.real * z.real + z.imag * z.imag)


@njit(cache=True)
def flows(v_all, rows, bus_lookup, f_ptr, f_idx, f_dat, t_ptr, t_idx, t_dat, pct_per_pu_f, pct_per_pu_t,
          r_ptr, r_idx, r_dat, ref, base_mva, vm_pu, loading_pct, s_slack):
    """For the voltages v_all[rows[k]] of each sample k: bus voltage magnitudes in the net's bus order
    (vm_pu), each branch's loading (the higher of its two ends' currents |Yf V|, |Yt V| in per unit times
    pct_per_pu: `Ratings.pct_per_pu`) and the slack's complex power, MVA (V_ref conj(Y_ref V))."""
    for k in range(len(rows)):
        v = v_all[rows[k]]
        for b in range(len(bus_lookup)):
            vm_pu[k, b] = _abs(v[bus_lookup[b]])
        for br in range(len(pct_per_pu_f)):
            i_f, i_t = 0j, 0j
            for m in range(f_ptr[br], f_ptr[br + 1]):
                i_f += f_dat[m] * v[f_idx[m]]
            for m in range(t_ptr[br], t_ptr[br + 1]):
                i_t += t_dat[m] * v[t_idx[m]]
            loading_pct[k, br] = max(_abs(i_f) * pct_per_pu_f[br], _abs(i_t) * pct_per_pu_t[br])
        s = 0j
        for r in range(len(ref)):
            i_r = 0j
            for m in range(r_ptr[r], r_ptr[r + 1]):
                i_r += r_dat[m] * v[r_idx[m]]
            s += v[ref[r]] * np.conj(i_r)
        s_slack[k] = s * base_mva


@njit(cache=True)
def fixed_point_3ph(lu0, lu1, lu2, pq, s_abc, y1_ns_vs, v012, tol_pu, max_iter, converged):
    """The sequence-frame fixed point for each sample k: s_abc (S, 3, n) injections per phase (pu of the
    per-phase base), v012 (S, 3, n) the start, updated in place where the sample converges."""
    n, n_pq = v012.shape[2], len(pq)
    i0, i2 = np.empty(n, np.complex128), np.empty(n, np.complex128)
    rhs1, x1 = np.empty(n_pq, np.complex128), np.empty(n_pq, np.complex128)
    i1 = np.empty(n, np.complex128)
    y, y1 = np.empty(n, np.complex128), np.empty(n_pq, np.complex128)
    w0, w2 = np.empty(n, np.complex128), np.empty(n, np.complex128)
    tol2 = tol_pu * tol_pu
    for k in range(v012.shape[0]):
        v0, v1, v2 = v012[k, 0].copy(), v012[k, 1].copy(), v012[k, 2].copy()
        for _ in range(max_iter):
            for i in range(n):
                va = v0[i] + v1[i] + v2[i]
                vb = v0[i] + A2 * v1[i] + A * v2[i]
                vc = v0[i] + A * v1[i] + A2 * v2[i]
                ia = np.conj(s_abc[k, 0, i]) * va / (va.real * va.real + va.imag * va.imag)
                ib = np.conj(s_abc[k, 1, i]) * vb / (vb.real * vb.real + vb.imag * vb.imag)
                ic = np.conj(s_abc[k, 2, i]) * vc / (vc.real * vc.real + vc.imag * vc.imag)
                i0[i] = (ia + ib + ic) / 3.0
                i1[i] = (ia + A * ib + A2 * ic) / 3.0
                i2[i] = (ia + A2 * ib + A * ic) / 3.0
            for j in range(n_pq):
                rhs1[j] = i1[pq[j]] - y1_ns_vs[j]
            lu_solve(*lu1, rhs1, y1, x1)
            lu_solve(*lu0, i0, y, w0)
            lu_solve(*lu2, i2, y, w2)
            step2, finite = 0.0, True
            for j in range(n_pq):
                d = x1[j] - v1[pq[j]]
                d2 = d.real * d.real + d.imag * d.imag
                step2 = max(step2, d2)
                finite = finite and not np.isnan(d2)
                v1[pq[j]] = x1[j]
            for i in range(n):
                for d in (w0[i] - v0[i], w2[i] - v2[i]):
                    d2 = d.real * d.real + d.imag * d.imag
                    step2 = max(step2, d2)
                    finite = finite and not np.isnan(d2)
                v0[i], v2[i] = w0[i], w2[i]
            if not finite or not step2 <= 100.0:
                break
            if step2 < tol2:
                converged[k] = True
                v012[k, 0], v012[k, 1], v012[k, 2] = v0, v1, v2
                break


@njit(cache=True, inline="always")
def _phase_currents(ptr, idx, dat, n_br, br, v):
    """Branch br's phase currents (a, b, c) from the block-diagonal sequence matrix (CSR arrays, rows
    sequence by sequence) and the sequence voltages v (3 n)."""
    i0, i1, i2 = 0j, 0j, 0j
    for m in range(ptr[br], ptr[br + 1]):
        i0 += dat[m] * v[idx[m]]
    for m in range(ptr[n_br + br], ptr[n_br + br + 1]):
        i1 += dat[m] * v[idx[m]]
    for m in range(ptr[2 * n_br + br], ptr[2 * n_br + br + 1]):
        i2 += dat[m] * v[idx[m]]
    return i0 + i1 + i2, i0 + A2 * i1 + A * i2, i0 + A * i1 + A2 * i2


@njit(cache=True)
def flows_3ph(v012, bus_lookup, f_ptr, f_idx, f_dat, t_ptr, t_idx, t_dat, pct_per_pu_f, pct_per_pu_t,
              n_ka_f, n_ka_t, r_ptr, r_idx, r_dat, ref, base_mva, vm_pu, vuf_pct, loading_pct, i_n_ka, s_slack):
    """For sequence voltages v012 (S, 3 n: the zero, positive and negative sequences one after the other) of
    each sample k: phase voltage magnitudes (X_abc = T X_012, at `A`) and the unbalance factor |V2| / |V1|
    at the net's buses; each branch's loading on its worst phase and end (phase current in per unit of the
    per-phase base times pct_per_pu) and its neutral current, kA (|Ia + Ib + Ic| times n_ka, 0 where n_ka
    is); the slack's complex power, MVA (3 V012 conj(I012) summed over the sequences, I012 = Y_ref V). The
    branch (Yf, Yt) and slack (Y_ref) matrices are the sequences' blocks on one diagonal (CSR), rows
    sequence by sequence."""
    n = v012.shape[1] // 3
    n_br = len(pct_per_pu_f)
    for k in range(v012.shape[0]):
        v = v012[k]
        for b in range(len(bus_lookup)):
            j = bus_lookup[b]
            v0, v1, v2 = v[j], v[n + j], v[2 * n + j]
            vm_pu[k, b, 0] = _abs(v0 + v1 + v2)
            vm_pu[k, b, 1] = _abs(v0 + A2 * v1 + A * v2)
            vm_pu[k, b, 2] = _abs(v0 + A * v1 + A2 * v2)
            vuf_pct[k, b] = _abs(v2) / _abs(v1) * 100.0
        for br in range(n_br):
            ia, ib, ic = _phase_currents(f_ptr, f_idx, f_dat, n_br, br, v)
            ja, jb, jc = _phase_currents(t_ptr, t_idx, t_dat, n_br, br, v)
            worst = max(max(_abs(ia), _abs(ib), _abs(ic)) * pct_per_pu_f[br],
                        max(_abs(ja), _abs(jb), _abs(jc)) * pct_per_pu_t[br])
            neutral = max(_abs(ia + ib + ic) * n_ka_f[br], _abs(ja + jb + jc) * n_ka_t[br])
            loading_pct[k, br], i_n_ka[k, br] = worst, neutral
        s = 0j
        for seq in range(3):
            i_r = 0j
            for m in range(r_ptr[seq], r_ptr[seq + 1]):
                i_r += r_dat[m] * v[r_idx[m]]
            s += v[seq * n + ref] * np.conj(i_r)
        s_slack[k] = 3.0 * s * base_mva


def csr_arrays(matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sparse matrix's CSR arrays (index pointers, column indices, values) for compiled code."""
    m = matrix.tocsr()
    return m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data
