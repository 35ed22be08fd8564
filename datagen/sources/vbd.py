"""VoiceBank+DEMAND clean speech: ``<root>/clean_trainset*_wav/*.wav`` and ``<root>/clean_testset*_wav/*.wav``.

Speech rows only (the DEMAND noise of VBD is pre-mixed; add noise through another source). Speaker =
the file-name prefix (``p232_001.wav`` -> ``p232``). Test-set speakers get ``split: test`` fixed (the
824-utterance convention: p232, p257); train-set speakers are split by ``corpus.speech_split`` (listed
valid speakers -> valid, others train). Params: ``root``, ``licence``, ``author``.

``paired: true`` (default ``auto``: true when the release's log files ``logfiles/log_*.txt`` are present)
indexes the noisy/clean *pairs* instead (noise type + SNR from the log files): see
:mod:`datagen.sources.paired`; the pipeline then renders one mixture per pair (docs/vbd.md).
"""
from __future__ import annotations

import re
from pathlib import Path

from datagen.sources import (CorpusError, SourceContext, SourceResult, index_items, is_audio_name, list_files,
                             require_dir, source_name)

SPEAKER_RE = re.compile(r"^(p\d+)_")


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    name = source_name(cfg)
    if not cfg.get("root"):
        raise CorpusError(f"source {name!r} (vbd): 'root' is required")
    root = require_dir(Path(cfg["root"]), f"source {name!r} (vbd) root")
    paired = cfg.get("paired", "auto")
    if paired not in (True, False, "auto"):
        raise CorpusError(f"source {name!r} (vbd): paired must be true, false or auto, got {paired!r}")
    if paired is True or (paired == "auto" and (any(root.glob("logfiles/log_*.txt")) or any(root.glob("log_*.txt")))):
        from datagen.sources.paired import index_vbd  # noisy/clean pairs (Issue 8)

        return index_vbd(cfg, ctx)
    sets = {"train": sorted(root.glob("clean_trainset*_wav")), "test": sorted(root.glob("clean_testset*_wav"))}
    if not any(sets.values()):
        raise CorpusError(f"source {name!r} (vbd): no clean_trainset*_wav or clean_testset*_wav folder in {root}")
    res, items = SourceResult(), []
    for which, dirs in sets.items():
        for d in dirs:
            for p in filter(is_audio_name, list_files(d)):
                m = SPEAKER_RE.match(p.name)
                spk = m.group(1) if m else p.stem.split("_")[0]
                rel = p.relative_to(root).as_posix()
                items.append((p, dict(source_id=f"{name}/{rel}", kind="speech", speaker=spk, split_group=spk,
                                      split="test" if which == "test" else None,
                                      licence=cfg.get("licence", "CC BY 4.0 (VoiceBank+DEMAND, Valentini-Botinhao 2017)"),
                                      author=cfg.get("author", "VCTK speakers / University of Edinburgh"),
                                      origin=f"VoiceBank+DEMAND {rel}")))
    res.extend(index_items(items, ctx, desc=f"{name} {root}"))
    return res
