"""``sebench corpus``: index the configured sources into ``manifest.parquet`` + ``rejects.csv`` + summary.

Reads ``corpus.*`` (sources, min_duration_s, speech_split, noise_split_fractions, procedural), ``seed``,
``frames.sample_rate_hz`` and ``paths.corpus_dir``. Splits:

- speech: by speaker; speakers listed in ``corpus.speech_split.{train,valid,test}`` go there; then
  ``corpus.speech_split.n_speakers.{valid,test}`` more are drawn, gender-balanced (see
  :func:`assign_speech_splits`); all others train.
- noise: by ``split_group`` (a source recording / fold), unless the source fixes the split (ESC-50 folds,
  procedural clips). Within each noise class the groups are ordered by a stable hash of
  (seed, split_group) and the first ``round(fraction * n)`` go to train, then valid, then test
  (largest-remainder rounding; every split with a positive fraction gets at least one group when the
  class has enough groups, and ``corpus.noise_min_groups.{split}`` groups where the class allows). The result depends only on the set of groups, never on file order.

Speech splits are speaker-disjoint and noise splits split_group-disjoint; both are checked before
anything is written. Outputs are deterministic (no timestamps): the manifest's bytes are identical
across runs on the same inputs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd

from datagen.config import add_params_arg, load_params, params_hash
from datagen.audio_io import DEFAULT_SILENCE_PEAK_DBFS, IMPLEMENTATION, AudioInputError
from datagen.sources import (MANIFEST_COLUMNS, SPLITS, CorpusError, SourceContext, SourceResult, run_source,
                             source_name, stable_unit)

DEFAULT_FRACTIONS = {"train": 0.6, "valid": 0.15, "test": 0.25}


def allocate(n: int, fractions: dict[str, float], min_groups: dict[str, int] | None = None) -> dict[str, int]:
    """Split ``n`` groups by ``fractions`` (largest remainder, ties in SPLITS order); positive fractions
    get at least one group when ``n`` allows, and at least ``min_groups[split]`` when that still leaves
    one group to each other positive split (taken from the largest split)."""
    f = {s: float(fractions.get(s, 0.0)) for s in SPLITS}
    if any(v < 0 for v in f.values()) or sum(f.values()) <= 0:
        raise CorpusError(f"corpus.noise_split_fractions must be >= 0 with a positive sum, got {fractions}")
    total = sum(f.values())
    raw = {s: n * v / total for s, v in f.items()}
    cnt = {s: int(raw[s]) for s in SPLITS}
    order = sorted(SPLITS, key=lambda s: (-(raw[s] - cnt[s]), SPLITS.index(s)))
    for s in order[: n - sum(cnt.values())]:
        cnt[s] += 1
    positive = [s for s in SPLITS if f[s] > 0]
    if n >= len(positive):
        for s in positive:
            if cnt[s] == 0:
                donor = max(SPLITS, key=lambda d: (cnt[d], -SPLITS.index(d)))
                cnt[donor] -= 1
                cnt[s] += 1
    for s, m in (min_groups or {}).items():
        while cnt[s] < int(m):
            donor = max((d for d in SPLITS if d != s), key=lambda d: (cnt[d], -SPLITS.index(d)))
            if cnt[donor] <= (1 if f[donor] > 0 else 0):
                break
            cnt[donor] -= 1
            cnt[s] += 1
    return cnt


def assign_speech_splits(rows: list[dict], speech_split: dict, seed: int = 0) -> list[str]:
    """Set ``split`` of speech rows by speaker; returns warnings.

    ``speech_split`` keys: ``train`` / ``valid`` / ``test`` (explicit speaker lists) and ``n_speakers``
    ({valid: n, test: n}: that many further speakers drawn per split, half of them female and half male
    (an odd one goes to F), from speakers with a known gender that no list names, ordered by a stable
    hash of (seed, speaker) so the draw depends only on the set of speakers). Unlisted, undrawn speakers go
    to train.
    """
    speech_split = dict(speech_split or {})
    n_speakers = speech_split.pop("n_speakers", None) or {}
    listed: dict[str, str] = {}
    for split, speakers in speech_split.items():
        if split not in SPLITS:
            raise CorpusError(f"corpus.speech_split: unknown key {split!r} (expected train/valid/test speaker "
                              "lists and n_speakers)")
        for spk in speakers or []:
            spk = str(spk)
            if spk in listed and listed[spk] != split:
                raise CorpusError(f"corpus.speech_split: speaker {spk!r} listed in both {listed[spk]!r} and {split!r}")
            listed[spk] = split
    gender: dict[str, str] = {}
    for r in rows:
        if r["kind"] == "speech":
            g = str(r.get("gender") or "").upper()
            if gender.setdefault(r["speaker"], g) != g:
                raise CorpusError(f"speaker {r['speaker']!r} has rows of gender {gender[r['speaker']]!r} and {g!r}")
    drawn: dict[str, str] = {}
    if n_speakers:
        bad = sorted(set(n_speakers) - {"valid", "test"})
        if bad:
            raise CorpusError(f"corpus.speech_split.n_speakers: unknown split(s) {bad} (valid, test)")
        pool = {g: sorted((s for s, gg in gender.items() if gg == g and s not in listed),
                          key=lambda s: (stable_unit(seed, "speech-split", s), s)) for g in ("F", "M")}
        for split in ("test", "valid"):
            n = int(n_speakers.get(split, 0) or 0)
            want = {"F": (n + 1) // 2, "M": n // 2}
            for g in ("F", "M"):
                if len(pool[g]) < want[g]:
                    raise CorpusError(f"corpus.speech_split.n_speakers.{split}: needs {want[g]} speakers of "
                                      f"gender {g}, only {len(pool[g])} unassigned ones have it")
                for spk in pool[g][: want[g]]:
                    drawn[spk] = split
                pool[g] = pool[g][want[g]:]
    for r in rows:
        if r["kind"] == "speech" and r["split"] is None:
            r["split"] = listed.get(r["speaker"]) or drawn.get(r["speaker"], "train")
    return [f"speech_split lists speaker {s!r} ({listed[s]}) but no source has it"
            for s in sorted(set(listed) - set(gender))]


def assign_noise_splits(rows: list[dict], fractions: dict, seed: int, min_groups: dict | None = None) -> None:
    """Set ``split`` of noise rows without one, per class, by stable hash rank of their split_group."""
    groups: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["kind"] == "noise" and r["split"] is None:
            groups[r["split_group"]].add(r["noise_class"])
    by_class: dict[str, list[str]] = defaultdict(list)
    for g, classes in groups.items():
        by_class[min(classes)].append(g)  # a group with several classes follows its first class
    split_of: dict[str, str] = {}
    for cls, gs in by_class.items():
        gs = sorted(gs, key=lambda g: (stable_unit(seed, "noise-split", g), g))
        cnt, i = allocate(len(gs), fractions, min_groups), 0
        for s in SPLITS:
            for g in gs[i: i + cnt[s]]:
                split_of[g] = s
            i += cnt[s]
    for r in rows:
        if r["kind"] == "noise" and r["split"] is None:
            r["split"] = split_of[r["split_group"]]


def check_disjoint(df: pd.DataFrame) -> None:
    """Speech speaker-disjoint, noise split_group-disjoint, every row in a known split (raises CorpusError)."""
    bad_split = df[~df["split"].isin(SPLITS)]
    if len(bad_split):
        raise CorpusError(f"rows without a valid split, e.g. {bad_split['source_id'].iloc[0]!r}")
    for kind, key in (("speech", "speaker"), ("noise", "split_group")):
        sub = df[df["kind"] == kind]
        n = sub.groupby(key)["split"].nunique()
        leaks = n[n > 1]
        if len(leaks):
            k = leaks.index[0]
            raise CorpusError(f"split leak: {kind} {key} {k!r} is in splits "
                              f"{sorted(sub.loc[sub[key] == k, 'split'].unique())}")
    sg = df.groupby("split_group")["kind"].nunique()
    if (sg > 1).any():
        raise CorpusError(f"split_group {sg[sg > 1].index[0]!r} holds both speech and noise")


def check_usable(df: pd.DataFrame, rejects: pd.DataFrame) -> None:
    """The corpus can feed a plan: some speech, and some noise unless every speech row is a pre-mixed pair
    (paired corpora bring their noise in ``paired_noisy_path``). Raises one-line :class:`CorpusError`."""
    speech = df["kind"] == "speech"
    paired = (df["paired_noisy_path"].fillna("").astype(str) != "") if "paired_noisy_path" in df else False
    missing = [k for k, bad in (("speech", not speech.any()),
                                ("noise", not (df["kind"] == "noise").any() and (speech & ~paired).any())) if bad]
    if missing:
        eg = f", e.g. {rejects['path'].iloc[0]}: {rejects['reason'].iloc[0]}" if len(rejects) else ""
        raise CorpusError(f"no usable {' and no usable '.join(missing)} in the corpus: {int(speech.sum())} speech and "
                          f"{int((df['kind'] == 'noise').sum())} noise clips accepted, {len(rejects)} rejected{eg}; "
                          "corpus.sources must provide both speech and noise")


def summarise(df: pd.DataFrame, rejects: pd.DataFrame, per_source: dict, warnings: list[str],
              cp: dict, seed: int) -> dict:
    counts = {k: {s: int(((df["kind"] == k) & (df["split"] == s)).sum()) for s in SPLITS} for k in ("speech", "noise")}
    minutes = {k: {s: round(float(df.loc[(df["kind"] == k) & (df["split"] == s), "duration_s"].sum()) / 60, 3)
                   for s in SPLITS} for k in ("speech", "noise")}
    noise = df[df["kind"] == "noise"]
    classes = {c: {s: int((g["split"] == s).sum()) for s in SPLITS} for c, g in noise.groupby("noise_class")}
    for c, per in classes.items():
        present = [s for s in SPLITS if per[s]]
        if len(present) == 1:
            warnings.append(f"noise class {c!r} is present in only one split ({present[0]})")
        elif len(present) < len(SPLITS):
            warnings.append(f"noise class {c!r} is missing from splits {[s for s in SPLITS if not per[s]]}")
    speech = df[df["kind"] == "speech"]
    speakers = {s: sorted(speech.loc[speech["split"] == s, "speaker"].unique().tolist()) for s in SPLITS}
    for s in SPLITS:
        for k in ("speech", "noise"):
            if counts[k][s] == 0:
                warnings.append(f"split {s!r} has no {k}")
    return {
        "implementation": {**IMPLEMENTATION, "module": "datagen.corpus"},
        "params_hash": params_hash({"seed": seed, "corpus": cp}),
        "n_rows": int(len(df)), "n_rejects": int(len(rejects)),
        "counts": counts, "minutes": minutes, "noise_classes": classes,
        "speakers": speakers, "n_speakers": {s: len(v) for s, v in speakers.items()},
        "speakers_by_gender": {s: {g or "unknown": int(n) for g, n in
                                   speech[speech["split"] == s].drop_duplicates("speaker")["gender"]
                                   .value_counts().sort_index().items()} for s in SPLITS},
        "sources": per_source,
        "rejects_by_reason": {r: int(n) for r, n in
                              rejects["reason"].str.split(r"[:(]", regex=True).str[0].str.strip().value_counts().sort_index().items()},
        "warnings": warnings,
    }


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def build_corpus(params: dict, progress: bool = True) -> dict:
    """Index all sources, assign splits, render procedural noise, write the outputs; returns the summary."""
    cp = params.get("corpus") or {}
    seed = int(params.get("seed", 0))
    corpus_dir = Path(params.get("paths", {}).get("corpus_dir", "data/corpus"))
    ctx = SourceContext(corpus_dir=corpus_dir, min_duration_s=float(cp.get("min_duration_s", 0.0)),
                        silence_peak_dbfs=float(cp.get("silence_peak_dbfs", DEFAULT_SILENCE_PEAK_DBFS)), seed=seed,
                        sample_rate_hz=int(params.get("frames", {}).get("sample_rate_hz", 16000)),
                        progress=progress)
    sources = cp.get("sources") or []
    if not sources:
        raise CorpusError("corpus.sources is empty: configure at least one source")
    names = [source_name(s) if isinstance(s, dict) else str(s) for s in sources]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CorpusError(f"corpus.sources: several sources named {dup}; give each a distinct 'name'")
    total, per_source = SourceResult(), {}
    for cfg in sources:
        res = run_source(cfg, ctx)
        per_source[source_name(cfg)] = {"type": cfg["type"], "rows": len(res.rows), "rejects": len(res.rejects)}
        total.extend(res)
    warnings = assign_speech_splits(total.rows, cp.get("speech_split") or {}, seed)
    assign_noise_splits(total.rows, cp.get("noise_split_fractions") or DEFAULT_FRACTIONS, seed,
                        cp.get("noise_min_groups"))
    proc = cp.get("procedural") or {}
    if any(int(n) > 0 for n in (proc.get("clips_per_class") or {}).values()):
        from datagen.sources import generated

        res = generated.render(proc, [r for r in total.rows if r["kind"] == "speech"], ctx)
        per_source["procedural"] = {"type": "procedural", "rows": len(res.rows), "rejects": len(res.rejects)}
        total.extend(res)
    # source-specific extra columns (paired corpora: paired_noisy_path, ...; datagen/sources/paired.py) follow
    # the standard ones; rows of other sources hold null there
    extra = sorted({k for r in total.rows for k in r} - set(MANIFEST_COLUMNS))
    df = pd.DataFrame(total.rows, columns=list(MANIFEST_COLUMNS) + extra)
    dups = df[df["source_id"].duplicated(keep=False)].sort_values("source_id")
    if len(dups):
        raise CorpusError(f"duplicate source_id {dups['source_id'].iloc[0]!r}: {dups['path'].tolist()[:2]}")
    df = df.sort_values("source_id").reset_index(drop=True)
    df = df.astype({"duration_s": "float64", "orig_sample_rate_hz": "int64", "orig_channels": "int64"})
    for c in MANIFEST_COLUMNS:
        if c not in ("duration_s", "orig_sample_rate_hz", "orig_channels"):
            df[c] = df[c].fillna("").astype(str)
    check_disjoint(df)
    rejects = pd.DataFrame(sorted(set(total.rejects)), columns=["path", "reason"])
    check_usable(df, rejects)
    summary = summarise(df, rejects, per_source, warnings, cp, seed)
    _write_atomic(corpus_dir / "manifest.parquet", lambda p: df.to_parquet(p, index=False))
    _write_atomic(corpus_dir / "rejects.csv", lambda p: rejects.to_csv(p, index=False))
    _write_atomic(corpus_dir / "corpus_summary.json",
                  lambda p: p.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n"))
    return summary


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="sebench corpus", description=__doc__.split("\n")[0])
    add_params_arg(ap)
    args = ap.parse_args(argv)
    try:
        params = load_params(args.params)
        s = build_corpus(params, progress=not args.no_progress)
    except (CorpusError, AudioInputError, FileNotFoundError, ValueError) as e:
        print(f"sebench corpus: error: {e}", file=sys.stderr)
        return 2
    corpus_dir = Path(params.get("paths", {}).get("corpus_dir", "data/corpus"))
    print(f"corpus: {s['n_rows']} clips, {s['n_rejects']} rejected -> {corpus_dir}/manifest.parquet")
    for k in ("speech", "noise"):
        print(f"  {k}: " + ", ".join(f"{sp} {s['counts'][k][sp]} ({s['minutes'][k][sp]:.1f} min)" for sp in SPLITS))
    for w in s["warnings"]:
        print(f"  warning: {w}", file=sys.stderr)
    return 0
