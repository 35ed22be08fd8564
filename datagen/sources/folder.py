"""Folder-per-label layout: ``<root>/<label>/**.{wav,flac,ogg}``.

``kind: noise`` (default): label = noise class, each file its own split group. ``kind: speech``:
label = speaker (= split group). Files directly in the root, or with another extension, are rejected.
Params: ``root``, ``kind``, ``licence``, ``author``.
"""
from __future__ import annotations

from pathlib import Path

from datagen.audio_io import SUPPORTED_EXTENSIONS
from datagen.sources import (display_path, KINDS, CorpusError, SourceContext, SourceResult, index_items, is_audio_name,
                             list_files, require_dir, source_name)


def index(cfg: dict, ctx: SourceContext) -> SourceResult:
    name = source_name(cfg)
    if not cfg.get("root"):
        raise CorpusError(f"source {name!r} (folder): 'root' is required")
    root = require_dir(Path(cfg["root"]), f"source {name!r} (folder) root")
    kind = cfg.get("kind", "noise")
    if kind not in KINDS:
        raise CorpusError(f"source {name!r} (folder): kind must be one of {KINDS}, got {kind!r}")
    res, items = SourceResult(), []
    for p in list_files(root):
        rel = p.relative_to(root)
        if len(rel.parts) < 2:
            res.rejects.append((display_path(p, ctx.base_dir), f"not inside a {'class' if kind == 'noise' else 'speaker'} folder"))
            continue
        if not is_audio_name(p):
            res.rejects.append((display_path(p, ctx.base_dir), f"unsupported format {p.suffix or '(no extension)'!r} "
                                        f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})"))
            continue
        label, sid = rel.parts[0], f"{name}/{rel.as_posix()}"
        items.append((p, dict(source_id=sid, kind=kind, speaker=label if kind == "speech" else None,
                              noise_class=label if kind == "noise" else None,
                              split_group=label if kind == "speech" else sid,
                              licence=cfg.get("licence", "unknown (user-provided)"),
                              author=cfg.get("author", "unknown (user-provided)"),
                              origin=f"folder source {name}: {rel.as_posix()}")))
    res.extend(index_items(items, ctx, desc=f"{name} {root}"))
    return res
