"""Figures of the probe stage (matplotlib, Agg backend, PNG). Each ``plot_*`` writes one file atomically;
the matching ``make_*`` returns the Figure (tests measure it).

Drawn under :data:`bench.plotstyle.STYLE` (constrained layout, fonts >= 9 pt) at most
:data:`bench.plotstyle.PAGE_WIDTH_IN` wide, at :data:`DPI`, so that the report page shows them without
shrinking text below 9 pt. Class labels get categorical colours (tab10/tab20) with a legend naming the
classes; continuous quantities get a colour bar.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.plotstyle import PAGE_WIDTH_IN, STYLE  # noqa: E402

DPI = 100   # 1 inch = 100 px on the page: PAGE_WIDTH_IN inches fit its 1280 px without scaling


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, path)
    return path


def make_curves(curves: pd.DataFrame, split: str = "test"):
    d = curves[curves["split"] == split]
    tasks = list(dict.fromkeys(d["task"]))
    n = max(len(tasks), 1)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(min(PAGE_WIDTH_IN, 4.1 * ncols), 3.3 * nrows + 0.6),
                                 squeeze=False)
        levels = list(dict.fromkeys(d["level"]))
        colours = {lv: plt.get_cmap("tab10")(i % 10) for i, lv in enumerate(levels)}
        for ax, task in zip(axes.flat, tasks):
            dt = d[d["task"] == task]
            for level, dl in dt.groupby("level", sort=False):
                g = dl.groupby("k")["value"].agg(["mean", "std"]).reset_index()
                ax.errorbar(g["k"], g["mean"], yerr=g["std"].fillna(0), marker="o", ms=3, capsize=2,
                            color=colours[level], label=level)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("selected mask channels k")
            ax.set_ylabel(f"{split} {dt['metric'].iloc[0]}")
            ax.set_title(task)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(tasks):]:
            ax.set_visible(False)
        h = [plt.Line2D([], [], color=colours[lv], marker="o", ms=4) for lv in levels]
        if h:
            fig.legend(h, levels, loc="outside lower center", ncols=min(len(levels), 6), frameon=False,
                       title="level (mean ± std over probe seeds)")
        fig.suptitle("Linear probe score vs number of features (ANOVA-F ranking on train)")
    return fig


def plot_curves(curves: pd.DataFrame, path: str | Path, split: str = "test") -> Path:
    """Score vs number of selected channels, one panel per task (3 per row), one line per level.

    curves: columns level, task, seed, k, split, metric, value (the selection metric of each task).
    """
    return _save(make_curves(curves, split), path)


def make_tsne(emb: np.ndarray, colours: dict[str, np.ndarray], title: str = "",
              class_names: dict[str, list[str]] | None = None):
    """Panels of a 2-D embedding emb (N, 2), one per colouring. A colouring named in ``class_names`` is
    categorical (integer codes into that list): tab10/tab20 colours and a legend; others: viridis + colour bar.
    NaN -> light grey ("not applicable", e.g. no noise active)."""
    class_names = class_names or {}
    with plt.rc_context(STYLE):
        k = len(colours)
        fig, axes = plt.subplots(1, k, figsize=(min(PAGE_WIDTH_IN, 4.2 * k), 4.9), squeeze=False)
        for ax, (name, c) in zip(axes[0], colours.items()):
            c = np.asarray(c, np.float64)
            nan = ~np.isfinite(c)
            if nan.any():
                ax.scatter(emb[nan, 0], emb[nan, 1], s=3, c="lightgrey", label="n/a")
            if name in class_names:
                names = list(class_names[name])
                cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
                for i in sorted({int(v) for v in c[~nan]}):
                    sel = ~nan & (c == i)
                    ax.scatter(emb[sel, 0], emb[sel, 1], s=4, color=cmap(i % cmap.N),
                               label=names[i] if 0 <= i < len(names) else str(i))
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncols=2 if len(names) > 4 else 1,
                          fontsize=9, markerscale=3, frameon=False, handletextpad=0.2, columnspacing=0.8)
            else:
                sc = ax.scatter(emb[~nan, 0], emb[~nan, 1], s=3, c=c[~nan], cmap="viridis")
                fig.colorbar(sc, ax=ax, location="bottom", fraction=0.05, pad=0.02, label=name)
            ax.set_title(name)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(title)
    return fig


def plot_tsne(x: np.ndarray, colours: dict[str, np.ndarray], path: str | Path, seed: int = 0,
              title: str = "", class_names: dict[str, list[str]] | None = None) -> Path:
    """t-SNE (sklearn, 2-D, seeded) of mask vectors x (N, C), one panel per colouring (:func:`make_tsne`).

    class_names: {colouring: class names} for categorical colourings (e.g. {"vad": ["non-speech",
    "speech"], "noise class": classes}); default: "vad" as non-speech/speech."""
    from sklearn.manifold import TSNE

    perp = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(
        np.asarray(x, np.float32))
    names = {"vad": ["non-speech", "speech"]} if "vad" in colours else {}
    names.update(class_names or {})
    return _save(make_tsne(emb, colours, title, names), path)


def make_heatmap(diff: np.ndarray, block_channels: list[int], title: str, label: str):
    n, w = len(block_channels), max(block_channels)
    img = np.full((n, w), np.nan)
    start = 0
    for b, c in enumerate(block_channels):
        img[b, :c] = diff[start:start + c]
        start += c
    lim = float(np.nanmax(np.abs(img))) if np.isfinite(img).any() else 1.0
    lim = lim if lim > 0 else 1.0
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH_IN, 3 + w / 16), 1.6 + 0.32 * n))
        im = ax.imshow(img, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_yticks(range(n), [f"B{b}" for b in range(n)])   # rows of 0.32 in: room for 9 pt labels
        ax.set_ylabel("block")
        ax.set_xlabel("channel within block")
        fig.colorbar(im, ax=ax, label=label)
        ax.set_title(title)
    return fig


def plot_heatmap(diff: np.ndarray, block_channels: list[int], path: str | Path, title: str,
                 label: str) -> Path:
    """Per-block x channel map of a per-channel quantity diff (C,) (e.g. rate(speech) - rate(non-speech)),
    diverging colours centred on 0 with a colour bar."""
    return _save(make_heatmap(diff, block_channels, title, label), path)


def make_confusion(cm: np.ndarray, classes: list[str], title: str):
    cm = np.asarray(cm, np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    k = len(classes)
    with plt.rc_context(STYLE):
        side = min(PAGE_WIDTH_IN - 2.0, 2.6 + 0.55 * k)
        fig, ax = plt.subplots(figsize=(side + 1.4, side))
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(k), classes, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(k), classes)
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=9,
                            color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class (row)")
        ax.set_title(title)
    return fig


def plot_confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows: true class; colour = share, counts written in the cells)."""
    return _save(make_confusion(cm, classes, title), path)
