"""Hidden-channel order: an exact reparametrisation of a Conv-FSENet that places often-kept channels together.

Inside a TCN block the hidden channels are interchangeable: permuting conv1's rows, norm1/norm2's affine
vectors, the depthwise filters, conv2's columns and the gate's last-layer outputs by one permutation leaves the
block's output unchanged (the norms' statistics sum over channels in another order: float32 rounding only).
Trained DynCP gates are strongly bimodal per channel (small keep50 model: about a third of the channels kept in
>= 98 % of frames, another third in <= 2 %), so ordering channels by keep rate makes the kept ones of a frame
mostly contiguous: the engine's gathered weight records then arrive in near-sequential order (the hardware
prefetchers follow), and whole 16-channel chunks are either on or off, which the C backend's per-channel
elementwise work (norms, depthwise) uses to skip chunks with no kept channel.

The order is a property of the deployment, not of the model's function; compute it on data that is not the
test split (``benchmarks/bench_engine.py`` uses the valid split).
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from bench.models.fsenet import ConvFSENet


def keep_rate_order(decisions: np.ndarray) -> np.ndarray:
    """Gate decisions (T, n_blocks, H) bool -> per-block channel order (n_blocks, H) int64: most often kept
    first, ties in channel order (stable sort)."""
    d = np.asarray(decisions)
    if d.ndim != 3:
        raise ValueError(f"decisions must be (T, n_blocks, H), got {d.shape}")
    return np.argsort(-d.mean(0), axis=1, kind="stable").astype(np.int64)


def model_keep_order(model: ConvFSENet, spec: torch.Tensor) -> np.ndarray:
    """The gates' decisions of ``model`` on the spectrum ``spec`` (F, T) complex -> :func:`keep_rate_order`."""
    if model.gates is None:
        raise ValueError("a static model has no gates to order its channels by")
    with torch.no_grad():
        _, gates, _, _ = model.mask_from_features(model.features(spec[None]))
    return keep_rate_order(gates[0].permute(2, 0, 1).bool().numpy())


def check_order(order: np.ndarray, n_blocks: int, hidden: int) -> np.ndarray:
    """``order`` as an (n_blocks, hidden) int64 array of permutations, else ValueError saying what is wrong."""
    o = np.asarray(order)
    if o.shape != (n_blocks, hidden):
        raise ValueError(f"channel order must be (n_blocks, hidden) = {(n_blocks, hidden)}, got {o.shape}")
    if not np.array_equal(np.sort(o, axis=1), np.broadcast_to(np.arange(hidden), o.shape)):
        raise ValueError("channel order: every row must be a permutation of range(hidden)")
    return o.astype(np.int64)


def reorder_hidden(model: ConvFSENet, order: np.ndarray) -> ConvFSENet:
    """A copy of ``model`` whose block k's hidden channel i is the original's channel ``order[k, i]``."""
    order = check_order(order, model.n_blocks, model.cfg.hidden)
    m = copy.deepcopy(model)
    with torch.no_grad():
        for k, b in enumerate(m.blocks):
            o = torch.as_tensor(order[k])
            for p in (b.conv1.weight, b.conv1.bias, b.norm1.weight, b.norm1.bias, b.dwconv.weight, b.dwconv.bias,
                      b.norm2.weight, b.norm2.bias):
                p.copy_(p[o])
            b.conv2.weight.copy_(b.conv2.weight[:, o])
            if m.gates is not None:
                last = m.gates[k].layers[-1]
                last.weight.copy_(last.weight[o])
                last.bias.copy_(last.bias[o])
    return m
