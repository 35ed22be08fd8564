"""Which frames each auxiliary task is evaluated on (shared by mask probes and standalone baselines).

See docs/data_formats.md. All functions take the metadata DataFrame of one split
(``datagen.dataset.load_metadata``) and return flat per-frame arrays so that two methods evaluated
through this module are guaranteed to see the same frames in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TASKS = ("vad", "noise", "f0", "snr")


@dataclass
class TaskFrames:
    """Frames selected for one task. ``mixture_id[i]``, ``frame[i]`` identify frame i; ``y[i]`` its target."""

    task: str
    mixture_id: np.ndarray  # (N,) str
    frame: np.ndarray       # (N,) int64, index on the frame grid of that mixture
    y: np.ndarray           # (N,) uint8 (vad), int64 (noise), float32 (f0 Hz, snr dB)


def _select(meta: pd.DataFrame, task: str) -> TaskFrames:
    ids, frames, ys = [], [], []
    for row in meta.itertuples(index=False):
        n = int(row.n_frames)
        if task == "vad":
            keep = np.ones(n, bool)
            y = np.asarray(row.vad, np.uint8)
        elif task == "noise":
            keep = np.asarray(row.noise_active, bool)
            y = np.full(n, int(row.noise_class_id), np.int64)
        elif task == "f0":
            keep = np.asarray(row.voiced, bool)
            y = np.asarray(row.f0_hz, np.float32)
        elif task == "snr":
            keep = np.asarray(row.vad, bool)
            y = np.asarray(row.frame_snr_db, np.float32)
        else:
            raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
        if len(keep) != n or len(y) != n:
            raise ValueError(f"mixture {row.mixture_id}: label length {len(keep)} != n_frames {n}")
        idx = np.flatnonzero(keep)
        ids.append(np.full(len(idx), row.mixture_id, dtype=object))
        frames.append(idx.astype(np.int64))
        ys.append(y[idx])
    if not ids:
        return TaskFrames(task, np.array([], object), np.array([], np.int64), np.array([]))
    return TaskFrames(task, np.concatenate(ids), np.concatenate(frames), np.concatenate(ys))


def task_frames(meta: pd.DataFrame, task: str) -> TaskFrames:
    """Frames and targets of ``task`` ("vad" | "noise" | "f0" | "snr") in one split's metadata."""
    return _select(meta, task)


def segment_labels(meta: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Segment-level noise classification: (mixture_id (M,), noise_class_id (M,))."""
    return meta["mixture_id"].to_numpy(object), meta["noise_class_id"].to_numpy(np.int64)


def gather(per_mixture: dict[str, np.ndarray], tf: TaskFrames) -> np.ndarray:
    """Pick rows ``tf.frame`` of ``per_mixture[mixture_id]`` (each (n_frames, D)) -> (N, D)."""
    out = []
    order = pd.unique(tf.mixture_id)
    for mid in order:
        sel = tf.mixture_id == mid
        out.append(np.asarray(per_mixture[mid])[tf.frame[sel]])
    return np.concatenate(out) if out else np.zeros((0, 0))


def seen_noise_rows(meta: pd.DataFrame, train_class_ids) -> tuple[pd.DataFrame, list[int]]:
    """Rows of ``meta`` whose noise class occurs in training, and the sorted unseen class ids dropped.

    Noise classification is only defined on classes a classifier was trained on. Generated data shares
    classes across splits (sources are split, not classes); VoiceBank+DEMAND does not: its five test noise
    types never occur in its training set, so there the noise tasks have no test frames and are reported
    as not applicable instead of as a misleading 0 % accuracy."""
    seen = {int(c) for c in train_class_ids}
    keep = meta["noise_class_id"].astype(int).isin(seen).to_numpy()
    dropped = sorted({int(c) for c in meta.loc[~keep, "noise_class_id"]})
    return meta.loc[keep].reset_index(drop=True), dropped
