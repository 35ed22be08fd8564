"""Feature matrices for the probes, always on the frames chosen by :mod:`bench.tasks`.

Per-frame features are rows of a per-mixture matrix ``(n_frames, D)`` picked with
:func:`bench.tasks.gather`; segment features pool a mixture's rows over its noise-active frames.
Sources: gate masks (``data/enhanced/<level>/masks_<split>.npz``, bool), the input log-mel
spectrogram of the noisy audio, and the static model's inner activations (float16).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.masks_io import load_masks
from bench.tasks import TaskFrames, gather

PerMixture = dict[str, np.ndarray]


def masks_path(enhanced_dir: str | Path, level: str, split: str) -> Path:
    return Path(enhanced_dir) / level / f"masks_{split}.npz"


def activations_path(enhanced_dir: str | Path, level: str, split: str) -> Path:
    return Path(enhanced_dir) / level / f"activations_{split}.npz"


def check_frames(per_mixture: PerMixture, meta: pd.DataFrame, source: str | Path) -> None:
    """Raise if a mixture of ``meta`` is missing from ``per_mixture`` or has another frame count."""
    for mid, n in zip(meta["mixture_id"], meta["n_frames"]):
        if mid not in per_mixture:
            raise KeyError(f"{source}: no entry for mixture {mid!r}")
        if per_mixture[mid].shape[0] != int(n):
            raise ValueError(f"{source}: mixture {mid!r} has {per_mixture[mid].shape[0]} frames, "
                             f"metadata says n_frames={int(n)} (frame grids differ)")


def load_level_masks(enhanced_dir: str | Path, level: str, split: str,
                     meta: pd.DataFrame | None = None) -> tuple[PerMixture, list[int]]:
    """Masks ``{mixture_id: bool (n_frames, C)}`` and ``block_channels`` of one level and split."""
    p = masks_path(enhanced_dir, level, split)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no masks for level {level!r}, split {split!r} (run `sebench enhance`)")
    masks, m = load_masks(p)
    if "block_channels" not in m:
        raise ValueError(f"{p}: __meta__ lacks 'block_channels'")
    if meta is not None:
        check_frames(masks, meta, p)
    return masks, [int(b) for b in m["block_channels"]]


def load_activations(path: str | Path, meta: pd.DataFrame | None = None) -> tuple[PerMixture, dict]:
    """Static-model inner activations ``{mixture_id: float16 (n_frames, C)}`` and their ``__meta__``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no activations file (run `sebench enhance` for the static level)")
    with np.load(path) as z:
        m = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
        acts = {k: z[k] for k in z.files if k != "__meta__"}
    if meta is not None:
        check_frames(acts, meta, path)
    return acts, m


def block_columns(block_channels: list[int], blocks: list[int] | None = None) -> np.ndarray:
    """Column indices of the chosen blocks (all if ``None``) in the concatenated layout, (D,) int64."""
    starts = np.concatenate([[0], np.cumsum(block_channels)])
    blocks = range(len(block_channels)) if blocks is None else blocks
    cols = []
    for b in blocks:
        if not 0 <= b < len(block_channels):
            raise ValueError(f"block {b} out of range 0..{len(block_channels) - 1}")
        cols.append(np.arange(starts[b], starts[b + 1]))
    return np.concatenate(cols).astype(np.int64) if cols else np.zeros(0, np.int64)


def subsample(tf: TaskFrames, max_n: int | None, seed: int) -> TaskFrames:
    """At most ``max_n`` frames of ``tf`` drawn without replacement (seeded), original order kept."""
    n = len(tf.y)
    if max_n is None or n <= max_n:
        return tf
    idx = np.sort(np.random.default_rng(seed).choice(n, size=int(max_n), replace=False))
    return TaskFrames(tf.task, tf.mixture_id[idx], tf.frame[idx], tf.y[idx])


def frame_matrix(per_mixture: PerMixture, tf: TaskFrames, columns: np.ndarray | None = None,
                 dtype=np.float32) -> np.ndarray:
    """Rows of ``tf`` from ``per_mixture`` (optionally a column subset), shape (N, D), ``dtype``."""
    x = gather(per_mixture, tf)
    if x.shape[0] == 0:
        d = next(iter(per_mixture.values())).shape[1] if per_mixture else 0
        x = np.zeros((0, d))
    if columns is not None:
        x = x[:, columns]
    return x.astype(dtype, copy=False)


def pooled_matrix(per_mixture: PerMixture, meta: pd.DataFrame, columns: np.ndarray | None = None
                  ) -> np.ndarray:
    """Mean over each mixture's noise-active frames (all frames if none is active), (M, D) float32.

    For masks this is the per-channel firing rate of the segment.
    """
    out = []
    for row in meta.itertuples(index=False):
        x = np.asarray(per_mixture[row.mixture_id], np.float32)
        act = np.asarray(row.noise_active, bool)
        out.append(x[act].mean(0) if act.any() else x.mean(0))
    if not out:
        return np.zeros((0, 0 if columns is None else len(columns)), np.float32)
    x = np.stack(out)
    return x[:, columns] if columns is not None else x


def logmel(dataset_dir: str | Path, meta: pd.DataFrame, sample_rate_hz: int = 16000, n_fft: int = 512,
           hop_length: int = 256, n_mels: int = 64) -> PerMixture:
    """Log-mel spectrogram of each noisy mixture on the shared frame grid, ``{id: float32 (n_frames, n_mels)}``.

    torchaudio ``MelSpectrogram(n_fft, hop_length, center=True, power=2)``, then ``log(x + 1e-8)``.
    """
    import torch
    import torchaudio

    from datagen.dataset import read_stem

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate_hz, n_fft=n_fft, hop_length=hop_length,
                                               n_mels=n_mels, center=True, power=2.0)
    out = {}
    with torch.no_grad():
        for row in meta.itertuples(index=False):
            x = torch.from_numpy(read_stem(dataset_dir, row, "noisy"))
            m = torch.log(mel(x) + 1e-8).T.numpy().astype(np.float32)
            if m.shape[0] != int(row.n_frames):
                raise ValueError(f"{dataset_dir}/{row.noisy_path}: log-mel has {m.shape[0]} frames, "
                                 f"metadata says {int(row.n_frames)}")
            out[row.mixture_id] = m
    return out


def block_counts(per_mixture: PerMixture, block_channels: list[int], blocks: list[int] | None = None) -> PerMixture:
    """Per-block number of active channels, ``{id: float32 (n_frames, n_blocks)}`` (the count control:
    what a probe can read from how many channels are on, without knowing which)."""
    starts = np.concatenate([[0], np.cumsum(block_channels)[:-1]]).astype(np.int64)
    sel = list(range(len(block_channels))) if blocks is None else list(blocks)
    return {k: np.add.reduceat(np.asarray(v, np.float32), starts, axis=1)[:, sel] for k, v in per_mixture.items()}


def log_energy(dataset_dir: str | Path, meta: pd.DataFrame, n_fft: int = 512, hop_length: int = 256) -> PerMixture:
    """Frame log-energy of each noisy mixture on the shared frame grid, ``{id: float32 (n_frames, 1)}``.

    Frames as ``torch.stft(center=True)``: reflect padding of n_fft // 2, Hann window of n_fft, hop
    ``hop_length``; value ``log(sum (w x)^2 + 1e-10)`` (the STFT power summed over bins, up to a constant)."""
    from datagen.dataset import read_stem

    w = np.hanning(n_fft + 1)[:-1] ** 2   # periodic Hann, as torch.hann_window
    out = {}
    for row in meta.itertuples(index=False):
        x = np.asarray(read_stem(dataset_dir, row, "noisy"), np.float64)
        xp = np.pad(x, n_fft // 2, mode="reflect")
        fr = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop_length]
        e = np.log((fr * fr) @ w + 1e-10).astype(np.float32)[:, None]
        if e.shape[0] != int(row.n_frames):
            raise ValueError(f"{dataset_dir}/{row.noisy_path}: log-energy has {e.shape[0]} frames, "
                             f"metadata says {int(row.n_frames)}")
        out[row.mixture_id] = e
    return out


def _values(col) -> set[str]:
    out = set()
    for v in col:
        if isinstance(v, (list, tuple, np.ndarray)):
            out.update(str(u) for u in v)
        elif v is not None and not (isinstance(v, float) and np.isnan(v)):
            out.add(str(v))
    return out


def check_disjoint(train: pd.DataFrame, test: pd.DataFrame, columns=("speaker", "noise_id"),
                   source: str = "metadata") -> None:
    """Raise ``ValueError`` if any speaker or noise source of ``test`` also occurs in ``train``."""
    for c in columns:
        if c not in train.columns or c not in test.columns:
            raise ValueError(f"{source}: column {c!r} missing; cannot check split disjointness")
        shared = _values(train[c]) & _values(test[c])
        if shared:
            raise ValueError(f"{source}: {len(shared)} value(s) of {c!r} occur in both train and test "
                             f"(e.g. {sorted(shared)[:3]}); probes need speaker- and noise-disjoint splits")
