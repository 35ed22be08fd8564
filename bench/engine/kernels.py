"""numba kernels of the streaming engine: one STFT frame in, one enhanced frame out.

Data layout (built by :class:`bench.engine.stream.StreamingEngine`; ``nb`` blocks, F bins, B bottleneck,
H hidden, k taps). Weights, float32, blocks stacked so that the kernels index them directly (no array
views are created per frame: a numba view costs a reference-count round trip):

  wf (F, B), bf (B,)       front 1x1 conv, transposed     wb (B, F'), bb (F,)  back 1x1 conv, transposed,
                           rows zero-padded to F' = F rounded up to 16 floats (64-byte aligned rows)
  chan (nb, H, 2, B)       one contiguous record per inner channel c: [0] row c of the first 1x1 conv,
                           [1] column c of the second: a skipped channel's weights are never touched,
                           an active channel's are one contiguous run (measured: separate W1 / W2^T
                           arrays made gathered channels about 3x as slow as dense ones, from cache
                           misses; a frame's weights do not fit in L2)
  w1t (nb, B, H), w2t (nb, H, B)
                           dense layout of the same weights (conv1, conv2 transposed): the dense
                           reference's vectorised axpys
  vh (nb, V_DW + k, H)     per-channel vectors as rows V_* (conv1 bias, norm1 w/b, depthwise bias,
                           norm2 w/b, taps); both paths (16 channels' scalars per cache line)
  b2 (nb, B)               second 1x1 conv bias
  sc (nb, 4)               eps1, PReLU1 slope, eps2, PReLU2 slope
  gf (nb, O1, B), gbf      gate's first layer (out, in: dot products over B), and bias
  gm (nb, L-2, G, G), gbm  its middle layers; gl (nb, G, H), gbl its last layer (shape (nb, 0, 0) when
                           the gate has one layer)
  geo (nb, N_GEO) int64    per block: kernel, dilation, span, right contexts, ring lengths (``E_*``)

State (zeroed by ``reset``; every ring length R is a power of two, so that ``t & (R - 1)`` is the slot of
frame ``t``, negative frames included, with no integer division): xr (nb, RX, B) block-input rings,
ar (nb, RA, H) depthwise rings (post-gate activations, zeros for skipped channels), kr (nb, RK, H) int32
active-index rings with counts kc (nb, RK) and the same decisions as 0/1 float rows fr (nb, RK, H),
sr (RS, 2, F) delayed input spectra, wk (N_WK, W) scratch rows, cnt (2,) int64 = [frames fed, end frame
T (-1 while open)].

Skipping: the 1x1 convs touch the active channels' records only (gathered rows of the first, written in
place into a full-width row; gathered columns of the second); everything per channel that is not a 1x1
conv runs vectorised over all H channels with the 0/1 keep row: the norms' masked statistics (the model's
:class:`~bench.models.fsenet.MaskedChannelNorm` formula), affine + PReLU (norm1's zeroed where skipped, as
the model), the depthwise taps. Per-active-channel scalar work is then only the compaction of the
decisions into indices and the gathers themselves (measured: scalar gathers/scatters of the norms'
vectors cost the small model more than the 1x1 convs' saving).

Pipeline: block ``k`` receives ``x_k(t_in)``, decides its gate for ``t_g = t_in - GR`` from the moving
average over its last ``pool_frames`` inputs (the causal and the centred window both end at ``t_in``),
computes the first 1x1 conv, norm and PReLU of the active channels of ``t_g`` into the depthwise ring, and
emits frame ``t_out = t_g - DR`` (DR = the depthwise conv's right context). Frames past the end
(``pad``) are the model's zero padding: zeros enter the rings, nothing is computed for them.

Floating point: float32 throughout, as the PyTorch model. Only the inner-product helpers marked
``fastmath=_FM`` may reassociate sums and fuse multiply-adds (so LLVM vectorises them, as any BLAS
does); no flag that alters NaN/Inf handling or approximates functions is used.
"""
from __future__ import annotations

import numpy as np

from bench.engine._jit import njit

F32 = np.float32
_FM = {"reassoc", "contract"}      # summation order / FMA only (see module docstring)

# rows of vh (dense layout)
V_B1, V_G1, V_BE1, V_DWB, V_G2, V_BE2, V_DW = 0, 1, 2, 3, 4, 5, 6
# parts of a channel record (chan[k, c])
P_W1, P_W2 = 0, 1
# columns of geo
E_K, E_DIL, E_SPAN, E_DR, E_GR, E_RX, E_RA, E_RK = 0, 1, 2, 3, 4, 5, 6, 7
N_GEO = 8
# rows of the scratch wk
W_X, W_Y, W_FEAT, W_H, W_POOL, W_G0, W_G1 = 0, 1, 2, 3, 4, 5, 6
N_WK = 7


# ---------------------------------------------------------------- inner products (vectorised)
@njit(fastmath=_FM)
def _axpy_rows(w, k, n, m, v, y):
    """y[:m] += w[k, :n, :m].T @ v[:n]  (w (nb, N, M): n row-axpys, 4 at a time, vectorised over m)."""
    j = 0
    while j + 4 <= n:
        v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
        for i in range(m):
            y[i] += (w[k, j, i] * v0 + w[k, j + 1, i] * v1) + (w[k, j + 2, i] * v2 + w[k, j + 3, i] * v3)
        j += 4
    while j < n:
        vj = v[j]
        for i in range(m):
            y[i] += w[k, j, i] * vj
        j += 1


@njit(fastmath=_FM)
def _axpy_rows2(w, n, m, v, y):
    """y[:m] += w[:n, :m].T @ v[:n] for w (N, M): n row-axpys, 4 at a time (vectorised over m)."""
    j = 0
    while j + 4 <= n:
        v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
        for i in range(m):
            y[i] += (w[j, i] * v0 + w[j + 1, i] * v1) + (w[j + 2, i] * v2 + w[j + 3, i] * v3)
        j += 4
    while j < n:
        vj = v[j]
        for i in range(m):
            y[i] += w[j, i] * vj
        j += 1


@njit(fastmath=_FM)
def _dot_scatter(w, k, p, idx, n, m, x, bias, out):
    """out[idx[i]] = bias[idx[i]] + w[k, idx[i], p, :m] . x[:m] for i < n (gathered records written in
    place in a full-width row), 4 at a time."""
    i = 0
    while i + 4 <= n:
        c0, c1, c2, c3 = idx[i], idx[i + 1], idx[i + 2], idx[i + 3]
        s0 = s1 = s2 = s3 = F32(0.0)
        for j in range(m):
            xj = x[j]
            s0 += w[k, c0, p, j] * xj
            s1 += w[k, c1, p, j] * xj
            s2 += w[k, c2, p, j] * xj
            s3 += w[k, c3, p, j] * xj
        out[c0], out[c1] = bias[c0] + s0, bias[c1] + s1
        out[c2], out[c3] = bias[c2] + s2, bias[c3] + s3
        i += 4
    while i < n:
        c0 = idx[i]
        s0 = F32(0.0)
        for j in range(m):
            s0 += w[k, c0, p, j] * x[j]
        out[c0] = bias[c0] + s0
        i += 1


@njit(fastmath=_FM)
def _axpy_gather_full(w, k, p, idx, n, m, v, y):
    """y[:m] += sum_i w[k, idx[i], p, :m] * v[idx[i]] for i < n (gathered records, full-width v)."""
    i = 0
    while i + 4 <= n:
        c0, c1, c2, c3 = idx[i], idx[i + 1], idx[i + 2], idx[i + 3]
        v0, v1, v2, v3 = v[c0], v[c1], v[c2], v[c3]
        for o in range(m):
            y[o] += (w[k, c0, p, o] * v0 + w[k, c1, p, o] * v1) + (w[k, c2, p, o] * v2 + w[k, c3, p, o] * v3)
        i += 4
    while i < n:
        c0 = idx[i]
        v0 = v[c0]
        for o in range(m):
            y[o] += w[k, c0, p, o] * v0
        i += 1


@njit(fastmath=_FM)
def _masked_mean_var(v, kf, n, cnt):
    """(mean, biased variance) of v[:n] over the channels with kf == 1 (cnt of them), the model's
    :class:`~bench.models.fsenet.MaskedChannelNorm` formula: sum(v kf) / cnt, sum((v - mean)^2 kf) / cnt.
    Full width and vectorised: no per-channel gather."""
    s = F32(0.0)
    for i in range(n):
        s += v[i] * kf[i]
    mean = s / F32(cnt)
    q = F32(0.0)
    for i in range(n):
        d = v[i] - mean
        q += d * d * kf[i]
    return mean, q / F32(cnt)


@njit(fastmath=_FM)
def _mean_var(v, n):
    """(mean, biased variance) of v[:n] (two passes, as the model)."""
    s = F32(0.0)
    for i in range(n):
        s += v[i]
    mean = s / F32(n)
    q = F32(0.0)
    for i in range(n):
        d = v[i] - mean
        q += d * d
    return mean, q / F32(n)


# ---------------------------------------------------------------- elementwise parts (no flags)
@njit
def _norm_act_dense(v, n, g, be, eps, slope):
    """In place on v[:n] (all channels): LayerNorm over channels, affine g/be, PReLU."""
    mean, var = _mean_var(v, n)
    r = F32(1.0) / np.sqrt(var + eps)
    for c in range(n):
        y = (v[c] - mean) * r * g[c] + be[c]
        v[c] = y if y >= F32(0.0) else slope * y


@njit
def _norm_act_masked(v, kf, n, cnt, g, be, eps, slope, zero_skipped):
    """In place on v[:n] (all channels): LayerNorm with statistics over the cnt channels whose kf is 1
    (:func:`_masked_mean_var`), affine g/be, PReLU, vectorised over all n; ``zero_skipped`` multiplies by
    kf (a skipped channel exactly 0, as the model after norm1)."""
    mean, var = _masked_mean_var(v, kf, n, cnt)
    r = F32(1.0) / np.sqrt(var + eps)
    if zero_skipped:
        for c in range(n):
            y = (v[c] - mean) * r * g[c] + be[c]
            v[c] = (y if y >= F32(0.0) else slope * y) * kf[c]
    else:
        for c in range(n):
            y = (v[c] - mean) * r * g[c] + be[c]
            v[c] = y if y >= F32(0.0) else slope * y


@njit(fastmath=_FM)
def _gate_first(gf, gbf, k, pooled, h0):
    """h0[o] = gbf[k, o] + gf[k, o, :] . pooled for the gate's first layer gf (nb, O1, B): dot
    products over B, 4 outputs at a time (an axpy over O1 = 8 outputs is too short to vectorise)."""
    n1, m = gf.shape[1], gf.shape[2]
    o = 0
    while o + 4 <= n1:
        s0 = s1 = s2 = s3 = F32(0.0)
        for j in range(m):
            pj = pooled[j]
            s0 += gf[k, o, j] * pj
            s1 += gf[k, o + 1, j] * pj
            s2 += gf[k, o + 2, j] * pj
            s3 += gf[k, o + 3, j] * pj
        h0[o], h0[o + 1] = gbf[k, o] + s0, gbf[k, o + 1] + s1
        h0[o + 2], h0[o + 3] = gbf[k, o + 2] + s2, gbf[k, o + 3] + s3
        o += 4
    while o < n1:
        s0 = F32(0.0)
        for j in range(m):
            s0 += gf[k, o, j] * pooled[j]
        h0[o] = gbf[k, o] + s0
        o += 1


@njit
def _gate_scores(gf, gbf, gm, gbm, gl, gbl, k, pooled, h0, h1):
    """Gate MLP of block k on pooled (B,): first layer gf (nb, O1, B) (out, in), middle layers
    gm (nb, L-2, G, G), last layer gl (nb, G, H) (in, out; absent, shape[1] == 0, for a one-layer gate),
    ReLU between; returns the scores (a scratch row)."""
    n1 = gf.shape[1]
    _gate_first(gf, gbf, k, pooled, h0)
    if gl.shape[1] == 0:
        return h0
    src, dst = h0, h1
    for li in range(gm.shape[1]):
        for o in range(n1):
            src[o] = max(src[o], F32(0.0))
            dst[o] = gbm[k, li, o]
        for j in range(n1):
            vj = src[j]
            for o in range(n1):
                dst[o] += gm[k, li, j, o] * vj
        src, dst = dst, src
    for o in range(n1):
        src[o] = max(src[o], F32(0.0))
    nH = gl.shape[2]
    for o in range(nH):
        dst[o] = gbl[k, o]
    _axpy_rows(gl, k, n1, nH, src, dst)
    return dst


@njit
def engine_step(wf, bf, wb, bb, cexp, chan, w1t, w2t, vh, b2, sc, gf, gbf, gm, gbm, gl, gbl, geo, pool,
                xr, ar, kr, kc, fr, sr, wk, cnt, frame, pad, skip, forced, glog, out, mask_out):
    """Feed one frame; returns the index of the frame written to ``out``/``mask_out``, or -1.

    frame (F,) complex64 (ignored when ``pad``: a frame past the end of the utterance);
    skip: evaluate the gates, compute the active channels only (channel records); else every channel
    and no gate, with the dense layout's vectorised loops (the best dense code, the fair reference);
    forced (T, nb, H) uint8 replaces the gates' decisions when its first dimension is > 0;
    glog (T, nb, H) uint8 receives the decisions when its first dimension is > 0;
    out (F,) complex64 enhanced spectrum and mask_out (F,) float32 mask of the returned frame.
    """
    nF, nB = wf.shape[0], wf.shape[1]
    nb, nH = chan.shape[0], chan.shape[1]
    n = cnt[0]
    if pad and cnt[1] < 0:
        cnt[1] = n
    T = cnt[1]
    cnt[0] = n + 1
    x, y, feats, h, pooled, h0, h1 = wk[W_X], wk[W_Y], wk[W_FEAT], wk[W_H], wk[W_POOL], wk[W_G0], wk[W_G1]
    use_forced = forced.shape[0] > 0
    log = glog.shape[0] > 0
    ms = sr.shape[0] - 1

    # ---- front-end: |X| ** c -> 1x1 conv F->B -> ReLU; X kept for the delayed output
    if not pad:
        for f in range(nF):
            re, im = frame[f].real, frame[f].imag
            feats[f] = np.sqrt(re * re + im * im) ** cexp
        for i in range(nB):
            x[i] = bf[i]
        _axpy_rows2(wf, nF, nB, feats, x)
        for i in range(nB):
            if x[i] < F32(0.0):
                x[i] = F32(0.0)
        s = n & ms
        for f in range(nF):
            sr[s, 0, f] = frame[f].real
            sr[s, 1, f] = frame[f].imag

    # ---- blocks
    t_in = n
    for k in range(nb):
        if t_in < 0:
            return -1
        span, dr, gr, kk, dil = geo[k, E_SPAN], geo[k, E_DR], geo[k, E_GR], geo[k, E_K], geo[k, E_DIL]
        mx, ma, mk = geo[k, E_RX] - 1, geo[k, E_RA] - 1, geo[k, E_RK] - 1     # ring masks
        s = t_in & mx
        if T < 0 or t_in < T:
            for i in range(nB):
                xr[k, s, i] = x[i]
        else:
            for i in range(nB):
                xr[k, s, i] = F32(0.0)

        # -- gate and first half (conv1, norm1, PReLU) for frame t_g
        t_g = t_in - gr
        if t_g >= 0:
            sa = t_g & ma
            if T < 0 or t_g < T:
                sx = t_g & mx
                sk = t_g & mk
                kfr = fr[k, sk]                    # this frame's 0/1 keep row (skipping only)
                na = 0
                if not skip:
                    na = nH
                elif use_forced:
                    for c in range(nH):
                        kfr[c] = F32(1.0) if forced[t_g, k, c] != 0 else F32(0.0)
                else:
                    for i in range(nB):
                        pooled[i] = F32(0.0)
                    for j in range(pool - 1, -1, -1):     # oldest first; frames < 0 are zeros
                        tt = t_in - j
                        if tt >= 0:
                            st = tt & mx
                            for i in range(nB):
                                pooled[i] += xr[k, st, i]
                    for i in range(nB):
                        pooled[i] = pooled[i] / F32(pool)
                    scores = _gate_scores(gf, gbf, gm, gbm, gl, gbl, k, pooled, h0, h1)
                    for c in range(nH):           # 0/1 keep vector (vectorised select)
                        kfr[c] = F32(1.0) if scores[c] > F32(0.0) else F32(0.0)
                if skip:
                    for c in range(nH):           # branch-free compaction (decisions are unpredictable)
                        kr[k, sk, na] = c
                        na += 1 if kfr[c] != F32(0.0) else 0
                kc[k, sk] = na
                if log and t_g < glog.shape[0]:
                    if skip:
                        for i in range(na):
                            glog[t_g, k, kr[k, sk, i]] = 1
                    else:
                        for c in range(nH):
                            glog[t_g, k, c] = 1
                # first 1x1 conv (active rows), norm1, PReLU -> depthwise ring (zeros elsewhere)
                arow = ar[k, sa]
                if not skip:
                    for c in range(nH):
                        arow[c] = vh[k, V_B1, c]
                    _axpy_rows(w1t, k, nB, nH, xr[k, sx], arow)
                    _norm_act_dense(arow, nH, vh[k, V_G1], vh[k, V_BE1], sc[k, 0], sc[k, 1])
                else:
                    for c in range(nH):
                        arow[c] = F32(0.0)
                    if na > 0:
                        _dot_scatter(chan, k, P_W1, kr[k, sk], na, nB, xr[k, sx], vh[k, V_B1], arow)
                        _norm_act_masked(arow, kfr, nH, na, vh[k, V_G1], vh[k, V_BE1], sc[k, 0], sc[k, 1],
                                         True)
            else:
                for c in range(nH):
                    ar[k, sa, c] = F32(0.0)       # past the end: the model's zero padding

        # -- second half (depthwise, norm2, PReLU, conv2 + residual) for frame t_out
        t_out = t_g - dr
        if t_out < 0:
            return -1
        if not (T < 0 or t_out < T):
            t_in = t_out                           # a padding frame for the next block
            continue
        sk = t_out & mk
        na = kc[k, sk]
        base = t_g - span                          # frame of the oldest tap
        sx = t_out & mx
        for i in range(nB):
            y[i] = xr[k, sx, i] + b2[k, i]
        if not skip or na > 0:
            for c in range(nH):                    # depthwise over all H (vectorised; skipped channels are 0)
                h[c] = vh[k, V_DWB, c]
            for j in range(kk):
                st = (base + j * dil) & ma
                for c in range(nH):
                    h[c] += vh[k, V_DW + j, c] * ar[k, st, c]
            if not skip:
                _norm_act_dense(h, nH, vh[k, V_G2], vh[k, V_BE2], sc[k, 2], sc[k, 3])
                _axpy_rows(w2t, k, nH, nB, h, y)
            else:                                  # skipped channels' values are computed, never read
                _norm_act_masked(h, fr[k, sk], nH, na, vh[k, V_G2], vh[k, V_BE2], sc[k, 2], sc[k, 3], False)
                _axpy_gather_full(chan, k, P_W2, kr[k, sk], na, nB, h, y)
        for i in range(nB):
            x[i] = y[i]
        t_in = t_out

    # ---- back-end for frame t_in: 1x1 conv B->F, sigmoid, mask the delayed spectrum
    if t_in < 0 or not (T < 0 or t_in < T):
        return -1
    for f in range(nF):
        mask_out[f] = bb[f]
    _axpy_rows2(wb, nB, nF, x, mask_out)
    s = t_in & ms
    for f in range(nF):
        m = F32(1.0) / (F32(1.0) + np.exp(-mask_out[f]))
        mask_out[f] = m
        out[f] = np.complex64(complex(sr[s, 0, f] * m, sr[s, 1, f] * m))
    return t_in


@njit
def engine_run(wf, bf, wb, bb, cexp, chan, w1t, w2t, vh, b2, sc, gf, gbf, gm, gbm, gl, gbl, geo, pool,
               xr, ar, kr, kc, fr, sr, wk, cnt, frames, lookahead, skip, forced, glog, out, masks):
    """Whole utterance through :func:`engine_step`: frames (T, F) complex64, then ``lookahead`` pad
    frames; out (T, F) complex64, masks (T, F) float32. Returns the number of frames written."""
    nT = frames.shape[0]
    o = np.empty(frames.shape[1], np.complex64)
    mo = np.empty(frames.shape[1], np.float32)
    done = 0
    for t in range(nT + lookahead):
        r = engine_step(wf, bf, wb, bb, cexp, chan, w1t, w2t, vh, b2, sc, gf, gbf, gm, gbm, gl, gbl, geo, pool,
                        xr, ar, kr, kc, fr, sr, wk, cnt, frames[min(t, nT - 1)], t >= nT, skip,
                        forced, glog, o, mo)
        if r >= 0:
            out[r] = o
            masks[r] = mo
            done += 1
    return done
