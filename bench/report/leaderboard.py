"""The leaderboard: one row per speech-enhancement system (noisy input, static model, each pruning level).

Assembled from the stage outputs (docs/data_formats.md): ``{enhanced_dir}/<level>/summary.json``
(bench.enhance), ``scores_summary.csv`` / ``scores_paired.csv`` (bench.score) and ``probes.json``
(bench.probes). Every cell holds a value or ``"n/a"``; each ``n/a`` has its reason in the row's ``notes``.
Provenance columns (``run_id``, ``git_commit``, ``git_dirty``, ``params_hash``, ``dataset_sha256``,
``metric_spec``) make each row citable on its own and let :mod:`bench.report.merge` refuse incomparable rows.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

NA = "n/a"
NOISY = "noisy"
#: the score metrics of the leaderboard: table metric name -> leaderboard column
SCORE_COLUMNS = {"pesq_wb": "pesq_wb", "stoi": "stoi", "estoi": "estoi", "si_sdr": "si_sdr_db",
                 "dnsmos_ovrl": "dnsmos_ovrl"}
PROBE_COLUMNS = ("vad_acc", "noise_acc", "f0_r2", "snr_r2", "probe_cost_frac")
#: P2 (arXiv 2602.10666) headline figures, for reference lines and the md footnote
PAPER_PROBES = {"vad_acc": 0.93, "noise_acc": 0.84, "f0_r2": 0.86}
COLUMNS = [
    "model", "seed", "target_keep", "realized_keep", "realized_keep_p5", "realized_keep_p95",
    "macs_dense_m_per_s", "macs_dynamic_m_per_s", "macs_dynamic_p5_m_per_s", "macs_dynamic_p95_m_per_s",
    "mac_saving",
    "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high",
    "pesq_wb_delta_vs_static", "pesq_wb_delta_ci95_low", "pesq_wb_delta_ci95_high",
    "stoi", "estoi", "si_sdr_db", "dnsmos_ovrl", "n_scored", "n_total",
    *PROBE_COLUMNS,
    "notes", "run_id", "git_commit", "git_dirty", "params_hash", "dataset_sha256", "metric_spec",
]
PROVENANCE_COLUMNS = ("run_id", "git_commit", "git_dirty", "params_hash", "dataset_sha256", "metric_spec")


class ReportInputError(ValueError):
    """An input file of the report is malformed (the message names the file and the problem)."""


@dataclass
class Inputs:
    """Everything the leaderboard is built from; any part may be missing (-> n/a + note)."""

    levels: dict[str, float]                                   # name -> target keep (params order)
    summaries: dict[str, dict] = field(default_factory=dict)   # level -> enhance summary.json
    scores: pd.DataFrame | None = None                         # scores_summary.csv
    paired: pd.DataFrame | None = None                         # scores_paired.csv
    probes: dict | None = None                                 # probes.json
    missing: list[str] = field(default_factory=list)           # human-readable notes on absent inputs
    seed: int | None = None                                    # params seed (dataset plan + model inits)


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except Exception as e:
        raise ReportInputError(f"{path}: cannot read as CSV ({e})") from e
    miss = [c for c in required if c not in df.columns]
    if miss:
        raise ReportInputError(f"{path}: missing columns {miss} (has {list(df.columns)})")
    return df


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text())
    except Exception as e:
        raise ReportInputError(f"{path}: cannot read as JSON ({e})") from e
    if not isinstance(obj, dict):
        raise ReportInputError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


SCORES_REQUIRED = ("system", "metric", "mean", "ci95_low", "ci95_high", "n_scored", "n_total", "implementation",
                   "version", "mode")
PAIRED_REQUIRED = ("system", "reference", "metric", "mean_diff", "ci95_low", "ci95_high")


def load_inputs(params: dict, reports_dir: str | Path | None = None) -> Inputs:
    """Read the stage outputs named by ``params["paths"]``; absent files become notes, malformed ones raise."""
    paths = params.get("paths") or {}
    rep = Path(reports_dir or paths.get("reports_dir", "reports"))
    enh = Path(paths.get("enhanced_dir", "data/enhanced"))
    levels = {str(k): float(v) for k, v in (params.get("levels") or {}).items()}
    inp = Inputs(levels=levels, seed=params.get("seed"))
    for lv in levels:
        p = enh / lv / "summary.json"
        if p.is_file():
            s = _read_json(p)
            for k in ("target_keep", "realised_keep", "dense_mmacs_per_s", "dynamic_mmacs_per_s", "mac_saving"):
                if k not in s:
                    raise ReportInputError(f"{p}: missing key {k!r}")
            inp.summaries[lv] = s
        else:
            inp.missing.append(f"{p} missing (run `sebench enhance --level {lv}`)")
    p = rep / "scores_summary.csv"
    if p.is_file():
        inp.scores = _read_csv(p, SCORES_REQUIRED)
    else:
        inp.missing.append(f"{p} missing (run `sebench score`)")
    p = rep / "scores_paired.csv"
    if p.is_file():
        inp.paired = _read_csv(p, PAIRED_REQUIRED)
    else:
        inp.missing.append(f"{p} missing (run `sebench score`)")
    p = rep / "probes.json"
    if p.is_file():
        inp.probes = _read_json(p)
    else:
        inp.missing.append(f"{p} missing (run `sebench probe`)")
    return inp


def metric_spec(scores: pd.DataFrame | None) -> dict[str, str]:
    """{metric: "implementation | version | mode"} of every metric in a scores summary table."""
    if scores is None or scores.empty:
        return {}
    out = {}
    for r in scores.drop_duplicates("metric").itertuples(index=False):
        out[str(r.metric)] = f"{r.implementation} | {r.version} | {r.mode}"
    return dict(sorted(out.items()))


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def build(inp: Inputs, prov: dict, reference: str = "static", rid: str | None = None) -> pd.DataFrame:
    """The leaderboard DataFrame (columns :data:`COLUMNS`; cells are numbers or "n/a"; reasons in ``notes``)."""
    from bench.report.provenance import run_id

    systems = [NOISY] + list(inp.levels)
    if inp.scores is not None:  # external systems scored with --system appear after the levels
        systems += [s for s in dict.fromkeys(inp.scores["system"].astype(str)) if s not in systems]
    spec = metric_spec(inp.scores)
    rows = []
    for sys_ in systems:
        r: dict = {"model": sys_, "seed": NA if inp.seed is None else int(inp.seed)}
        notes: list[str] = [] if inp.seed is not None else ["seed: not recorded by this input"]

        def na(cols, reason):
            for c in cols:
                r[c] = NA
            if reason not in notes:
                notes.append(reason)

        # --- compute / pruning ---
        if sys_ == NOISY:
            r.update(macs_dense_m_per_s=0.0, macs_dynamic_m_per_s=0.0, macs_dynamic_p5_m_per_s=0.0,
                     macs_dynamic_p95_m_per_s=0.0)
            na(["target_keep", "realized_keep", "realized_keep_p5", "realized_keep_p95", "mac_saving"],
               "noisy: unprocessed input (no model: 0 MACs, keep and saving do not apply)")
        elif sys_ in inp.summaries:
            s = inp.summaries[sys_]
            rk, dm = s["realised_keep"], s["dynamic_mmacs_per_s"]
            r.update(target_keep=float(s["target_keep"]), realized_keep=rk["mean"], realized_keep_p5=rk["p5"],
                     realized_keep_p95=rk["p95"], macs_dense_m_per_s=float(s["dense_mmacs_per_s"]),
                     macs_dynamic_m_per_s=dm["mean"], macs_dynamic_p5_m_per_s=dm["p5"],
                     macs_dynamic_p95_m_per_s=dm["p95"], mac_saving=float(s["mac_saving"]))
            if not s.get("gated", True):
                notes.append(f"{sys_}: static model, gates off (keep 1.0, dynamic = dense MACs)")
        else:
            cols = ["realized_keep", "realized_keep_p5", "realized_keep_p95", "macs_dense_m_per_s",
                    "macs_dynamic_m_per_s", "macs_dynamic_p5_m_per_s", "macs_dynamic_p95_m_per_s", "mac_saving"]
            if sys_ in inp.levels:
                r["target_keep"] = inp.levels[sys_]
                na(cols, f"{sys_}: no enhance summary.json (compute and realized keep unknown)")
            else:
                na(["target_keep", *cols], f"{sys_}: external system (scored only; compute and keep unknown)")

        # --- quality ---
        sc = None if inp.scores is None else inp.scores[inp.scores["system"].astype(str) == sys_]
        if sc is None or sc.empty:
            na(["pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high", *SCORE_COLUMNS.values(), "n_scored", "n_total"],
               f"{sys_}: not scored (no rows in scores_summary.csv)")
        else:
            by = {str(m): g.iloc[0] for m, g in sc.groupby("metric")}
            for metric, col in SCORE_COLUMNS.items():
                v = _num(by[metric]["mean"]) if metric in by else None
                if v is None:
                    na([col], f"{metric}: not in score.metrics or no utterance scored")
                else:
                    r[col] = v
            if "pesq_wb" in by and _num(by["pesq_wb"]["mean"]) is not None:
                r["pesq_wb_ci95_low"] = _num(by["pesq_wb"]["ci95_low"])
                r["pesq_wb_ci95_high"] = _num(by["pesq_wb"]["ci95_high"])
            else:
                na(["pesq_wb_ci95_low", "pesq_wb_ci95_high"], "pesq_wb: not in score.metrics or no utterance scored")
            # n_scored / n_total are those of the headline metric (PESQ-wb) when scored, else the minimum
            lm = ["pesq_wb"] if "pesq_wb" in by else [m for m in SCORE_COLUMNS if m in by]
            r["n_scored"] = int(min(int(by[m]["n_scored"]) for m in lm)) if lm else NA
            r["n_total"] = int(max(int(by[m]["n_total"]) for m in lm)) if lm else NA
            if r["n_scored"] != NA and r["n_scored"] < r["n_total"]:
                notes.append(f"{sys_}: {r['n_total'] - r['n_scored']} utterance(s) failed PESQ-wb (see "
                             "scores_summary.csv n_failed); means are over scored ones")
            for m in SCORE_COLUMNS:
                if m in by and m not in lm and int(by[m]["n_scored"]) < int(by[m]["n_total"]):
                    notes.append(f"{sys_}: {m} over {int(by[m]['n_scored'])} of {int(by[m]['n_total'])} "
                                 "utterances (failed or skipped by configuration, e.g. score.dnsmos_max_utts)")
        # --- paired delta vs the reference ---
        dcols = ["pesq_wb_delta_vs_static", "pesq_wb_delta_ci95_low", "pesq_wb_delta_ci95_high"]
        if sys_ == reference:
            na(dcols, f"{reference}: reference of the paired PESQ-wb differences")
        else:
            pr = None if inp.paired is None else inp.paired[(inp.paired["system"].astype(str) == sys_)
                                                             & (inp.paired["reference"].astype(str) == reference)
                                                             & (inp.paired["metric"] == "pesq_wb")]
            if pr is None or pr.empty or _num(pr.iloc[0]["mean_diff"]) is None:
                na(dcols, f"{sys_}: no paired PESQ-wb difference vs {reference} in scores_paired.csv")
            else:
                r.update(pesq_wb_delta_vs_static=_num(pr.iloc[0]["mean_diff"]),
                         pesq_wb_delta_ci95_low=_num(pr.iloc[0]["ci95_low"]),
                         pesq_wb_delta_ci95_high=_num(pr.iloc[0]["ci95_high"]))
        # --- probes ---
        keep = inp.levels.get(sys_)
        if sys_ == NOISY:
            na(PROBE_COLUMNS, "probes: noisy input has no gate masks")
        elif keep is not None and keep >= 1.0:
            na(PROBE_COLUMNS, f"probes: {sys_} is the static model (no gate masks)")
        elif sys_ not in inp.levels:
            na(PROBE_COLUMNS, f"probes: {sys_} is an external system (no gate masks)")
        elif not inp.probes or sys_ not in inp.probes:
            na(PROBE_COLUMNS, f"probes: {sys_} not in probes.json (not probed)")
        else:
            h = inp.probes[sys_]
            for c in PROBE_COLUMNS:
                v = _num(h.get(c))
                if v is None:
                    na([c], f"{c}: not computed by the probe stage for {sys_}")
                else:
                    r[c] = v
        r["notes"] = "; ".join(notes) if notes else "none"
        rows.append(r)
    df = pd.DataFrame(rows)
    df["run_id"] = rid or run_id(prov)
    for c in ("git_commit", "git_dirty", "params_hash", "dataset_sha256"):
        df[c] = prov.get(c, "unknown")
    df["metric_spec"] = json.dumps(spec, sort_keys=True) if spec else "{}"
    return finalize(df)


def finalize(df: pd.DataFrame) -> pd.DataFrame:
    """Column order of :data:`COLUMNS` (extra columns after), NaN/None/"" -> "n/a"."""
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = NA
    df = df[COLUMNS + [c for c in df.columns if c not in COLUMNS]].copy()
    return df.astype(object).where(~df.isna(), NA).replace({"": NA})


def empty_cells(df: pd.DataFrame) -> list[tuple[int, str]]:
    """(row, column) of cells that are empty (None, NaN or blank string): must be none in a leaderboard."""
    out = []
    for c in df.columns:
        for i, v in enumerate(df[c].tolist()):
            if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
                out.append((i, c))
    return out


def metrics_json(df: pd.DataFrame) -> dict:
    """{model: {column: number}} of the headline numeric columns (n/a omitted), for ``dvc metrics``."""
    cols = ["target_keep", "realized_keep", "macs_dynamic_m_per_s", "mac_saving", "pesq_wb", "pesq_wb_ci95_low",
            "pesq_wb_ci95_high", "pesq_wb_delta_vs_static", "stoi", "estoi", "si_sdr_db", "dnsmos_ovrl", "n_scored",
            *PROBE_COLUMNS]
    out = {}
    for r in df.to_dict("records"):
        key = str(r["model"]) if "run" not in r else f"{r['run']}/{r['model']}"
        out[key] = {c: (int(r[c]) if c == "n_scored" else round(float(r[c]), 6))
                    for c in cols if c in r and _num(r[c]) is not None}
    return out


# ------------------------------------------------------------------ markdown
def _fmt(v, digits: int = 3) -> str:
    f = _num(v)
    if f is None:
        return str(v)
    if float(f).is_integer() and abs(f) >= 10:
        return str(int(f))
    return f"{f:.{digits}f}"


def _ci(r, col, lo, hi, digits=3) -> str:
    if _num(r[col]) is None:
        return NA
    s = _fmt(r[col], digits)
    return s + (f" [{_fmt(r[lo], digits)}, {_fmt(r[hi], digits)}]" if _num(r[lo]) is not None else "")


def _pct(v) -> str:
    f = _num(v)
    return NA if f is None else f"{100 * f:.1f} %"


#: (header, formatter) of the markdown/HTML display table (the CSV keeps every column)
def display_rows(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["model", "target keep", "realized keep [p5, p95]", "dense MMAC/s", "dynamic MMAC/s", "MAC saving",
            "PESQ-wb [95 % CI]", "ΔPESQ-wb vs static [95 % CI]", "STOI", "ESTOI", "SI-SDR dB", "DNSMOS OVRL",
            "scored / total", "VAD acc", "noise acc", "F0 R²", "SNR R²", "probe cost / dyn. MACs"]
    body = []
    for r in df.to_dict("records"):
        body.append([
            (f"{r['run']}/" if "run" in r else "") + str(r["model"]), _fmt(r["target_keep"], 2),
            _ci(r, "realized_keep", "realized_keep_p5", "realized_keep_p95"),
            _fmt(r["macs_dense_m_per_s"], 2), _fmt(r["macs_dynamic_m_per_s"], 2), _pct(r["mac_saving"]),
            _ci(r, "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high"),
            _ci(r, "pesq_wb_delta_vs_static", "pesq_wb_delta_ci95_low", "pesq_wb_delta_ci95_high"),
            _fmt(r["stoi"]), _fmt(r["estoi"]), _fmt(r["si_sdr_db"], 2), _fmt(r["dnsmos_ovrl"], 2),
            f"{r['n_scored']} / {r['n_total']}", _fmt(r["vad_acc"]), _fmt(r["noise_acc"]), _fmt(r["f0_r2"]),
            _fmt(r["snr_r2"]), (NA if _num(r["probe_cost_frac"]) is None else f"{100 * float(r['probe_cost_frac']):.4f} %"),
        ])
    return head, body


def md_table(head: list[str], body: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in body]
    return "\n".join(lines)


def notes_list(df: pd.DataFrame) -> list[str]:
    """Unique notes of all rows, in order of first appearance."""
    out: list[str] = []
    for n in df["notes"].astype(str):
        for part in n.split("; "):
            if part and part != "none" and part not in out:
                out.append(part)
    return out


def metric_spec_rows(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(metric, "implementation | version | mode") over all rows' metric_spec (first seen wins)."""
    out: dict[str, str] = {}
    for s in df["metric_spec"].astype(str).unique():
        try:
            for k, v in json.loads(s).items():
                out.setdefault(k, v)
        except json.JSONDecodeError:
            continue
    return sorted(out.items())


COLUMN_DOCS = {
    "target_keep": "keep ratio the gates were trained towards (params `levels`)",
    "realized_keep": "mean fraction of gated channels computed per frame on the test split (p5/p95 over frames)",
    "macs": "analytic MACs per second of 16 kHz audio (bench.macs); dynamic = from the recorded masks, gate cost "
            "included; 1 MAC = 1 multiply-accumulate",
    "mac_saving": "1 - dynamic / dense MACs of the same model",
    "probes": "best masks-probe test score over linear/MLP and C* (bench.probes, probes.json); noise acc is "
              "frame-level; F0 R² on Hz; probe cost = additions of the C* linear probes (all tasks) / dynamic MACs",
    "CI": "95 % percentile bootstrap over test utterances (bench.score); ΔPESQ-wb is paired per utterance",
}


def to_markdown(df: pd.DataFrame, prov_md: str, extra_sections: list[str] | None = None,
                title: str = "Leaderboard") -> str:
    """The leaderboard page in Markdown: table, metric implementations, column meanings, notes, provenance."""
    head, body = display_rows(df)
    lines = [f"# {title}", "", md_table(head, body), "", "## Metric implementations", "",
             "| metric | implementation | version | mode |", "|---|---|---|---|"]
    for m, s in metric_spec_rows(df):
        impl, ver, mode = (s.split(" | ", 2) + ["", ""])[:3]
        lines.append(f"| {m} | {impl} | {ver} | {mode} |")
    lines += ["", "## Columns", ""] + [f"- **{k}**: {v}" for k, v in COLUMN_DOCS.items()]
    lines += [f"- **paper reference (P2, arXiv 2602.10666)**: VAD acc {PAPER_PROBES['vad_acc']}, noise acc "
              f"{PAPER_PROBES['noise_acc']}, F0 R² {PAPER_PROBES['f0_r2']}",
              "- full precision and every provenance column: `leaderboard.csv`"]
    nl = notes_list(df)
    lines += ["", "## Notes (every n/a has its reason here)", ""] + ([f"- {n}" for n in nl] or ["- none"])
    for sec in extra_sections or []:
        lines += ["", sec.rstrip()]
    lines += ["", prov_md.rstrip(), ""]
    return "\n".join(lines)


#: primary metric per task of the baselines table (as bench.baselines.cli.PRIMARY)
BASELINE_PRIMARY = {"vad": "acc", "noise": "acc", "noise_seg": "acc", "f0": "r2_hz", "snr": "r2"}


def baselines_section(path: Path) -> str | None:
    """Markdown table of ``aux_baselines.csv`` (standalone auxiliary models), or None when absent."""
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    need = ("task", "model", "metric", "value")
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise ReportInputError(f"{path}: missing columns {miss} (has {list(df.columns)})")
    prim = df[[BASELINE_PRIMARY.get(t) == m for t, m in zip(df["task"], df["metric"])]]
    df = prim if len(prim) else df  # the primary metric of each task (all rows: aux_baselines.csv)
    show = [c for c in ("task", "model", "metric", "value", "ci95_low", "ci95_high", "macs_m_per_s", "params",
                        "implementation") if c in df.columns]
    body = [[_fmt(v) if isinstance(v, (float, np.floating)) else str(v) for v in row]
            for row in df[show].fillna(NA).itertuples(index=False)]
    return ("## Standalone auxiliary baselines (bench.baselines)\n\nPrimary metric per task; every metric, CI and "
            "MAC method in `aux_baselines.csv`.\n\n" + md_table(show, body) + "\n")
