"""The auxiliary tasks: one spec per task (:data:`SPECS`), and the frames each is evaluated on.

Every consumer reads the task list from here: the mask probes (:mod:`bench.probes`), the joint-training
heads (:mod:`bench.joint`), the standalone baselines (:mod:`bench.baselines`) and the report
(:mod:`bench.report`). A new task = one :class:`TaskSpec` entry below plus its label columns in the
metadata (written by :mod:`datagen.labels`); the probes, the probe tables and the leaderboard column
follow from the entry.

Frame selection (see docs/data_formats.md): all functions take the metadata DataFrame of one split
(``datagen.dataset.load_metadata``) and return flat per-frame arrays so that two methods evaluated
through this module are guaranteed to see the same frames in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TaskSpec:
    """One auxiliary task.

    ``kind``: binary | multiclass | regression; ``pitch``: a regression on F0, fitted in cents and scored in
    Hz and cents (r2_hz, r2_cents, gross errors).
    ``label_column``: metadata column with the target, per frame (list of n_frames) or, when
    ``per_mixture``, one value per mixture broadcast to its frames. ``frames_column``: bool per-frame
    column choosing the evaluated frames (None: every frame). ``segment``: one target per mixture (no
    frames). ``head_metric``: the headline metric (probes.json / leaderboard / baselines);
    ``select_metric``: the valid-split metric that picks regularisation and C* (higher is better).
    ``column``: leaderboard / probes.json name. ``paper``: the published figure, with its source.
    """

    name: str
    kind: str
    label_column: str
    frames_column: str | None
    head_metric: str
    select_metric: str
    column: str
    title: str
    per_mixture: bool = False
    segment: bool = False
    dtype: str = "float32"
    unit: str | None = None           # regression unit in metric names (mae_<unit>)
    pitch: bool = False
    leaderboard: bool = True          # a column of the leaderboard (frame tasks)
    paper: tuple[float, str] | None = None   # (value, source) of the figure to compare with


SPECS: dict[str, TaskSpec] = {s.name: s for s in (
    TaskSpec("vad", "binary", "vad", None, "acc", "acc", "vad_acc", "VAD accuracy", dtype="uint8",
             paper=(0.93, "P2, arXiv 2602.10666")),
    TaskSpec("noise", "multiclass", "noise_class_id", "noise_active", "acc", "acc", "noise_acc",
             "noise-class accuracy (frames)", per_mixture=True, dtype="int64", paper=(0.84, "P2, arXiv 2602.10666")),
    TaskSpec("noise_seg", "multiclass", "noise_class_id", None, "acc", "acc", "noise_seg_acc",
             "noise-class accuracy (segments)", per_mixture=True, segment=True, dtype="int64", leaderboard=False),
    TaskSpec("f0", "regression", "f0_hz", "voiced", "r2_hz", "r2_cents", "f0_r2", "F0 R² (Hz, voiced frames)",
             pitch=True, paper=(0.86, "P2, arXiv 2602.10666")),
    TaskSpec("snr", "regression", "frame_snr_db", "vad", "r2", "r2", "snr_r2", "frame SNR R² (speech frames)",
             unit="db"),
)}

#: every task, frame and segment level, in report order
ALL_TASKS = tuple(SPECS)
#: frame-level tasks (the shared frames of :func:`task_frames`)
FRAME_TASKS = tuple(n for n, s in SPECS.items() if not s.segment)
#: {task: headline metric} and {task: valid-selection metric}
HEAD_METRIC = {n: s.head_metric for n, s in SPECS.items()}
SELECT_METRIC = {n: s.select_metric for n, s in SPECS.items()}
TASK_KIND = {n: s.kind for n, s in SPECS.items()}


def spec(task: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task``; unknown names fail listing the known ones."""
    if task not in SPECS:
        raise ValueError(f"unknown task {task!r}; expected one of {ALL_TASKS} (bench/tasks.py SPECS)")
    return SPECS[task]


@dataclass
class TaskFrames:
    """Frames selected for one task. ``mixture_id[i]``, ``frame[i]`` identify frame i; ``y[i]`` its target."""

    task: str
    mixture_id: np.ndarray  # (N,) str
    frame: np.ndarray       # (N,) int64, index on the frame grid of that mixture
    y: np.ndarray           # (N,) uint8 (vad), int64 (noise), float32 (f0 Hz, snr dB)


def _select(meta: pd.DataFrame, task: str) -> TaskFrames:
    sp = spec(task)
    if sp.segment:
        raise ValueError(f"task {task!r} is segment-level: use segment_labels()")
    ids, frames, ys = [], [], []
    for row in meta.itertuples(index=False):
        n = int(row.n_frames)
        lab = getattr(row, sp.label_column)
        y = np.full(n, lab, sp.dtype) if sp.per_mixture else np.asarray(lab, sp.dtype)
        keep = np.ones(n, bool) if sp.frames_column is None else np.asarray(getattr(row, sp.frames_column), bool)
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
    """Frames and targets of frame-level ``task`` (one of :data:`FRAME_TASKS`) in one split's metadata."""
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
