"""Analytic multiply-accumulate (MAC) counts of Conv-FSENet, dense and dynamic (from gate masks).

Convention (nanoGPT-style, formulas below): 1 MAC = one multiply-accumulate; FLOP counters that
report 2 FLOPs per MAC must be halved. Bias additions are not counted (an add without a multiply).
Per frame, with F = n_fft//2+1 bins, B bottleneck, H hidden, k kernel, P pool frames:

  front 1x1 conv F->B:           F*B
  block conv1 1x1 B->H:          B*H          (row c of W1 per active channel c)
  block norm1 + act1:            4*H          (NORM_ACT_MACS_PER_CHANNEL: variance MAC, 1/std
                                               multiply, affine MAC, PReLU multiply)
  block depthwise k taps:        k*H          (filter c per active channel)
  block norm2 + act2:            4*H
  block conv2 1x1 H->B:          H*B          (column c of W2 per active channel)
  back 1x1 conv B->F:            B*F          (sigmoid not counted)
  gate (per block, always paid): B (moving-average 1/P scale; running-sum adds free)
                                 + sum of its 1x1 layers a*b  (B->hid->...->H)

``conv_total`` (convolutions only) is the convention of the papers (Conv-FSENet B=128, H=256:
662,528 MACs/frame = 41.4 M MACs/s); ``total`` adds the norm/activation work; the gate cost is listed
separately (``gate_total``); the STFT/iSTFT are *excluded* from every total and listed separately as
an estimate (``stft_istft_estimate``: 2 x (n_fft window + n_fft*log2(n_fft) real FFT) + 2F mask).
"""
from __future__ import annotations

import math

import numpy as np

from bench.models.fsenet import FSENetConfig

NORM_ACT_MACS_PER_CHANNEL = 4


def _gate_layer_widths(cfg: FSENetConfig) -> list[tuple[int, int]]:
    g = cfg.gate
    w = [cfg.bottleneck] + [g.hidden] * (g.n_layers - 1) + [cfg.hidden]
    return list(zip(w[:-1], w[1:]))


def gate_macs_per_frame(cfg: FSENetConfig) -> int:
    """MACs of one block's gate per frame (0 for a static model)."""
    if not cfg.gated:
        return 0
    return cfg.bottleneck + sum(a * b for a, b in _gate_layer_widths(cfg))


def block_macs_per_frame(cfg: FSENetConfig, active: int | np.ndarray | None = None) -> dict:
    """MACs of one TCN block per frame with ``active`` inner channels (default all H); no gate."""
    a = cfg.hidden if active is None else active
    b = cfg.bottleneck
    return dict(conv1=b * a, norm_act1=NORM_ACT_MACS_PER_CHANNEL * a, dwconv=cfg.kernel * a,
                norm_act2=NORM_ACT_MACS_PER_CHANNEL * a, conv2=a * b)


def dense_macs_per_frame(cfg: FSENetConfig) -> dict:
    """Per-layer and total dense MACs per frame (all channels active). Keys:

    ``front``, ``back``, ``blocks`` (list of per-block dicts), ``block`` (one block's total),
    ``conv_total`` (convs only, paper convention), ``norm_act_total``, ``total`` (conv + norm/act,
    no gates), ``gate_per_block``, ``gate_total``, ``total_with_gates``, ``stft_istft_estimate``
    (excluded from the totals).
    """
    f, b = cfg.n_bins, cfg.bottleneck
    blk = block_macs_per_frame(cfg)
    conv_blk = blk["conv1"] + blk["dwconv"] + blk["conv2"]
    na_blk = blk["norm_act1"] + blk["norm_act2"]
    front = back = f * b
    conv_total = front + back + cfg.n_blocks * conv_blk
    na_total = cfg.n_blocks * na_blk
    gate = gate_macs_per_frame(cfg)
    n = cfg.n_fft
    stft = 2 * (n + int(n * math.log2(n))) + 2 * f
    total = conv_total + na_total
    return dict(front=front, back=back, blocks=[dict(blk) for _ in range(cfg.n_blocks)],
                block=conv_blk + na_blk, conv_total=conv_total, norm_act_total=na_total, total=total,
                gate_per_block=gate, gate_total=cfg.n_blocks * gate,
                total_with_gates=total + cfg.n_blocks * gate, stft_istft_estimate=stft)


def frames_per_s(cfg: FSENetConfig, sample_rate_hz: int = 16000) -> float:
    return sample_rate_hz / cfg.hop_length


def dense_macs_per_s(cfg: FSENetConfig, sample_rate_hz: int = 16000, include_gates: bool = False) -> float:
    """Dense MACs per second of audio: ``total`` (or ``total_with_gates``) x frames/s."""
    d = dense_macs_per_frame(cfg)
    return float(d["total_with_gates" if include_gates else "total"]) * frames_per_s(cfg, sample_rate_hz)


def dynamic_macs_per_frame(cfg: FSENetConfig, gates_bool: np.ndarray) -> np.ndarray:
    """MACs per frame (T,) given masks ``gates_bool`` (T, n_blocks, H) (bool/0-1; torch or numpy).

    Each block costs ``block_macs_per_frame(active_t)`` for its active channel count at frame t, plus
    its gate (always paid), plus the front- and back-end. All-ones masks give
    ``dense["total_with_gates"]``; all-zero masks give ``front + back + gate_total``.
    """
    g = np.asarray(gates_bool.detach().cpu() if hasattr(gates_bool, "detach") else gates_bool)
    if g.ndim != 3 or g.shape[1] != cfg.n_blocks or g.shape[2] != cfg.hidden:
        raise ValueError(f"gates_bool must be (T, {cfg.n_blocks}, {cfg.hidden}), got {g.shape}")
    active = (g != 0).sum(axis=2).astype(np.int64)         # (T, n_blocks)
    per_ch = sum(block_macs_per_frame(cfg, 1).values())     # MACs of one active channel
    d = dense_macs_per_frame(cfg)
    return d["front"] + d["back"] + d["gate_total"] + per_ch * active.sum(axis=1)


def macs_summary(cfg: FSENetConfig, gates_bool: np.ndarray | None = None, sample_rate_hz: int = 16000) -> dict:
    """JSON-ready summary: dense per frame / per s, and dynamic mean per frame / per s if masks given."""
    d = dense_macs_per_frame(cfg)
    fps = frames_per_s(cfg, sample_rate_hz)
    out = dict(convention="1 MAC = 1 multiply-accumulate; biases not counted; STFT/iSTFT excluded "
                          "(estimate listed); implementation bench.macs (analytic)",
               dense_per_frame=d, dense_macs_per_s=d["total"] * fps,
               dense_conv_macs_per_s=d["conv_total"] * fps, gate_macs_per_s=d["gate_total"] * fps)
    if gates_bool is not None:
        dyn = dynamic_macs_per_frame(cfg, gates_bool)
        out.update(dynamic_macs_per_frame_mean=float(dyn.mean()), dynamic_macs_per_s=float(dyn.mean() * fps),
                   mac_saving_vs_dense=float(1.0 - dyn.mean() / d["total"]))
    return out


def mean_p5_p95(x) -> dict:
    """``{"mean", "p5", "p95"}`` of per-frame values (realised keep, dynamic MMAC/s) as floats."""
    import numpy as np

    return {"mean": float(np.mean(x)), "p5": float(np.percentile(x, 5)), "p95": float(np.percentile(x, 95))}
