"""Procedural noise clips for classes no recording covers, rendered to files by the corpus stage.

For each generator of ``datagen.procedural.GENERATORS`` (``name -> (noise_class, fn)``) and split,
``clips_per_class[split]`` clips are rendered with ``datagen.procedural.make_clip`` into
``<corpus_dir>/procedural/{split}/{name}_{k}.flac`` (16-bit FLAC), seeded from (global seed, split,
name, k). Their split is fixed; ``split_group`` = ``procedural:{name}:{split}:{k}``; ``sha256`` is of
the generator spec (``procedural.generator_spec``, JSON), as docs/data_formats.md specifies for procedural noise. Generators that take
a speech pool (babble) get utterances only of speakers NOT assigned to that split.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datagen.audio_io import load_audio, validate_samples, write_flac_atomic
from datagen.seeding import item_seed
from datagen.sources import SPLITS, CorpusError, SourceContext, SourceResult, display_path

LICENCE = "CC0 (generated)"
PEAK_MAX = 0.99  # stored clips peak at most here (16-bit FLAC)


def _wants_speech(name: str, fn) -> bool:
    from datagen import procedural

    if name in getattr(procedural, "NEEDS_SPEECH_POOL", ()):
        return True
    try:
        return "speech_pool" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def speech_pool(speech_rows: list[dict], split: str, sample_rate_hz: int, max_utterances: int,
                seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Utterances (float32 (n,) at ``sample_rate_hz``) of speakers not in ``split``; deterministic choice."""
    rows = sorted((r for r in speech_rows if r["split"] != split), key=lambda r: r["source_id"])
    rows = sorted(rows, key=lambda r: item_seed(seed, "babble-pool", split, r["source_id"]))[:max_utterances]
    rows = sorted(rows, key=lambda r: r["source_id"])
    return [load_audio(r["path"], target_sr=sample_rate_hz)[0] for r in rows], [r["source_id"] for r in rows]


def render(cfg: dict, speech_rows: list[dict], ctx: SourceContext) -> SourceResult:
    """Render procedural clips; ``cfg`` = ``corpus.procedural``; ``speech_rows`` already carry their split."""
    from datagen import procedural

    per_split = {s: int(n) for s, n in (cfg.get("clips_per_class") or {}).items()}
    bad = sorted(set(per_split) - set(SPLITS))
    if bad:
        raise CorpusError(f"corpus.procedural.clips_per_class: unknown splits {bad}; expected {SPLITS}")
    duration_s = float(cfg.get("clip_duration_s", 8.0))
    names = cfg.get("generators") or sorted(procedural.GENERATORS)
    unknown = sorted(set(names) - set(procedural.GENERATORS))
    if unknown:
        raise CorpusError(f"corpus.procedural.generators: unknown {unknown}; have {sorted(procedural.GENERATORS)}")
    max_pool = int(cfg.get("babble_pool_max", 64))
    out_dir = Path(ctx.corpus_dir) / "procedural"
    sr = ctx.sample_rate_hz
    res = SourceResult()
    jobs = [(s, n, k) for s in SPLITS for n in sorted(names) for k in range(per_split.get(s, 0))]
    pools: dict[str, tuple[list[np.ndarray], list[str]]] = {}
    for split, name, k in tqdm(jobs, desc="procedural noise", unit="clip", disable=not ctx.progress):
        noise_class, fn = procedural.GENERATORS[name]
        seed = item_seed(ctx.seed, "procedural", split, name, k)
        kwargs, pool_ids = {}, []
        if _wants_speech(name, fn):
            if split not in pools:
                pools[split] = speech_pool(speech_rows, split, sr, max_pool, ctx.seed)
                if not pools[split][0]:
                    raise CorpusError(f"procedural generator {name!r} needs speech of speakers outside split "
                                      f"{split!r}, but there is none (check corpus.speech_split and sources)")
            kwargs["speech_pool"], pool_ids = pools[split]
        x = np.asarray(procedural.make_clip(name, seed, duration_s, sample_rate_hz=sr, **kwargs), np.float32)
        sid = f"procedural/{split}/{name}_{k}"
        validate_samples(f"procedural:{name}", x[:, None], sr, 0.0, ctx.silence_peak_dbfs)
        # generators normalise RMS, not peak: scale impulsive clips (typing, rain) into 16-bit range.
        # The level is irrelevant downstream (mixing sets the SNR); the gain is recorded in `origin`.
        peak = float(np.max(np.abs(x)))
        gain = min(1.0, PEAK_MAX / peak)
        path = out_dir / split / f"{name}_{k}.flac"
        write_flac_atomic(path, x * gain, sr)
        spec = procedural.generator_spec(name, seed, duration_s, sr, pool_ids)
        res.rows.append(dict(
            source_id=sid, kind="noise", path=display_path(path, ctx.base_dir), duration_s=x.size / sr,
            orig_sample_rate_hz=sr, orig_channels=1, speaker="", noise_class=noise_class,
            split_group=f"procedural:{name}:{split}:{k}", split=split, licence=LICENCE,
            author="dyncp-sebench datagen.procedural",
            origin=f"procedural:{name} seed={seed} stored_gain={gain:.6g}",
            sha256=procedural.spec_sha256(spec)))
    return res
