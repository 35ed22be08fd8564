"""The rendered, labelled dataset on disk: reading it (all stages) and loading it with HF ``datasets``.

Layout (see docs/data_formats.md): ``audio/{split}/{mixture_id}_{stem}.wav`` (int16 PCM, 16 kHz),
``metadata/{split}.parquet`` (one row per mixture, frame-level label arrays), ``classes.json``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

SPLITS = ("train", "valid", "test")
STEMS = ("noisy", "clean", "noise")


def metadata_path(dataset_dir: str | Path, split: str) -> Path:
    return Path(dataset_dir) / "metadata" / f"{split}.parquet"


def load_metadata(dataset_dir: str | Path, split: str) -> pd.DataFrame:
    """Metadata of one split, one row per mixture, ordered by mixture_id."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    p = metadata_path(dataset_dir, split)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no metadata for split {split!r} (run `sebench labels` first)")
    return pd.read_parquet(p).sort_values("mixture_id").reset_index(drop=True)


def load_classes(dataset_dir: str | Path) -> list[str]:
    """Noise class names, index = ``noise_class_id``."""
    return json.loads((Path(dataset_dir) / "classes.json").read_text())["noise_classes"]


def read_stem(dataset_dir: str | Path, row, stem: str = "noisy") -> np.ndarray:
    """Audio of one stem ("noisy" | "clean" | "noise") of a metadata row, float32 (n_samples,) in [-1, 1]."""
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; expected one of {STEMS}")
    rel = row[f"{stem}_path"] if isinstance(row, (dict, pd.Series)) else getattr(row, f"{stem}_path")
    x, sr = sf.read(Path(dataset_dir) / rel, dtype="float32", always_2d=False)
    return x


def write_parquet_atomic(df: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def load_hf(dataset_dir: str | Path, decode_audio: bool = False):
    """The dataset as a ``datasets.DatasetDict`` (one split per metadata file).

    Audio columns ``noisy``, ``clean`` and ``noise`` are ``datasets.Audio`` features built from the
    files; label arrays are sequence columns. ``decode_audio=False`` keeps audio as paths/bytes (no
    decoder backend needed); use :func:`read_stem` or ``soundfile`` to read them.
    """
    import datasets

    dataset_dir = Path(dataset_dir).resolve()
    out = {}
    for split in SPLITS:
        p = metadata_path(dataset_dir, split)
        if not p.is_file():
            continue
        ds = datasets.Dataset.from_parquet(str(p))
        for stem in STEMS:
            ds = ds.map(lambda r, s=stem: {s: str(dataset_dir / r[f"{s}_path"])})
            ds = ds.cast_column(stem, datasets.Audio(sampling_rate=16000, decode=decode_audio))
        out[split] = ds
    if not out:
        raise FileNotFoundError(f"{dataset_dir}: no metadata/*.parquet (run `sebench labels` first)")
    return datasets.DatasetDict(out)
