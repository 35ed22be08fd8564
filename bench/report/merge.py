"""Merging leaderboards of several runs (other machines, experiments, external systems) into one.

An input is a leaderboard CSV, a run/report folder holding ``leaderboard.csv`` (or ``reports/leaderboard.csv``),
or a ``sebench score --out DIR`` folder (``scores_summary.csv`` [+ ``scores_paired.csv``, ``provenance.json``])
of external systems. Rows are comparable only on the same dataset (``dataset_sha256``) with the same metric
implementation, version and mode (``metric_spec``); the first input is the reference. Incomparable rows are
refused (:class:`MergeMismatch`) unless ``allow_mismatch``, which keeps them and states why in ``mismatch``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.report import leaderboard as L
from datagen.errors import SebenchError


class MergeMismatch(SebenchError, ValueError):
    """Rows of different datasets or metric implementations would be mixed (message lists every conflict)."""


def _spec(s) -> dict:
    try:
        d = json.loads(str(s))
        return d if isinstance(d, dict) else {}
    except json.JSONDecodeError:
        return {}


def load_input(path: str | Path, assume_dataset: str | None = None) -> pd.DataFrame:
    """Leaderboard rows of one input (see module docstring); raises a clear error naming the path."""
    path = Path(path)
    if path.is_dir():
        for cand in (path / "leaderboard.csv", path / "reports" / "leaderboard.csv"):
            if cand.is_file():
                return load_input(cand, assume_dataset)
        if (path / "scores_summary.csv").is_file():
            return _from_scores(path, assume_dataset)
        raise FileNotFoundError(f"{path}: no leaderboard.csv, reports/leaderboard.csv or scores_summary.csv in it")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    head = pd.read_csv(path, nrows=0).columns
    if "system" in head and "metric" in head:  # a scores_summary.csv given directly
        return _from_scores(path.parent, assume_dataset, path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    miss = [c for c in ("model", *L.PROVENANCE_COLUMNS) if c not in df.columns]
    if miss:
        raise L.ReportInputError(f"{path}: not a sebench leaderboard (missing columns {miss})")
    absent = [c for c in L.COLUMNS if c not in df.columns]
    if absent:  # an older / hand-made leaderboard: keep the rows, say which columns it lacked
        df["notes"] = [f"{n}; columns absent in {path.name}: {', '.join(absent)}" if n not in ("", "none") else
                       f"columns absent in {path.name}: {', '.join(absent)}"
                       for n in df.get("notes", pd.Series([""] * len(df)))]
    return L.finalize(df.drop(columns=[c for c in ("run", "mismatch", "source") if c in df.columns]))


def _from_scores(folder: Path, assume_dataset: str | None, summary: Path | None = None) -> pd.DataFrame:
    """Leaderboard rows for systems scored by ``sebench score --out folder`` (compute/probes: n/a)."""
    summary = summary or folder / "scores_summary.csv"
    scores = L._read_csv(summary, L.SCORES_REQUIRED)
    paired = L._read_csv(folder / "scores_paired.csv", L.PAIRED_REQUIRED) if (folder / "scores_paired.csv").is_file() \
        else None
    prov = {"git_commit": "unknown", "git_dirty": "unknown", "params_hash": "unknown",
            "dataset_sha256": "unknown (no provenance.json; pass --assume-dataset)"}
    if (folder / "provenance.json").is_file():
        prov.update(L._read_json(folder / "provenance.json"))
    elif (folder / "scores.json").is_file():
        env = L._read_json(folder / "scores.json").get("env", {})
        prov["git_commit"] = env.get("git_commit") or "unknown"
    if assume_dataset and str(prov["dataset_sha256"]).startswith("unknown"):
        prov["dataset_sha256"] = _dataset_arg(assume_dataset)
    inp = L.Inputs(levels={}, scores=scores, paired=paired)
    return L.build(inp, prov, rid=f"scored:{folder.name}")


def _dataset_arg(s: str) -> str:
    """``--assume-dataset``: a plan.parquet path (hashed) or a sha256 hex string."""
    from bench.report.provenance import sha256_file

    p = Path(s)
    return sha256_file(p) if p.is_file() else s


def parse_input_arg(s: str) -> tuple[str | None, str]:
    """``LABEL=PATH`` or ``PATH`` -> (label or None, path)."""
    if "=" in s and not Path(s).exists():
        label, path = s.split("=", 1)
        if label and path:
            return label, path
    return None, s


def merge(inputs: list[tuple[str | None, str | Path]], allow_mismatch: bool = False,
          assume_dataset: str | None = None) -> pd.DataFrame:
    """One leaderboard of all inputs, with ``run`` (label or run_id) first and ``mismatch`` ("none" or why)."""
    if not inputs:
        raise ValueError("merge: no inputs")
    frames, used = [], set()
    for i, (label, path) in enumerate(inputs):
        df = load_input(path, assume_dataset)
        if df.empty:
            raise L.ReportInputError(f"{path}: leaderboard has no rows")
        runs = df["run_id"].astype(str) if label is None else pd.Series([label] * len(df))
        rename = {rv: (f"{rv}#{i + 1}" if rv in used else rv) for rv in runs.unique()}
        used |= set(rename.values())
        df.insert(0, "run", [rename[rv] for rv in runs])
        df["source"] = str(path)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    ref_ds = str(out["dataset_sha256"].iloc[0])
    ref_spec = _spec(out["metric_spec"].iloc[0])
    problems, flags = [], []
    for r in out.to_dict("records"):
        why = []
        ds = str(r["dataset_sha256"])
        if ds != ref_ds or ds.startswith(("unknown", "missing")):
            why.append(f"dataset_sha256 {ds[:16]} != reference {ref_ds[:16]}")
        spec = _spec(r["metric_spec"])
        for m in sorted(set(spec) & set(ref_spec)):
            if spec[m] != ref_spec[m]:
                why.append(f"metric {m}: '{spec[m]}' != reference '{ref_spec[m]}'")
        flags.append("; ".join(why) if why else "none")
        if why:
            problems.append(f"{r['source']}: run {r['run']}, model {r['model']}: " + "; ".join(why))
    if problems and not allow_mismatch:
        raise MergeMismatch("refusing to merge incomparable rows (reference: first input "
                            f"{out['source'].iloc[0]}); use --allow-mismatch to keep them flagged:\n  "
                            + "\n  ".join(problems))
    out["mismatch"] = flags
    cols = ["run"] + [c for c in L.COLUMNS] + ["mismatch", "source"]
    return out[cols + [c for c in out.columns if c not in cols]]


def runs_markdown(merged: pd.DataFrame) -> str:
    """Markdown table of the merged runs' provenance (one row per run)."""
    runs = merged.drop_duplicates("run")
    head = ["run", "git_commit", "git_dirty", "params_hash", "dataset_sha256", "source"]
    body = [[str(r[c]) for c in head] for r in runs.to_dict("records")]
    return "## Runs (provenance of each merged run)\n\n" + L.md_table(head, body) + "\n"
