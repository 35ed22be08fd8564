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

Per task, on the frames ``bench.tasks`` uses for it: VAD binary cross-entropy (all frames), noise class
cross-entropy (noise-active frames), F0 mean squared error in standardised cents (voiced frames), SNR mean
squared error in standardised dB (VAD frames). The head loss is the mean over the configured tasks.
Crops of a joint level start on a hop multiple so that model frame ``t`` is label frame ``start/hop + t``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.task_metrics import metrics
from datagen.dataset import load_classes, load_metadata

from bench.tasks import FRAME_TASKS  # noqa: E402  (the task list: bench/tasks.py SPECS)

#: tasks a joint head can be trained on: the frame tasks of the spec whose loss and labels are wired below
#: (a new frame task adds its label to SplitLabels and a branch to head_losses / evaluate_heads)
JOINT_TASKS = tuple(t for t in FRAME_TASKS if t in ("vad", "noise", "f0", "snr"))
F0_REF_HZ = 55.0   # cents reference (A1); any constant works, targets are standardised


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
    """Frame labels of one split, concatenated like :class:`bench.data.SplitAudio` (same mixture order).

    Utterance i owns frames ``[frame_offsets[i], frame_offsets[i] + n_frames[i])``; all arrays (total,)."""

    vad: Tensor           # float32 {0, 1}
    noise_active: Tensor  # bool
    noise_class: Tensor   # int64 (the utterance's class on every frame)
    voiced: Tensor        # bool
    f0_cents: Tensor      # float32, cents re F0_REF_HZ (0 where unvoiced)
    snr_db: Tensor        # float32 frame SNR
    n_frames: Tensor      # (N,) int64
    frame_offsets: Tensor  # (N,) int64

    def to(self, device) -> "SplitLabels":
        return SplitLabels(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def load_split_labels(dataset_dir: str | Path, split: str, mixture_ids: list[str]) -> SplitLabels:
    """Frame labels of ``split`` in the order of ``mixture_ids`` (the SplitAudio order; checked)."""
    meta = load_metadata(dataset_dir, split)
    if meta["mixture_id"].tolist() != list(mixture_ids):
        raise ValueError(f"{dataset_dir}/metadata/{split}.parquet: mixture order differs from the loaded audio")
    cat = lambda col, dt: torch.from_numpy(np.concatenate([np.asarray(v, dt) for v in meta[col]]))  # noqa: E731
    n = torch.tensor(meta["n_frames"].astype(np.int64).to_numpy())
    for row in meta.itertuples(index=False):
        if len(row.vad) != int(row.n_frames):
            raise ValueError(f"{split}/{row.mixture_id}: {len(row.vad)} label frames, n_frames {row.n_frames}")
    off = torch.zeros_like(n)
    off[1:] = torch.cumsum(n, 0)[:-1]
    f0 = cat("f0_hz", np.float64)
    voiced = cat("voiced", bool) & (f0 > 0)
    cents = torch.where(voiced, 1200.0 * torch.log2(f0.clamp(min=1.0) / F0_REF_HZ), torch.zeros_like(f0))
    cls = torch.from_numpy(np.repeat(meta["noise_class_id"].astype(np.int64).to_numpy(), n.numpy()))
    return SplitLabels(vad=cat("vad", np.float32), noise_active=cat("noise_active", bool), noise_class=cls,
                       voiced=voiced, f0_cents=cents.float(), snr_db=cat("frame_snr_db", np.float32),
                       n_frames=n, frame_offsets=off)


def gather_label_crops(lab: SplitLabels, items: Tensor, start_frames: Tensor, n_frames: int) -> dict:
    """Labels of crops: for each item, frames ``start_frames[b] + [0, n_frames)``; ``valid`` marks frames
    inside the utterance. Returns {name: (B, n_frames)} on the labels' device."""
    dev = lab.vad.device
    items, start_frames = items.to(dev), start_frames.to(dev)
    pos = start_frames[:, None] + torch.arange(n_frames, device=dev)[None, :]
    valid = pos < lab.n_frames[items][:, None]
    idx = (lab.frame_offsets[items][:, None] + pos).clamp_(max=lab.vad.numel() - 1)
    out = {k: getattr(lab, k)[idx] for k in ("vad", "noise_active", "noise_class", "voiced", "f0_cents", "snr_db")}
    out["valid"] = valid
    return out


class ProbeHeads(nn.Module):
    """Linear heads on the per-frame gate vector: gates (N, n_blocks, H, T) -> {task: (N, out, T)}.

    Regression targets are standardised with train-split statistics held as buffers (saved with the heads).
    """

    def __init__(self, n_inputs: int, n_classes: int, tasks: tuple[str, ...], f0_mean_std=(0.0, 1.0),
                 snr_mean_std=(0.0, 1.0)):
        super().__init__()
        self.tasks = tuple(tasks)
        dims = {"vad": 1, "noise": n_classes, "f0": 1, "snr": 1}
        self.heads = nn.ModuleDict({t: nn.Conv1d(n_inputs, dims[t], 1) for t in self.tasks})
        self.register_buffer("f0_stats", torch.tensor(f0_mean_std, dtype=torch.float32))
        self.register_buffer("snr_stats", torch.tensor(snr_mean_std, dtype=torch.float32))

    def forward(self, gates: Tensor) -> dict[str, Tensor]:
        x = gates.flatten(1, 2)                     # (N, n_blocks * H, T)
        return {t: h(x) for t, h in self.heads.items()}


def label_stats(lab: SplitLabels) -> tuple[tuple[float, float], tuple[float, float]]:
    """((mean, std) of voiced-frame F0 cents, (mean, std) of VAD-frame SNR dB) on one split."""
    def ms(x: Tensor) -> tuple[float, float]:
        if x.numel() < 2:
            return 0.0, 1.0
        return float(x.mean()), max(float(x.std()), 1e-3)
    return ms(lab.f0_cents[lab.voiced]), ms(lab.snr_db[lab.vad > 0.5])


def head_losses(heads: ProbeHeads, pred: dict[str, Tensor], y: dict) -> dict[str, Tensor]:
    """Per-task losses on the task's frames (mean over frames of the batch; 0 when a batch has none)."""
    valid = y["valid"]
    sel = {"vad": valid, "noise": valid & y["noise_active"], "f0": valid & y["voiced"],
           "snr": valid & (y["vad"] > 0.5)}
    out = {}
    for t in heads.tasks:
        m = sel[t]
        p = pred[t]
        if not bool(m.any()):
            out[t] = p.sum() * 0.0
            continue
        if t == "vad":
            out[t] = F.binary_cross_entropy_with_logits(p[:, 0][m], y["vad"][m])
        elif t == "noise":
            out[t] = F.cross_entropy(p.transpose(1, 2)[m], y["noise_class"][m])
        else:
            mean, std = (heads.f0_stats if t == "f0" else heads.snr_stats)
            target = (y["f0_cents"] if t == "f0" else y["snr_db"])[m]
            out[t] = F.mse_loss(p[:, 0][m], (target - mean) / std)
    return out


def build_heads(cfg: JointConfig, model_cfg, dataset_dir: str | Path, train_labels: SplitLabels) -> ProbeHeads:
    f0s, snrs = label_stats(train_labels)
    return ProbeHeads(model_cfg.n_blocks * model_cfg.hidden, len(load_classes(dataset_dir)), cfg.tasks, f0s, snrs)


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
        y = {k: v[0] for k, v in gather_label_crops(lab, torch.tensor([i]), torch.tensor([0]), n).items()}
        frames = {"vad": y["valid"], "noise": y["noise_active"], "f0": y["voiced"], "snr": y["vad"] > 0.5}
        for t in heads.tasks:
            m = frames[t]
            if t == "vad":
                yt, yp = y["vad"][m], (pred[t][0] > 0).float()[m]
            elif t == "noise":
                yt, yp = y["noise_class"][m], pred[t].argmax(0)[m]
            else:
                mean, std = heads.f0_stats if t == "f0" else heads.snr_stats
                yt, yp = (y["f0_cents"] if t == "f0" else y["snr_db"])[m], pred[t][0][m] * std + mean
            pairs[t][0].append(yt.double().cpu().numpy())
            pairs[t][1].append(yp.double().cpu().numpy())
    res = {}
    for t, (ys, ps) in pairs.items():
        yt, yp = np.concatenate(ys), np.concatenate(ps)
        if len(yt) == 0:
            continue
        if t == "f0":   # the heads work in cents (re F0_REF_HZ); the probes' metrics take Hz
            yt, yp = F0_REF_HZ * 2.0 ** (yt / 1200.0), F0_REF_HZ * 2.0 ** (yp / 1200.0)
        res[t] = {k: float(v) for k, v in metrics(t, yt, yp).items()} | {"n_frames": int(len(yt))}
    if was[0]:
        model.train()
    if was[1]:
        heads.train()
    return res
