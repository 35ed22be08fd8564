"""Report figures (matplotlib, Agg backend) as PNG bytes, and the small CSVs behind ``dvc plots``.

Each ``fig_*`` function returns PNG bytes (so the page can embed them base64) or None when its data is
absent. :func:`write_dvc_plot_csvs` writes ``plots/pareto.csv``, ``plots/probes_vs_keep.csv`` and
``plots/block_keep.csv`` under the reports folder.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.report.leaderboard import NA, NOISY, PAPER_PROBES, PROBE_COLUMNS, _num  # noqa: E402

DPI = 100
PROBE_TITLES = {"vad_acc": "VAD accuracy", "noise_acc": "noise-class accuracy (frame)", "f0_r2": "F0 R² (Hz)",
                "snr_r2": "frame-SNR R²"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _numeric(df: pd.DataFrame, cols) -> pd.DataFrame:
    """Rows of df where every col is a number, those cols as float."""
    ok = df[[all(_num(v) is not None for v in vals) for vals in zip(*(df[c] for c in cols))]].copy()
    for c in cols:
        ok[c] = ok[c].astype(float)
    return ok


def fig_pareto(lb: pd.DataFrame, joint_levels=()) -> bytes | None:
    """PESQ-wb (95 % CI bars) vs dynamic MMAC/s per model; the noisy input as a dashed reference line.
    The trade-off line joins the plain levels only; ``joint_levels`` (trained with probe heads) are
    orange points off the line."""
    d = _numeric(lb[lb["model"] != NOISY], ["macs_dynamic_m_per_s", "pesq_wb", "pesq_wb_ci95_low",
                                             "pesq_wb_ci95_high"])
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    yerr = np.vstack([d["pesq_wb"] - d["pesq_wb_ci95_low"], d["pesq_wb_ci95_high"] - d["pesq_wb"]])
    jm = d["model"].isin(list(joint_levels))
    ax.errorbar(d.loc[~jm, "macs_dynamic_m_per_s"], d.loc[~jm, "pesq_wb"], yerr=yerr[:, ~jm.to_numpy()], fmt="o",
                capsize=4, color="tab:blue")
    for r in d.itertuples(index=False):
        ax.annotate(str(r.model), (r.macs_dynamic_m_per_s, r.pesq_wb), textcoords="offset points", xytext=(6, 4))
    if jm.any():
        ax.errorbar(d.loc[jm, "macs_dynamic_m_per_s"], d.loc[jm, "pesq_wb"], yerr=yerr[:, jm.to_numpy()], fmt="s",
                    capsize=4, color="tab:orange", label="trained with probe heads (train.joint)")
    dd = d[~jm].sort_values("macs_dynamic_m_per_s")
    ax.plot(dd["macs_dynamic_m_per_s"], dd["pesq_wb"], "-", color="tab:blue", alpha=0.3)
    noisy = _numeric(lb[lb["model"] == NOISY], ["pesq_wb"])
    if not noisy.empty:
        ax.axhline(float(noisy["pesq_wb"].iloc[0]), ls="--", color="gray", label="noisy input")
    if jm.any() or not noisy.empty:
        ax.legend(loc="lower right")
    ax.set_xlabel("dynamic MACs per second of audio (M, bench.macs, gate cost incl.)")
    ax.set_ylabel("PESQ-wb (MOS-LQO), mean ± 95 % CI")
    ax.set_title("Quality vs compute")
    ax.grid(alpha=0.3)
    return _png(fig)


def fig_probes_vs_level(lb: pd.DataFrame, joint_levels=()) -> bytes | None:
    """Probe scores (VAD, noise, F0, SNR) vs realised keep, with P2's figures as dashed reference lines;
    the line joins plain levels, ``joint_levels`` are orange squares."""
    d = lb[[_num(v) is not None for v in lb["realized_keep"]]]
    tasks = [c for c in PROBE_COLUMNS if c != "probe_cost_frac" and any(_num(v) is not None for v in d[c])]
    if d.empty or not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks), 3.2), squeeze=False)
    for ax, t in zip(axes[0], tasks):
        s = _numeric(d, ["realized_keep", t]).sort_values("realized_keep")
        js = s["model"].isin(list(joint_levels))
        ax.plot(s.loc[~js, "realized_keep"], s.loc[~js, t], "o-")
        if js.any():
            ax.plot(s.loc[js, "realized_keep"], s.loc[js, t], "s", color="tab:orange")
        for r in s.itertuples(index=False):
            ax.annotate(str(r.model), (r.realized_keep, getattr(r, t)), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
        if t in PAPER_PROBES:
            ax.axhline(PAPER_PROBES[t], ls="--", color="tab:red", label=f"P2: {PAPER_PROBES[t]}")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(PROBE_TITLES.get(t, t), fontsize=10)
        ax.set_xlabel("realized keep ratio")
        ax.grid(alpha=0.3)
    return _png(fig)


def fig_block_keep(summaries: dict[str, dict]) -> bytes | None:
    """Heat map of per-block realised keep ratio (levels x blocks), values written in the cells."""
    rows = {lv: s["realised_keep"].get("per_block") for lv, s in summaries.items()
            if s.get("gated", True) and s.get("realised_keep", {}).get("per_block")}
    if not rows:
        return None
    n = max(len(v) for v in rows.values())
    m = np.full((len(rows), n), np.nan)
    for i, v in enumerate(rows.values()):
        m[i, :len(v)] = v
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.9 + 0.5 * len(rows)))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(m):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="w" if v < 0.6 else "k")
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xticks(range(n), [f"B{j}" for j in range(n)])
    ax.set_xlabel("gated block")
    ax.set_title("realized keep ratio per block (test split)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def fig_example_masks(mask: np.ndarray, block_channels: list[int], labels: dict, hop_s: float,
                      title: str) -> bytes:
    """One utterance: labels (VAD, noise-active, F0) above the per-block firing fraction and the channel raster.

    mask: bool (n_frames, C); labels: {"vad", "noise_active", "f0_hz"} arrays of n_frames.
    """
    t = np.arange(mask.shape[0]) * hop_s
    edges = np.cumsum([0] + list(block_channels))
    frac = np.stack([mask[:, a:b].mean(1) for a, b in zip(edges[:-1], edges[1:])])  # (n_blocks, T)
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True, gridspec_kw=dict(height_ratios=[1.2, 1.2, 2.5]))
    ax = axes[0]
    ax.step(t, np.asarray(labels["vad"]) * 1.0, where="mid", label="VAD", color="tab:green")
    ax.step(t, np.asarray(labels["noise_active"]) * 0.9, where="mid", label="noise active (x0.9)", color="tab:orange")
    ax.set_ylim(-0.1, 1.2)
    ax.set_yticks([0, 1])
    ax2 = ax.twinx()
    f0 = np.asarray(labels["f0_hz"], float)
    ax2.plot(t, np.where(f0 > 0, f0, np.nan), ".", ms=2, color="tab:purple", label="F0 (Hz)")
    ax2.set_ylabel("F0 Hz")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower left", bbox_to_anchor=(0, 1.12), fontsize=8, ncol=3, frameon=False)
    ax.set_title(title, pad=26)
    ext = [t[0] - hop_s / 2, t[-1] + hop_s / 2]
    axes[1].imshow(frac, aspect="auto", interpolation="nearest", cmap="magma", vmin=0, vmax=1,
                   extent=[*ext, len(block_channels) - 0.5, -0.5])
    axes[1].set_yticks(range(len(block_channels)), [f"B{j}" for j in range(len(block_channels))], fontsize=7)
    axes[1].set_ylabel("fraction on")
    axes[2].imshow(mask.T, aspect="auto", interpolation="nearest", cmap="gray_r", extent=[*ext, mask.shape[1], 0])
    for e in edges[1:-1]:
        axes[2].axhline(e, color="tab:red", lw=0.4)
    axes[2].set_ylabel("channel (blocks stacked)")
    axes[2].set_xlabel("time (s)")
    return _png(fig)


def example_masks_png(params: dict, summaries: dict[str, dict], level: str | None = None,
                      mixture_id: str | None = None) -> tuple[bytes | None, str]:
    """Figure of one test utterance's masks for one gated level; (png or None, caption or reason)."""
    from bench.masks_io import load_masks
    from datagen.dataset import load_metadata

    paths = params.get("paths") or {}
    levels = {k: float(v) for k, v in (params.get("levels") or {}).items()}
    gated = sorted((lv for lv, k in levels.items() if k < 1.0), key=lambda lv: levels[lv])
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


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def write_dvc_plot_csvs(lb: pd.DataFrame, summaries: dict[str, dict], out_dir: Path) -> dict[str, Path]:
    """``plots/pareto.csv`` (model, macs_dynamic_m_per_s, pesq_wb, CI), ``plots/probes_vs_keep.csv``
    (model, realized_keep, probe columns) and ``plots/block_keep.csv`` (model, block, keep)."""
    out = {}
    d = _numeric(lb, ["macs_dynamic_m_per_s", "pesq_wb"])
    out["pareto"] = out_dir / "plots" / "pareto.csv"
    _atomic_csv(d[["model", "macs_dynamic_m_per_s", "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high"]],
                out["pareto"])
    p = lb[[_num(v) is not None for v in lb["vad_acc"]]][["model", "realized_keep", *PROBE_COLUMNS]]
    out["probes_vs_keep"] = out_dir / "plots" / "probes_vs_keep.csv"
    _atomic_csv(p.replace({NA: ""}), out["probes_vs_keep"])
    rows = [dict(model=lv, block=f"B{j}", keep=float(v)) for lv, s in summaries.items() if s.get("gated", True)
            for j, v in enumerate(s.get("realised_keep", {}).get("per_block") or [])]
    out["block_keep"] = out_dir / "plots" / "block_keep.csv"
    _atomic_csv(pd.DataFrame(rows, columns=["model", "block", "keep"]), out["block_keep"])
    return out
