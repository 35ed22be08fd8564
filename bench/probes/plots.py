"""Figures of the probe stage (matplotlib, Agg backend, PNG). Each function writes one file atomically."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_curves(curves: pd.DataFrame, path: str | Path, split: str = "test") -> Path:
    """Score vs number of selected channels, one panel per task, one line per level.

    curves: columns level, task, seed, k, split, metric, value (the selection metric of each task).
    """
    d = curves[curves["split"] == split]
    tasks = list(dict.fromkeys(d["task"]))
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4 * max(len(tasks), 1), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        dt = d[d["task"] == task]
        for level, dl in dt.groupby("level", sort=False):
            g = dl.groupby("k")["value"].agg(["mean", "std"]).reset_index()
            ax.errorbar(g["k"], g["mean"], yerr=g["std"].fillna(0), marker="o", ms=3, capsize=2, label=level)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("selected mask channels k")
        ax.set_ylabel(f"{split} {dt['metric'].iloc[0]}")
        ax.set_title(task)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Linear probe score vs number of features (ANOVA-F ranking on train)")
    return _save(fig, path)


def plot_tsne(x: np.ndarray, colours: dict[str, np.ndarray], path: str | Path, seed: int = 0,
              title: str = "") -> Path:
    """t-SNE (sklearn, 2-D, seeded) of mask vectors x (N, C), one panel per colouring (NaN -> grey)."""
    from sklearn.manifold import TSNE

    perp = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(
        np.asarray(x, np.float32))
    fig, axes = plt.subplots(1, len(colours), figsize=(4.2 * len(colours), 4), squeeze=False)
    for ax, (name, c) in zip(axes[0], colours.items()):
        c = np.asarray(c, np.float64)
        nan = ~np.isfinite(c)
        ax.scatter(emb[nan, 0], emb[nan, 1], s=3, c="lightgrey")
        sc = ax.scatter(emb[~nan, 0], emb[~nan, 1], s=3, c=c[~nan],
                        cmap="tab10" if name in ("vad", "noise class") else "viridis")
        fig.colorbar(sc, ax=ax, fraction=0.046)
        ax.set_title(name)
        ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle(title)
    return _save(fig, path)


def plot_heatmap(diff: np.ndarray, block_channels: list[int], path: str | Path, title: str,
                 label: str) -> Path:
    """Per-block x channel map of a per-channel quantity diff (C,) (e.g. rate(speech) - rate(non-speech))."""
    n, w = len(block_channels), max(block_channels)
    img = np.full((n, w), np.nan)
    start = 0
    for b, c in enumerate(block_channels):
        img[b, :c] = diff[start:start + c]
        start += c
    lim = np.nanmax(np.abs(img)) if np.isfinite(img).any() else 1.0
    fig, ax = plt.subplots(figsize=(min(14, 2 + w / 16), 1 + 0.4 * n))
    im = ax.imshow(img, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(n), [f"B{b}" for b in range(n)])
    ax.set_xlabel("channel")
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(title)
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows: true class)."""
    cm = np.asarray(cm, np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(2 + 0.5 * k, 1.5 + 0.45 * k))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), classes, fontsize=7)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted"); ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    return _save(fig, path)
