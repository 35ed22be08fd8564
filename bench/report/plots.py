"""Report figures (matplotlib, Agg backend) as PNG bytes, and the small CSVs behind ``dvc plots``.

Each ``fig_*`` function returns PNG bytes (so the page can embed them base64) or None when its data is
absent; the matching ``make_*`` function returns the matplotlib Figure (tests measure it). Every figure is
drawn under :data:`STYLE` (constrained layout, fonts >= :data:`MIN_FONT_PT`) at most
:data:`PAGE_WIDTH_IN` wide, so that at the page's width (:data:`PAGE_WIDTH_IN` x :data:`DPI` px) no text is
shown smaller than 9 pt. Legends sit outside the axes (never on a title); point labels are placed by
:func:`place_labels` so that they do not overlap each other or the points.

:func:`write_dvc_plot_csvs` writes under ``<reports>/plots/``: ``pareto.csv``, ``paired.csv`` (ΔPESQ-wb and
gain retained vs MAC saving), ``probes_vs_keep.csv``, ``block_keep.csv`` and ``training/<level>.csv``
(epoch, train_loss, valid_loss), each declared once in ``dvc.yaml``'s ``plots:``.
"""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.report import leaderboard as _L  # noqa: E402
from bench.report.leaderboard import NA, NOISY, PAPER_PROBES, PROBE_COLUMNS, _num  # noqa: E402

from bench.plotstyle import DPI, MIN_FONT_PT, PAGE_WIDTH_IN, STYLE  # noqa: E402,F401  (re-exported)
PROBE_TITLES = {"vad_acc": "VAD accuracy", "noise_acc": "noise-class accuracy (frame)", "f0_r2": "F0 R² (Hz)",
                "snr_r2": "frame-SNR R²"}


#: "<level>_seed<k>" (k >= 1) names training-seed replicate k of <level> (bench.report.leaderboard)
SEED_RE = _L.SEED_RE


def base_level(name: str) -> str:
    """The level a training-seed replicate belongs to ("keep50_seed2" -> "keep50"); other names unchanged."""
    m = SEED_RE.match(str(name))
    return m.group("base") if m else str(name)


def paper_allowed(lb: pd.DataFrame) -> bool:
    """May figures show the papers' figures? The leaderboard's validity gate
    (:func:`bench.report.leaderboard.paper_comparison_allowed`) when it has one, else yes."""
    f = getattr(_L, "paper_comparison_allowed", None)
    return True if f is None else bool(f(lb))


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _numeric(df: pd.DataFrame, cols) -> pd.DataFrame:
    """Rows of df where every col is a number, those cols as float (absent cols: no rows)."""
    if any(c not in df.columns for c in cols):
        return df.iloc[0:0].copy()
    ok = df[[all(_num(v) is not None for v in vals) for vals in zip(*(df[c] for c in cols))]].copy()
    for c in cols:
        ok[c] = ok[c].astype(float)
    return ok


def _overlap(a, b) -> float:
    """Overlap area (px²) of two display-space Bbox."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


# (dx, dy) offsets in points, tried in order; ha/va follow the direction so the label never covers its point
_CANDIDATES = [(dx * r, dy * r) for r in (1, 2, 3.5) for dx, dy in
               [(6, 4), (6, -4), (-6, 4), (-6, -4), (0, 8), (0, -8), (8, 0), (-8, 0)]]


def place_labels(ax, xs, ys, texts, fontsize: float = 9.5, color=None) -> list:
    """Annotate points (data coords) without label-label or label-point overlap, inside the axes.

    Greedy: each label takes the first candidate offset (8 directions x 3 radii) whose text box overlaps no
    placed label, no marker, no data line (errorbars included) and stays inside the axes; if none is free,
    the least-overlapping one.
    Hand-written because adjustText is not in requirements.lock; call after the axes' limits are final.
    Returns the Annotation artists.
    """
    fig = ax.figure
    fig.canvas.draw()   # final layout: constrained layout has sized the axes
    r = fig.canvas.get_renderer()
    ax_box = ax.get_window_extent(r)
    pts = ax.transData.transform(np.column_stack([xs, ys]).astype(float))
    pr = 5.0 * fig.dpi / 72.0   # marker half-size in px
    from matplotlib.transforms import Bbox

    obstacles = [Bbox.from_extents(px - pr, py - pr, px + pr, py + pr) for px, py in pts]
    lines = []   # data lines (trade-off lines, CI bars): sampled every ~3 px, labels should not cover them
    for ln in ax.get_lines():
        if ln.get_transform() != ax.transData or len(ln.get_xdata()) < 2:
            continue
        xy = ax.transData.transform(np.column_stack([ln.get_xdata(), ln.get_ydata()]).astype(float))
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            n = int(max(abs(x1 - x0), abs(y1 - y0)) / 3) + 2
            lines += [Bbox.from_extents(x - 1, y - 1, x + 1, y + 1)
                      for x, y in zip(np.linspace(x0, x1, n), np.linspace(y0, y1, n)) if np.isfinite(x + y)]
    placed, out = [], []
    for (x, y), t in sorted(zip(zip(xs, ys), texts), key=lambda z: (z[0][0], z[0][1])):
        best = None
        for dx, dy in _CANDIDATES:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            a = ax.annotate(str(t), (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, va=va,
                            fontsize=fontsize, color=color, annotation_clip=False)
            a.set_in_layout(False)
            bb = a.get_window_extent(r)
            cost = sum(_overlap(bb, o) for o in placed + obstacles) + 0.5 * sum(_overlap(bb, o) for o in lines)
            outside = (max(ax_box.x0 - bb.x0, 0) + max(bb.x1 - ax_box.x1, 0)
                       + max(ax_box.y0 - bb.y0, 0) + max(bb.y1 - ax_box.y1, 0)) * bb.height
            cost += outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, a, bb)
            else:
                a.remove()
            if cost == 0:
                break
        placed.append(best[2])
        out.append(best[1])
    return out


def _legend_below(fig, handles=None, labels=None, ncols: int | None = None):
    """One figure legend below the axes (constrained layout makes room; never on a title or data)."""
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            for h, lb in zip(*ax.get_legend_handles_labels()):
                if lb not in labels and not lb.startswith("_"):
                    handles.append(h)
                    labels.append(lb)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols or min(len(handles), 4), frameon=False)


def make_pareto(lb: pd.DataFrame, joint_levels=()):
    d = _numeric(lb[lb["model"] != NOISY], ["macs_dynamic_m_per_s", "pesq_wb", "pesq_wb_ci95_low",
                                             "pesq_wb_ci95_high"])
    if d.empty:
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 4.6))
        yerr = np.vstack([d["pesq_wb"] - d["pesq_wb_ci95_low"], d["pesq_wb_ci95_high"] - d["pesq_wb"]])
        jm = d["model"].isin(list(joint_levels)).to_numpy()
        ax.errorbar(d.loc[~jm, "macs_dynamic_m_per_s"], d.loc[~jm, "pesq_wb"], yerr=yerr[:, ~jm], fmt="o",
                    capsize=4, color="tab:blue", label="plain levels (static = keep 1.0)")
        if jm.any():
            ax.errorbar(d.loc[jm, "macs_dynamic_m_per_s"], d.loc[jm, "pesq_wb"], yerr=yerr[:, jm], fmt="s",
                        capsize=4, color="tab:orange", label="trained with probe heads (train.joint)")
        dd = d[~jm].sort_values("macs_dynamic_m_per_s")
        ax.plot(dd["macs_dynamic_m_per_s"], dd["pesq_wb"], "-", color="tab:blue", alpha=0.3)
        noisy = _numeric(lb[lb["model"] == NOISY], ["pesq_wb"])
        if not noisy.empty:
            ax.axhline(float(noisy["pesq_wb"].iloc[0]), ls="--", color="gray", label="noisy input")
        ax.set_xlabel("dynamic MACs per second of audio (M, bench.macs, gate cost incl.)")
        ax.set_ylabel("PESQ-wb (MOS-LQO), mean ± 95 % CI")
        ax.set_title("Quality vs compute (absolute)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.12, y=0.08)
        _legend_below(fig, ncols=3)
        place_labels(ax, d["macs_dynamic_m_per_s"], d["pesq_wb"], d["model"])
    return fig


def fig_pareto(lb: pd.DataFrame, joint_levels=()) -> bytes | None:
    """PESQ-wb (95 % CI bars) vs dynamic MMAC/s per model; the noisy input as a dashed reference line.
    The trade-off line joins the plain levels only; ``joint_levels`` (trained with probe heads) are
    orange points off the line."""
    fig = make_pareto(lb, joint_levels)
    return None if fig is None else _png(fig)


def _find_col(df: pd.DataFrame, metric: str, what: str) -> str | None:
    """The leaderboard column of ``what`` (e.g. "gain_retained", "delta") for ``metric`` (e.g. "pesq_wb"),
    read defensively: the leaderboard's column set grows (bench.report.leaderboard docstring)."""
    exact = [f"{metric}_{what}", f"{what}_{metric}", f"{metric}_{what}_vs_static", f"{metric}_{what}_vs_noisy"]
    for c in exact:
        if c in df.columns:
            return c
    pat = re.compile(rf"^{metric}_{what}(_vs_[a-z]+)?$|^{what}_{metric}$")
    cand = [c for c in df.columns if pat.match(c)]
    return cand[0] if cand else None


def _ci_cols(df: pd.DataFrame, col: str, metric: str, what: str) -> tuple[str, str] | None:
    """(low, high) CI columns of ``col``: ``<col>_ci95_low`` or ``<metric>_<what>_ci95_low`` (what's short
    form, e.g. pesq_wb_delta_ci95_low for pesq_wb_delta_vs_static)."""
    for base in (col, f"{metric}_{what}", f"{what}_{metric}"):
        lo, hi = f"{base}_ci95_low", f"{base}_ci95_high"
        if lo in df.columns and hi in df.columns:
            return lo, hi
    return None


def paired_table(lb: pd.DataFrame) -> pd.DataFrame:
    """model, mac_saving, [mac_saving_no_gates], and per quantity (ΔPESQ-wb vs reference, gain retained for
    PESQ-wb / STOI): value, ci95_low, ci95_high; NaN where the leaderboard has no number."""
    d = lb[lb["model"] != NOISY]
    out = pd.DataFrame({"model": d["model"].astype(str).to_numpy()})
    nums = lambda s: np.array([np.nan if _num(v) is None else float(_num(v)) for v in s], float)  # noqa: E731
    out["mac_saving"] = nums(d["mac_saving"]) if "mac_saving" in d else np.nan
    ng = [c for c in d.columns if c.startswith("mac_saving") and re.search(r"(no|without|excl)_?gate", c)]
    if ng:
        out["mac_saving_no_gates"] = nums(d[ng[0]])
    sig = [c for c in ("pesq_wb_delta_significant",) if c in d.columns]
    if sig:   # "yes" / "no" / n/a: CI excludes 0 and every training seed agrees (leaderboard docstring)
        out["delta_pesq_wb_significant"] = [str(v) for v in d[sig[0]]]
    for key, metric, what in [("delta_pesq_wb", "pesq_wb", "delta"), ("gain_retained_pesq_wb", "pesq_wb",
                                                                       "gain_retained"),
                              ("gain_retained_stoi", "stoi", "gain_retained")]:
        col = _find_col(d, metric, what)
        ci = _ci_cols(d, col, metric, what) if col else None
        out[key] = nums(d[col]) if col else np.nan
        out[f"{key}_ci95_low"] = nums(d[ci[0]]) if ci else np.nan
        out[f"{key}_ci95_high"] = nums(d[ci[1]]) if ci else np.nan
    return out


def make_paired(lb: pd.DataFrame, joint_levels=(), reference: str = "static"):
    t = paired_table(lb)
    t = t[np.isfinite(t["mac_saving"])]
    has_delta = np.isfinite(t["delta_pesq_wb"]).any()
    gains = [k for k in ("gain_retained_pesq_wb", "gain_retained_stoi") if np.isfinite(t[k]).any()]
    if t.empty or not (has_delta or gains):
        return None
    panels = (["delta"] if has_delta else []) + (["gain"] if gains else [])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), squeeze=False)
        jm = t["model"].isin(list(joint_levels)).to_numpy()
        x = 100 * t["mac_saving"].to_numpy()
        for ax, p in zip(axes[0], panels):
            if p == "delta":
                series = [("delta_pesq_wb", "ΔPESQ-wb", "tab:blue", "o")]
                ax.axhline(0, color="k", lw=0.8)
                ax.set_ylabel(f"ΔPESQ-wb vs {reference} (paired, 95 % CI)")
                ax.set_title(f"Paired PESQ-wb difference vs {reference}")
            else:
                series = [(k, {"gain_retained_pesq_wb": "PESQ-wb", "gain_retained_stoi": "STOI"}[k], c, m)
                          for k, c, m in zip(gains, ("tab:green", "tab:purple"), ("D", "^"))]
                ax.axhline(1, color="k", lw=0.8, ls="--", label="all of static's gain kept (1)")
                ax.set_ylabel("gain retained (level − noisy) / (static − noisy)")
                ax.set_title("Gain over noisy retained")
            for i, (k, name, c, m) in enumerate(series):
                y, lo, hi = t[k].to_numpy(), t[f"{k}_ci95_low"].to_numpy(), t[f"{k}_ci95_high"].to_numpy()
                ok = np.isfinite(y)
                err = np.vstack([np.where(np.isfinite(lo), y - lo, 0), np.where(np.isfinite(hi), hi - y, 0)])
                dx = (i - (len(series) - 1) / 2) * 0.6   # side by side when two series share an x
                insig = (np.asarray(t["delta_pesq_wb_significant"]) == "no") if (
                    k == "delta_pesq_wb" and "delta_pesq_wb_significant" in t) else np.zeros(len(t), bool)
                for sel, mk, lab, hollow in [
                        (ok & ~jm & ~insig, m, name, False),
                        (ok & jm & ~insig, "s", f"{name}, trained with probe heads", False),
                        (ok & ~jm & insig, m, f"{name}, not significant (CI or seeds)", True),
                        (ok & jm & insig, "s", f"{name}, probe heads, not significant", True)]:
                    if sel.any():
                        ax.errorbar(x[sel] + dx, y[sel], yerr=err[:, sel], fmt=mk, capsize=4, color=c,
                                    mfc="white" if hollow else c, label=lab)
            ax.set_xlabel("MAC saving vs dense (%, gate cost incl.)")
            ax.grid(alpha=0.3)
            ax.margins(x=0.15, y=0.1)
        _legend_below(fig, ncols=3)
        for ax, p in zip(axes[0], panels):
            k = "delta_pesq_wb" if p == "delta" else gains[0]
            ok = np.isfinite(t[k].to_numpy())
            place_labels(ax, x[ok], t[k].to_numpy()[ok], t["model"].to_numpy()[ok])
    return fig


def fig_paired(lb: pd.DataFrame, joint_levels=(), reference: str = "static") -> bytes | None:
    """ΔPESQ-wb vs the reference (paired CIs) and gain retained (PESQ-wb, STOI) vs MAC saving; None when
    the leaderboard has neither."""
    fig = make_paired(lb, joint_levels, reference)
    return None if fig is None else _png(fig)


def make_probes_vs_level(lb: pd.DataFrame, joint_levels=()):
    d = lb[[_num(v) is not None for v in lb["realized_keep"]]]
    tasks = [c for c in PROBE_COLUMNS if c != "probe_cost_frac" and c in d.columns
             and any(_num(v) is not None for v in d[c])]
    if d.empty or not tasks:
        return None
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(tasks), figsize=(min(PAGE_WIDTH_IN, 3.2 * len(tasks)), 3.6), squeeze=False)
        for ax, t in zip(axes[0], tasks):
            s = _numeric(d, ["realized_keep", t]).sort_values("realized_keep")
            js = s["model"].isin(list(joint_levels))
            ax.plot(s.loc[~js, "realized_keep"], s.loc[~js, t], "o-", color="tab:blue",
                    label="linear probe at C*, plain levels")
            if js.any():
                ax.plot(s.loc[js, "realized_keep"], s.loc[js, t], "s", color="tab:orange",
                        label="linear probe at C*, trained with probe heads")
            if t in PAPER_PROBES and paper_allowed(lb):
                ax.axhline(PAPER_PROBES[t], ls="--", color="tab:red", label="P2's figure (arXiv 2602.10666)")
            ax.set_title(PROBE_TITLES.get(t, t))
            ax.set_xlabel("realized keep ratio")
            ax.grid(alpha=0.3)
            ax.margins(x=0.2, y=0.15)
        _legend_below(fig, ncols=3)
        for ax, t in zip(axes[0], tasks):
            s = _numeric(d, ["realized_keep", t])
            place_labels(ax, s["realized_keep"], s[t], s["model"], fontsize=9)
    return fig


def fig_probes_vs_level(lb: pd.DataFrame, joint_levels=()) -> bytes | None:
    """Probe scores (VAD, noise, F0, SNR) vs realised keep, with P2's figures as dashed reference lines;
    the line joins plain levels, ``joint_levels`` are orange squares."""
    fig = make_probes_vs_level(lb, joint_levels)
    return None if fig is None else _png(fig)


def make_block_keep(summaries: dict[str, dict]):
    rows = {lv: s["realised_keep"].get("per_block") for lv, s in summaries.items()
            if s.get("gated", True) and s.get("realised_keep", {}).get("per_block") and base_level(lv) == lv}
    if not rows:
        return None
    n = max(len(v) for v in rows.values())
    m = np.full((len(rows), n), np.nan)
    for i, v in enumerate(rows.values()):
        m[i, :len(v)] = v
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH_IN, 2.2 + 0.75 * n), 1.4 + 0.45 * len(rows)))
        im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (i, j), v in np.ndenumerate(m):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9, color="w" if v < 0.6 else "k")
        ax.set_yticks(range(len(rows)), list(rows))
        ax.set_xticks(range(n), [f"B{j}" for j in range(n)])
        ax.set_xlabel("gated block (input to output)")
        ax.set_title("Realized keep ratio per block (test split)")
        fig.colorbar(im, ax=ax, label="share of channels on")
    return fig


def fig_block_keep(summaries: dict[str, dict]) -> bytes | None:
    """Heat map of per-block realised keep ratio (levels x blocks), values written in the cells."""
    fig = make_block_keep(summaries)
    return None if fig is None else _png(fig)


def make_example_masks(mask: np.ndarray, block_channels: list[int], labels: dict, hop_s: float, title: str):
    t = np.arange(mask.shape[0]) * hop_s
    edges = np.cumsum([0] + list(block_channels))
    frac = np.stack([mask[:, a:b].mean(1) for a, b in zip(edges[:-1], edges[1:])])  # (n_blocks, T)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 1, figsize=(11, 7.5), sharex=True,
                                 gridspec_kw=dict(height_ratios=[1.2, 1.2, 2.5]))
        ax = axes[0]
        ax.step(t, np.asarray(labels["vad"]) * 1.0, where="mid", label="VAD (speech active)", color="tab:green")
        ax.step(t, np.asarray(labels["noise_active"]) * 0.9, where="mid", label="noise active (×0.9)",
                color="tab:orange")
        ax.set_ylim(-0.1, 1.2)
        ax.set_yticks([0, 1])
        ax.set_ylabel("label")
        ax2 = ax.twinx()
        f0 = np.asarray(labels["f0_hz"], float)
        ax2.plot(t, np.where(f0 > 0, f0, np.nan), ".", ms=3, color="tab:purple", label="CREPE F0 (Hz, right axis)")
        ax2.set_ylabel("F0 (Hz)")
        ext = [t[0] - hop_s / 2, t[-1] + hop_s / 2]
        im = axes[1].imshow(frac, aspect="auto", interpolation="nearest", cmap="magma", vmin=0, vmax=1,
                            extent=[*ext, len(block_channels) - 0.5, -0.5])
        nb = len(block_channels)
        step = max(1, int(np.ceil(nb / 6)))   # at most ~6 tick labels: 9 pt rows do not collide
        axes[1].set_yticks(range(0, nb, step), [f"B{j}" for j in range(0, nb, step)])
        axes[1].set_ylabel("block")
        fig.colorbar(im, ax=axes[1], label="share of\nchannels on", fraction=0.03, pad=0.07)
        axes[2].imshow(mask.T, aspect="auto", interpolation="nearest", cmap="gray_r", vmin=0, vmax=1,
                       extent=[*ext, mask.shape[1], 0])
        for e in edges[1:-1]:
            axes[2].axhline(e, color="tab:red", lw=0.5)
        axes[2].set_ylabel("channel (blocks stacked)")
        axes[2].set_xlabel("time (s)")
        from matplotlib.patches import Patch

        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        hs = h1 + h2 + [Patch(fc="black", ec="gray", label="channel on (raster)"),
                        Patch(fc="white", ec="gray", label="channel off"),
                        plt.Line2D([], [], color="tab:red", lw=1, label="block boundary")]
        fig.suptitle(title)
        _legend_below(fig, hs, [h.get_label() for h in hs], ncols=3)
    return fig


def fig_example_masks(mask: np.ndarray, block_channels: list[int], labels: dict, hop_s: float,
                      title: str) -> bytes:
    """One utterance: labels (VAD, noise-active, F0) above the per-block firing fraction and the channel raster.

    mask: bool (n_frames, C); labels: {"vad", "noise_active", "f0_hz"} arrays of n_frames.
    """
    return _png(make_example_masks(mask, block_channels, labels, hop_s, title))


def example_masks_png(params: dict, summaries: dict[str, dict], level: str | None = None,
                      mixture_id: str | None = None) -> tuple[bytes | None, str]:
    """Figure of one test utterance's masks for one gated level; (png or None, caption or reason)."""
    from bench.masks_io import load_masks
    from datagen.dataset import load_metadata

    paths = params.get("paths") or {}
    levels = {k: float(v) for k, v in (params.get("levels") or {}).items()}
    gated = sorted((lv for lv, k in levels.items() if k < 1.0 and base_level(lv) == lv), key=lambda lv: levels[lv])
    if level is None:
        if not gated:
            return None, "no gated level (keep < 1) in params levels"
        level = gated[len(gated) // 2]  # the middle target: neither barely gated nor the most pruned
    mp = Path(paths.get("enhanced_dir", "data/enhanced")) / level / "masks_test.npz"
    if not mp.is_file():
        return None, f"{mp} missing (run `sebench enhance --level {level}`)"
    try:
        meta = load_metadata(paths.get("dataset_dir", "data/dataset"), "test")
    except FileNotFoundError as e:
        return None, str(e)
    masks, mmeta = load_masks(mp)
    ids = [m for m in meta["mixture_id"] if m in masks]
    if not ids:
        return None, f"{mp}: no mask of any test mixture in the metadata"
    if mixture_id is None:  # the first mixture with both speech and silence, else the first one
        mixed = [m for m in ids if 0 < np.mean(meta.set_index("mixture_id").loc[m, "vad"]) < 1]
        mixture_id = (mixed or ids)[0]
    if mixture_id not in masks:
        return None, f"{mp}: no mask for mixture {mixture_id!r}"
    row = meta.set_index("mixture_id").loc[mixture_id]
    m = masks[mixture_id]
    if m.shape[0] != int(row["n_frames"]):
        raise ValueError(f"{mp}: {mixture_id} has {m.shape[0]} mask frames, metadata n_frames {row['n_frames']}")
    hop_s = float(mmeta["hop_length"]) / float(mmeta["sample_rate_hz"])
    cap = (f"level {level} (target keep {levels.get(level)}), test mixture {mixture_id}, noise class "
           f"{row.get('noise_class', '?')}, SNR {float(row.get('snr_db', np.nan)):.1f} dB")
    return fig_example_masks(m, mmeta["block_channels"], {k: row[k] for k in ("vad", "noise_active", "f0_hz")},
                             hop_s, cap), cap


# ---- training curves -------------------------------------------------------------------------------

def _dvclive_curve(run_dir: Path) -> pd.DataFrame | None:
    """epoch, train_loss, valid_loss from ``<run>/dvclive/plots/metrics/{train,valid}/loss.tsv`` (bench.train
    logs ``train/loss`` and ``valid/loss`` once per epoch; dvclive step 0 = epoch 1), or None if absent."""
    base = run_dir / "dvclive" / "plots" / "metrics"
    parts = []
    for split in ("train", "valid"):
        f = base / split / "loss.tsv"
        if not f.is_file():
            return None
        try:
            t = pd.read_csv(f, sep="\t")
        except Exception as e:
            raise ValueError(f"{f}: cannot read as a dvclive TSV ({e})") from e
        if not {"step", "loss"} <= set(t.columns):
            raise ValueError(f"{f}: expected columns step, loss (has {list(t.columns)})")
        # a resumed run may repeat steps: the last value written for a step wins
        t = t.drop_duplicates("step", keep="last")
        parts.append(pd.DataFrame({"epoch": t["step"].astype(int) + 1, f"{split}_loss": t["loss"].astype(float)}))
    return parts[0].merge(parts[1], on="epoch", how="outer").sort_values("epoch").reset_index(drop=True)


def _summary_curve(run_dir: Path) -> pd.DataFrame | None:
    f = run_dir / "train_summary.json"
    if not f.is_file():
        return None
    try:
        hist = json.loads(f.read_text()).get("history") or []
    except Exception as e:
        raise ValueError(f"{f}: cannot read as JSON ({e})") from e
    rows = [dict(epoch=int(h["epoch"]), train_loss=h.get("train_loss"), valid_loss=h.get("valid_loss"))
            for h in hist if isinstance(h, dict) and "epoch" in h]
    return pd.DataFrame(rows, columns=["epoch", "train_loss", "valid_loss"]) if rows else None


def training_curves(models_dir: Path, levels) -> pd.DataFrame:
    """Long table (run, level, epoch, train_loss, valid_loss, source) of every trained run of ``levels``:
    ``<models_dir>/<level>/`` and any seed replicate one folder below it that holds a train_summary.json or
    dvclive/; a level named ``<base>_seed<k>`` is a replicate of ``<base>`` (``level`` = base). Prefers the
    dvclive TSVs, else ``train_summary.json["history"]``."""
    cols = ["run", "level", "epoch", "train_loss", "valid_loss", "source"]
    out = []
    for lv in levels:   # "<level>_seed<k>" folders are replicates: drawn in their level's colour
        top = Path(models_dir) / lv
        if not top.is_dir():
            continue
        runs = [top] + sorted(p for p in top.iterdir() if p.is_dir() and p.name != "dvclive"
                              and ((p / "train_summary.json").is_file() or (p / "dvclive").is_dir()))
        for rd in runs:
            c, src = _dvclive_curve(rd), "dvclive"
            if c is None:
                c, src = _summary_curve(rd), "train_summary.json"
            if c is None or c.empty:
                continue
            c = c.assign(run=lv if rd == top else f"{lv}/{rd.name}", level=base_level(lv), source=src)
            out.append(c[cols])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def make_training_curves(curves: pd.DataFrame):
    if curves.empty:
        return None
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.2), sharey=False)
        cmap = plt.get_cmap("tab10")
        colours = {lv: cmap(i % 10) for i, lv in enumerate(dict.fromkeys(curves["level"]))}
        for run, g in curves.groupby("run", sort=False):
            lv = g["level"].iloc[0]
            rep = run != lv   # a seed replicate (own folder or subfolder): thinner, no own legend entry
            for ax, col in zip(axes, ("train_loss", "valid_loss")):
                s = g[["epoch", col]].dropna()
                ax.plot(s["epoch"], s[col], "-o" if len(s) < 30 else "-", ms=3, color=colours[lv],
                        lw=0.8 if rep else 1.6, alpha=0.6 if rep else 1.0, label=None if rep else lv)
        for ax, name in zip(axes, ("train", "valid")):
            ax.set_xlabel("epoch (of that level's own training)")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.set_ylabel(f"{name} loss (compressed spectral)")
            ax.set_title(f"{name.capitalize()} loss per epoch")
            ax.grid(alpha=0.3)
        _legend_below(fig, ncols=min(len(colours), 6))
    return fig


def fig_training_curves(curves: pd.DataFrame) -> bytes | None:
    """Train and valid loss per epoch, one colour per level (tab10); None without any history."""
    fig = make_training_curves(curves)
    return None if fig is None else _png(fig)


# ---- DVC plot CSVs ---------------------------------------------------------------------------------

def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def write_dvc_plot_csvs(lb: pd.DataFrame, summaries: dict[str, dict], out_dir: Path,
                        curves: pd.DataFrame | None = None) -> dict[str, Path]:
    """``plots/pareto.csv`` (model, macs_dynamic_m_per_s, pesq_wb, CI), ``plots/paired.csv``
    (:func:`paired_table`, MAC saving in %), ``plots/probes_vs_keep.csv`` (model, realized_keep, probe
    columns), ``plots/block_keep.csv`` (model, block, keep) and, from ``curves``
    (:func:`training_curves`), ``plots/training/<run>.csv`` (epoch, train_loss, valid_loss; stale files of
    runs no longer present are removed)."""
    out = {}
    d = _numeric(lb, ["macs_dynamic_m_per_s", "pesq_wb"])
    out["pareto"] = out_dir / "plots" / "pareto.csv"
    _atomic_csv(d[["model", "macs_dynamic_m_per_s", "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high"]],
                out["pareto"])
    pt = paired_table(lb)
    pt = pt[np.isfinite(pt["mac_saving"])].copy()
    pt["mac_saving_pct"] = (100 * pt.pop("mac_saving")).round(6)
    if "mac_saving_no_gates" in pt:
        pt["mac_saving_excl_gates_pct"] = (100 * pt.pop("mac_saving_no_gates")).round(6)
    out["paired"] = out_dir / "plots" / "paired.csv"
    _atomic_csv(pt[["model", "mac_saving_pct", *[c for c in pt.columns if c not in ("model", "mac_saving_pct")]]],
                out["paired"])
    p = lb[[_num(v) is not None for v in lb["vad_acc"]]][["model", "realized_keep", *PROBE_COLUMNS]]
    out["probes_vs_keep"] = out_dir / "plots" / "probes_vs_keep.csv"
    _atomic_csv(p.replace({NA: ""}), out["probes_vs_keep"])
    rows = [dict(model=lv, block=f"B{j}", keep=float(v)) for lv, s in summaries.items() if s.get("gated", True)
            for j, v in enumerate(s.get("realised_keep", {}).get("per_block") or [])]
    out["block_keep"] = out_dir / "plots" / "block_keep.csv"
    _atomic_csv(pd.DataFrame(rows, columns=["model", "block", "keep"]), out["block_keep"])
    tdir = out_dir / "plots" / "training"
    keep = set()
    for run, g in (curves if curves is not None else pd.DataFrame(columns=["run"])).groupby("run", sort=False):
        f = tdir / (str(run).replace("/", "__") + ".csv")
        _atomic_csv(g[["epoch", "train_loss", "valid_loss"]], f)
        out[f"training_{run}"] = f
        keep.add(f.name)
    if tdir.is_dir():
        for f in tdir.glob("*.csv"):
            if f.name not in keep:
                f.unlink()
    return out
