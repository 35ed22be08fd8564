"""ESC-50: ``<root>/audio/{fold}-{src_file}-{take}-{target}.wav`` + ``<root>/meta/esc50.csv``.

Noise rows; ``noise_class`` = ``category`` (or one of the five ESC-50 major categories with
``major_categories: true``); ``split_group`` = ``esc50-fold{fold}`` and ``split`` fixed by the fold map
(``folds``, default 1-3 train, 4 valid, 5 test; folds keep fragments of one recording together).
Params: ``root``, ``folds``, ``major_categories``, ``licence``, ``author``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from datagen.sources import (display_path, SPLITS, CorpusError, SourceContext, SourceResult, index_items, is_audio_name,
                             list_files, require_dir, source_name)

META_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
DEFAULT_FOLDS = {"train": [1, 2, 3], "valid": [4], "test": [5]}
#: ESC-50 targets are ordered in blocks of ten per major category (Piczak 2015, table 1).
MAJOR_CATEGORIES = ("animals", "natural_soundscapes_water", "human_non_speech", "interior_domestic",
                    "exterior_urban")


def fold_map(folds: dict) -> dict[int, str]:
    out: dict[int, str] = {}
    for split, fs in folds.items():
        if split not in SPLITS:
            raise CorpusError(f"esc50 folds: unknown split {split!r}; expected one of {SPLITS}")
        for f in fs:
            if int(f) in out:
                raise CorpusError(f"esc50 folds: fold {f} assigned to both {out[int(f)]!r} and {split!r}")
            out[int(f)] = split
    return out


def read_meta(csv: Path) -> pd.DataFrame:
    if not csv.is_file():
        raise CorpusError(f"{csv}: ESC-50 metadata not found")
    try:
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CorpusError(f"{csv}: unreadable CSV ({e})") from None
    missing = [c for c in META_COLUMNS if c not in df.columns]
    if missing:
        raise CorpusError(f"{csv}: missing columns {missing} (expected {list(META_COLUMNS)})")
    for c in ("fold", "target"):
        bad = df[~df[c].str.fullmatch(r"\d+")]
        if len(bad):
            raise CorpusError(f"{csv}: column {c!r} must be an integer; row {bad.index[0] + 2}: {bad[c].iloc[0]!r}")
    return df


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    name = source_name(cfg)
    if not cfg.get("root"):
        raise CorpusError(f"source {name!r} (esc50): 'root' is required")
    root = require_dir(Path(cfg["root"]), f"source {name!r} (esc50) root")
    audio = require_dir(root / "audio", f"source {name!r} (esc50) audio folder")
    meta = read_meta(root / "meta" / "esc50.csv")
    folds = fold_map(cfg.get("folds") or DEFAULT_FOLDS)
    major = bool(cfg.get("major_categories", False))
    licence = cfg.get("licence", "CC BY-NC 3.0 (ESC-50; ESC-10 subset CC BY 3.0)")
    res, items, listed = SourceResult(), [], set()
    for r in meta.sort_values("filename").itertuples(index=False):
        p = audio / r.filename
        listed.add(r.filename)
        fold, target = int(r.fold), int(r.target)
        if fold not in folds:
            res.rejects.append((display_path(p, ctx.base_dir), f"fold {fold} not in the fold map {sorted(folds)}"))
            continue
        if major and not 0 <= target < 50:
            res.rejects.append((display_path(p, ctx.base_dir), f"target {target} outside ESC-50's 0..49 (no major category)"))
            continue
        cls = MAJOR_CATEGORIES[target // 10] if major else r.category
        if not p.exists():
            res.rejects.append((display_path(p, ctx.base_dir), "listed in meta/esc50.csv but file not found"))
            continue
        items.append((p, dict(source_id=f"{name}/{r.filename}", kind="noise", noise_class=cls,
                              split_group=f"esc50-fold{fold}", split=folds[fold], licence=licence,
                              author=cfg.get("author", f"Freesound clip {r.src_file} (via ESC-50, K. J. Piczak)"),
                              origin=f"ESC-50 {r.filename} (category {r.category}, src_file {r.src_file}, "
                                     f"take {r.take})")))
    for p in filter(is_audio_name, list_files(audio)):
        if p.relative_to(audio).as_posix() not in listed:
            res.rejects.append((display_path(p, ctx.base_dir), "audio file not listed in meta/esc50.csv"))
    res.extend(index_items(items, ctx, desc=f"{name} {root}"))
    return res
