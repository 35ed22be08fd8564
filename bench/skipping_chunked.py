"""Chunked channel skipping: DynCP MAC savings as real CPU time, exact w.r.t. the masked dense model.

The per-frame loops of :mod:`bench.skipping` are exact but pay ~1 ms of Python/indexing overhead per
block per frame, which swamps the arithmetic. Here every block is processed over *chunks* of ``K``
frames (``chunk_frames``; ``None`` or ``>= T`` = the whole utterance) with matrix-matrix products:

* the gate (moving average + 1x1 convs) is evaluated densely for the whole utterance first (its cost
  is paid anyway), giving ``keep`` (H, T);
* chunk ``c`` = frames ``[t0, t1)`` computes only the channels ``U_c`` active in at least one of its
  frames (the *union*): rows ``W1[U_c]`` (+ bias, norm affine), depthwise filters ``dw[U_c]`` and
  columns ``W2[:, U_c]`` are gathered with one ``index_select`` per pass (parameters are packed per
  channel so one gather fetches all of them);
* pass 1 (per chunk): ``h = W1[U] x[:, t0:t1]`` -> masked norm (statistics over the frame's active
  channels, all of which are in ``U``) -> PReLU -> x ``keep`` -> written (row copies) into a
  zero-initialised chunk-major buffer of inner activations, so a skipped (channel, frame) stays exactly
  zero and no frame is ever computed twice;
* pass 2 (per chunk): the depthwise conv of the ``U`` rows reads the chunk's own activations plus its
  dilation context (``span = (k-1) d`` frames, left-only for causal models) gathered as whole rows of
  the neighbouring chunks -> masked norm -> PReLU -> x ``keep`` -> ``W2[:, U] a2`` is the block's
  contribution for the chunk. (Row gathers, never per-element ``take``/``put``: those cost as much as
  the arithmetic on this CPU.)

Per-frame masks are applied exactly, so results equal :meth:`ConvFSENet.mask_from_features` with the
same gates within float32 rounding (tests: 1e-5). ``skip=False`` runs the *same code* with every
channel in every chunk (no gathers): the like-for-like dense reference for wall-clock comparisons.

Cost model (:func:`chunked_macs`): a chunk computes ``|U_c| x len(c)`` channel-frames, so the MACs it
really performs are those of the *union density*, not the per-frame keep ratio. ``K = 1`` gives the
ideal dynamic count of :func:`bench.macs.dynamic_macs_per_frame`; all channels on gives the dense
count. The block-major loop works for causal and non-causal models (offline, whole utterance known);
for a causal model the same arithmetic in chunk-major order is a streaming form with ``K`` frames of
latency.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.macs import block_macs_per_frame, dense_macs_per_frame
from bench.models.fsenet import ConvFSENet, FSENetConfig
from bench.skipping import _Block


def chunk_bounds(n_frames: int, chunk_frames: int | None) -> list[tuple[int, int]]:
    """Frame ranges ``[t0, t1)`` of consecutive chunks; ``None`` or ``>= n_frames`` = one chunk."""
    if chunk_frames is not None and int(chunk_frames) < 1:
        raise ValueError(f"chunk_frames must be >= 1 (or None for the whole utterance), got {chunk_frames}")
    k = n_frames if chunk_frames is None else min(int(chunk_frames), max(n_frames, 1))
    return [(t0, min(t0 + k, n_frames)) for t0 in range(0, n_frames, max(k, 1))]


def chunk_unions(keep: Tensor | np.ndarray, chunk_frames: int | None) -> np.ndarray:
    """Union masks per chunk: ``keep`` (T, n_blocks, H) -> (n_chunks, n_blocks, H) bool."""
    g = np.asarray(keep.detach().cpu() if hasattr(keep, "detach") else keep) != 0
    if g.ndim != 3:
        raise ValueError(f"keep must be (T, n_blocks, H), got shape {g.shape}")
    return np.stack([g[t0:t1].any(axis=0) for t0, t1 in chunk_bounds(g.shape[0], chunk_frames)])


def chunked_macs(cfg: FSENetConfig, keep: Tensor | np.ndarray, chunk_frames: int | None) -> dict:
    """MACs the chunked path performs for masks ``keep`` (T, n_blocks, H), same convention as
    :mod:`bench.macs` (1 MAC = 1 multiply-accumulate, biases not counted, gates and front/back-end
    included, STFT excluded).

    Returns ``total`` (MACs over the utterance), ``per_frame`` (mean), ``union_density`` (computed
    channel-frames / all channel-frames), ``keep_density`` (active channel-frames / all),
    ``computed_channel_frames`` (per block list).
    """
    g = np.asarray(keep.detach().cpu() if hasattr(keep, "detach") else keep) != 0
    if g.ndim != 3 or g.shape[1] != cfg.n_blocks or g.shape[2] != cfg.hidden:
        raise ValueError(f"keep must be (T, {cfg.n_blocks}, {cfg.hidden}), got {g.shape}")
    T = g.shape[0]
    bounds = chunk_bounds(T, chunk_frames)
    lens = np.array([t1 - t0 for t0, t1 in bounds], dtype=np.int64)
    unions = chunk_unions(g, chunk_frames).sum(axis=2).astype(np.int64)      # (n_chunks, n_blocks)
    ch_frames = (unions * lens[:, None]).sum(axis=0)                          # (n_blocks,)
    d = dense_macs_per_frame(cfg)
    per_ch = sum(block_macs_per_frame(cfg, 1).values())
    total = T * (d["front"] + d["back"] + d["gate_total"]) + per_ch * int(ch_frames.sum())
    denom = max(T * cfg.n_blocks * cfg.hidden, 1)
    return dict(total=int(total), per_frame=float(total) / max(T, 1),
                union_density=float(ch_frames.sum()) / denom, keep_density=float(g.sum()) / denom,
                computed_channel_frames=[int(v) for v in ch_frames])


@dataclass
class ChunkedRun:
    mask: Tensor                      # (F, T) spectral mask in [0, 1]
    used: Tensor                      # (T, n_blocks, H) bool, the gates applied
    computed_channel_frames: list     # per block: sum over chunks of |U_c| x len(c) actually computed
    chunk_frames: int | None
    skip: bool


def _masked_norm_act(v: Tensor, m: Tensor, inv_cnt: Tensor, g: Tensor, b: Tensor, eps: float,
                     slope: float) -> Tensor:
    """Channel LayerNorm per frame over the active rows, affine, PReLU, zeroed where skipped.

    ``v``, ``m`` (..., n, L) (``m`` float {0, 1}), ``inv_cnt`` (..., 1, L) = 1 / max(1, active channels
    of the frame) (over *all* H channels; every active one is among the n rows), ``g``, ``b``
    (..., n, 1). Exactly :class:`bench.models.fsenet.MaskedChannelNorm` + PReLU + gating."""
    mean = (v * m).sum(-2, keepdim=True) * inv_cnt
    dev = v - mean
    dm = dev * m
    var = (dm * dm).sum(-2, keepdim=True) * inv_cnt
    y = dev * torch.rsqrt(var + eps)
    y = y.mul_(g).add_(b)                   # (addcmul with broadcast operands is ~4x slower on CPU)
    return F.leaky_relu(y, slope).mul_(m)   # leaky_relu(y, s) == PReLU with one shared slope s   # leaky_relu(y, s) == PReLU with one shared slope s


def moving_average_shifted(x: Tensor, pool_frames: int, causal: bool) -> Tensor:
    """:func:`bench.models.gates.moving_average` of ``x`` (C, T) as a sum of ``P`` shifted slices.

    Hand-written because ``F.avg_pool1d`` is ~4x slower here on the CPU (measured); same zero
    padding and division by ``P`` (float32 rounding may differ in the last bit)."""
    p = int(pool_frames)
    if p <= 1:
        return x
    left = p - 1 if causal else (p - 1) // 2
    xp = F.pad(x, (left, p - 1 - left))
    T = x.shape[-1]
    s = xp[..., 0:T].clone()
    for j in range(1, p):
        s += xp[..., j:j + T]
    return s / p


class _PackedBlock:
    """Per-channel parameters of one block as gather-friendly tables (row ``H`` = all-zero padding row,
    always gated off, so a padded bucket row contributes exactly 0).

    ``w1`` (H + 1, B) rows of W1; ``v1`` (3, H + 1): b1, norm1 weight, norm1 bias;
    ``w2t`` (H + 1, B) columns of W2; ``v2`` (k + 3, H + 1): depthwise taps, dw bias, norm2 weight/bias.
    Vectors are stored transposed so a gathered vector is contiguous.
    """

    def __init__(self, b: _Block, bottleneck: int):
        self.src = b
        self.B, self.k, self.dil, self.left = bottleneck, b.k, b.dil, b.left
        self.span = (b.k - 1) * b.dil
        pad = lambda t: torch.cat([t, torch.zeros(1, t.shape[1])]).contiguous()  # noqa: E731
        self.w1, self.w2t = pad(b.w1), pad(b.w2t)
        self.v1 = pad(torch.stack([b.b1, b.g1, b.be1], 1)).t().contiguous()
        self.v2 = pad(torch.cat([b.dw, torch.stack([b.dwb, b.g2, b.be2], 1)], 1)).t().contiguous()
        self.b2 = b.b2


def _bucket_rows(sizes: Tensor, order: Tensor, n_buckets: int | None) -> list[Tensor]:
    """Chunk ids grouped into buckets of similar union size (``order`` = chunks sorted by size)."""
    n = order.numel()
    if n_buckets is None or n_buckets >= n:
        return [order[i:i + 1] for i in range(n)]
    edges = [round(i * n / n_buckets) for i in range(n_buckets + 1)]
    return [order[a:b] for a, b in zip(edges[:-1], edges[1:]) if b > a]


class ChunkedSkippingFSENet:
    """Chunked channel-skipping inference for a trained :class:`ConvFSENet` (eval only, fp32, CPU).

    Chunks are processed in *buckets* to keep the number of PyTorch ops per block independent of the
    number of chunks: chunks are sorted by union size and split into ``buckets`` groups; a group's
    chunks run as one batched matmul with every chunk padded to the group's largest union (padding rows
    are the all-zero, always-off row ``H``). ``buckets=None``: one chunk per group (no padding: the
    performed MACs equal :func:`chunked_macs`). Padding rows are counted in the performed MACs.
    """

    def __init__(self, model: ConvFSENet):
        self.model = model
        self.cfg = model.cfg
        self.wf, self.bf = model.front.weight[:, :, 0].detach(), model.front.bias.detach()
        self.wb, self.bb = model.back.weight[:, :, 0].detach(), model.back.bias.detach()
        gates = model.gates if model.gates is not None else [None] * model.n_blocks
        self.blocks = [_PackedBlock(_Block(b, g), self.cfg.bottleneck) for b, g in zip(model.blocks, gates)]

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

    def _keep(self, k: int, x: Tensor, forced: Tensor | None, T: int) -> Tensor:
        """Gate decisions (H, T) bool of block ``k`` for block input ``x`` (B, Tp); gate cost always paid."""
        src = self.blocks[k].src
        scores = None
        if src.gate is not None:
            scores = src.gate_scores(moving_average_shifted(x[:, :T], src.pool, self.cfg.causal))
        if forced is not None:
            return forced[:, k].t().bool()
        return scores > 0

    @torch.inference_mode()
    def run(self, feats: Tensor, forced: Tensor | None = None, chunk_frames: int | None = 16,
            skip: bool = True, buckets: int | None = 4) -> ChunkedRun:
        """feats (F, T) compressed magnitudes -> :class:`ChunkedRun` (mask (F, T), gates used, counts).

        ``forced`` (T, n_blocks, H) replaces the gates' decisions (their scores are still computed).
        ``skip=False``: same batched code, every channel of every chunk computed, no gathers (the dense
        reference). ``buckets``: see the class docstring."""
        T = self._check(feats, forced)
        H, Bn = self.cfg.hidden, self.cfg.bottleneck
        bounds = chunk_bounds(T, chunk_frames)
        K, nch = bounds[0][1] - bounds[0][0], len(bounds)
        Tp = K * nch                                                                # padded frames
        lens = torch.tensor([t1 - t0 for t0, t1 in bounds])
        x = torch.relu(torch.addmm(self.bf[:, None], self.wf, feats))               # (B, T)
        if Tp > T:
            x = F.pad(x, (0, Tp - T))
        used = torch.empty(T, self.cfg.n_blocks, H, dtype=torch.bool)
        computed = []
        for k, pb in enumerate(self.blocks):
            keep = self._keep(k, x, forced, T)                                      # (H, T) bool
            used[:, k] = keep.t()
            span, dil, left, kt = pb.span, pb.dil, pb.left, pb.k
            nb, nf = -(-left // K), -(-(span - left) // K)                           # context chunks
            kp = F.pad(keep, (0, Tp - T)) if Tp > T else keep                       # (H, Tp)
            kf = torch.cat([kp.to(x.dtype), x.new_zeros(1, Tp)])                    # (H+1, Tp), row H off
            inv_cnt = (1.0 / kf.sum(0).clamp_(min=1.0)).view(nch, 1, K)              # per frame
            kfc = kf.view(H + 1, nch, K).transpose(0, 1).contiguous()               # (nch, H+1, K)
            # inner activations, chunk-major with nb / nf zero chunks either side: (nb+nch+nf, H+1, K)
            a = x.new_zeros(nb + nch + nf, H + 1, K)
            a_rows = a.view(-1, K)
            xc = x.view(Bn, nch, K).transpose(0, 1)                                 # (nch, B, K)
            union = kp.view(H, nch, K).any(2) if skip else None                     # (H, nch)
            dense_blk = not skip or bool(union.all())     # every chunk needs every channel: no gathers
            if not dense_blk:
                sizes = union.sum(0)
                groups = _bucket_rows(sizes, torch.argsort(sizes, stable=True), buckets)
                # per chunk, its active channel ids first (ascending), then the others
                ranked = torch.argsort((~union).to(torch.int8), dim=0, stable=True)  # (H, nch)
            else:
                groups = [None]
            plan, n_done = [], 0
            # pass 1: conv1 + norm1 + act1 + gating (union rows of each chunk only); row gathers only
            for C in groups:
                if not dense_blk:
                    n = int(sizes[C].max())
                    if n == 0:
                        continue
                    rows = ranked[:n, C].t()                                        # (nC, n)
                    rows = torch.where(torch.arange(n)[None, :] < sizes[C][:, None], rows, H)
                    flat = rows.reshape(-1)
                    w, v = pb.w1.index_select(0, flat).view(len(C), n, Bn), pb.v1.index_select(1, flat)
                    v = v.view(3, len(C), n, 1)
                    m = kfc.view(-1, K).index_select(0, (C[:, None] * (H + 1) + rows).view(-1))
                    m = m.view(len(C), n, K)
                    h = torch.matmul(w, xc.index_select(0, C))
                    ic = inv_cnt.index_select(0, C)
                    n_done += int((n * lens[C]).sum())
                else:
                    rows, n = None, H
                    w, v = pb.w1[:H], pb.v1[:, :H, None]
                    m, h, ic = kfc[:, :H], torch.matmul(w, xc), inv_cnt
                    n_done += H * T
                act = _masked_norm_act(h.add_(v[0]), m, ic, v[1], v[2], pb.src.eps1, pb.src.p1)
                if not dense_blk:
                    a_rows.index_copy_(0, ((C[:, None] + nb) * (H + 1) + rows).view(-1), act.view(-1, K))
                else:
                    a[nb:nb + nch, :H] = act
                plan.append((C, rows, n, m, ic, act))
            # pass 2: depthwise conv over chunk + context frames (rows of neighbouring chunks), norm2 +
            # act2 + gating, conv2
            y = x.new_zeros(nch, Bn, K)
            for C, rows, n, m, ic, act in plan:
                parts = []
                for o in range(-nb, nf + 1):
                    if o == 0:
                        parts.append(act)
                    elif not dense_blk:
                        ids = ((C[:, None] + nb + o) * (H + 1) + rows).view(-1)
                        parts.append(a_rows.index_select(0, ids).view(len(C), n, K))
                    else:
                        parts.append(a[nb + o:nb + o + nch, :H])
                win = torch.cat(parts, -1)[..., nb * K - left:nb * K - left + K + span]  # (nC, n, K+span)
                if not dense_blk:
                    flat = rows.reshape(-1)
                    w = pb.w2t.index_select(0, flat).view(len(C), n, Bn)
                    v = pb.v2.index_select(1, flat).view(kt + 3, len(C), n, 1)
                else:
                    w, v = pb.w2t[:H], pb.v2[:, :H, None]
                dv = win[..., 0:K] * v[0]
                for j in range(1, kt):
                    dv += win[..., j * dil:j * dil + K] * v[j]
                dv += v[kt]
                a2 = _masked_norm_act(dv, m, ic, v[kt + 1], v[kt + 2], pb.src.eps2, pb.src.p2)
                out = torch.matmul(w.transpose(-1, -2), a2)                           # (nC, B, K)
                if not dense_blk:
                    y.index_copy_(0, C, out)
                else:
                    y.copy_(out)
            x = x + y.transpose(0, 1).reshape(Bn, Tp) + pb.b2[:, None]
            computed.append(n_done)
        mask = torch.sigmoid(torch.addmm(self.bb[:, None], self.wb, x[:, :T]))
        return ChunkedRun(mask=mask, used=used, computed_channel_frames=computed, chunk_frames=chunk_frames,
                          skip=skip)

    def computed_macs(self, run: ChunkedRun) -> int:
        """MACs a run actually performed (from its own channel-frame counts), :mod:`bench.macs` convention."""
        d = dense_macs_per_frame(self.cfg)
        T = run.used.shape[0]
        per_ch = sum(block_macs_per_frame(self.cfg, 1).values())
        return int(T * (d["front"] + d["back"] + d["gate_total"]) + per_ch * sum(run.computed_channel_frames))

    @torch.inference_mode()
    def enhance(self, noisy: Tensor, forced: Tensor | None = None, chunk_frames: int | None = 16) -> Tensor:
        """Waveform (n,) -> enhanced waveform (n,) through STFT, chunked skipping core, iSTFT."""
        m = self.model
        spec = m.stft(noisy[None])[0]
        r = self.run(m.features(spec), forced, chunk_frames)
        return m.istft((spec * r.mask)[None], noisy.shape[-1])[0]
