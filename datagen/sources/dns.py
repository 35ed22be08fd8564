"""DNS Challenge layout: ``<root>/datasets/clean/**`` (speech) and ``<root>/datasets/noise/**`` (noise).

Speaker: ``reader_<id>`` from file names like ``book_XXXX_chp_XXXX_reader_XXXXX_*.wav``, otherwise the
parent folder's name (``unknown`` for files directly in the clean folder). Noise class: from an optional
CSV (``class_csv`` with columns ``class_csv_file_column`` / ``class_csv_class_column``; file names
relative to the noise folder or bare names) or else from the file name via ``class_regex`` (group
``cls``; default: the part before the first ``_``, as in ``<Class>_<id>.wav``). Each noise file is its own
split group. Other folders (``impulse_responses`` ...) and non-audio files are ignored.
Params: ``root``, ``clean_dir``, ``noise_dir``, ``class_regex``, ``class_csv``, ``licence``, ``author``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from datagen.sources import (display_path, CorpusError, SourceContext, SourceResult, index_items, is_audio_name, list_files,
                             require_dir, source_name)

READER_RE = re.compile(r"reader_(\d+)")
DEFAULT_CLASS_RE = r"^(?P<cls>[^_]+)_"


def speaker_of(path: Path, clean_root: Path) -> str:
    m = READER_RE.search(path.stem)
    if m:
        return f"reader_{m.group(1)}"
    return path.parent.name if path.parent != clean_root else "unknown"


def read_class_csv(csv: Path, file_col: str, class_col: str) -> dict[str, str]:
    if not csv.is_file():
        raise CorpusError(f"{csv}: noise class CSV not found")
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    missing = [c for c in (file_col, class_col) if c not in df.columns]
    if missing:
        raise CorpusError(f"{csv}: missing columns {missing} (have {list(df.columns)})")
    return {Path(f).as_posix(): c for f, c in zip(df[file_col], df[class_col]) if f and c}


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    name = source_name(cfg)
    if not cfg.get("root"):
        raise CorpusError(f"source {name!r} (dns): 'root' is required")
    root = require_dir(Path(cfg["root"]), f"source {name!r} (dns) root")
    clean = root / cfg.get("clean_dir", "datasets/clean")
    noise = root / cfg.get("noise_dir", "datasets/noise")
    if not clean.is_dir() and not noise.is_dir():
        raise CorpusError(f"source {name!r} (dns): neither {clean} nor {noise} exists")
    class_re = re.compile(cfg.get("class_regex", DEFAULT_CLASS_RE))
    if "cls" not in class_re.groupindex:
        raise CorpusError(f"source {name!r} (dns): class_regex {class_re.pattern!r} needs a (?P<cls>...) group")
    mapping = {}
    if cfg.get("class_csv"):
        mapping = read_class_csv(Path(cfg["class_csv"]), cfg.get("class_csv_file_column", "filename"),
                                 cfg.get("class_csv_class_column", "class"))
    common = dict(licence=cfg.get("licence", "see DNS Challenge per-clip licences"),
                  author=cfg.get("author", "DNS Challenge contributors"))
    items, res = [], SourceResult()
    if clean.is_dir():
        for p in filter(is_audio_name, list_files(clean)):
            rel = p.relative_to(root).as_posix()
            spk = speaker_of(p, clean)
            items.append((p, dict(source_id=f"{name}/{rel}", kind="speech", speaker=spk, split_group=spk,
                                  origin=f"DNS Challenge {rel}", **common)))
    if noise.is_dir():
        for p in filter(is_audio_name, list_files(noise)):
            rel = p.relative_to(root).as_posix()
            cls = mapping.get(p.relative_to(noise).as_posix()) or mapping.get(p.name)
            if not cls:
                m = class_re.search(p.stem)
                cls = m.group("cls") if m else None
            if not cls:
                res.rejects.append((display_path(p, ctx.base_dir), "noise class not found in the file name (class_regex "
                                            f"{class_re.pattern!r}) or the class CSV"))
                continue
            items.append((p, dict(source_id=f"{name}/{rel}", kind="noise", noise_class=cls,
                                  split_group=f"{name}/{rel}", origin=f"DNS Challenge {rel}", **common)))
    res.extend(index_items(items, ctx, desc=f"{name} {root}"))
    return res
