"""Joint training of a DynCP model with linear probe heads on its binary gates (the future work named by Miccini et al. 2026, arXiv 2602.10666).

A plain DynCP model learns its gates for enhancement and budget only; the probes (:mod:`bench.probes`) read
VAD, noise class, F0 and SNR from those gates afterwards. Here the training loss also carries linear heads
that predict the same targets from the same per-frame gate vector (all gated blocks concatenated,
``n_blocks * H`` binary inputs), so the gradient (through the gates' surrogate) pushes the masks to carry
that information. The heads are a training device: the probe stage still fits its own linear probes on
the saved masks, so a jointly trained level is scored exactly like every other level, and the
leaderboard shows what joint training does to probe accuracy and to PESQ against the plain level with
the same target keep.

Configuration (``params.train.joint``)::

    joint:
      levels: [keep50_joint]       # gated levels trained with heads (each also in `levels`/`gated_levels`)
      weight: 0.1                  # head loss weight (the spectral loss is ~0.1-0.3 on the default data)
      tasks: [vad, noise, f0, snr] # per-frame targets, the probes' frame sets (bench.tasks)

Per task, on the frames its :class:`bench.tasks.TaskSpec` names (``frames_column``), by its ``kind``:
binary cross-entropy (binary: VAD, all frames), cross-entropy (multiclass: noise class, noise-active
frames), mean squared error on the train-standardised target (regression: F0 in cents on voiced frames,
SNR in dB on VAD frames). The head loss is the mean over the configured tasks. A new frame task in the
spec is a joint task too, with no change here.
Crops of a joint level start on a hop multiple so that model frame ``t`` is label frame ``start/hop + t``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.task_metrics import cents_to_hz, hz_to_cents, metrics
from bench.tasks import FRAME_TASKS, spec
from datagen.dataset import load_classes, load_metadata

#: tasks a joint head can be trained on: every frame task of the spec (bench/tasks.py SPECS)
JOINT_TASKS = FRAME_TASKS


@dataclass
class JointConfig:
    tasks: tuple[str, ...]
    weight: float

    @classmethod
    def from_params(cls, params: dict, level: str) -> "JointConfig | None":
        """The joint settings for ``level``, or None when ``level`` is not a joint level."""
        j = (params.get("train") or {}).get("joint") or {}
        if level not in (j.get("levels") or []):
            return None
        keep = float(params["levels"][level])
        if keep >= 1.0:
            raise ValueError(f"params: train.joint.levels lists {level!r}, a static level (keep {keep}); "
                             "probe heads read the gates of a gated level")
        tasks = tuple(j.get("tasks") or JOINT_TASKS)
        bad = [t for t in tasks if t not in JOINT_TASKS]
        if bad:
            raise ValueError(f"params: train.joint.tasks {bad} unknown; expected a subset of {JOINT_TASKS}")
        weight = float(j.get("weight", 0.1))
        if weight <= 0:
            raise ValueError(f"params: train.joint.weight must be > 0, got {weight}")
        return cls(tasks=tasks, weight=weight)


@dataclass
class SplitLabels:
    """Frame labels of one split for the joint tasks, concatenated like :class:`bench.data.SplitAudio` (same
    mixture order). Utterance i owns frames ``[frame_offsets[i], frame_offsets[i] + n_frames[i])``.

    ``targets[t]`` (total,): float32 (binary 0/1; regression in natural units, pitch in cents via
    :func:`bench.task_metrics.hz_to_cents`, 0 off its frames) or int64 class ids (multiclass).
    ``frames[t]`` (total,) bool: the frames task t is trained and scored on."""

    targets: dict[str, Tensor]
    frames: dict[str, Tensor]
    n_frames: Tensor       # (N,) int64
    frame_offsets: Tensor  # (N,) int64

    @property
    def n_total(self) -> int:
        return int(self.n_frames.sum())

    def to(self, device) -> "SplitLabels":
        return SplitLabels({t: v.to(device) for t, v in self.targets.items()},
                           {t: v.to(device) for t, v in self.frames.items()},
                           self.n_frames.to(device), self.frame_offsets.to(device))


def load_split_labels(dataset_dir: str | Path, split: str, mixture_ids: list[str],
                      tasks: tuple[str, ...] = JOINT_TASKS) -> SplitLabels:
    """Frame labels of ``tasks`` for ``split`` in the order of ``mixture_ids`` (the SplitAudio order; checked),
    read from the metadata columns each task's spec names."""
    meta = load_metadata(dataset_dir, split)
    if meta["mixture_id"].tolist() != list(mixture_ids):
        raise ValueError(f"{dataset_dir}/metadata/{split}.parquet: mixture order differs from the loaded audio")
    n = torch.tensor(meta["n_frames"].astype(np.int64).to_numpy())
    for row in meta.itertuples(index=False):
        if len(row.vad) != int(row.n_frames):
            raise ValueError(f"{split}/{row.mixture_id}: {len(row.vad)} label frames, n_frames {row.n_frames}")
    off = torch.zeros_like(n)
    off[1:] = torch.cumsum(n, 0)[:-1]

    def column(name: str, per_mixture: bool, dtype) -> np.ndarray:
        if per_mixture:
            return np.repeat(meta[name].astype(dtype).to_numpy(), n.numpy())
        return np.concatenate([np.asarray(v, dtype) for v in meta[name]])

    targets, frames = {}, {}
    for t in tasks:
        s = spec(t)
        y = column(s.label_column, s.per_mixture, np.int64 if s.kind == "multiclass" else np.float64)
        f = column(s.frames_column, False, bool) if s.frames_column else np.ones(len(y), bool)
        if s.pitch:
            f = f & (y > 0)
            y = np.where(f, hz_to_cents(np.where(f, y, 1.0)), 0.0)
        targets[t] = torch.from_numpy(y if s.kind == "multiclass" else y.astype(np.float32))
        frames[t] = torch.from_numpy(f)
    return SplitLabels(targets, frames, n, off)


def gather_label_crops(lab: SplitLabels, items: Tensor, start_frames: Tensor, n_frames: int) -> dict:
    """Labels of crops: for each item, frames ``start_frames[b] + [0, n_frames)``. Returns ``{"valid": (B, n)
    bool (frames inside the utterance), "targets": {t: (B, n)}, "frames": {t: (B, n) bool, task frames that
    are valid}}`` on the labels' device."""
    dev = lab.n_frames.device
    items, start_frames = items.to(dev), start_frames.to(dev)
    pos = start_frames[:, None] + torch.arange(n_frames, device=dev)[None, :]
    valid = pos < lab.n_frames[items][:, None]
    idx = (lab.frame_offsets[items][:, None] + pos).clamp_(max=lab.n_total - 1)
    return {"valid": valid, "targets": {t: v[idx] for t, v in lab.targets.items()},
            "frames": {t: v[idx] & valid for t, v in lab.frames.items()}}


class ProbeHeads(nn.Module):
    """Linear heads on the per-frame gate vector: gates (N, n_blocks, H, T) -> {task: (N, out, T)}.

    Output width by task kind: 1 (binary logit, regression), ``n_classes`` (multiclass logits). Regression
    targets are standardised with train-split (mean, std) held as buffers ``stats_<task>`` (saved with the
    heads)."""

    def __init__(self, n_inputs: int, n_classes: int, tasks: tuple[str, ...],
                 stats: dict[str, tuple[float, float]] | None = None):
        super().__init__()
        self.tasks = tuple(tasks)
        dims = {t: n_classes if spec(t).kind == "multiclass" else 1 for t in self.tasks}
        self.heads = nn.ModuleDict({t: nn.Conv1d(n_inputs, dims[t], 1) for t in self.tasks})
        for t in self.tasks:
            if spec(t).kind == "regression":
                self.register_buffer(f"stats_{t}", torch.tensor((stats or {}).get(t, (0.0, 1.0)), dtype=torch.float32))

    def forward(self, gates: Tensor) -> dict[str, Tensor]:
        x = gates.flatten(1, 2)                     # (N, n_blocks * H, T)
        return {t: h(x) for t, h in self.heads.items()}

    def mean_std(self, task: str) -> Tensor:
        """(2,) train (mean, std) of a regression task's target."""
        return getattr(self, f"stats_{task}")


def label_stats(lab: SplitLabels) -> dict[str, tuple[float, float]]:
    """{regression task: (mean, std) of its target on its frames} of one split."""
    out = {}
    for t, y in lab.targets.items():
        if spec(t).kind != "regression":
            continue
        x = y[lab.frames[t]]
        out[t] = (0.0, 1.0) if x.numel() < 2 else (float(x.mean()), max(float(x.std()), 1e-3))
    return out


def head_losses(heads: ProbeHeads, pred: dict[str, Tensor], y: dict) -> dict[str, Tensor]:
    """Per-task losses on the task's frames (mean over frames of the batch; 0 when a batch has none), by kind."""
    out = {}
    for t in heads.tasks:
        m, p, target = y["frames"][t], pred[t], y["targets"][t]
        if not bool(m.any()):
            out[t] = p.sum() * 0.0
            continue
        kind = spec(t).kind
        if kind == "binary":
            out[t] = F.binary_cross_entropy_with_logits(p[:, 0][m], target[m].float())
        elif kind == "multiclass":
            out[t] = F.cross_entropy(p.transpose(1, 2)[m], target[m])
        else:
            mean, std = heads.mean_std(t)
            out[t] = F.mse_loss(p[:, 0][m], (target[m] - mean) / std)
    return out


def build_heads(cfg: JointConfig, model_cfg, dataset_dir: str | Path, train_labels: SplitLabels) -> ProbeHeads:
    return ProbeHeads(model_cfg.n_blocks * model_cfg.hidden, len(load_classes(dataset_dir)), cfg.tasks,
                      label_stats(train_labels))


@torch.no_grad()
def evaluate_heads(model, heads: ProbeHeads, audio, lab: SplitLabels) -> dict:
    """The heads' own scores on full utterances of a split, on each task's frames, with the probes' metrics
    (``bench.task_metrics.metrics``, natural units, F0 in Hz): ``{task: {metric: value, "n_frames": N}}``."""
    was = model.training, heads.training
    model.eval(); heads.eval()
    pairs = {t: ([], []) for t in heads.tasks}       # task -> (true values, predictions), per utterance
    for i in range(len(audio)):
        noisy, _ = audio.utterance(i)
        out = model(noisy[None])
        n = int(lab.n_frames[i])
        if out.gates.shape[-1] != n:
            raise ValueError(f"utterance {audio.mixture_ids[i]}: model gives {out.gates.shape[-1]} frames, "
                             f"labels {n}")
        pred = {t: p[0] for t, p in heads(out.gates).items()}
        y = gather_label_crops(lab, torch.tensor([i]), torch.tensor([0]), n)
        for t in heads.tasks:
            m, target, kind = y["frames"][t][0], y["targets"][t][0], spec(t).kind
            if kind == "binary":
                yp = (pred[t][0] > 0).float()
            elif kind == "multiclass":
                yp = pred[t].argmax(0)
            else:
                mean, std = heads.mean_std(t)
                yp = pred[t][0] * std + mean
            pairs[t][0].append(target[m].double().cpu().numpy())
            pairs[t][1].append(yp[m].double().cpu().numpy())
    res = {}
    for t, (ys, ps) in pairs.items():
        yt, yp = np.concatenate(ys), np.concatenate(ps)
        if len(yt) == 0:
            continue
        if spec(t).pitch:   # the heads work in cents; the probes' metrics take Hz
            yt, yp = cents_to_hz(yt), cents_to_hz(yp)
        res[t] = {k: float(v) for k, v in metrics(t, yt, yp).items()} | {"n_frames": int(len(yt))}
    if was[0]:
        model.train()
    if was[1]:
        heads.train()
    return res
