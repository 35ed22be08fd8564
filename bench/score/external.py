"""Utterance lists from outside the pipeline, and matching a folder of enhanced files to them.

* :func:`paired_folder` -- a paired folder dataset (VoiceBank+DEMAND layout: ``ROOT/<clean_subdir>/x.wav``
  and ``ROOT/<noisy_subdir>/x.wav`` with identical file names).
* :func:`dataset_utterances` -- the test split of a dataset written by ``sebench labels``.
* :func:`match_system_files` -- a system folder's file for each utterance, by ``<mixture_id>.wav`` or by the
  noisy/clean file name; ``DIR/audio/`` is used when ``DIR`` itself holds no .wav (``data/enhanced/<level>``).

Utterance tables have columns ``mixture_id, clean_path, noisy_path`` (absolute paths) plus any metadata.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def parse_system_arg(s: str) -> tuple[str, Path]:
    """``"NAME=DIR"`` -> ``(NAME, DIR)``; a clear error otherwise."""
    name, sep, d = s.partition("=")
    if not sep or not name.strip() or not d.strip():
        raise ValueError(f"--system {s!r}: expected NAME=DIR")
    return name.strip(), Path(d.strip())


def paired_folder(root: str | Path, clean_subdir: str, noisy_subdir: str) -> pd.DataFrame:
    """Utterances of a paired folder dataset; ``mixture_id`` = file stem. Unpaired names raise."""
    root = Path(root)
    cdir, ndir = root / clean_subdir, root / noisy_subdir
    for d in (cdir, ndir):
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: not a directory (paired dataset root {root})")
    clean = {p.name: p for p in sorted(cdir.glob("*.wav"))}
    noisy = {p.name: p for p in sorted(ndir.glob("*.wav"))}
    if not clean:
        raise FileNotFoundError(f"{cdir}: no .wav files")
    only_c, only_n = sorted(set(clean) - set(noisy)), sorted(set(noisy) - set(clean))
    if only_c or only_n:
        raise ValueError(f"{root}: clean and noisy file names differ: {len(only_c)} only in {clean_subdir} "
                         f"(e.g. {only_c[:3]}), {len(only_n)} only in {noisy_subdir} (e.g. {only_n[:3]})")
    names = sorted(clean)
    return pd.DataFrame({"mixture_id": [Path(n).stem for n in names],
                         "clean_path": [str(clean[n].resolve()) for n in names],
                         "noisy_path": [str(noisy[n].resolve()) for n in names]})


def dataset_utterances(dataset_dir: str | Path, split: str = "test") -> pd.DataFrame:
    """The ``split`` metadata of a labels-stage dataset with absolute ``clean_path``/``noisy_path``."""
    from datagen.dataset import load_metadata

    dataset_dir = Path(dataset_dir).resolve()
    meta = load_metadata(dataset_dir, split)
    keep = [c for c in ("mixture_id", "clean_path", "noisy_path", "snr_db", "noise_class", "reverb", "duration_s")
            if c in meta]
    out = meta[keep].copy()
    for c in ("clean_path", "noisy_path"):
        out[c] = [str(dataset_dir / p) for p in out[c]]
    return out


def system_audio_dir(d: str | Path) -> Path:
    """``d`` itself if it holds .wav files, else ``d/audio`` if that exists; missing folders raise."""
    d = Path(d)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: system folder does not exist")
    if not any(d.glob("*.wav")) and (d / "audio").is_dir():
        return d / "audio"
    return d


def match_system_files(d: str | Path, utts: pd.DataFrame) -> dict[str, str | None]:
    """``{mixture_id: path or None}``: ``<mixture_id>.wav``, else the noisy file's name, else the clean file's."""
    d = system_audio_dir(d)
    present = {p.name for p in d.glob("*.wav")}
    out: dict[str, str | None] = {}
    for r in utts.itertuples(index=False):
        cands = [f"{r.mixture_id}.wav", Path(r.noisy_path).name, Path(r.clean_path).name]
        hit = next((c for c in cands if c in present), None)
        out[str(r.mixture_id)] = str((d / hit).resolve()) if hit else None
    if present and not any(out.values()):
        raise ValueError(f"{d}: {len(present)} .wav files but none matches an utterance "
                         f"(expected <mixture_id>.wav or the noisy file name, e.g. {utts['mixture_id'].iloc[0]}.wav)")
    return out


# --- external systems beside the pipeline's outputs -------------------------------------------------------
# `sebench score --system NAME=DIR` (no --out) must not overwrite the DVC-tracked score outputs, or the next
# `dvc repro` would silently drop the added row. It writes under <scores_dir>/../scores_external/<NAMES>/
# (data/ is not tracked by git, and no DVC stage declares the folder), and `sebench report` adds those rows.
EXTERNAL_DIRNAME = "scores_external"


def external_scores_root(paths: dict) -> Path:
    """``data/scores_external`` for the default paths: a sibling of ``paths.scores_dir``."""
    return Path(paths.get("scores_dir", "data/scores")).parent / EXTERNAL_DIRNAME


def external_run_dir(paths: dict, names: list[str]) -> Path:
    """Folder of one ``--system`` run: ``scores_external/<name>[+<name>...]`` (sorted names)."""
    return external_scores_root(paths) / "+".join(sorted(names))


def load_external(paths: dict, pipeline_systems: set[str]) -> dict[str, pd.DataFrame]:
    """Rows of the external systems scored by earlier ``--system`` runs, ready to append to the pipeline's.

    Returns ``{"summary", "paired", "per_utterance"}`` (empty dict when there is no external folder). Rows of
    pipeline systems (``noisy``, the levels) are dropped: the tracked outputs own them. A system name found
    in two run folders is an error naming both.
    """
    root = external_scores_root(paths)
    if not root.is_dir():
        return {}
    parts: dict[str, list[pd.DataFrame]] = {"summary": [], "paired": [], "per_utterance": []}
    seen: dict[str, Path] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        f = d / "scores_summary.csv"
        if not f.is_file():
            continue
        s = pd.read_csv(f)
        if "system" not in s:
            raise ValueError(f"{f}: no 'system' column (not written by sebench score)")
        names = sorted(set(s["system"].astype(str)) - set(pipeline_systems))
        for n in names:
            if n in seen:
                raise ValueError(f"external system {n!r} is scored in both {seen[n]} and {d}; delete one folder")
            seen[n] = d
        keep = lambda t: t[t["system"].astype(str).isin(names)]  # noqa: E731
        parts["summary"].append(keep(s))
        if (d / "scores_paired.csv").is_file():
            parts["paired"].append(keep(pd.read_csv(d / "scores_paired.csv")))
        if (d / "per_utterance.parquet").is_file():
            parts["per_utterance"].append(keep(pd.read_parquet(d / "per_utterance.parquet")))
    return {k: pd.concat(v, ignore_index=True) for k, v in parts.items() if v}
