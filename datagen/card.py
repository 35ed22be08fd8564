"""The dataset card: ``reports/dataset_card.md`` + ``reports/dataset_snr_level.png``."""
from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from datagen.config import params_hash
from datagen.labels import label_methods
from datagen.vad import describe as vad_describe
from datagen import card_sections as CS


def _hist_plot(per_split: dict[str, pd.DataFrame], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
    for split, d in per_split.items():
        ax[0].hist(d["achieved_snr_db"], bins=20, alpha=0.5, label=split)
        ax[1].hist(d["achieved_level_dbfs"], bins=20, alpha=0.5, label=split)
        ax[2].hist(np.concatenate(list(d["frame_snr_db"])), bins=40, alpha=0.5, label=split, density=True)
    ax[0].set(xlabel="achieved SNR on active speech (dB)", ylabel="mixtures")
    ax[1].set(xlabel="active-speech level of the mixture (dBFS)")
    ax[2].set(xlabel="frame SNR (dB, clipped)", ylabel="density")
    for a in ax:
        a.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _speakers(d: pd.DataFrame, max_names: int = 6) -> str:
    """Number of distinct speakers, with their names when there are few (251 names do not fit a cell)."""
    names = sorted(d["speaker"].astype(str).unique())
    return f"{len(names)} ({', '.join(names)})" if len(names) <= max_names else str(len(names))


def card_markdown(params: dict, per_split: dict[str, pd.DataFrame], corpus_summary: dict | None,
                  n_rejects: int | None, manifest: pd.DataFrame | None = None) -> str:
    """The card's markdown; with the corpus ``manifest`` it adds sources, licence, languages, speakers by
    gender, intended use, limitations and citation (``datagen.card_sections``)."""
    fps = params["frames"]["sample_rate_hz"] / params["frames"]["hop_length"]
    lines = ["# Dataset card", "",
             f"Generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by `sebench labels` "
             f"(profile `{params.get('profile', '?')}`, params hash `{params_hash(params)}`, seed {params['seed']}, "
             f"host {platform.node() or '?'}).", "",
             "## Splits", "",
             "| split | mixtures | hours | speakers | noise clips | reverberant | SNR dB (mean, min-max) | max abs(plan - achieved) SNR dB |",
             "|---|---|---|---|---|---|---|---|"]
    for split, d in per_split.items():
        err = (d["achieved_snr_db"] - d["snr_db"]).abs().max()
        lines.append(f"| {split} | {len(d)} | {d['duration_s'].sum() / 3600:.3f} | {_speakers(d)} | "
                     f"{d['noise_id'].nunique()} | {d['reverb'].mean() * 100:.0f} % | {d['achieved_snr_db'].mean():.1f} "
                     f"({d['achieved_snr_db'].min():.1f} to {d['achieved_snr_db'].max():.1f}) | {err:.3f} |")
    lines += ["", "## Noise classes (mixtures per split)", "", "| class | " + " | ".join(per_split) + " |",
              "|---|" + "---|" * len(per_split)]
    classes = sorted(set().union(*[set(d["noise_class"]) for d in per_split.values()]))
    for c in classes:
        lines.append(f"| {c} | " + " | ".join(str(int((d['noise_class'] == c).sum())) for d in per_split.values()) + " |")
    lines += ["", "## Frame labels (share of frames)", "", "| split | frames | VAD active | voiced | noise active |",
              "|---|---|---|---|---|"]
    for split, d in per_split.items():
        cat = lambda k: np.concatenate(list(d[k]))  # noqa: E731
        lines.append(f"| {split} | {int(d['n_frames'].sum())} | {cat('vad').mean():.3f} | {cat('voiced').mean():.3f} | "
                     f"{cat('noise_active').mean():.3f} |")
    lines += ["", vad_describe(params["labels"]["vad"])]
    if manifest is not None:
        u = CS.used_clips(per_split, manifest)
        lines += [""] + CS.sources_section(u) + CS.licence_section(u) + CS.languages_section(u)
        lines += CS.speakers_section(u) + CS.usage_sections(per_split, u, params) + CS.citation_section(u)
        lines.pop()   # the next block starts with its own blank line
    if corpus_summary is not None:
        lines += ["", "## Corpus", "", "```json", json.dumps(corpus_summary, indent=1, default=str)[:4000], "```"]
    if n_rejects is not None:
        lines += ["", f"Rejected source files: {n_rejects} (see `{params['paths']['corpus_dir']}/rejects.csv`)."]
    lines += ["", "## Label methods and versions", "", "```json",
              json.dumps(label_methods(params), indent=1, default=str), "```", "",
              f"Packages: torchcrepe {version('torchcrepe')}, torch {version('torch')}, numpy {version('numpy')}, "
              f"soundfile {version('soundfile')}, pyroomacoustics {version('pyroomacoustics')}.", "",
              f"Frame grid: {params['frames']['sample_rate_hz']} Hz, hop {params['frames']['hop_length']} "
              f"({fps:g} frames/s), frame t centred on sample t*hop.", "",
              "![SNR and level histograms](dataset_snr_level.png)", ""]
    return "\n".join(lines)


def write_card(params: dict, per_split: dict[str, pd.DataFrame]) -> Path:
    reports = Path(params["paths"]["reports_dir"])
    reports.mkdir(parents=True, exist_ok=True)
    corpus_dir = Path(params["paths"]["corpus_dir"])
    summary_p = corpus_dir / "corpus_summary.json"
    summary = json.loads(summary_p.read_text()) if summary_p.is_file() else None
    rej_p = corpus_dir / "rejects.csv"
    n_rej = len(pd.read_csv(rej_p)) if rej_p.is_file() and rej_p.stat().st_size > 0 else None
    _hist_plot(per_split, reports / "dataset_snr_level.png")
    man_p = corpus_dir / "manifest.parquet"
    manifest = pd.read_parquet(man_p) if man_p.is_file() else None
    text = card_markdown(params, per_split, summary, n_rej, manifest)
    path = reports / "dataset_card.md"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    if manifest is not None:   # Hugging Face style card beside the data (the histogram stays in reports/)
        hf = Path(params["paths"]["dataset_dir"]) / "README.md"
        body = text.replace("![SNR and level histograms](dataset_snr_level.png)",
                            "SNR and level histograms: `reports/dataset_snr_level.png` of the generating run.")
        tmp = hf.with_name(hf.name + ".tmp")
        tmp.write_text(CS.hf_yaml(per_split, CS.used_clips(per_split, manifest)) + "\n" + CS.LOADING + body)
        os.replace(tmp, hf)
    return path
