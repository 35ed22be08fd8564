"""LibriSpeech in its standard layout: ``<root>/<subset>/<speaker>/<chapter>/<spk>-<chap>-<utt>.flac``.

``<root>/SPEAKERS.TXT`` (as shipped with LibriSpeech: ``ID | SEX | SUBSET | MINUTES | NAME`` rows, ``;``
comments) gives each reader's gender. Every file is speech of speaker ``<speaker>`` (split group = speaker,
so splits stay speaker-disjoint). Licence CC BY 4.0 (LibriSpeech, Panayotov et al., ICASSP 2015).

Params: ``root`` (required), ``subsets`` (list of subset folder names, default: every folder below root
that holds speaker folders), ``max_files_per_speaker`` (default: all; the first files in sorted order),
``speaker_prefix`` (default ``ls``: speaker ``103`` becomes ``ls103``, so ids never collide with other
sources' speakers).
"""
from __future__ import annotations

import re
from pathlib import Path

from datagen.sources import (CorpusError, SourceContext, SourceResult, display_path, index_items, require_dir,
                             source_name)

LICENCE = "CC-BY-4.0"
AUTHOR = "LibriVox readers; LibriSpeech corpus (c) 2014 Vassil Panayotov et al."
FILE_RE = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def parse_speakers_txt(path: Path) -> dict[str, str]:
    """``SPEAKERS.TXT`` -> {speaker id: 'F' | 'M'}; raises CorpusError naming the file and line if malformed."""
    if not path.is_file():
        raise CorpusError(f"{path}: SPEAKERS.TXT not found (LibriSpeech ships it at the corpus root)")
    out: dict[str, str] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2 or not parts[0].isdigit() or parts[1].upper() not in ("F", "M"):
            raise CorpusError(f"{path}:{i}: expected 'ID | SEX | ...' with SEX F or M, got {line.strip()!r}")
        out[parts[0]] = parts[1].upper()
    if not out:
        raise CorpusError(f"{path}: no speaker rows")
    return out


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    name = source_name(cfg)
    if not cfg.get("root"):
        raise CorpusError(f"source {name!r} (librispeech): 'root' is required")
    root = require_dir(Path(cfg["root"]), f"source {name!r} (librispeech) root")
    genders = parse_speakers_txt(root / "SPEAKERS.TXT")
    prefix = str(cfg.get("speaker_prefix", "ls"))
    cap = cfg.get("max_files_per_speaker")
    subsets = cfg.get("subsets")
    subset_dirs = ([root / s for s in subsets] if subsets else
                   sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")))
    res, items, per_speaker = SourceResult(), [], {}
    for sub in subset_dirs:
        require_dir(sub, f"source {name!r} (librispeech) subset")
        for f in sorted(sub.glob("*/*/*.flac"), key=lambda p: p.as_posix()):
            spk, chap = f.parent.parent.name, f.parent.name
            m = FILE_RE.match(f.stem)
            if not m or m.group(1) != spk or m.group(2) != chap:
                res.rejects.append((display_path(f, ctx.base_dir),
                                    f"name does not match <speaker>-<chapter>-<utt> of folder {spk}/{chap}"))
                continue
            if spk not in genders:
                res.rejects.append((display_path(f, ctx.base_dir), f"speaker {spk} not in SPEAKERS.TXT"))
                continue
            n = per_speaker.get(spk, 0)
            if cap is not None and n >= int(cap):
                continue
            per_speaker[spk] = n + 1
            items.append((f, dict(source_id=f"{name}/{f.stem}", kind="speech", speaker=f"{prefix}{spk}",
                                  gender=genders[spk], split_group=f"{prefix}{spk}", licence=LICENCE,
                                  author=AUTHOR, origin=f"LibriSpeech {sub.name}/{spk}/{chap}/{f.name}")))
    res.extend(index_items(items, ctx, desc=f"{name} {root}"))
    return res
