"""Compute cost of a probe on binary features, relative to the SE model.

A linear probe on binary masks needs no multiplications: with the standardiser folded into the
weights (``Probe.folded``), each output is ``b_k + sum of w_kc over active selected channels c`` --
one addition per active selected channel with a non-zero weight, per output (K outputs for a
multinomial probe, 1 for binary logistic / ridge). Argmax comparisons and the sigmoid are not counted.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def additions_per_frame(masks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Additions of a linear probe per frame, (N,) int64.

    masks: bool (N, D) selected-channel features; weights: (K, D) or (D,) folded weights.
    Count = sum over outputs k of #{c : masks[n, c] and weights[k, c] != 0}.
    """
    m = np.asarray(masks, bool)
    w = np.atleast_2d(np.asarray(weights)) != 0
    if m.ndim != 2 or m.shape[1] != w.shape[1]:
        raise ValueError(f"masks {m.shape} and weights {w.shape} disagree on the feature count")
    return m.astype(np.int64) @ w.sum(0).astype(np.int64)


def mlp_ops_per_frame(masks: np.ndarray, hidden: int, n_out: int) -> np.ndarray:
    """Operations of a 1-hidden-layer MLP on binary inputs: additions of active inputs into each hidden unit
    (+ ``hidden * n_out`` MACs of the output layer), (N,) int64."""
    m = np.asarray(masks, bool)
    return m.sum(1).astype(np.int64) * hidden + hidden * n_out


def _find(d: dict, names: tuple[str, ...]):
    for n in names:
        if n in d and isinstance(d[n], (int, float)):
            return float(d[n])
    for v in d.values():
        if isinstance(v, dict):
            r = _find(v, names)
            if r is not None:
                return r
    return None


def se_macs_per_frame(summary_path: str | Path, frames_per_s: float) -> dict[str, float]:
    """Dense and dynamic MACs per frame of the SE model from ``data/enhanced/<L>/summary.json``.

    Accepts ``*_macs_per_frame`` or ``*_macs_per_s`` keys (searched recursively); raises naming the file
    if neither is present.
    """
    p = Path(summary_path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no enhance summary (run `sebench enhance`)")
    s = json.loads(p.read_text())
    out = {}
    # the enhance stage's own format: M MACs/s, dynamic as {mean, p5, p95}
    for kind in ("dense", "dynamic"):
        v = s.get(f"{kind}_mmacs_per_s")
        if isinstance(v, dict):
            v = v.get("mean")
        if isinstance(v, (int, float)):
            out[kind] = float(v) * 1e6 / frames_per_s
    if len(out) == 2:
        return out
    out = {}
    for kind in ("dense", "dynamic"):
        v = _find(s, (f"{kind}_macs_per_frame",))
        if v is None:
            v = _find(s, (f"{kind}_macs_per_s", f"{kind}_macs_per_second"))
            v = None if v is None else v / frames_per_s
        if v is None:
            raise KeyError(f"{p}: no '{kind}_macs_per_frame' or '{kind}_macs_per_s' entry")
        out[kind] = v
    return out
