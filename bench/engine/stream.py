"""Compiled frame-by-frame Conv-FSENet with DynCP gates: saved MACs as saved CPU time.

:class:`StreamingEngine` copies a :class:`bench.models.fsenet.ConvFSENet`'s weights into stacked float32
arrays (layout in :mod:`bench.engine.kernels`, 64-byte aligned) and runs one compiled step per STFT frame:
one complex frame (F,) in, one enhanced frame (F,) out. Two backends of the same algorithm: ``c``
(``csrc/engine.c`` built for this CPU by :mod:`bench.engine.cengine`: AVX-512 register-blocked 1x1 convs,
libmvec logf/expf; the default where a C compiler is present) and ``numba``
(:func:`bench.engine.kernels.engine_step`; no compiler needed). With ``skip=True`` each block's gate is
evaluated first and only its active channels go through the 1x1 convs (gathered rows of the first, gathered
columns of the second: 2 x B of the 2 x B + 11 MACs per channel); norm statistics are over the active
channels, as the model's :class:`~bench.models.fsenet.MaskedChannelNorm`. The cheap per-channel elementwise
steps (norm1's affine and PReLU, the k-tap depthwise conv) run vectorised over all H channels (the C backend:
over the 16-channel chunks holding a kept channel) with skipped ones zeroed: measured faster than gathering
them one channel at a time, and exact (a skipped channel is exactly 0).
``skip=False`` is the dense reference: the same kernel computing every channel without gates (the static
model's computation) with vectorised loops over a dense layout of the same weights.

Look-ahead. A causal model needs none: the frame that enters is the frame that leaves. A non-causal
model's centred windows read future frames; block ``k`` outputs frame ``t`` once its input has reached
``t + GR + DR`` frames, where ``GR = pool_frames - 1 - (pool_frames - 1) // 2`` is the gate's centred
moving-average right half (0 without gates) and ``DR = (k - 1) * d - ((k - 1) * d) // 2`` the right half
of its depthwise padding. The engine buffers these frames: its output lags its input by
``lookahead_frames = sum_k (GR + DR)`` frames (:meth:`StreamingEngine.latency_ms`), on top of the STFT's own
framing. :meth:`StreamingEngine.flush` feeds the model's zero padding after the last frame.
"""
from __future__ import annotations

import copy
import ctypes

import numpy as np
import torch

import bench.engine.kernels as K
from bench.engine.layout import check_order, reorder_hidden
from bench.models.fsenet import ConvFSENet
from datagen.errors import SebenchError


class EngineError(SebenchError, ValueError):
    """Bad engine input (shape, dtype, mode)."""


BACKENDS = ("auto", "c", "numba")   # auto: c where it builds, else numba


def resolve_backend(backend: str) -> str:
    """``"auto"`` -> ``"c"`` when the C library builds and loads here (:func:`bench.engine.cengine.available`),
    else ``"numba"``; ``"c"`` / ``"numba"`` as given."""
    if backend not in BACKENDS:
        raise EngineError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        import bench.engine.cengine as cengine
        return "c" if cengine.available() else "numba"
    return backend


def _pow2(n: int) -> int:
    """Smallest power of two >= n (ring lengths: the kernels index rings with ``t & (R - 1)``)."""
    return 1 << max(0, int(n) - 1).bit_length()


def _aligned(a):
    """A C-contiguous copy of array ``a`` starting on a 64-byte boundary (a cache line, one AVX-512 vector):
    numpy's 16-byte alignment let the weights' vector loads straddle cache lines, at a cost that changed with
    each process's allocation (measured: 0.5-1.5 us of a ~9 us small-config frame, C backend). Scalars
    pass through."""
    if not isinstance(a, np.ndarray) or a.ndim == 0:
        return a
    buf = np.empty(a.nbytes + 64, np.uint8)
    off = (-buf.ctypes.data) % 64
    out = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _pad_cols(a: np.ndarray, k: int) -> np.ndarray:
    """(R, C) -> (R, C') zero-padded to C' = C rounded up to a multiple of k (rows on 64-byte boundaries)."""
    out = np.zeros((a.shape[0], -(-a.shape[1] // k) * k), a.dtype)
    out[:, :a.shape[1]] = a
    return out


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


class StreamingEngine:
    """Frame-by-frame inference of a trained :class:`ConvFSENet` (weights copied; eval only).

    ``skip=True``: gates first, active channels only (a static model then needs ``forced`` masks in
    :meth:`run`); ``skip=False``: every channel, no gate. ``backend``: ``"c"`` (:mod:`bench.engine.cengine`,
    csrc/engine.c compiled for this CPU), ``"numba"`` (:mod:`bench.engine.kernels`), ``"auto"`` (c where a C
    compiler builds it, else numba); the same algorithm and results up to float32 summation order.
    ``channel_order`` (n_blocks, H): run the model with its hidden channels in this order
    (:func:`bench.engine.layout.reorder_hidden`, exact; :func:`~bench.engine.layout.model_keep_order` puts
    often-kept channels first); forced masks and returned decisions stay in the model's order. Per-frame use::

        eng = StreamingEngine(model)
        for X_t in frames:              # (F,) complex64 STFT frames, model.stft's grid
            r = eng.step(X_t)           # None during the look-ahead, else (t, enhanced (F,), mask (F,))
        tail = eng.flush()              # the last lookahead_frames frames
    """

    def __init__(self, model: ConvFSENet, skip: bool = True, backend: str = "auto", channel_order=None):
        cfg = model.cfg
        self.cfg, self.skip, self.backend = cfg, bool(skip), resolve_backend(backend)
        self._order = None
        if channel_order is not None:          # exact reparametrisation (bench.engine.layout)
            try:
                model = reorder_hidden(model, channel_order)
            except ValueError as e:
                raise EngineError(str(e)) from None
            self._order = check_order(channel_order, model.n_blocks, cfg.hidden)
        self.gated = model.gates is not None
        F_, B, H, nb, kk = cfg.n_bins, cfg.bottleneck, cfg.hidden, cfg.n_blocks, cfg.kernel
        pool = int(cfg.gate.pool_frames) if self.gated else 1
        chan = np.zeros((nb, H, 2, B), np.float32)
        vh = np.zeros((nb, K.V_DW + kk, H), np.float32)
        b2 = np.zeros((nb, B), np.float32)
        sc = np.zeros((nb, 4), np.float32)
        geo = np.zeros((nb, K.N_GEO), np.int64)
        for k, blk in enumerate(model.blocks):
            if blk.act1.weight.numel() != 1 or blk.act2.weight.numel() != 1 or blk.kernel != kk:
                raise EngineError("engine supports the model's blocks: one shared PReLU slope, cfg.kernel taps")
            ch = chan[k]
            ch[:, K.P_W1] = _np(blk.conv1.weight[:, :, 0])                       # row c of W1
            ch[:, K.P_W2] = _np(blk.conv2.weight[:, :, 0]).T                     # column c of W2
            vh[k, K.V_B1], vh[k, K.V_DWB] = _np(blk.conv1.bias), _np(blk.dwconv.bias)
            vh[k, K.V_G1], vh[k, K.V_BE1] = _np(blk.norm1.weight), _np(blk.norm1.bias)
            vh[k, K.V_G2], vh[k, K.V_BE2] = _np(blk.norm2.weight), _np(blk.norm2.bias)
            vh[k, K.V_DW:] = _np(blk.dwconv.weight[:, 0, :]).T                # (k, H)
            b2[k] = _np(blk.conv2.bias)
            sc[k] = [blk.norm1.eps, float(blk.act1.weight.detach()), blk.norm2.eps, float(blk.act2.weight.detach())]
            span = (blk.kernel - 1) * blk.dilation
            dr = blk.padding[1]
            gr = 0 if (cfg.causal or not self.gated) else pool - 1 - (pool - 1) // 2
            geo[k] = [blk.kernel, blk.dilation, span, dr, gr, _pow2(max(pool, gr + dr + 1)), _pow2(span + 1),
                      _pow2(dr + 1)]
        if self.gated:
            ws = [[_np(lay.weight[:, :, 0]).T for lay in g.layers] for g in model.gates]     # (in, out)
            bs = [[_np(lay.bias) for lay in g.layers] for g in model.gates]
            L = len(ws[0])
            gf = np.stack([w[0].T for w in ws])                                      # (out, in)
            gbf = np.stack([b[0] for b in bs])
            mid = [np.stack(w[1:L - 1]) if L > 2 else np.zeros((0, 1, 1), np.float32) for w in ws]
            gm = np.ascontiguousarray(np.stack(mid), np.float32)
            gbm = np.stack([np.stack(b[1:L - 1]) if L > 2 else np.zeros((0, 1), np.float32) for b in bs])
            if L > 1:
                gl, gbl = np.stack([w[-1] for w in ws]), np.stack([b[-1] for b in bs])
            else:
                gl, gbl = np.zeros((nb, 0, 0), np.float32), np.zeros((nb, 0), np.float32)
            gdim = max(gf.shape[1], gl.shape[2])
        else:
            gf, gbf = np.zeros((nb, 0, 0), np.float32), np.zeros((nb, 0), np.float32)
            gm, gbm = np.zeros((nb, 0, 1, 1), np.float32), np.zeros((nb, 0, 1), np.float32)
            gl, gbl = np.zeros((nb, 0, 0), np.float32), np.zeros((nb, 0), np.float32)
            gdim = 1
        gates = tuple(np.ascontiguousarray(a, dtype=np.float32) for a in (gf, gbf, gm, gbm, gl, gbl))
        self.block_lookahead = [int(g[K.E_GR] + g[K.E_DR]) for g in geo]
        self.lookahead_frames = int(sum(self.block_lookahead))
        wdim = -(-max(F_, B, H, gdim) // 16) * 16          # scratch rows on 64-byte boundaries
        self._weights = (
            np.ascontiguousarray(_np(model.front.weight[:, :, 0]).T), _np(model.front.bias),
            _pad_cols(_np(model.back.weight[:, :, 0]).T, 16), _np(model.back.bias),
            np.float32(cfg.compress_exponent), chan, np.ascontiguousarray(chan[:, :, K.P_W1].transpose(0, 2, 1)),
            np.ascontiguousarray(chan[:, :, K.P_W2]), vh, b2, sc, *gates, geo, int(pool))
        self._weights = tuple(_aligned(a) for a in self._weights)
        self._state = (
            np.zeros((nb, int(geo[:, K.E_RX].max()), B), np.float32),
            np.zeros((nb, int(geo[:, K.E_RA].max()), H), np.float32),
            np.zeros((nb, int(geo[:, K.E_RK].max()), H), np.int32),
            np.zeros((nb, int(geo[:, K.E_RK].max())), np.int32),
            np.zeros((nb, int(geo[:, K.E_RK].max()), H), np.float32),
            np.zeros((_pow2(self.lookahead_frames + 1), 2, F_), np.float32),
            np.zeros((K.N_WK + 3, wdim), np.float32),      # + 3 rows: the C backend's output frame
            np.zeros(2, np.int64))
        self._state = tuple(_aligned(a) for a in self._state)
        self._args = self._weights + self._state
        self._bind()
        self._no_masks = np.zeros((0, nb, H), np.uint8)
        self._out = np.empty(F_, np.complex64)
        self._mask = np.empty(F_, np.float32)
        self.reset()

    def twin(self, skip: bool) -> "StreamingEngine":
        """An engine with its own state sharing these weights (one copy in cache), in mode ``skip``."""
        other = copy.copy(self)
        other.skip = bool(skip)
        other._state = tuple(_aligned(a) for a in self._state)
        other._args = self._weights + other._state
        other._bind()
        other._out, other._mask = self._out.copy(), self._mask.copy()
        other.reset()
        return other

    def _bind(self) -> None:
        """C backend: the library and a struct pointing at this engine's arrays (they outlive it)."""
        self._lib = self._cs = None
        if self.backend == "c":
            import bench.engine.cengine as cengine
            self._lib = cengine.load()
            self._cs = ctypes.byref(cengine.make_struct(self._weights, self._state))

    def _c_masks(self, a: np.ndarray) -> tuple[int | None, int]:
        return (a.ctypes.data, a.shape[0]) if a.shape[0] else (None, 0)

    # ------------------------------------------------------------------ properties
    def latency_ms(self, sample_rate_hz: int = 16000) -> dict:
        """Algorithmic latency: STFT framing (one window, n_fft samples) + buffered look-ahead, in ms."""
        hop_ms = 1e3 * self.cfg.hop_length / sample_rate_hz
        stft_ms = 1e3 * self.cfg.n_fft / sample_rate_hz
        la = self.lookahead_frames * hop_ms
        return dict(lookahead_frames=self.lookahead_frames, lookahead_ms=la, stft_window_ms=stft_ms,
                    algorithmic_ms=stft_ms + la)

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every frame (zero rings: the model's zero padding before frame 0)."""
        for a in self._state:
            a[...] = 0
        self._state[-1][1] = -1

    def _check_mode(self, forced) -> None:
        if self.skip and not self.gated and forced is None:
            raise EngineError("a static model has no gates: skip=True needs forced masks (T, n_blocks, H)")
        if forced is not None and not self.skip:
            raise EngineError("forced masks need skip=True (skip=False computes every channel)")

    # ------------------------------------------------------------------ per frame
    def step(self, frame: np.ndarray):
        """One STFT frame (F,) complex64 -> None (look-ahead still filling) or (t, enhanced (F,), mask (F,)).

        The returned arrays are reused by the next call; copy them to keep them."""
        self._check_mode(None)
        if frame.dtype != np.complex64 or frame.shape != (self.cfg.n_bins,):
            raise EngineError(f"frame must be ({self.cfg.n_bins},) complex64, got {frame.shape} {frame.dtype}")
        t = self.step_raw(frame)
        return None if t < 0 else (int(t), self._out, self._mask)

    def step_raw(self, frame: np.ndarray) -> int:
        """:meth:`step` without checks or tuple (for timing loops): returns the output frame index or -1."""
        if self._lib is not None:
            return self._lib.se_step(self._cs, frame.ctypes.data, 0, self.skip, None, 0, None, 0,
                                     self._out.ctypes.data, self._mask.ctypes.data)
        return K.engine_step(*self._args, frame, False, self.skip, self._no_masks, self._no_masks, self._out,
                             self._mask)

    def flush(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """End of the utterance: the look-ahead frames still held, as (t, enhanced, mask) copies."""
        res = []
        for _ in range(self.lookahead_frames):
            if self._lib is not None:
                t = self._lib.se_step(self._cs, self._out.ctypes.data, 1, self.skip, None, 0, None, 0,
                                      self._out.ctypes.data, self._mask.ctypes.data)
            else:
                t = K.engine_step(*self._args, self._out, True, self.skip, self._no_masks, self._no_masks,
                                  self._out, self._mask)
            if t >= 0:
                res.append((int(t), self._out.copy(), self._mask.copy()))
        return res

    # ------------------------------------------------------------------ whole utterance
    def run(self, spec, forced=None, return_gates: bool = False):
        """Utterance spectrum (F, T) complex -> (enhanced (F, T) complex64, mask (F, T) float32, gates).

        Frame by frame inside one compiled call (reset first, flushed at the end). ``forced`` (T, n_blocks,
        H) bool/0-1 replaces the gates' decisions (as ``ConvFSENet(forced_gates=...)``); ``gates`` is the
        (T, n_blocks, H) bool array of decisions used if ``return_gates`` else None.
        """
        self._check_mode(forced)
        spec = np.asarray(spec.detach().cpu() if isinstance(spec, torch.Tensor) else spec)
        if spec.ndim != 2 or spec.shape[0] != self.cfg.n_bins or spec.shape[1] < 1:
            raise EngineError(f"spec must be ({self.cfg.n_bins}, T>=1), got {spec.shape}")
        T = spec.shape[1]
        nb, H = self.cfg.n_blocks, self.cfg.hidden
        fm = self._no_masks
        if forced is not None:
            fm = np.asarray(forced.detach().cpu() if isinstance(forced, torch.Tensor) else forced)
            if fm.shape != (T, nb, H):
                raise EngineError(f"forced masks must be {(T, nb, H)}, got {fm.shape}")
            fm = np.ascontiguousarray(fm != 0, dtype=np.uint8)
            if self._order is not None:
                fm = np.ascontiguousarray(np.take_along_axis(fm, self._order[None], axis=2))
        glog = np.zeros((T, nb, H), np.uint8) if return_gates else self._no_masks
        frames = np.ascontiguousarray(spec.T, dtype=np.complex64)
        out = np.zeros((T, self.cfg.n_bins), np.complex64)
        masks = np.zeros((T, self.cfg.n_bins), np.float32)
        self.reset()
        if self._lib is not None:
            done = self._lib.se_run(self._cs, frames.ctypes.data, T, self.lookahead_frames, self.skip,
                                    *self._c_masks(fm), *self._c_masks(glog), out.ctypes.data, masks.ctypes.data)
        else:
            done = K.engine_run(*self._args, frames, self.lookahead_frames, self.skip, fm, glog, out, masks)
        self.reset()
        if done != T:
            raise RuntimeError(f"engine wrote {done} of {T} frames")   # a bug, not a user error
        if return_gates and self._order is not None:
            glog = np.take_along_axis(glog, np.argsort(self._order, axis=1)[None], axis=2)   # back to model order
        return out.T, masks.T, (glog.astype(bool) if return_gates else None)

    def enhance(self, model: ConvFSENet, noisy: torch.Tensor, forced=None) -> torch.Tensor:
        """Waveform (n,) -> enhanced (n,): ``model.stft`` -> :meth:`run` -> ``model.istft``."""
        with torch.no_grad():
            spec = model.stft(noisy[None])[0]
        enh, _, _ = self.run(spec, forced)
        with torch.no_grad():
            return model.istft(torch.from_numpy(np.ascontiguousarray(enh))[None], noisy.shape[-1])[0]
