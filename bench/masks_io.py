"""Storage of per-frame binary gate masks (bit-packed), written by `enhance`, read by probes/report.

Layout of one file ``masks.npz`` per model and split:
  * ``__meta__``: JSON string with ``block_channels`` (list[int], channels per gated block, in block
    order B0..B8), ``hop_length``, ``sample_rate_hz``, ``bitorder`` ("little").
  * one array per mixture id: uint8 of shape (n_frames, ceil(C / 8)), ``np.packbits(mask, axis=1,
    bitorder="little")`` of the boolean mask (n_frames, C), C = sum(block_channels), blocks
    concatenated in order. Frame t is on the grid of :mod:`datagen.frames`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def save_masks(path: str | Path, masks: dict[str, np.ndarray], block_channels: list[int],
               hop_length: int, sample_rate_hz: int) -> None:
    """Write ``{mixture_id: bool (n_frames, C)}`` atomically to ``path`` (.npz)."""
    path = Path(path)
    c = int(sum(block_channels))
    packed = {}
    for mid, m in masks.items():
        m = np.asarray(m)
        if m.ndim != 2 or m.shape[1] != c:
            raise ValueError(f"mask for {mid!r} has shape {m.shape}, expected (n_frames, {c})")
        packed[mid] = np.packbits(m.astype(bool), axis=1, bitorder="little")
    meta = dict(block_channels=[int(b) for b in block_channels], hop_length=int(hop_length),
                sample_rate_hz=int(sample_rate_hz), bitorder="little")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, __meta__=np.array(json.dumps(meta)), **packed)
    os.replace(tmp, path)


def load_masks(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Return ``({mixture_id: bool (n_frames, C)}, meta)``."""
    with np.load(Path(path)) as z:
        meta = json.loads(str(z["__meta__"]))
        c = int(sum(meta["block_channels"]))
        out = {k: np.unpackbits(z[k], axis=1, count=c, bitorder="little").astype(bool)
               for k in z.files if k != "__meta__"}
    return out, meta
