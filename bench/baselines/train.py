"""Training of the standalone frame-level baselines (VAD, noise class, SNR) on log-mel of the noisy mix.

One model per (task, size). Frames that carry a training loss are exactly the frames of that task in
:mod:`bench.tasks` (vad: all; noise: noise-active; snr: vad frames). Losses: BCE-with-logits (vad),
cross-entropy (noise), MSE on standardised frame SNR (snr). Adam, mixtures shuffled per epoch with a
seeded generator, early stopping on the valid-split loss (best state kept). The trained model is cached
in ``<baselines_dir>/<task>_<size>/model.pt`` (+ ``config.json``) and re-used when its config -- which
includes a hash of the train/valid metadata files -- is unchanged.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from bench.baselines import features, models
from datagen.dataset import load_classes, load_metadata, metadata_path, read_stem
from datagen.frames import FrameGrid

TRAINED_TASKS = ("vad", "noise", "snr")
CACHE_VERSION = 1


@dataclass
class SplitData:
    """Per-mixture log-mel features and labels of one split (order = metadata order)."""

    ids: list[str]
    feats: list[np.ndarray]                  # each (n_frames, n_mels) float32
    labels: dict[str, list[np.ndarray]] = field(default_factory=dict)  # task -> targets (n_frames,)
    masks: dict[str, list[np.ndarray]] = field(default_factory=dict)   # task -> loss mask (n_frames,)
    audio_s: float = 0.0
    feature_wall_s: float = 0.0


def load_split(dataset_dir: str | Path, split: str, grid: FrameGrid, desc: str = "") -> SplitData:
    """Read noisy audio + labels of a split and compute log-mel features (checks the frame counts)."""
    meta = load_metadata(dataset_dir, split)
    out = SplitData(ids=[], feats=[])
    for k in TRAINED_TASKS:
        out.labels[k], out.masks[k] = [], []
    for row in tqdm(meta.itertuples(index=False), total=len(meta), desc=desc or f"log-mel {split}",
                    leave=False):
        x = read_stem(dataset_dir, row, "noisy")
        t0 = time.perf_counter()
        f = features.log_mel(x, grid)
        out.feature_wall_s += time.perf_counter() - t0
        out.audio_s += len(x) / grid.sample_rate_hz
        n = int(row.n_frames)
        if f.shape[0] != n:
            raise ValueError(f"{metadata_path(dataset_dir, split)}: mixture {row.mixture_id} has n_frames={n} "
                             f"but its noisy audio gives {f.shape[0]} frames on the grid")
        out.ids.append(row.mixture_id)
        out.feats.append(f)
        vad = np.asarray(row.vad, np.float32)
        out.labels["vad"].append(vad)
        out.masks["vad"].append(np.ones(n, bool))
        out.labels["noise"].append(np.full(n, int(row.noise_class_id), np.int64))
        out.masks["noise"].append(np.asarray(row.noise_active, bool))
        out.labels["snr"].append(np.asarray(row.frame_snr_db, np.float32))
        out.masks["snr"].append(vad.astype(bool))
    return out


def _file_sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def data_fingerprint(dataset_dir: str | Path) -> dict:
    """Hashes of the train/valid metadata files and classes.json (the cache key's data part)."""
    d = Path(dataset_dir)
    return {s: _file_sha(metadata_path(d, s)) for s in ("train", "valid")} | {
        "classes": _file_sha(d / "classes.json")}


def n_outputs(task: str, n_classes: int) -> int:
    return {"vad": 1, "noise": n_classes, "snr": 1}[task]


def _batch(data: SplitData, task: str, idx: np.ndarray, y_mean: float, y_std: float):
    """Zero-padded batch: x (B, n_mels, T), y (B, T), mask (B, T) bool."""
    T = max(data.feats[i].shape[0] for i in idx)
    B, D = len(idx), data.feats[idx[0]].shape[1]
    x = np.zeros((B, D, T), np.float32)
    y = np.zeros((B, T), np.int64 if task == "noise" else np.float32)
    m = np.zeros((B, T), bool)
    for b, i in enumerate(idx):
        n = data.feats[i].shape[0]
        x[b, :, :n] = data.feats[i].T
        y[b, :n] = data.labels[task][i]
        m[b, :n] = data.masks[task][i]
    if task == "snr":
        y = (y - y_mean) / y_std
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(m)


def _loss(task: str, out: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean loss over masked frames; out (B, n_out, T)."""
    n = int(m.sum())
    if n == 0:
        return out.sum() * 0.0, 0
    if task == "vad":
        return F.binary_cross_entropy_with_logits(out[:, 0][m], y[m]), n
    if task == "noise":
        return F.cross_entropy(out.permute(0, 2, 1)[m], y[m]), n
    return F.mse_loss(out[:, 0][m], y[m]), n


def _eval_loss(model, data: SplitData, task: str, bs: int, y_mean: float, y_std: float) -> float:
    model.eval()
    tot, cnt = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(data.ids), bs):
            x, y, m = _batch(data, task, np.arange(s, min(s + bs, len(data.ids))), y_mean, y_std)
            l, n = _loss(task, model(x), y, m)
            tot, cnt = tot + float(l) * n, cnt + n
    return tot / max(cnt, 1)


def train_config(task: str, size: str, params: dict, dataset_dir: str | Path) -> dict:
    """Everything that determines a trained model (the cache key)."""
    b = params.get("baselines", {})
    arch = dict(b.get("size_configs", {}).get(size, models.SIZES.get(size, {})))
    if not arch:
        raise ValueError(f"baselines.sizes: unknown size {size!r}; known {sorted(models.SIZES)} "
                         f"(or define baselines.size_configs.{size})")
    return dict(version=CACHE_VERSION, task=task, size=size, arch=arch, causal=bool(b.get("causal", False)),
                epochs=int(b.get("epochs", 15)), patience=int(b.get("patience", 4)),
                lr=float(b.get("lr", 1e-3)), batch_size=int(b.get("batch_size", 16)),
                seed=int(params.get("seed", 0)), n_mels=features.N_MELS, frames=dict(params["frames"]),
                data=data_fingerprint(dataset_dir))


def _save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_cached(model_dir: Path, config: dict):
    """The cached model if its stored config equals ``config``, else None."""
    p = model_dir / "model.pt"
    if not p.is_file():
        return None
    ck = torch.load(p, map_location="cpu", weights_only=False)
    if ck.get("config") != json.loads(json.dumps(config)):
        return None
    c = ck["model_config"]
    net = models.FrameCNN(c["n_in"], c["n_out"], c["channels"], c["kernel"], c["dilations"], c["causal"])
    net.load_state_dict(ck["state_dict"])
    net.eval()
    return net, ck


def train_one(task: str, size: str, params: dict, dataset_dir: str | Path, out_dir: str | Path,
              train: SplitData, valid: SplitData, n_classes: int, force: bool = False):
    """Train (or load from cache) the ``task`` model of ``size``. Returns (model, checkpoint dict)."""
    if task not in TRAINED_TASKS:
        raise ValueError(f"unknown trained task {task!r}; expected one of {TRAINED_TASKS}")
    cfg = train_config(task, size, params, dataset_dir)
    model_dir = Path(out_dir) / f"{task}_{size}"
    if not force and (hit := load_cached(model_dir, cfg)) is not None:
        return hit
    seed = int.from_bytes(hashlib.sha256(f"{cfg['seed']}/{task}/{size}".encode()).digest()[:4], "little")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = models.build(cfg["arch"], features.N_MELS, n_outputs(task, n_classes), cfg["causal"])
    allf = np.concatenate(train.feats)
    net.feat_mean.copy_(torch.from_numpy(allf.mean(0)))
    net.feat_std.copy_(torch.from_numpy(allf.std(0) + 1e-5))
    y_mean, y_std = 0.0, 1.0
    if task == "snr":
        ys = np.concatenate([y[m] for y, m in zip(train.labels["snr"], train.masks["snr"])])
        if len(ys) == 0:
            raise ValueError(f"{dataset_dir}: no vad frames in the train split; cannot train an SNR model")
        y_mean, y_std = float(ys.mean()), float(ys.std() + 1e-6)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    best, best_state, best_epoch, bad, history = np.inf, None, -1, 0, []
    t0 = time.perf_counter()
    for epoch in tqdm(range(cfg["epochs"]), desc=f"train {task}_{size}", leave=False):
        net.train()
        order = rng.permutation(len(train.ids))
        tr_tot, tr_n = 0.0, 0
        for s in range(0, len(order), cfg["batch_size"]):
            x, y, m = _batch(train, task, order[s:s + cfg["batch_size"]], y_mean, y_std)
            loss, n = _loss(task, net(x), y, m)
            if n == 0:
                continue
            opt.zero_grad()
            loss.backward()
            opt.step()
            tr_tot, tr_n = tr_tot + loss.item() * n, tr_n + n
        va = _eval_loss(net, valid, task, cfg["batch_size"], y_mean, y_std)
        history.append(dict(epoch=epoch, train_loss=tr_tot / max(tr_n, 1), valid_loss=va))
        if va < best - 1e-6:
            best, best_epoch, bad = va, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg["patience"]:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    ck = dict(config=json.loads(json.dumps(cfg)), model_config=net.config, state_dict=net.state_dict(),
              target_mean=y_mean, target_std=y_std, history=history, best_epoch=best_epoch,
              best_valid_loss=float(best), train_wall_s=time.perf_counter() - t0, seed=seed)
    _save_atomic(ck, model_dir / "model.pt")
    tmp = model_dir / "config.json.tmp"
    tmp.write_text(json.dumps({k: v for k, v in ck.items() if k != "state_dict"}, indent=2, default=str))
    os.replace(tmp, model_dir / "config.json")
    return net, ck


def predict(net: models.FrameCNN, ck: dict, task: str, feats: list[np.ndarray]) -> list[np.ndarray]:
    """Per-mixture outputs: vad -> P(speech) (T,); noise -> class probabilities (T, K); snr -> dB (T,)."""
    out = []
    with torch.no_grad():
        for f in feats:
            o = net(torch.from_numpy(f.T)[None])[0]
            if task == "vad":
                out.append(torch.sigmoid(o[0]).numpy())
            elif task == "noise":
                out.append(torch.softmax(o, 0).T.numpy())
            else:
                out.append((o[0] * ck["target_std"] + ck["target_mean"]).numpy())
    return out


def n_noise_classes(dataset_dir: str | Path) -> int:
    return len(load_classes(dataset_dir))
