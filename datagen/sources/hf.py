"""A Hugging Face dataset on disk (``save_to_disk`` folder, or Parquet file(s)) with audio + label columns.

Audio cells may be ``{"bytes", "path"}`` dicts (``datasets.Audio(decode=False)``), decoded
``{"array", "sampling_rate"}`` dicts, or path strings; bytes are decoded with soundfile (no torchcodec).
Every usable clip is written to ``<corpus_dir>/hf/<source_id>.flac`` (16-bit FLAC at its original rate
and channel count) so later stages read files; ``sha256`` is of the original encoded bytes.
``source_id`` = ``<name>/<split or parquet file>/<row index:06d>``.
Params: ``path``, ``audio_column`` (default ``audio``), ``label_column`` (noise class; for speech the
speaker unless ``speaker_column`` is given), ``kind`` (noise | speech), ``speaker_column``,
``group_column`` (split group; default: speaker for speech, the clip itself for noise), ``licence``,
``author``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datagen.audio_io import AudioInputError, decode_bytes, validate_samples, write_flac_atomic
from datagen.sources import (KINDS, CorpusError, SourceContext, SourceResult, display_path, source_name)


def _label_names(features: dict | None, column: str) -> list[str] | None:
    """ClassLabel names of ``column`` from a features dict (HF JSON form), if it is a ClassLabel."""
    f = (features or {}).get(column)
    if isinstance(f, dict) and f.get("_type") == "ClassLabel":
        return list(f.get("names") or [])
    return None


def _iter_parquet(files: list[Path], columns: list[str]):
    import pyarrow.parquet as pq

    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as e:  # pyarrow raises several types for a non-parquet file
            raise CorpusError(f"{f}: not a readable Parquet file ({e})") from None
        have = pf.schema_arrow.names
        missing = [c for c in columns if c not in have]
        if missing:
            raise CorpusError(f"{f}: missing columns {missing} (have {have})")
        meta = pf.schema_arrow.metadata or {}
        features = None
        if b"huggingface" in meta:
            features = json.loads(meta[b"huggingface"]).get("info", {}).get("features")
        rows = pf.read(columns=columns).to_pylist()
        yield f.stem, f.parent, rows, features


def _iter_saved(path: Path, columns: list[str]):
    import datasets

    try:
        obj = datasets.load_from_disk(str(path))
    except Exception as e:  # datasets raises FileNotFoundError/ValueError/... for a non-dataset folder
        raise CorpusError(f"{path}: not a dataset saved with save_to_disk ({e})") from None
    parts = obj.items() if isinstance(obj, datasets.DatasetDict) else [("data", obj)]
    for split, ds in sorted(parts, key=lambda kv: kv[0]):
        missing = [c for c in columns if c not in ds.column_names]
        if missing:
            raise CorpusError(f"{path} (split {split!r}): missing columns {missing} (have {ds.column_names})")
        ds = ds.select_columns(columns)
        audio_col = columns[0]
        if isinstance(ds.features[audio_col], datasets.Audio):
            ds = ds.cast_column(audio_col, datasets.Audio(decode=False))
        features = ds.features.to_dict()
        yield split, path, ds.to_list(), features


def _decode(cell, base: Path, name: str) -> tuple[np.ndarray, int, str]:
    """Audio cell -> (samples (n, ch) float32, rate, sha256 of the encoded bytes / file / array)."""
    if isinstance(cell, str):
        cell = {"path": cell}
    if not isinstance(cell, dict):
        raise AudioInputError(name, f"audio cell has unsupported type {type(cell).__name__}")
    if cell.get("bytes"):
        data = bytes(cell["bytes"])
    elif cell.get("array") is not None and cell.get("sampling_rate"):
        x = np.asarray(cell["array"], np.float32)
        x = x[:, None] if x.ndim == 1 else x
        return x, int(cell["sampling_rate"]), hashlib.sha256(x.tobytes()).hexdigest()
    elif cell.get("path"):
        p = Path(cell["path"])
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise AudioInputError(name, f"audio path {p} not found")
        data = p.read_bytes()
    else:
        raise AudioInputError(name, "audio cell has no bytes, array or path")
    x, sr = decode_bytes(name, data)
    return x, sr, hashlib.sha256(data).hexdigest()


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    name = source_name(cfg)
    if not cfg.get("path"):
        raise CorpusError(f"source {name!r} (hf): 'path' is required")
    path = Path(cfg["path"])
    kind = cfg.get("kind", "noise")
    if kind not in KINDS:
        raise CorpusError(f"source {name!r} (hf): kind must be one of {KINDS}, got {kind!r}")
    audio_col = cfg.get("audio_column", "audio")
    label_col = cfg.get("speaker_column") if kind == "speech" and cfg.get("speaker_column") else cfg.get("label_column")
    if not label_col:
        raise CorpusError(f"source {name!r} (hf): 'label_column' (or 'speaker_column' for speech) is required")
    group_col = cfg.get("group_column")
    columns = [audio_col, label_col] + ([group_col] if group_col and group_col != label_col else [])
    if path.is_file() and path.suffix == ".parquet":
        parts = _iter_parquet([path], columns)
    elif path.is_dir() and not (path / "dataset_info.json").exists() and not (path / "dataset_dict.json").exists() \
            and sorted(path.rglob("*.parquet")):
        parts = _iter_parquet(sorted(path.rglob("*.parquet")), columns)
    elif path.is_dir():
        parts = _iter_saved(path, columns)
    else:
        raise CorpusError(f"source {name!r} (hf): {path} is neither a save_to_disk folder nor Parquet file(s)")
    out_dir = Path(ctx.corpus_dir) / "hf"
    res = SourceResult()
    for part, base, rows, features in parts:
        names = _label_names(features, label_col)
        for i, r in enumerate(tqdm(rows, desc=f"{name} {part}", unit="clip", disable=not ctx.progress)):
            sid = f"{name}/{part}/{i:06d}"
            try:
                label = r[label_col]
                if names is not None and isinstance(label, (int, np.integer)) and 0 <= label < len(names):
                    label = names[label]
                if label is None or str(label) == "":
                    raise AudioInputError(f"hf:{sid}", f"empty label in column {label_col!r}")
                x, sr, digest = _decode(r[audio_col], base, f"hf:{sid}")
                validate_samples(f"hf:{sid}", x, sr, ctx.min_duration_s, ctx.silence_peak_dbfs)
            except AudioInputError as e:
                res.rejects.append((f"hf:{sid}", e.reason))
                continue
            flac = out_dir / f"{sid}.flac"
            write_flac_atomic(flac, x, sr)
            label = str(label)
            group = str(r[group_col]) if group_col else (label if kind == "speech" else sid)
            res.rows.append(dict(
                source_id=sid, kind=kind, path=display_path(flac, ctx.base_dir), duration_s=x.shape[0] / sr,
                orig_sample_rate_hz=sr, orig_channels=int(x.shape[1]),
                speaker=label if kind == "speech" else "", noise_class=label if kind == "noise" else "",
                split_group=f"{name}/{group}" if kind == "noise" and group_col else group, split=None,
                licence=cfg.get("licence", "unknown (user-provided)"),
                author=cfg.get("author", "unknown (user-provided)"),
                origin=f"HF dataset {path} [{part}] row {i}", sha256=digest))
    return res
