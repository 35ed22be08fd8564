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


def write_parquet_atomic(df: pd.DataFrame, path: str | Path, schema=None) -> None:
    """``df`` to ``path`` via a temp name; ``schema`` (a ``pyarrow.Schema``) fixes column types, e.g. one
    schema for every split so that a column that is all-null in one split is not typed ``null`` there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False, schema=schema)
    os.replace(tmp, path)


AUDIO_SAMPLE_RATE_HZ = 16000


def decode_audio_batch(batch: dict) -> dict:
    """``datasets`` transform: decode the audio columns of a batch with soundfile.

    Each ``noisy``/``clean``/``noise`` value ``{"path", "bytes"}`` becomes ``{"path", "array",
    "sampling_rate"}`` with ``array`` float32 (n_samples,) in [-1, 1], bit-identical to :func:`read_stem`.
    Other columns pass through. Hand-written because ``datasets`` 5.x decodes ``Audio`` with torchcodec,
    whose wheels need a system FFmpeg (libavutil 56-60) that a fresh machine does not have; soundfile
    (libsndfile, bundled in its wheel) already reads every stem of the pipeline.
    """
    import io

    out = dict(batch)
    for stem in STEMS:
        if stem not in batch:
            continue
        vals = []
        for v in batch[stem]:
            src = v["path"] if v.get("path") else io.BytesIO(v["bytes"])
            x, sr = sf.read(src, dtype="float32", always_2d=False)
            vals.append({"path": v.get("path"), "array": x, "sampling_rate": int(sr)})
        out[stem] = vals
    return out


def load_hf(dataset_dir: str | Path, decode_audio: bool = True):
    """The dataset as a ``datasets.DatasetDict`` (one split per metadata file).

    Audio columns ``noisy``, ``clean`` and ``noise`` are ``datasets.Audio(decode=False)`` features
    (absolute paths); ``decode_audio=True`` (default) adds a soundfile transform
    (:func:`decode_audio_batch`) so ``ds["test"][0]["noisy"]["array"]`` is the float32 waveform, offline and
    without torchcodec/FFmpeg. ``noise_class`` is a ``ClassLabel`` over ``classes.json`` (its int equals
    ``noise_class_id``); label arrays are sequence columns. The transform is lost by ``.map``/``.filter``;
    re-apply it with ``ds.with_transform(decode_audio_batch)``.
    """
    import datasets

    dataset_dir = Path(dataset_dir).resolve()
    classes = load_classes(dataset_dir)
    out = {}
    for split in SPLITS:
        p = metadata_path(dataset_dir, split)
        if not p.is_file():
            continue
        ds = datasets.Dataset.from_parquet(str(p))
        unknown = sorted(set(ds["noise_class"]) - set(classes))
        if unknown:
            raise ValueError(f"{p}: noise classes {unknown} are not in {dataset_dir / 'classes.json'}")
        ds = ds.map(lambda r: {s: str(dataset_dir / r[f"{s}_path"]) for s in STEMS})
        for stem in STEMS:
            ds = ds.cast_column(stem, datasets.Audio(sampling_rate=AUDIO_SAMPLE_RATE_HZ, decode=False))
        ds = ds.cast_column("noise_class", datasets.ClassLabel(names=classes))
        out[split] = ds.with_transform(decode_audio_batch) if decode_audio else ds
    if not out:
        raise FileNotFoundError(f"{dataset_dir}: no metadata/*.parquet (run `sebench labels` first)")
    return datasets.DatasetDict(out)
