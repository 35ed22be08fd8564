"""``sebench report``: leaderboard (csv, md), metrics.json, DVC plot CSVs, self-contained index.html, provenance.

``sebench report [--params P] [--out DIR]`` builds everything from the current run's stage outputs
(``paths.enhanced_dir/<level>/summary.json``, ``paths.reports_dir/{scores_summary,scores_paired}.csv``,
``probes.json``, ``aux_baselines.csv``, ``dataset_card.md``, figures of the probe and baseline stages) and,
when ``train.joint`` names levels, ``joint.csv`` comparing each with its plain twin (:mod:`bench.report.joint`).
``sebench report merge RUN_DIR_OR_CSV ... --out DIR [--allow-mismatch]`` merges leaderboards of several runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from bench.params import add_params_arg, load_params
from bench.report import html as H
from bench.report import joint as J
from bench.report import leaderboard as L
from bench.report import plots as P
from bench.report import provenance as V


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_leaderboard(lb, out: Path, prov_md: str, extra_sections=None, title="Leaderboard",
                      stats_md: str | None = None) -> dict[str, Path]:
    """leaderboard.csv, leaderboard.md and metrics.json (validity first, then one dict per model) into ``out``."""
    bad = L.empty_cells(lb)
    if bad:  # a bug, not a user error: every n/a is explicit by construction
        raise AssertionError(f"leaderboard has empty cells at {bad[:5]}")
    w = {"csv": out / "leaderboard.csv", "md": out / "leaderboard.md", "metrics": out / "metrics.json"}
    _atomic_text(w["csv"], lb.to_csv(index=False))
    _atomic_text(w["md"], L.to_markdown(lb, prov_md, extra_sections, title, stats_md))
    _atomic_text(w["metrics"], json.dumps(L.metrics_json(lb), indent=2) + "\n")
    return w


def build_report(params: dict, out_dir: Path | None = None, html: bool = True, reference: str | None = None,
                 example_level: str | None = None, example_mixture: str | None = None,
                 log=print) -> dict[str, Path]:
    """Build every report output of the current run; returns ``{name: path}`` of what was written."""
    rc = params.get("report") or {}
    reports_dir = Path((params.get("paths") or {}).get("reports_dir", "reports"))
    out = Path(out_dir or reports_dir)
    reference = reference or rc.get("reference") or "static"
    inp = L.load_inputs(params, reports_dir)
    for m in inp.missing:
        log(f"[report] note: {m}")
    prov = V.collect(params)
    lb = L.build(inp, prov, reference=reference)
    joint_df, joint_md = joint_comparison(params, inp, reports_dir)
    extra = [s for s in [L.probes_section(inp.probes), joint_md,
                         L.baselines_section(reports_dir / "aux_baselines.csv")] if s]
    stats_md = L.stats_note(lb, inp.design.describe() if inp.design is not None else None, inp.n_boot,
                            inp.boot_seed)
    written = write_leaderboard(lb, out, V.to_markdown(prov), extra, stats_md=stats_md)
    written["joint"] = out / "joint.csv"   # header only when train.joint names no level with a twin
    _atomic_text(written["joint"], joint_df.to_csv(index=False))
    written["provenance"] = out / "provenance.json"
    _atomic_text(written["provenance"], json.dumps(prov, indent=2) + "\n")
    curves = P.training_curves(Path((params.get("paths") or {}).get("models_dir", "data/models")), list(inp.levels))
    written.update(P.write_dvc_plot_csvs(lb, inp.summaries, out, curves))
    if html:
        written["html"] = out / "index.html"
        _atomic_text(written["html"], render_page(params, lb, inp, prov, reports_dir,
                                                  example_level or rc.get("example_level"),
                                                  example_mixture or rc.get("example_mixture"), joint_md))
    return written


def joint_comparison(params: dict, inp: L.Inputs, reports_dir: Path):
    """(table, Markdown section or None) of joint-trained levels vs their plain twins (bench.report.joint)."""
    paths = params.get("paths") or {}
    if not J.twins(params):
        return pd.DataFrame(columns=J.COLUMNS), None
    per_utt_path = Path(paths.get("scores_dir", "data/scores")) / "per_utterance.parquet"
    probes_path = reports_dir / "probes.csv"
    per_utt = pd.read_parquet(per_utt_path) if per_utt_path.is_file() else None
    probes = pd.read_csv(probes_path) if probes_path.is_file() else None
    rc = params.get("report") or {}
    df = J.comparison(params, inp.summaries, per_utt, probes, Path(paths.get("models_dir", "data/models")),
                      int(rc.get("bootstrap_n", 1000)), int(rc.get("bootstrap_seed", 0)), L.metric_spec(inp.scores),
                      inp.design)
    jc = (params.get("train") or {}).get("joint") or {}
    return df, J.section_md(df, jc.get("weight"), jc.get("tasks"))


def render_page(params, lb, inp: L.Inputs, prov: dict, reports_dir: Path, example_level=None,
                example_mixture=None, joint_md: str | None = None) -> str:
    """The HTML of index.html (all figures and audio embedded): :func:`bench.report.html.render_page`."""
    return H.render_page(params, lb, inp, prov, reports_dir, example_level, example_mixture, joint_md)


def merge_cli(argv: list[str]) -> int:
    from bench.report import merge as M

    ap = argparse.ArgumentParser(prog="sebench report merge", description=M.__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", metavar="[LABEL=]RUN_DIR_OR_CSV",
                    help="leaderboard.csv, a folder with (reports/)leaderboard.csv, or a `sebench score --out` folder")
    ap.add_argument("--out", required=True, type=Path, help="folder for the merged leaderboard.csv/.md/metrics.json")
    ap.add_argument("--allow-mismatch", action="store_true",
                    help="keep rows of another dataset / metric implementation, flagged in the `mismatch` column")
    ap.add_argument("--assume-dataset", metavar="PLAN_PARQUET_OR_SHA256",
                    help="dataset hash for score-only inputs that carry no provenance.json")
    add_params_arg(ap)
    a = ap.parse_args(argv)
    try:
        merged = M.merge([M.parse_input_arg(s) for s in a.inputs], a.allow_mismatch, a.assume_dataset)
    except (M.MergeMismatch, FileNotFoundError, L.ReportInputError) as e:
        print(f"sebench report merge: {e}", file=sys.stderr)
        return 1
    params = load_params(a.params) if Path(a.params).is_file() else {}
    prov = V.collect(params, cuda=False)
    prov_md = V.to_markdown({k: v for k, v in prov.items() if k not in ("params_hash", "dataset_sha256")},
                            "Provenance of this merge")
    w = write_leaderboard(merged, a.out, prov_md, [M.runs_markdown(merged)], "Merged leaderboard")
    n_flag = int((merged["mismatch"] != "none").sum())
    print(f"merged {len(merged)} rows from {len(a.inputs)} inputs ({n_flag} flagged)")
    for v in w.values():
        print(f"wrote {v}")
    return 0


def cli(argv: list[str]) -> int:
    if argv and argv[0] == "merge":
        return merge_cli(argv[1:])
    ap = argparse.ArgumentParser(prog="sebench report", description=__doc__.splitlines()[0],
                                 epilog="sebench report merge --help: merge leaderboards of several runs")
    add_params_arg(ap)
    ap.add_argument("--out", type=Path, help="output folder (default paths.reports_dir)")
    ap.add_argument("--no-html", action="store_true", help="skip index.html (tables and CSVs only)")
    ap.add_argument("--reference", help="system of the paired PESQ difference (default report.reference or static)")
    ap.add_argument("--example-level", help="gated level of the example-utterance mask figure")
    ap.add_argument("--example-mixture", help="test mixture id of the example-utterance mask figure")
    a = ap.parse_args(argv)
    params = load_params(a.params)
    try:
        w = build_report(params, a.out, not a.no_html, a.reference, a.example_level, a.example_mixture)
    except L.ReportInputError as e:
        print(f"sebench report: {e}", file=sys.stderr)
        return 1
    for v in w.values():
        print(f"wrote {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli(sys.argv[1:]))
