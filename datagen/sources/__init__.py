"""Corpus sources: each turns one configured corpus into manifest rows + rejects.

A source module exposes ``index(cfg: dict, ctx: SourceContext) -> SourceResult``. ``cfg`` is one entry
of ``corpus.sources`` in params.yaml (``{type: ..., name: ..., root/path: ..., ...}``). Rows follow the
manifest schema of docs/data_formats.md (:data:`MANIFEST_COLUMNS`); ``split`` is ``None`` unless the
source fixes it (ESC-50 folds, procedural clips), in which case the corpus stage keeps it. Every file
is validated here (header + content: NaN/Inf, silence, length) so bad clips land in ``rejects.csv``
instead of crashing a later stage.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from datagen.errors import SebenchError
from datagen.audio_io import (DEFAULT_SILENCE_PEAK_DBFS, SUPPORTED_EXTENSIONS, AudioInputError, scan_audio,
                              sha256_file)

MANIFEST_COLUMNS = ("source_id", "kind", "path", "duration_s", "orig_sample_rate_hz", "orig_channels",
                    "speaker", "noise_class", "split_group", "split", "licence", "author", "origin", "sha256",
                    "gender")
KINDS = ("speech", "noise")
SPLITS = ("train", "valid", "test")

#: type -> module implementing ``index(cfg, ctx)`` (imported lazily).
SOURCE_MODULES = {
    "embedded": "datagen.sources.embedded",
    "dns": "datagen.sources.dns",
    "esc50": "datagen.sources.esc50",
    "folder": "datagen.sources.folder",
    "hf": "datagen.sources.hf",
    "vbd": "datagen.sources.vbd",
    "paired": "datagen.sources.paired",   # generic noisy/clean folder pairs (paired_* extra columns)
    "librispeech": "datagen.sources.librispeech",   # <root>/<subset>/<spk>/<chapter>/*.flac + SPEAKERS.TXT
}


class CorpusError(SebenchError, ValueError):
    """A configuration or metadata problem that makes a source unusable (fatal for the stage)."""


@dataclass
class SourceContext:
    """Stage-wide settings handed to every source."""

    corpus_dir: Path = Path("data/corpus")       # where sources may write files (hf clips)
    min_duration_s: float = 0.0
    silence_peak_dbfs: float = DEFAULT_SILENCE_PEAK_DBFS
    seed: int = 0
    sample_rate_hz: int = 16000
    base_dir: Path = field(default_factory=Path.cwd)  # manifest paths are relative to this when inside it
    progress: bool = True


@dataclass
class SourceResult:
    rows: list[dict] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def extend(self, other: "SourceResult") -> None:
        self.rows += other.rows
        self.rejects += other.rejects


def display_path(path: str | os.PathLike, base: Path) -> str:
    """POSIX path relative to ``base`` when inside it (portable manifests), else absolute."""
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(Path(os.path.abspath(base))).as_posix()
    except ValueError:
        return p.as_posix()


def stable_unit(*keys) -> float:
    """Deterministic number in [0, 1) from any keys (sha256; independent of process, order, platform)."""
    h = hashlib.sha256(repr(tuple(str(k) for k in keys)).encode()).digest()
    return int.from_bytes(h[:8], "little") / 2.0 ** 64


def stable_seed(*keys) -> int:
    """Deterministic 32-bit seed from any keys."""
    h = hashlib.sha256(repr(tuple(str(k) for k in keys)).encode()).digest()
    return int.from_bytes(h[:4], "little")


def list_files(root: Path) -> list[Path]:
    """All regular, non-hidden files below ``root``, sorted (independent of directory listing order)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".")]
    return sorted(out, key=lambda p: p.as_posix())


def is_audio_name(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_EXTENSIONS


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise CorpusError(f"{what}: directory not found: {path}")
    return path


def file_row(path: Path, ctx: SourceContext, *, source_id: str, kind: str, split_group: str,
             speaker: str | None = None, noise_class: str | None = None, split: str | None = None,
             licence: str = "unknown", author: str = "unknown", origin: str = "",
             sha256: str | None = None, gender: str | None = None) -> dict:
    """Validate ``path`` (raises AudioInputError) and build its manifest row (header facts from the file).

    ``gender`` (speech only): ``F``, ``M`` or empty when the source does not say; speech splits can be
    gender-balanced on it (``corpus.speech_split.n_speakers``)."""
    if kind not in KINDS:
        raise AudioInputError(path, f"unknown kind {kind!r}; expected one of {KINDS}")
    if kind == "speech" and not speaker:
        raise AudioInputError(path, "speech clip without a speaker")
    if kind == "noise" and not noise_class:
        raise AudioInputError(path, "noise clip without a noise class")
    info = scan_audio(path, ctx.min_duration_s, ctx.silence_peak_dbfs)
    digest = sha256_file(path)
    if sha256 and sha256 != digest:
        raise AudioInputError(path, f"sha256 mismatch: index says {sha256[:12]}..., file is {digest[:12]}...")
    return dict(source_id=source_id, kind=kind, path=display_path(path, ctx.base_dir),
                duration_s=float(info.duration_s), orig_sample_rate_hz=int(info.orig_sample_rate_hz),
                orig_channels=int(info.orig_channels), speaker=speaker if kind == "speech" else "",
                noise_class=noise_class if kind == "noise" else "", split_group=str(split_group),
                split=split, licence=str(licence), author=str(author), origin=str(origin), sha256=digest,
                gender=(str(gender).upper() if gender else "") if kind == "speech" else "")


def index_items(items: Iterable[tuple[Path, dict]], ctx: SourceContext, desc: str) -> SourceResult:
    """Run :func:`file_row` over ``(path, row kwargs)`` items; bad files become rejects."""
    items = list(items)
    res = SourceResult()
    for path, kw in tqdm(items, desc=desc, unit="file", disable=not ctx.progress or len(items) < 50):
        try:
            res.rows.append(file_row(path, ctx, **kw))
        except AudioInputError as e:
            res.rejects.append((display_path(path, ctx.base_dir), e.reason))
    return res


def source_name(cfg: dict) -> str:
    return str(cfg.get("name") or cfg.get("type"))


def run_source(cfg: dict, ctx: SourceContext) -> SourceResult:
    """Index one configured source; a source without any usable file is an error naming its root."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise CorpusError(f"corpus.sources entry must be a mapping with a 'type', got {cfg!r}")
    typ = cfg["type"]
    if typ not in SOURCE_MODULES:
        raise CorpusError(f"unknown corpus source type {typ!r}; expected one of {sorted(SOURCE_MODULES)}")
    res = importlib.import_module(SOURCE_MODULES[typ]).index(cfg, ctx)
    if not res.rows:
        where = cfg.get("root") or cfg.get("path") or "(default root)"
        raise CorpusError(f"source {source_name(cfg)!r} ({typ}) at {where}: no usable audio files "
                          f"({len(res.rejects)} rejected" + (f", e.g. {res.rejects[0][0]}: {res.rejects[0][1]}"
                                                             if res.rejects else "") + ")")
    return res
