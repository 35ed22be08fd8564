"""Paired (pre-mixed) corpora: a noisy recording + its clean reference, as manifest speech rows.

Two layouts, one row format. Each clean file becomes a ``kind: speech`` row (validated and hashed like
any source) with extra columns that the plan and render stages read (``datagen/plan.py``,
``datagen/paired.py``):

- ``paired_noisy_path`` (str): the noisy file (same path convention as ``path``),
- ``paired_noisy_sha256`` (str): sha256 of the noisy file bytes,
- ``paired_noise_class`` (str): noise type of the pair,
- ``paired_snr_db`` (float, NaN when unknown): SNR stated by the corpus.

**VoiceBank+DEMAND** (``{type: vbd, root: ..., paired: true}``, see :func:`index_vbd`)::

    <root>/clean_trainset_28spk_wav/p226_001.wav   noisy_trainset_28spk_wav/p226_001.wav
    <root>/clean_testset_wav/p232_001.wav          noisy_testset_wav/p232_001.wav
    <root>/logfiles/log_trainset_28spk.txt         lines "<utt> <noise type> <snr dB>"
    <root>/logfiles/log_testset.txt                (also accepted directly in <root>)

Speaker = file-name prefix (``p232_001`` -> ``p232``); test-set utterances are fixed to ``split: test``;
training speakers follow ``corpus.speech_split`` (conventionally ``valid: [p226, p287]``). Noise types
must be in ``noise_types`` (default :data:`VBD_NOISE_TYPES`; ``noise_types: any`` accepts every token).

**Generic paired folders** (``{type: paired, name: ..., root: ..., noisy_dir: noisy, clean_dir: clean,
metadata_csv: null, split: null, noise_class: unknown, speaker_regex: '^([^_]+)_'}``, see
:func:`index_folder`): ``<root>/<noisy_dir>/**`` and ``<root>/<clean_dir>/**`` with identical relative
names; the optional CSV (``file`` column = the relative name; optional ``noise_class``, ``snr_db``,
``speaker``, ``split``) overrides the defaults per file.

A clean file without its noisy twin, a pair whose rates/lengths differ, a missing log entry and an
unparseable or unknown log line are fatal :class:`CorpusError` s naming the file (a broken pairing is a
broken corpus, not a bad clip); unreadable/silent audio is rejected into ``rejects.csv`` like elsewhere.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from datagen.audio_io import AudioInputError, scan_audio, sha256_file
from datagen.sources import (SPLITS, CorpusError, SourceContext, SourceResult, display_path, file_row, is_audio_name,
                             list_files, require_dir, source_name)

#: Noise-type tokens of the VoiceBank+DEMAND log files (Valentini-Botinhao et al. 2016/2017). Training
#: (28/56 spk): eight DEMAND recordings + two artificial noises (speech-shaped ``ssn``, ``babble``);
#: test: five other DEMAND recordings. Train and test noise types are disjoint.
VBD_TRAIN_NOISE_TYPES = ("babble", "cafeteria", "car", "kitchen", "meeting", "metro", "restaurant", "ssn",
                         "station", "traffic")
VBD_TEST_NOISE_TYPES = ("bus", "cafe", "living", "office", "psquare")
VBD_NOISE_TYPES = VBD_TRAIN_NOISE_TYPES + VBD_TEST_NOISE_TYPES
VBD_SET_RE = re.compile(r"^clean_((?:train|test)set[^/]*?)_wav$")
SPEAKER_RE = re.compile(r"^(p\d+)_")
#: Clean and noisy lengths may differ by this much at the original rate before it is an error here
#: (render checks the exact alignment at 16 kHz).
MAX_LENGTH_DIFF_S = 0.01
PAIRED_COLUMNS = ("paired_noisy_path", "paired_noisy_sha256", "paired_noise_class", "paired_snr_db")


def parse_log(path: Path, known: tuple[str, ...] | None) -> dict[str, tuple[str, float]]:
    """``log_*.txt`` -> {utterance: (noise type, snr dB)}; blank lines skipped.

    Raises CorpusError naming the file and line for a malformed line, a non-numeric SNR, a duplicate
    utterance or (with ``known``) a noise type outside ``known``.
    """
    out: dict[str, tuple[str, float]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: cannot read log file ({e})") from None
    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{i}: {line.strip()!r}"
        if len(parts) != 3:
            raise CorpusError(f"{where}: expected '<utterance> <noise type> <snr dB>' (3 fields), got {len(parts)}")
        utt, ntype, snr = parts
        try:
            snr_db = float(snr)
        except ValueError:
            raise CorpusError(f"{where}: SNR {snr!r} is not a number") from None
        if not math.isfinite(snr_db):
            raise CorpusError(f"{where}: SNR {snr!r} is not finite")
        if known is not None and ntype not in known:
            raise CorpusError(f"{where}: unknown noise type {ntype!r} (known: {', '.join(known)}; set the source's "
                              "noise_types to a list, or to 'any' to accept every type)")
        if utt in out:
            raise CorpusError(f"{where}: utterance {utt!r} listed twice")
        out[utt] = (ntype, snr_db)
    return out


def _known_types(cfg: dict, default: tuple[str, ...]) -> tuple[str, ...] | None:
    v = cfg.get("noise_types", "default")
    if v == "default" or v is None:
        return default
    if v == "any":
        return None
    if isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v):
        return tuple(v)
    raise CorpusError(f"source {source_name(cfg)!r}: noise_types must be a list of strings or 'any', got {v!r}")


def pair_rows(pairs: list[tuple[Path, Path, dict]], ctx: SourceContext, desc: str) -> SourceResult:
    """Validate each (clean, noisy, row kwargs) pair and build its manifest row (+ paired columns).

    Bad audio on either side rejects the pair (rejects.csv, naming the file); different sample rates or
    lengths (beyond :data:`MAX_LENGTH_DIFF_S`) raise CorpusError naming both files.
    """
    res = SourceResult()
    for clean, noisy, kw in tqdm(pairs, desc=desc, unit="pair", disable=not ctx.progress or len(pairs) < 50):
        extra = {k: kw.pop(k) for k in ("paired_noise_class", "paired_snr_db")}
        try:
            row = file_row(clean, ctx, **kw)
            info = scan_audio(noisy, ctx.min_duration_s, ctx.silence_peak_dbfs)
        except AudioInputError as e:
            res.rejects.append((display_path(e.path, ctx.base_dir), e.reason))
            continue
        if info.orig_sample_rate_hz != row["orig_sample_rate_hz"]:
            raise CorpusError(f"misaligned pair: noisy {noisy} is {info.orig_sample_rate_hz} Hz but clean {clean} is "
                              f"{row['orig_sample_rate_hz']} Hz")
        diff_s = abs(info.duration_s - row["duration_s"])
        if diff_s > MAX_LENGTH_DIFF_S:
            raise CorpusError(f"misaligned pair: noisy {noisy} lasts {info.duration_s:.4f} s but clean {clean} "
                              f"{row['duration_s']:.4f} s (difference {diff_s * 1000:.1f} ms > "
                              f"{MAX_LENGTH_DIFF_S * 1000:.0f} ms)")
        row.update(paired_noisy_path=display_path(noisy, ctx.base_dir), paired_noisy_sha256=sha256_file(noisy),
                   paired_noise_class=str(extra["paired_noise_class"]),
                   paired_snr_db=float(extra["paired_snr_db"]))
        res.rows.append(row)
    return res


def _find_log(root: Path, name: str) -> Path | None:
    for cand in (root / "logfiles" / name, root / name):
        if cand.is_file():
            return cand
    return None


def index_vbd(cfg: dict, ctx: SourceContext) -> SourceResult:
    """VoiceBank+DEMAND as pairs (layout in the module docstring)."""
    name = source_name(cfg)
    root = require_dir(Path(cfg["root"]), f"source {name!r} (vbd) root")
    known = _known_types(cfg, VBD_NOISE_TYPES)
    sets = sorted(d for d in root.iterdir() if d.is_dir() and VBD_SET_RE.match(d.name))
    if not sets:
        raise CorpusError(f"source {name!r} (vbd): no clean_trainset*_wav or clean_testset_wav folder in {root}")
    pairs = []
    for clean_dir in sets:
        set_name = VBD_SET_RE.match(clean_dir.name).group(1)
        noisy_dir = root / f"noisy_{set_name}_wav"
        require_dir(noisy_dir, f"source {name!r} (vbd): noisy folder paired with {clean_dir}")
        log_path = _find_log(root, f"log_{set_name}.txt")
        if log_path is None:
            raise CorpusError(f"source {name!r} (vbd): log file log_{set_name}.txt (noise type + SNR per utterance of "
                              f"{clean_dir.name}) not found in {root / 'logfiles'} or {root}")
        log = parse_log(log_path, known)
        for p in filter(is_audio_name, list_files(clean_dir)):
            utt = p.relative_to(clean_dir).with_suffix("").as_posix()
            if utt not in log:
                raise CorpusError(f"{log_path}: no entry for utterance {utt!r} ({p})")
            noisy = noisy_dir / p.relative_to(clean_dir)
            if not noisy.is_file():
                raise CorpusError(f"source {name!r} (vbd): clean {p} has no noisy counterpart {noisy}")
            m = SPEAKER_RE.match(p.name)
            spk = m.group(1) if m else p.stem.split("_")[0]
            rel = p.relative_to(root).as_posix()
            ntype, snr_db = log[utt]
            pairs.append((p, noisy, dict(
                source_id=f"{name}/{rel}", kind="speech", speaker=spk, split_group=spk,
                split="test" if set_name.startswith("test") else None,
                licence=cfg.get("licence", "CC BY 4.0 (VoiceBank+DEMAND, Valentini-Botinhao 2017)"),
                author=cfg.get("author", "VCTK speakers / University of Edinburgh"),
                origin=f"VoiceBank+DEMAND {rel} (paired with {noisy.relative_to(root).as_posix()}, {ntype} "
                       f"{snr_db:g} dB)",
                paired_noise_class=ntype, paired_snr_db=snr_db)))
    return pair_rows(pairs, ctx, desc=f"{name} {root}")


def _read_metadata(path: Path) -> dict[str, dict]:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: cannot read metadata CSV ({e})") from None
    if "file" not in df.columns:
        raise CorpusError(f"{path}: metadata CSV needs a 'file' column (path relative to the clean/noisy folders); "
                          f"has {list(df.columns)}")
    unknown = set(df.columns) - {"file", "noise_class", "snr_db", "speaker", "split"}
    if unknown:
        raise CorpusError(f"{path}: unknown metadata columns {sorted(unknown)} (allowed: file, noise_class, snr_db, "
                          "speaker, split)")
    out = {}
    for i, r in enumerate(df.to_dict("records"), 2):
        f = Path(r["file"]).as_posix()
        if f in out:
            raise CorpusError(f"{path}:{i}: file {f!r} listed twice")
        if r.get("snr_db", ""):
            try:
                float(r["snr_db"])
            except ValueError:
                raise CorpusError(f"{path}:{i}: snr_db {r['snr_db']!r} is not a number") from None
        if r.get("split", "") and r["split"] not in SPLITS:
            raise CorpusError(f"{path}:{i}: split {r['split']!r} is not one of {SPLITS}")
        out[f] = r
    return out


def index_folder(cfg: dict, ctx: SourceContext) -> SourceResult:
    """Generic paired folders (layout and params in the module docstring)."""
    name = source_name(cfg)
    if not cfg.get("root"):
        raise CorpusError(f"source {name!r} (paired): 'root' is required")
    root = require_dir(Path(cfg["root"]), f"source {name!r} (paired) root")
    clean_dir = require_dir(root / cfg.get("clean_dir", "clean"), f"source {name!r} (paired) clean folder")
    noisy_dir = require_dir(root / cfg.get("noisy_dir", "noisy"), f"source {name!r} (paired) noisy folder")
    meta = _read_metadata(root / cfg["metadata_csv"]) if cfg.get("metadata_csv") else {}
    split = cfg.get("split")
    if split is not None and split not in SPLITS:
        raise CorpusError(f"source {name!r} (paired): split must be one of {SPLITS} or null, got {split!r}")
    spk_re = re.compile(cfg.get("speaker_regex", r"^([^_]+)_"))
    known = _known_types(cfg, None) if cfg.get("noise_types", "any") != "any" else None
    clean_files = {p.relative_to(clean_dir).as_posix(): p for p in filter(is_audio_name, list_files(clean_dir))}
    noisy_files = {p.relative_to(noisy_dir).as_posix(): p for p in filter(is_audio_name, list_files(noisy_dir))}
    only_noisy = sorted(set(noisy_files) - set(clean_files))
    if only_noisy:
        raise CorpusError(f"source {name!r} (paired): noisy {noisy_files[only_noisy[0]]} has no clean counterpart "
                          f"{clean_dir / only_noisy[0]} ({len(only_noisy)} unpaired noisy files)")
    missing_meta = sorted(set(meta) - set(clean_files))
    if missing_meta:
        raise CorpusError(f"{root / cfg['metadata_csv']}: file {missing_meta[0]!r} is not in {clean_dir}")
    pairs = []
    for rel, p in sorted(clean_files.items()):
        if rel not in noisy_files:
            raise CorpusError(f"source {name!r} (paired): clean {p} has no noisy counterpart {noisy_dir / rel}")
        m = meta.get(rel, {})
        sm = spk_re.search(Path(rel).name)
        spk = m.get("speaker") or (sm.group(1) if sm else name)
        ncls = m.get("noise_class") or str(cfg.get("noise_class", "unknown"))
        if known is not None and ncls not in known:
            raise CorpusError(f"source {name!r} (paired): {p}: unknown noise class {ncls!r} (known: {', '.join(known)})")
        snr_db = float(m["snr_db"]) if m.get("snr_db") else float("nan")
        rel_root = p.relative_to(root).as_posix()
        pairs.append((p, noisy_files[rel], dict(
            source_id=f"{name}/{rel_root}", kind="speech", speaker=spk, split_group=spk,
            split=m.get("split") or split,
            licence=cfg.get("licence", "unknown (user-provided)"), author=cfg.get("author", "unknown (user-provided)"),
            origin=f"paired source {name}: {rel_root} (noisy {noisy_files[rel].relative_to(root).as_posix()})",
            paired_noise_class=ncls, paired_snr_db=snr_db)))
    return pair_rows(pairs, ctx, desc=f"{name} {root}")


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    """``type: paired`` entry point (generic paired folders)."""
    return index_folder(cfg, ctx)
