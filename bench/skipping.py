"""Inference that really skips pruned channels (DynCP), exact w.r.t. the masked dense model.

For every frame and block only the active inner channels ``idx`` are computed: rows ``W1[idx]`` of
the first 1x1 conv, depthwise filters ``dw[idx]`` and columns ``W2[:, idx]`` of the second 1x1 conv
are gathered (``index_select``) and multiplied; the norm statistics are taken over ``idx`` only
(:class:`bench.models.fsenet.MaskedChannelNorm`). Skipped (channel, frame) pairs are zeros of the
dense masked path, so the depthwise conv's temporal context of channel c is its stored history of
post-gate activations, with zeros where c was skipped.

Two forms (both return the spectral mask (F, T) and the gates used (T, n_blocks, H) bool):

* :meth:`SkippingFSENet.run_streaming` -- causal models only, frame by frame (the on-device form):
  per block a ring buffer of the last ``(k-1)*d+1`` inner activations (H channels, zeros when
  skipped) and a ``pool_frames`` history of block inputs for the gate.
* :meth:`SkippingFSENet.run_offline` -- causal or non-causal, block by block over a whole utterance:
  the block's inner activations are computed for every frame (active channels only) before the
  depthwise conv reads past and future frames.

``skip=False`` runs the same loops densely (full matrices, masked afterwards): the like-for-like
reference for wall-clock comparisons. Gates are always evaluated (their cost is always paid);
``forced`` masks, if given, replace their decisions (as ``ConvFSENet(forced_gates=...)``).
The per-frame loops are plain PyTorch on purpose: readable, exact, and what a C port would do;
their Python overhead is measured, not hidden, by ``benchmarks/bench_skipping.py``.
For wall-clock savings without per-frame overhead see :mod:`bench.skipping_chunked` (chunks of K
frames, union of active channels, batched).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.models.fsenet import ConvFSENet
from bench.models.gates import moving_average


class _Block:
    """Plain tensors of one TCN block (+ its gate), laid out for row gathers."""

    def __init__(self, blk, gate):
        d = lambda t: t.detach().contiguous()  # noqa: E731
        self.w1, self.b1 = d(blk.conv1.weight[:, :, 0]), d(blk.conv1.bias)              # (H, B), (H,)
        self.g1, self.be1, self.eps1 = d(blk.norm1.weight), d(blk.norm1.bias), blk.norm1.eps
        self.p1 = float(blk.act1.weight.detach())
        self.dw, self.dwb = d(blk.dwconv.weight[:, 0, :]), d(blk.dwconv.bias)             # (H, k), (H,)
        self.g2, self.be2, self.eps2 = d(blk.norm2.weight), d(blk.norm2.bias), blk.norm2.eps
        self.p2 = float(blk.act2.weight.detach())
        self.w2t, self.b2 = d(blk.conv2.weight[:, :, 0].t()), d(blk.conv2.bias)          # (H, B), (B,)
        self.k, self.dil = blk.kernel, blk.dilation
        self.left = blk.padding[0]
        self.gate = None
        if gate is not None:
            self.gate = [(d(l.weight[:, :, 0]), d(l.bias)) for l in gate.layers]
            self.pool = gate.pool_frames

    def gate_scores(self, pooled: Tensor) -> Tensor:
        """pooled (B,) or (B, T) -> scores (H,) or (H, T)."""
        h = pooled
        for i, (w, b) in enumerate(self.gate):
            h = (w @ h + (b if h.dim() == 1 else b[:, None]))
            if i < len(self.gate) - 1:
                h = torch.relu(h)
        return h


def _norm_act(v: Tensor, g: Tensor, b: Tensor, eps: float, slope: float) -> Tensor:
    """LayerNorm over the (active) channels of one frame, affine, PReLU. v (n,) -> (n,)."""
    var, mean = torch.var_mean(v, correction=0)
    y = (v - mean) * torch.rsqrt(var + eps) * g + b
    return torch.where(y >= 0, y, slope * y)


def _masked_norm_act(v: Tensor, keep: Tensor, g, b, eps, slope) -> Tensor:
    """Dense-path version: statistics over ``keep`` (float {0,1}, (H,)), output zeroed where skipped."""
    cnt = keep.sum().clamp(min=1.0)
    mean = (v * keep).sum() / cnt
    var = ((v - mean).pow(2) * keep).sum() / cnt
    y = (v - mean) * torch.rsqrt(var + eps) * g + b
    return torch.where(y >= 0, y, slope * y) * keep


class SkippingFSENet:
    """Channel-skipping inference for a trained :class:`ConvFSENet` (weights copied, eval only)."""

    def __init__(self, model: ConvFSENet):
        self.model = model
        self.cfg = model.cfg
        self.wf, self.bf = model.front.weight[:, :, 0].detach(), model.front.bias.detach()
        self.wb, self.bb = model.back.weight[:, :, 0].detach(), model.back.bias.detach()
        gates = model.gates if model.gates is not None else [None] * model.n_blocks
        self.blocks = [_Block(b, g) for b, g in zip(model.blocks, gates)]

    def _check(self, feats: Tensor, forced: Tensor | None) -> int:
        if feats.dim() != 2 or feats.shape[0] != self.cfg.n_bins:
            raise ValueError(f"feats must be ({self.cfg.n_bins}, T), got {tuple(feats.shape)}")
        T = feats.shape[1]
        if forced is None and self.model.gates is None:
            raise ValueError("a static model needs forced masks (T, n_blocks, H) to skip channels")
        if forced is not None and tuple(forced.shape) != (T, self.cfg.n_blocks, self.cfg.hidden):
            raise ValueError(f"forced masks must be {(T, self.cfg.n_blocks, self.cfg.hidden)}, "
                             f"got {tuple(forced.shape)}")
        return T

    # ------------------------------------------------------------------ streaming (causal)
    @torch.inference_mode()
    def run_streaming(self, feats: Tensor, forced: Tensor | None = None, skip: bool = True):
        """Causal frame-by-frame inference. feats (F, T) compressed magnitudes -> (mask (F, T), gates)."""
        if not self.cfg.causal:
            raise ValueError("run_streaming needs a causal model (cfg.causal=True); use run_offline")
        T = self._check(feats, forced)
        H, B = self.cfg.hidden, self.cfg.bottleneck
        forced_b = None if forced is None else forced.bool()
        rings = [torch.zeros(H, (b.k - 1) * b.dil + 1) for b in self.blocks]
        # ring positions of the k taps (oldest first) for each write position, precomputed
        taps_at = [[torch.tensor([(p - (b.k - 1 - j) * b.dil) % r.shape[1] for j in range(b.k)])
                    for p in range(r.shape[1])] for b, r in zip(self.blocks, rings)]
        pools = [torch.zeros(b.pool, B) if b.gate is not None else None for b in self.blocks]
        masks = torch.empty(self.cfg.n_bins, T)
        used = torch.zeros(T, self.cfg.n_blocks, H, dtype=torch.bool)
        for t in range(T):
            x = torch.relu(torch.addmv(self.bf, self.wf, feats[:, t]))
            for k, b in enumerate(self.blocks):
                if b.gate is not None:
                    pools[k][t % b.pool] = x
                    keep = b.gate_scores(pools[k].sum(0) / b.pool) > 0
                if forced_b is not None:
                    keep = forced_b[t, k]
                used[t, k] = keep
                ring, L = rings[k], rings[k].shape[1]
                pos = t % L
                taps = taps_at[k][pos]
                if skip:
                    idx = keep.nonzero().squeeze(1)
                    ring[:, pos] = 0.0
                    if idx.numel() == 0:      # nothing computed; the 1x1 conv's bias remains
                        x = x + b.b2
                        continue
                    a = _norm_act(torch.addmv(b.b1[idx], b.w1[idx], x), b.g1[idx], b.be1[idx], b.eps1, b.p1)
                    ring[idx, pos] = a
                    dv = (ring[idx][:, taps] * b.dw[idx]).sum(1) + b.dwb[idx]
                    a2 = _norm_act(dv, b.g2[idx], b.be2[idx], b.eps2, b.p2)
                    x = x + torch.addmv(b.b2, b.w2t[idx].t(), a2)
                else:
                    kf = keep.to(x.dtype)
                    ring[:, pos] = _masked_norm_act(torch.addmv(b.b1, b.w1, x), kf, b.g1, b.be1, b.eps1, b.p1)
                    dv = (ring[:, taps] * b.dw).sum(1) + b.dwb
                    a2 = _masked_norm_act(dv, kf, b.g2, b.be2, b.eps2, b.p2)
                    x = x + torch.addmv(b.b2, b.w2t.t(), a2)
            masks[:, t] = torch.sigmoid(torch.addmv(self.bb, self.wb, x))
        return masks, used

    # ------------------------------------------------------------------ offline (any)
    @torch.inference_mode()
    def run_offline(self, feats: Tensor, forced: Tensor | None = None, skip: bool = True):
        """Block-by-block inference over a whole utterance (causal or not). Same returns."""
        T = self._check(feats, forced)
        H = self.cfg.hidden
        x = torch.relu(self.wf @ feats + self.bf[:, None])                        # (B, T)
        used = torch.zeros(T, self.cfg.n_blocks, H, dtype=torch.bool)
        for k, b in enumerate(self.blocks):
            if forced is not None:
                keep = forced[:, k].bool().t()                                    # (H, T)
                if b.gate is not None:
                    b.gate_scores(moving_average(x[None], b.pool, self.cfg.causal)[0])  # cost paid
            else:
                keep = b.gate_scores(moving_average(x[None], b.pool, self.cfg.causal)[0]) > 0
            used[:, k] = keep.t()
            span = (b.k - 1) * b.dil
            a = torch.zeros(H, T + span)                                          # padded inner acts
            offs = [j * b.dil for j in range(b.k)]                                # taps, padded coords
            y = torch.zeros_like(x)
            if skip:
                idxs = [keep[:, t].nonzero().squeeze(1) for t in range(T)]
                for t, idx in enumerate(idxs):
                    if idx.numel():
                        a[idx, t + b.left] = _norm_act(torch.addmv(b.b1[idx], b.w1[idx], x[:, t]),
                                                       b.g1[idx], b.be1[idx], b.eps1, b.p1)
                for t, idx in enumerate(idxs):
                    if idx.numel():
                        win = a[idx][:, [t + o for o in offs]]
                        a2 = _norm_act((win * b.dw[idx]).sum(1) + b.dwb[idx], b.g2[idx], b.be2[idx], b.eps2, b.p2)
                        y[:, t] = b.w2t[idx].t() @ a2
            else:
                kf = keep.to(x.dtype)
                for t in range(T):
                    a[:, t + b.left] = _masked_norm_act(torch.addmv(b.b1, b.w1, x[:, t]), kf[:, t],
                                                        b.g1, b.be1, b.eps1, b.p1)
                for t in range(T):
                    win = a[:, [t + o for o in offs]]
                    a2 = _masked_norm_act((win * b.dw).sum(1) + b.dwb, kf[:, t], b.g2, b.be2, b.eps2, b.p2)
                    y[:, t] = b.w2t.t() @ a2
            x = x + y + b.b2[:, None]
        return torch.sigmoid(self.wb @ x + self.bb[:, None]), used

    @torch.inference_mode()
    def enhance(self, noisy: Tensor, forced: Tensor | None = None, streaming: bool | None = None) -> Tensor:
        """Waveform (n,) -> enhanced waveform (n,) through STFT, skipping core, iSTFT."""
        m = self.model
        spec = m.stft(noisy[None])[0]
        run = self.run_streaming if (self.cfg.causal if streaming is None else streaming) else self.run_offline
        mask, _ = run(m.features(spec), forced)
        return m.istft((spec * mask)[None], noisy.shape[-1])[0]
