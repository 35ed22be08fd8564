"""The embedded default corpus: ``<root>/embedded.csv`` indexing audio files below ``<root>``.

``embedded.csv`` (written by ``sebench build-corpus``) has the columns :data:`CSV_COLUMNS`; ``path`` is
relative to the root. The index is authoritative for labels, licence and the original recording's
rate/channels; duration and sha256 are checked against the file itself (mismatching sha256 -> reject).
Params: ``root`` (default ``datagen/embedded``).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from datagen.sources import CorpusError, SourceContext, SourceResult, index_items

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "embedded"
CSV_NAME = "embedded.csv"
CSV_COLUMNS = ("source_id", "kind", "path", "duration_s", "orig_sample_rate_hz", "orig_channels", "speaker",
               "noise_class", "split_group", "licence", "author", "origin", "sha256", "gender")


def read_index(root: Path) -> pd.DataFrame:
    csv = root / CSV_NAME
    if not csv.is_file():
        raise CorpusError(f"{csv}: embedded corpus index not found (build it with `sebench build-corpus`)")
    try:
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CorpusError(f"{csv}: unreadable CSV ({e})") from None
    if "gender" not in df.columns:   # optional (indexes written before it existed): unknown gender
        df["gender"] = ""
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise CorpusError(f"{csv}: missing columns {missing} (expected {list(CSV_COLUMNS)})")
    dup = df["source_id"][df["source_id"].duplicated()].tolist()
    if dup:
        raise CorpusError(f"{csv}: duplicate source_id values {dup[:5]}")
    return df.sort_values("source_id").reset_index(drop=True)


def _int(value: str, csv: Path, column: str, sid: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise CorpusError(f"{csv}: row {sid!r}: column {column!r} is not a number: {value!r}") from None


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    root = Path(cfg.get("root") or DEFAULT_ROOT)
    df = read_index(root)
    csv = root / CSV_NAME
    items, overrides = [], {}
    for r in df.itertuples(index=False):
        kw = dict(source_id=r.source_id, kind=r.kind, split_group=r.split_group or r.speaker or r.source_id,
                  speaker=r.speaker or None, noise_class=r.noise_class or None, licence=r.licence,
                  author=r.author, origin=r.origin, sha256=r.sha256 or None, gender=r.gender or None)
        items.append((root / r.path, kw))
        # the index describes the original recording (before the corpus builder converted it)
        overrides[r.source_id] = {c: _int(getattr(r, c), csv, c, r.source_id)
                                  for c in ("orig_sample_rate_hz", "orig_channels") if getattr(r, c) != ""}
    res = index_items(items, ctx, desc=f"embedded {root}")
    for row in res.rows:
        row.update(overrides[row["source_id"]])
    return res
