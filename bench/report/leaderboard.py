"""The leaderboard: one row per speech-enhancement system (noisy input, static model, each pruning level).

Assembled from the stage outputs (docs/data_formats.md): ``{enhanced_dir}/<level>/summary.json``
(bench.enhance), ``scores_summary.csv`` / ``scores_paired.csv`` and the per-utterance table
``{scores_dir}/per_utterance.parquet`` (bench.score), the test metadata (cluster bootstrap design),
``probes.json`` (bench.probes) and ``{models_dir}/<level>/train_summary.json`` (training provenance).
Every cell holds a value or ``"n/a"``; each ``n/a`` has its reason in the row's ``notes``.

**Training-seed replicates.** A system named ``<level>_seed<k>`` (k >= 1) is training seed k of ``<level>``
(seed 0 = the plain name). It gets no row of its own: the row of ``<level>`` reports the mean over its
seeds (per utterance, on utterances every seed scored) and the seed spread as min..max of the per-seed
means. Replicates are scored, not probed (probe columns come from the seed-0 level).

**Statistics.** CIs are 95 % percentile intervals of the two-way cluster (pigeonhole) bootstrap over source
clips (:mod:`bench.score.bootstrap`; seed ``report.bootstrap_seed``, ``report.bootstrap_n`` replicates), the
same replicate weights for every system, so differences and ratios are paired. A difference vs the static
model is *significant* (``*_delta_significant`` = "yes") only when its CI (of the seed-mean paired
difference) excludes 0 **and** every seed's own difference (seed k minus the static seed-mean) has the
same sign. Without the per-utterance table the CIs come from ``scores_summary.csv``/``scores_paired.csv``
and gain retained / seed columns are n/a (with a note).

**Validity gate.** The static model must beat the noisy input on PESQ-wb, STOI and SI-SDR with paired CIs
above zero (``validity`` = "pass"); otherwise ("fail" or "unknown") the md/html/metrics.json say
:data:`FAIL_BANNER` at the top and every comparison with the papers' figures is withheld
(:func:`paper_comparison_allowed`).

Columns of ``leaderboard.csv`` (stable names; more may be appended at the end):

- ``model``; ``seed`` (params seed); ``n_seeds``, ``seeds`` (training seeds averaged, e.g. "0,1,2")
- compute: ``target_keep``, ``realized_keep`` [``_p5``, ``_p95``], ``macs_dense_m_per_s``,
  ``macs_dynamic_m_per_s`` [``_p5``/``_p95`` as ``macs_dynamic_p5_m_per_s``...], ``macs_gates_m_per_s``
  (the gates' own MACs), ``mac_saving`` (1 - dynamic / dense, gates' cost included) and
  ``mac_saving_excl_gates`` (same without the gates' cost); seed 0's enhance summary
- quality, for X in ``pesq_wb``, ``stoi``, ``si_sdr_db``: ``X``, ``X_ci95_low``, ``X_ci95_high``,
  ``X_seed_min``, ``X_seed_max``; ``X_delta_vs_static`` with ``X_delta_ci95_low``/``_high`` and
  ``X_delta_significant`` ("yes"/"no"); ``X_delta_vs_noisy`` with ``X_delta_vs_noisy_ci95_low``/``_high``
- gain retained, for X in ``pesq_wb``, ``stoi``: ``X_gain_retained`` = (level - noisy) / (static - noisy),
  ``X_gain_retained_ci95_low``/``_high`` (ratio recomputed per bootstrap replicate)
- ``estoi``, ``dnsmos_ovrl``, ``dnsmos_n`` ("scored/total" utterances of DNSMOS), ``n_scored``, ``n_total``
  (of PESQ-wb)
- probes (linear probe at C*, probes.json): ``vad_acc``, ``noise_acc``, ``f0_r2``, ``snr_r2`` each with
  ``_ci95_low``/``_ci95_high`` (bootstrap over test clusters), ``probe_cost_frac``
- ``validity`` ("pass" | "fail" | "unknown") and ``validity_detail`` (static - noisy with CIs), same in all rows
- training provenance (``train_summary.json``): ``train_origin`` ("trained in this run" | "restored ..." |
  "not recorded"), ``train_device``, ``train_minutes``, ``train_steps``, ``train_commit``, ``train_seed``
  (values of several seeds joined by " / " when they differ)
- ``notes``, then run provenance ``run_id``, ``git_commit``, ``git_dirty``, ``params_hash``,
  ``dataset_sha256``, ``metric_spec`` (make each row citable; :mod:`bench.report.merge` refuses incomparable rows)
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.tasks import HEAD_METRIC as TASK_HEAD_METRIC
from bench.tasks import SPECS as TASK_SPECS
from datagen.errors import SebenchError

NA = "n/a"
NOISY = "noisy"
#: the score metrics of the leaderboard: table metric name -> leaderboard column
SCORE_COLUMNS = {"pesq_wb": "pesq_wb", "stoi": "stoi", "estoi": "estoi", "si_sdr": "si_sdr_db",
                 "dnsmos_ovrl": "dnsmos_ovrl"}
#: metrics with CIs, seed spread, deltas (table metric -> column); gain retained for the first two
CI_METRICS = {"pesq_wb": "pesq_wb", "stoi": "stoi", "si_sdr": "si_sdr_db"}
GAIN_METRICS = ("pesq_wb", "stoi")
#: the validity gate: the static model must beat noisy on these (paired CI above zero)
VALIDITY_METRICS = ("pesq_wb", "stoi", "si_sdr")
FAIL_BANNER = "the SE model does not enhance: pipeline demonstration, no paper comparison"
#: probe columns of the leaderboard: one per frame task of bench/tasks.py SPECS (+ the probe's cost)
PROBE_CI_COLUMNS = tuple(sp.column for sp in TASK_SPECS.values() if sp.leaderboard)
PROBE_COLUMNS = (*PROBE_CI_COLUMNS, "probe_cost_frac")
#: P2 (arXiv 2602.10666) headline figures (TaskSpec.paper), for reference lines and the md footnote
#: (shown only when paper_comparison_allowed)
PAPER_PROBES = {sp.column: sp.paper[0] for sp in TASK_SPECS.values() if sp.paper}
#: P1 (arXiv 2412.17121): DynCP saves 29.6 % of MACs for a 0.75 % relative PESQ drop
PAPER_SE = {"mac_saving": 0.296, "rel_pesq_drop": 0.0075}
from datagen.config import REPLICATE_RE as SEED_RE  # noqa: E402  (<level>_seed<k>)
TRAIN_COLUMNS = ("train_origin", "train_device", "train_minutes", "train_steps", "train_commit", "train_seed")


def _quality_columns() -> list[str]:
    out = []
    for c in CI_METRICS.values():
        out += [c, f"{c}_ci95_low", f"{c}_ci95_high", f"{c}_seed_min", f"{c}_seed_max",
                f"{c}_delta_vs_static", f"{c}_delta_ci95_low", f"{c}_delta_ci95_high", f"{c}_delta_significant",
                f"{c}_delta_vs_noisy", f"{c}_delta_vs_noisy_ci95_low", f"{c}_delta_vs_noisy_ci95_high"]
    for m in GAIN_METRICS:
        c = CI_METRICS[m]
        out += [f"{c}_gain_retained", f"{c}_gain_retained_ci95_low", f"{c}_gain_retained_ci95_high"]
    return out


COLUMNS = [
    "model", "seed", "n_seeds", "seeds", "target_keep", "realized_keep", "realized_keep_p5", "realized_keep_p95",
    "macs_dense_m_per_s", "macs_dynamic_m_per_s", "macs_dynamic_p5_m_per_s", "macs_dynamic_p95_m_per_s",
    "macs_gates_m_per_s", "mac_saving", "mac_saving_excl_gates",
    "cpu_time_saving", "cpu_time_saving_per_mac_saving", "cpu_time_machine",
    *_quality_columns(),
    "estoi", "dnsmos_ovrl", "dnsmos_n", "n_scored", "n_total",
    *[x for c in PROBE_CI_COLUMNS for x in (c, f"{c}_ci95_low", f"{c}_ci95_high")], "probe_cost_frac",
    "validity", "validity_detail", *TRAIN_COLUMNS,
    "notes", "run_id", "git_commit", "git_dirty", "params_hash", "dataset_sha256", "metric_spec",
]
PROVENANCE_COLUMNS = ("run_id", "git_commit", "git_dirty", "params_hash", "dataset_sha256", "metric_spec")


class ReportInputError(SebenchError, ValueError):
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
    per_utt: pd.DataFrame | None = None                        # data/scores/per_utterance.parquet
    design: object | None = None                               # bench.score.bootstrap.ClusterDesign of the test split
    n_boot: int = 2000                                         # report.bootstrap_n
    boot_seed: int = 0                                         # report.bootstrap_seed
    train: dict[str, dict] = field(default_factory=dict)       # system -> train_summary.json
    reference: str = "static"
    references: dict[str, str] = field(default_factory=dict)   # level -> its own reference (causal twins)
    engine: dict[str, dict] = field(default_factory=dict)      # level -> bench_engine row (small config)
    engine_machine: dict | None = None                         # that benchmark's machine record
    model_sha256: dict[str, str] = field(default_factory=dict)  # level -> sha256 of its model.pt

    def reference_of(self, system: str, default: str | None = None) -> str:
        """The static system ``system`` is compared with: its causal static level for a causal gated level
        (``causal.gated_levels``), else ``default`` (``report.reference``)."""
        return self.references.get(system, default or self.reference)


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
PER_UTT_REQUIRED = ("system", "mixture_id", "metric", "value", "status")


def seed_groups(names) -> dict[str, list[tuple[int, str]]]:
    """{base: [(seed, system), ...]} sorted by seed: ``<base>_seed<k>`` is seed k of ``<base>`` (seed 0)
    when ``<base>`` is among ``names``."""
    names = list(dict.fromkeys(str(n) for n in names))
    out: dict[str, list[tuple[int, str]]] = {}
    for n in names:
        m = SEED_RE.match(n)
        if m and m["base"] in names:   # a replicate without its seed-0 system keeps its own row
            out.setdefault(m["base"], []).append((int(m["k"]), n))
        else:
            out.setdefault(n, []).append((0, n))
    return {b: sorted(v) for b, v in out.items()}


def is_replicate(name: str) -> bool:
    """True for ``<level>_seed<k>`` (k >= 1): a training-seed replicate (scored, not probed)."""
    return SEED_RE.match(str(name)) is not None


def load_inputs(params: dict, reports_dir: str | Path | None = None) -> Inputs:
    """Read the stage outputs named by ``params["paths"]``; absent files become notes, malformed ones raise."""
    paths = params.get("paths") or {}
    rc = params.get("report") or {}
    rep = Path(reports_dir or paths.get("reports_dir", "reports"))
    enh = Path(paths.get("enhanced_dir", "data/enhanced"))
    levels = {str(k): float(v) for k, v in (params.get("levels") or {}).items()}
    # report.bootstrap_n, else the score stage's: the same replicates as scores_summary.csv for one-seed rows
    n_boot = rc.get("bootstrap_n") or (params.get("score") or {}).get("bootstrap_n") or 2000
    inp = Inputs(levels=levels, seed=params.get("seed"), n_boot=int(n_boot),
                 boot_seed=int(rc.get("bootstrap_seed") or 0), reference=str(rc.get("reference") or "static"))
    from bench.levels import causal_static_of, reference_level

    inp.references = {lv: reference_level(params, lv, inp.reference) for lv in levels
                      if causal_static_of(params, lv) not in (None, lv)}
    for lv in levels:
        p = enh / lv / "summary.json"
        if p.is_file():
            s = _read_json(p)
            for k in ("target_keep", "realised_keep", "dense_mmacs_per_s", "dynamic_mmacs_per_s", "mac_saving"):
                if k not in s:
                    raise ReportInputError(f"{p}: missing key {k!r}")
            inp.summaries[lv] = s
        elif not is_replicate(lv):
            inp.missing.append(f"{p} missing (run `sebench enhance --level {lv}`)")
        mp = Path(paths.get("models_dir", "data/models")) / lv / "model.pt"
        if mp.is_file():
            inp.model_sha256[lv] = hashlib.sha256(mp.read_bytes()).hexdigest()
        p = Path(paths.get("models_dir", "data/models")) / lv / "train_summary.json"
        if p.is_file():
            inp.train[lv] = dict(_read_json(p))
            if "restored" not in inp.train[lv] and "trained_on" in inp.train[lv]:
                inp.train[lv]["restored"] = _restored(p.parent.parent, lv, p.parent / "config.json")
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
    p = Path(paths.get("scores_dir", "data/scores")) / "per_utterance.parquet"
    if not p.is_file() and (rep / "per_utterance.parquet").is_file():   # `sebench score --out reports_dir`
        p = rep / "per_utterance.parquet"
    if p.is_file():
        try:
            pu = pd.read_parquet(p)
        except Exception as e:
            raise ReportInputError(f"{p}: cannot read as parquet ({e})") from e
        miss = [c for c in PER_UTT_REQUIRED if c not in pu.columns]
        if miss:
            raise ReportInputError(f"{p}: missing columns {miss}")
        inp.per_utt = pu
        inp.design = _design(params, pu, p)
    else:
        inp.missing.append(f"{p} missing (run `sebench score`): gain retained, seed spread and cluster CIs n/a")
    p = rep / "benchmarks" / "engine.json"   # benchmarks/bench_engine.py (outside the pipeline; committed)
    if p.is_file():
        from bench.engine.results import load_rows

        cfg = str((params.get("model") or {}).get("config") or "small")
        inp.engine, inp.engine_machine = load_rows(p, cfg)
    else:
        inp.missing.append(f"{p} missing (run benchmarks/bench_engine.py): CPU-time saving n/a")
    _add_external(inp, paths)
    return inp


def _add_external(inp: Inputs, paths: dict) -> None:
    """Append the rows of ``sebench score --system`` runs (``data/scores_external/*/``, untracked by DVC)."""
    from bench.score.external import load_external

    try:
        ext = load_external(paths, {"noisy", *inp.levels})
    except ValueError as e:
        raise ReportInputError(str(e)) from e
    for attr, key in (("scores", "summary"), ("paired", "paired"), ("per_utt", "per_utterance")):
        if key in ext and getattr(inp, attr) is not None:
            setattr(inp, attr, pd.concat([getattr(inp, attr), ext[key]], ignore_index=True))


def _design(params: dict, per_utt: pd.DataFrame, source: Path):
    """Cluster design of the scored mixtures from the test metadata (iid design when absent)."""
    from bench.score import bootstrap as B

    ids = sorted(set(per_utt["mixture_id"].astype(str)))
    ds = Path((params.get("paths") or {}).get("dataset_dir", "data/dataset"))
    cols = (params.get("score") or {}).get("bootstrap_clusters")
    mp = ds / "metadata" / "test.parquet"
    if not mp.is_file():
        return B.iid_design(ids)
    meta = pd.read_parquet(mp)
    meta = meta[meta["mixture_id"].astype(str).isin(ids)]
    if len(meta) != len(ids):
        raise ReportInputError(f"{source}: {len(ids) - len(meta)} scored mixture(s) are not in {mp}")
    use = [c for c in B.CLUSTER_COLUMNS if c in meta.columns] if cols is None else [str(c) for c in cols]
    miss = [c for c in use if c not in meta.columns]
    if miss:
        raise ReportInputError(f"{mp}: score.bootstrap_clusters columns {miss} absent")
    try:
        return B.design_from_metadata(meta, use, str(mp))
    except ValueError as e:
        raise ReportInputError(str(e)) from e


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


# ------------------------------------------------------------------ per-utterance statistics
def quality_stats(inp: Inputs, groups: dict[str, list[tuple[int, str]]], reference: str) -> dict[str, dict]:
    """{row: {column: value}} of the quality columns from the per-utterance table (cluster bootstrap).

    ``groups``: row name -> [(seed, system)]. Empty when the per-utterance table is absent."""
    from bench.score import bootstrap as B

    if inp.per_utt is None or inp.design is None:
        return {}
    d = inp.design
    w = d.weights(inp.n_boot, inp.boot_seed)
    df = inp.per_utt
    have = set(df["system"].astype(str))
    out: dict[str, dict] = {row: {} for row in groups}
    for metric, col in CI_METRICS.items():
        if metric not in set(df["metric"]):
            continue
        vec, per_seed = {}, {}
        for row, members in groups.items():
            sy = [s for _, s in members if s in have]
            if not sy:
                continue
            mat = B.value_matrix(df, sy, metric, d)
            per_seed[row] = mat
            vec[row] = B.seed_mean(mat)
        nz = vec.get(NOISY)
        for row, v in vec.items():
            o = out[row]
            ref_name = inp.reference_of(row, reference)
            ref = vec.get(ref_name)
            e = B.mean_estimate(v, w)
            o.update({col: e.value, f"{col}_ci95_low": e.low, f"{col}_ci95_high": e.high})
            with np.errstate(invalid="ignore"):
                means = [float(np.nanmean(r)) for r in per_seed[row]]
            o[f"{col}_seed_min"], o[f"{col}_seed_max"] = min(means), max(means)
            if nz is not None and row != NOISY:
                e = B.mean_estimate(v - nz, w)
                o.update({f"{col}_delta_vs_noisy": e.value, f"{col}_delta_vs_noisy_ci95_low": e.low,
                          f"{col}_delta_vs_noisy_ci95_high": e.high})
            if ref is not None and row != ref_name:
                e = B.mean_estimate(v - ref, w)
                with np.errstate(invalid="ignore"):
                    seed_d = [float(np.nanmean(r - ref)) for r in per_seed[row]]
                same = all(np.sign(x) == np.sign(e.value) and x != 0 for x in seed_d)
                o.update({f"{col}_delta_vs_static": e.value, f"{col}_delta_ci95_low": e.low,
                          f"{col}_delta_ci95_high": e.high,
                          f"{col}_delta_significant": "yes" if e.excludes_zero() and same else "no",
                          f"_{col}_seed_deltas": seed_d})
            if metric in GAIN_METRICS and nz is not None and ref is not None and row != NOISY:
                if row == ref_name:
                    g = (1.0, 1.0, 1.0)
                else:
                    e = B.ratio_estimate(v - nz, ref - nz, w)
                    g = (e.value, e.low, e.high)
                o.update(dict(zip([f"{col}_gain_retained", f"{col}_gain_retained_ci95_low",
                                   f"{col}_gain_retained_ci95_high"], g)))
    return out


def validity_gate(inp: Inputs, stats: dict[str, dict], reference: str) -> tuple[str, str]:
    """("pass" | "fail" | "unknown", detail): does the static model beat noisy on PESQ-wb, STOI and SI-SDR
    with paired CIs above zero? From the per-utterance stats, else from ``scores_paired.csv`` (noisy - static)."""
    parts, verdicts = [], []
    for metric in VALIDITY_METRICS:
        col = CI_METRICS[metric]
        st = stats.get(reference, {})
        if f"{col}_delta_vs_noisy" in st:
            m, lo, hi = (st[f"{col}_delta_vs_noisy"], st[f"{col}_delta_vs_noisy_ci95_low"],
                         st[f"{col}_delta_vs_noisy_ci95_high"])
        else:
            pr = None if inp.paired is None else inp.paired[
                (inp.paired["system"].astype(str) == NOISY) & (inp.paired["reference"].astype(str) == reference)
                & (inp.paired["metric"] == metric)]
            if pr is None or pr.empty or _num(pr.iloc[0]["mean_diff"]) is None:
                parts.append(f"{metric}: no paired {reference} - noisy difference")
                verdicts.append(None)
                continue
            m, lo, hi = (-float(pr.iloc[0]["mean_diff"]), -float(pr.iloc[0]["ci95_high"]),
                         -float(pr.iloc[0]["ci95_low"]))
        ok = _num(lo) is not None and lo > 0
        verdicts.append(ok)
        parts.append(f"{metric} {m:+.3f} [{lo:+.3f}, {hi:+.3f}]" + ("" if ok else " (CI not above 0)"))
    status = "pass" if all(v is True for v in verdicts) else "unknown" if any(v is None for v in verdicts) \
        and not any(v is False for v in verdicts) else "fail"
    return status, f"{reference} - noisy: " + "; ".join(parts)


def paper_comparison_allowed(df: pd.DataFrame) -> bool:
    """True when the validity gate passed (every row's ``validity`` is "pass"): only then may the report
    compare with the papers' figures (P1's 29.6 % / 0.75 %, P2's VAD 0.93, noise 0.84, F0 R² 0.86)."""
    return "validity" in df.columns and len(df) > 0 and bool((df["validity"].astype(str) == "pass").all())


def validity_banner(df: pd.DataFrame) -> str | None:
    """The line every report output shows at the top when the gate did not pass (None when it passed)."""
    if paper_comparison_allowed(df):
        return None
    detail = str(df["validity_detail"].iloc[0]) if "validity_detail" in df.columns and len(df) else ""
    status = str(df["validity"].iloc[0]) if "validity" in df.columns and len(df) else "unknown"
    why = "validity gate failed" if status == "fail" else "validity gate not checked"
    return f"{FAIL_BANNER} ({why}: {detail})" if detail and detail != NA else f"{FAIL_BANNER} ({why})"


def _restored(models_dir: Path, level: str, config_path: Path) -> bool | str:
    """False when this workspace trained ``level`` (bench.train's untracked marker
    ``<models_dir>/../provenance/train_<level>.json`` holds the model's fingerprint), else where it came
    from: a DVC run-cache restore (the model was trained elsewhere, see ``trained_on``)."""
    marker = models_dir.parent / "provenance" / f"train_{level}.json"
    try:
        fp = json.loads(config_path.read_text()).get("fingerprint")
        if marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == fp:
            return False
    except (OSError, ValueError):
        pass
    return "from the DVC cache / remote (dvc repro --pull), not trained in this workspace"


def _train_provenance(members: list[tuple[int, str]], train: dict[str, dict]) -> tuple[dict, list[str]]:
    """Training provenance columns of a row from its seeds' train_summary.json (keys ``trained_on``,
    ``restored`` when the training stage records them; older summaries: device_name, wall_s)."""
    per: dict[str, list[str]] = {c: [] for c in TRAIN_COLUMNS}
    notes = []
    for k, name in members:
        ts = train.get(name)
        if ts is None:
            for c in TRAIN_COLUMNS:
                per[c].append(NA)
            notes.append(f"{name}: no train_summary.json (training provenance unknown)")
            continue
        on = ts.get("trained_on") if isinstance(ts.get("trained_on"), dict) else {}
        restored = ts.get("restored")
        if restored:
            origin = "restored" + (f" ({restored})" if isinstance(restored, str) else
                                   f" ({json.dumps(restored, sort_keys=True)})" if isinstance(restored, dict) else "")
        elif on or restored is False:
            origin = "trained in this run"
        else:
            origin = "not recorded"
        mins = on.get("minutes", ts.get("wall_s") / 60.0 if _num(ts.get("wall_s")) is not None else None)
        dev = on.get("device") or ts.get("device_name") or ts.get("device")
        if on.get("host_cpu") and on.get("device") and str(on["host_cpu"]) not in str(on["device"]):
            dev = f"{on['device']} (host {on['host_cpu']})"
        vals = dict(train_origin=origin, train_device=dev, train_minutes=None if _num(mins) is None else
                    f"{float(mins):.1f}", train_steps=on.get("steps"), train_commit=on.get("commit"),
                    train_seed=on.get("seed", k))
        for c in TRAIN_COLUMNS:
            v = vals[c]
            per[c].append(NA if v is None or v == "" else str(v))
        if origin == "not recorded":
            notes.append(f"{name}: train_summary.json does not say whether it was trained in this run or restored")
    out = {c: (v[0] if len(set(v)) == 1 else " / ".join(v)) for c, v in per.items()}
    return out, notes


class _Row:
    """One leaderboard row being filled: cells ``r`` and the reasons in ``notes`` (in the order added)."""

    def __init__(self, r: dict, notes: list[str]):
        self.r, self.notes = r, notes

    def na(self, cols, reason: str) -> None:
        """Mark ``cols`` "n/a" and record why (once)."""
        for c in cols:
            self.r[c] = NA
        if reason not in self.notes:
            self.notes.append(reason)


def _cpu_time_cells(row: _Row, sys_: str, inp: Inputs) -> None:
    """Measured CPU-time saving of the streaming engine (skipping vs dense, 1 thread, per frame) from
    ``reports/benchmarks/engine.json``, only when that benchmark ran this run's very weights (sha256)."""
    cols = ["cpu_time_saving", "cpu_time_saving_per_mac_saving", "cpu_time_machine"]
    e = inp.engine.get(sys_)
    if sys_ == NOISY or sys_ not in inp.levels:
        row.na(cols, f"{sys_}: no model in the streaming engine")
    elif e is None:
        row.na(cols, f"{sys_}: not in reports/benchmarks/engine.json (benchmarks/bench_engine.py --levels ...)")
    elif e.get("model_sha256") is None or e["model_sha256"] != inp.model_sha256.get(sys_):
        row.na(cols, f"{sys_}: reports/benchmarks/engine.json measured other weights than this run's model.pt "
                     "(re-run benchmarks/bench_engine.py)")
    else:
        m = inp.engine_machine or {}
        load = m.get("loadavg_start") or [float("nan")]
        row.r["cpu_time_saving"] = float(e["cpu_time_saving"])
        ratio = _num(e.get("ratio"))
        if ratio is None:
            row.na(["cpu_time_saving_per_mac_saving"], f"{sys_}: static model, dense is the reference (no saving)")
        else:
            row.r["cpu_time_saving_per_mac_saving"] = ratio
        row.r["cpu_time_machine"] = (f"{m.get('cpu_model', '?')}, 1 thread, load {load[0]:.1f}, "
                                     f"{str(m.get('date', '?'))[:10]}")
        if ratio is not None:
            co = e.get("channel_order")
            order = ("the model's channel order" if co in (None, "model's own")
                     else "channels ordered by " + str(co).split(" [")[0])
            row.notes.append(f"{sys_}: CPU-time saving = 1 - p50 skipping / p50 dense per frame of "
                             f"bench.engine (backend {e.get('backend', 'numba')}, {order}), on its own benchmark "
                             f"audio (MAC saving there {float(e['mac_saving']):.3f})")


def _compute_cells(row: _Row, sys_: str, inp: Inputs) -> None:
    """Keep, MAC and MAC-saving columns from the level's enhance summary.json."""
    r, na, notes = row.r, row.na, row.notes
    s = inp.summaries.get(sys_)
    if sys_ == NOISY:
        r.update(macs_dense_m_per_s=0.0, macs_dynamic_m_per_s=0.0, macs_dynamic_p5_m_per_s=0.0,
                 macs_dynamic_p95_m_per_s=0.0, macs_gates_m_per_s=0.0)
        na(["target_keep", "realized_keep", "realized_keep_p5", "realized_keep_p95", "mac_saving",
            "mac_saving_excl_gates"], "noisy: unprocessed input (no model: 0 MACs, keep and saving do not apply)")
    elif s is not None:
        rk, dm = s["realised_keep"], s["dynamic_mmacs_per_s"]
        r.update(target_keep=float(s["target_keep"]), realized_keep=rk["mean"], realized_keep_p5=rk["p5"],
                 realized_keep_p95=rk["p95"], macs_dense_m_per_s=float(s["dense_mmacs_per_s"]),
                 macs_dynamic_m_per_s=dm["mean"], macs_dynamic_p5_m_per_s=dm["p5"],
                 macs_dynamic_p95_m_per_s=dm["p95"], mac_saving=float(s["mac_saving"]))
        gate = gate_mmacs_per_s(s)
        if gate is None:
            na(["macs_gates_m_per_s", "mac_saving_excl_gates"],
               f"{sys_}: enhance summary.json has no model_config / dense_macs_per_frame (gate cost unknown)")
        else:
            r["macs_gates_m_per_s"] = gate
            r["mac_saving_excl_gates"] = 1.0 - (float(dm["mean"]) - gate) / float(s["dense_mmacs_per_s"])
        if not s.get("gated", True):
            notes.append(f"{sys_}: static model, gates off (keep 1.0, dynamic = dense MACs)")
    else:
        cols = ["realized_keep", "realized_keep_p5", "realized_keep_p95", "macs_dense_m_per_s",
                "macs_dynamic_m_per_s", "macs_dynamic_p5_m_per_s", "macs_dynamic_p95_m_per_s",
                "macs_gates_m_per_s", "mac_saving", "mac_saving_excl_gates"]
        if sys_ in inp.levels:
            r["target_keep"] = inp.levels[sys_]
            na(cols, f"{sys_}: no enhance summary.json (compute and realized keep unknown)")
        else:
            na(["target_keep", *cols], f"{sys_}: external system (scored only; compute and keep unknown)")


def _score_cells(row: _Row, sys_: str, inp: Inputs) -> dict:
    """Counts and plain means from scores_summary.csv (seed 0); returns {metric: its summary row}."""
    r, na, notes = row.r, row.na, row.notes
    sc = None if inp.scores is None else inp.scores[inp.scores["system"].astype(str) == sys_]
    if sc is None or sc.empty:
        na(["estoi", "dnsmos_ovrl", "dnsmos_n", "n_scored", "n_total"],
           f"{sys_}: not scored (no rows in scores_summary.csv)")
        return {}
    by = {str(m): g.iloc[0] for m, g in sc.groupby("metric")}
    for metric, col in SCORE_COLUMNS.items():
        v = _num(by[metric]["mean"]) if metric in by else None
        if v is None:
            na([col], f"{metric}: not in score.metrics or no utterance scored")
        else:
            r[col] = v
    lm = ["pesq_wb"] if "pesq_wb" in by else [m for m in SCORE_COLUMNS if m in by]
    r["n_scored"] = int(min(int(by[m]["n_scored"]) for m in lm)) if lm else NA
    r["n_total"] = int(max(int(by[m]["n_total"]) for m in lm)) if lm else NA
    if r["n_scored"] != NA and r["n_scored"] < r["n_total"]:
        notes.append(f"{sys_}: {r['n_total'] - r['n_scored']} utterance(s) failed PESQ-wb (see "
                     "scores_summary.csv n_failed); means are over scored ones")
    if "dnsmos_ovrl" in by:
        r["dnsmos_n"] = f"{int(by['dnsmos_ovrl']['n_scored'])}/{int(by['dnsmos_ovrl']['n_total'])}"
    else:
        na(["dnsmos_n"], "dnsmos_ovrl: not in score.metrics or no utterance scored")
    for m in SCORE_COLUMNS:
        if m in by and m not in lm and int(by[m]["n_scored"]) < int(by[m]["n_total"]):
            notes.append(f"{sys_}: {m} over {int(by[m]['n_scored'])} of {int(by[m]['n_total'])} "
                         "utterances (failed or skipped by configuration, e.g. score.dnsmos_max_utts)")
    return by


def _ci_cells_from_stats(row: _Row, sys_: str, metric: str, col: str, cols: dict, stats: dict, reference: str,
                         multi: bool) -> None:
    """Cluster-bootstrap columns of one metric from :func:`quality_stats` (the per-utterance table)."""
    r, na, notes = row.r, row.na, row.notes
    st = stats.get(sys_, {})
    for c in cols["q"] + cols["d"] + cols["n"] + cols["g"]:
        if c in st:
            r[c] = st[c]
    if sys_ == NOISY:
        na(cols["n"] + cols["g"], "noisy: the input itself (no difference to noisy, gain retained 0 by definition)")
    if sys_ == reference:
        na(cols["d"], f"{reference}: reference of the paired differences")
        if cols["g"]:
            notes.append(f"{reference}: gain retained = 1 by definition")
    ref_lo = _num(stats.get(reference, {}).get(f"{col}_delta_vs_noisy_ci95_low"))
    if cols["g"] and sys_ not in (NOISY, reference) and (ref_lo is None or ref_lo <= 0):
        notes.append(f"{col} gain retained is not interpretable: {reference} does not beat noisy on "
                     f"{metric} (paired CI not above 0), so the ratio's denominator may be 0 or negative")
    seed_d = st.get(f"_{col}_seed_deltas")
    if multi and seed_d is not None and st.get(f"{col}_delta_significant") == "no" \
            and stats[sys_].get(f"{col}_delta_ci95_low") is not None:
        if len({np.sign(x) for x in seed_d}) > 1:
            notes.append(f"{sys_}: {col} difference vs {reference} changes sign across seeds "
                         f"({', '.join(f'{x:+.4f}' for x in seed_d)}): not significant")


def _ci_cells_from_csv(row: _Row, sys_: str, metric: str, cols: dict, by: dict, inp: Inputs, reference: str) -> None:
    """Fallback without the per-utterance table: scores_summary.csv / scores_paired.csv CIs, no seed spread."""
    r, na = row.r, row.na
    if metric in by and _num(by[metric]["mean"]) is not None:
        col = cols["q"][0]
        r[col] = _num(by[metric]["mean"])
        r[f"{col}_ci95_low"] = _num(by[metric]["ci95_low"])
        r[f"{col}_ci95_high"] = _num(by[metric]["ci95_high"])
        na(cols["q"][3:], f"{sys_}: seed spread needs the per-utterance scores table (not read)")
    else:
        na(cols["q"], f"{metric}: not in score.metrics or no utterance scored")
    for ref, cols_ in ((reference, cols["d"]), (NOISY, cols["n"])):
        if sys_ == ref:
            na(cols_, f"{ref}: reference of the paired differences")
            continue
        pr = None if inp.paired is None else inp.paired[(inp.paired["system"].astype(str) == sys_)
                                                         & (inp.paired["reference"].astype(str) == ref)
                                                         & (inp.paired["metric"] == metric)]
        if pr is None or pr.empty or _num(pr.iloc[0]["mean_diff"]) is None:
            na(cols_, f"{sys_}: no paired {metric} difference vs {ref} in scores_paired.csv")
        else:
            p0 = pr.iloc[0]
            vals = [_num(p0["mean_diff"]), _num(p0["ci95_low"]), _num(p0["ci95_high"])]
            if ref == reference:
                ex = vals[1] is not None and (vals[1] > 0 or vals[2] < 0)
                vals.append("yes" if ex else "no")
            r.update(dict(zip(cols_, vals)))
    if cols["g"]:
        na(cols["g"], f"{sys_}: gain retained needs the per-utterance scores table (not read)")


def _quality_cells(row: _Row, sys_: str, by: dict, stats: dict, inp: Inputs, reference: str, multi: bool) -> None:
    """Means, CIs, seed spread, paired differences and gain retained of every CI metric."""
    for metric, col in CI_METRICS.items():
        cols = {"q": [col, f"{col}_ci95_low", f"{col}_ci95_high", f"{col}_seed_min", f"{col}_seed_max"],
                "d": [f"{col}_delta_vs_static", f"{col}_delta_ci95_low", f"{col}_delta_ci95_high",
                      f"{col}_delta_significant"],
                "n": [f"{col}_delta_vs_noisy", f"{col}_delta_vs_noisy_ci95_low", f"{col}_delta_vs_noisy_ci95_high"],
                "g": [f"{col}_gain_retained", f"{col}_gain_retained_ci95_low", f"{col}_gain_retained_ci95_high"]
                if metric in GAIN_METRICS else []}
        if col in stats.get(sys_, {}):
            _ci_cells_from_stats(row, sys_, metric, col, cols, stats, reference, multi)
        else:
            _ci_cells_from_csv(row, sys_, metric, cols, by, inp, reference)


def _probe_cells(row: _Row, sys_: str, inp: Inputs) -> None:
    """Mask-probe columns (seed 0; replicates are not probed) from probes.json."""
    keep = inp.levels.get(sys_)
    pcols = [x for c in PROBE_CI_COLUMNS for x in (c, f"{c}_ci95_low", f"{c}_ci95_high")] + ["probe_cost_frac"]
    if sys_ == NOISY:
        row.na(pcols, "probes: noisy input has no gate masks")
    elif keep is not None and keep >= 1.0:
        row.na(pcols, f"probes: {sys_} is the static model (no gate masks)")
    elif sys_ not in inp.levels:
        row.na(pcols, f"probes: {sys_} is an external system (no gate masks)")
    elif not inp.probes or sys_ not in inp.probes:
        row.na(pcols, f"probes: {sys_} not in probes.json (not probed)")
    else:
        h = inp.probes[sys_]
        for c in pcols:
            v = _num(h.get(c))
            if v is None:
                row.na([c], f"{c}: not computed by the probe stage for {sys_}")
            else:
                row.r[c] = v


def build(inp: Inputs, prov: dict, reference: str = "static", rid: str | None = None) -> pd.DataFrame:
    """The leaderboard DataFrame (columns :data:`COLUMNS`; cells are numbers or "n/a"; reasons in ``notes``)."""
    from bench.report.provenance import run_id

    names = [NOISY] + list(inp.levels)
    if inp.scores is not None:  # external systems scored with --system appear after the levels
        names += [s for s in dict.fromkeys(inp.scores["system"].astype(str)) if s not in names]
    groups = seed_groups(names)
    stats = quality_stats(inp, groups, reference)
    validity, vdetail = validity_gate(inp, stats, reference)
    spec = metric_spec(inp.scores)
    rows = []
    for sys_, members in groups.items():
        multi = len(members) > 1
        row = _Row({"model": sys_, "seed": NA if inp.seed is None else int(inp.seed), "n_seeds": len(members),
                    "seeds": ",".join(str(k) for k, _ in members)},
                   [] if inp.seed is not None else ["seed: not recorded by this input"])
        if sys_ == NOISY:
            row.r.update(n_seeds=NA, seeds=NA)
        if multi:
            row.notes.append(f"{sys_}: mean over training seeds {row.r['seeds']} ({', '.join(s for _, s in members)}); "
                             "seed spread = min..max of the per-seed means; compute and probe columns: seed 0")
        _compute_cells(row, sys_, inp)
        _cpu_time_cells(row, sys_, inp)
        by = _score_cells(row, sys_, inp)
        ref_row = inp.reference_of(sys_, reference)
        if ref_row != reference:
            row.notes.append(f"{sys_}: paired differences (*_delta_vs_static) and gain retained are vs {ref_row}, "
                             "its causal static model (causal.gated_levels), not vs the non-causal reference")
        _quality_cells(row, sys_, by, stats, inp, ref_row, multi)
        _probe_cells(row, sys_, inp)
        if sys_ in inp.levels or any(s in inp.train for _, s in members):   # training provenance
            tp, tnotes = _train_provenance(members, inp.train)
            row.r.update(tp)
            row.notes += [n for n in tnotes if n not in row.notes]
        else:
            row.na(TRAIN_COLUMNS, f"{sys_}: no trained model (training provenance does not apply)")
        row.r["validity"], row.r["validity_detail"] = validity, vdetail
        row.r["notes"] = "; ".join(row.notes) if row.notes else "none"
        rows.append(row.r)
    df = pd.DataFrame(rows)
    df["run_id"] = rid or run_id(prov)
    for c in ("git_commit", "git_dirty", "params_hash", "dataset_sha256"):
        df[c] = prov.get(c, "unknown")
    df["metric_spec"] = json.dumps(spec, sort_keys=True) if spec else "{}"
    return finalize(df)


def gate_mmacs_per_s(summary: dict) -> float | None:
    """The gates' own M MACs per second of audio of an enhance summary (bench.macs on its model_config;
    else from ``dense_macs_per_frame``), 0.0 for a static model, None when the summary lacks both."""
    if not summary.get("gated", True):
        return 0.0
    cfg = summary.get("model_config")
    if isinstance(cfg, dict):
        from bench import macs as M
        from bench.models.fsenet import FSENetConfig

        try:
            c = FSENetConfig.from_dict(cfg)
            return float(M.dense_macs_per_frame(c)["gate_total"]) * M.frames_per_s(c) / 1e6
        except (TypeError, KeyError, ValueError):
            pass
    d = summary.get("dense_macs_per_frame")
    if isinstance(d, dict) and _num(d.get("gate_total")) is not None and _num(d.get("total")):
        fps = float(summary["dense_mmacs_per_s"]) * 1e6 / float(d["total"])
        return float(d["gate_total"]) * fps / 1e6
    return None


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


#: the headline numbers of ``metrics.json`` per system (the only file declared under ``metrics:``)
METRICS_JSON_COLUMNS = ("pesq_wb", "stoi", "si_sdr_db", "pesq_wb_delta_vs_static", "stoi_delta_vs_static",
                        "si_sdr_db_delta_vs_static", "pesq_wb_delta_vs_noisy", "stoi_delta_vs_noisy",
                        "si_sdr_db_delta_vs_noisy", "pesq_wb_gain_retained", "stoi_gain_retained", "mac_saving",
                        "mac_saving_excl_gates", "n_seeds", "vad_acc", "noise_acc", "f0_r2", "snr_r2")


def metrics_json(df: pd.DataFrame) -> dict:
    """Small flat dict for ``dvc metrics``: ``validity_gate_passed`` (bool) and, when it did not pass,
    ``validity_note`` first, then ``{model: {column: number}}`` of :data:`METRICS_JSON_COLUMNS` (n/a omitted)."""
    out: dict = {"validity_gate_passed": paper_comparison_allowed(df)}
    banner = validity_banner(df)
    if banner:
        out = {"validity_note": FAIL_BANNER, **out}
    for r in df.to_dict("records"):
        key = str(r["model"]) if "run" not in r else f"{r['run']}/{r['model']}"
        out[key] = {c: (int(r[c]) if c == "n_seeds" else round(float(r[c]), 6))
                    for c in METRICS_JSON_COLUMNS if c in r and _num(r[c]) is not None}
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


def _ci_sig(r, col, lo, hi, sig=None, digits=3) -> str:
    out = _ci(r, col, lo, hi, digits)
    return out + (" *" if sig and str(r.get(sig)) == "yes" else "")


def _range(r, col, digits=3) -> str:
    if str(r.get("n_seeds")) in ("1", NA) or _num(r.get(f"{col}_seed_min")) is None:
        return ""
    return f" (seeds {_fmt(r[f'{col}_seed_min'], digits)}..{_fmt(r[f'{col}_seed_max'], digits)})"


#: (header, formatter) of the markdown/HTML display table (the CSV keeps every column)
def display_rows(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["model", "seeds", "target keep", "realized keep [p5, p95]", "dynamic MMAC/s",
            "MAC saving (gates incl. / excl.)", "CPU-time saving (engine, 1 thread) / per MAC saving",
            "PESQ-wb [95 % CI]", "ΔPESQ-wb vs static [95 % CI]",
            "PESQ-wb gain retained [95 % CI]", "STOI [95 % CI]", "ΔSTOI vs static [95 % CI]",
            "STOI gain retained [95 % CI]", "SI-SDR dB [95 % CI]", "ESTOI", "DNSMOS OVRL (n)", "scored / total",
            "VAD acc [95 % CI]", "noise acc [95 % CI]", "F0 R² [95 % CI]", "SNR R² [95 % CI]",
            "probe cost / dyn. MACs", "trained"]
    body = []
    for r in df.to_dict("records"):
        dn = NA if _num(r.get("dnsmos_ovrl")) is None else f"{_fmt(r['dnsmos_ovrl'], 2)} (n={r.get('dnsmos_n', NA)})"
        ms = NA if _num(r["mac_saving"]) is None else (
            _pct(r["mac_saving"]) + (f" / {_pct(r['mac_saving_excl_gates'])}"
                                     if _num(r.get("mac_saving_excl_gates")) is not None else ""))
        body.append([
            (f"{r['run']}/" if "run" in r else "") + str(r["model"]), str(r.get("seeds", NA)),
            _fmt(r["target_keep"], 2), _ci(r, "realized_keep", "realized_keep_p5", "realized_keep_p95"),
            _fmt(r["macs_dynamic_m_per_s"], 2), ms,
            (NA if _num(r.get("cpu_time_saving")) is None else _pct(r["cpu_time_saving"]) + (
                f" / {_fmt(r['cpu_time_saving_per_mac_saving'], 2)}"
                if _num(r.get("cpu_time_saving_per_mac_saving")) is not None else "")),
            _ci(r, "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high") + _range(r, "pesq_wb"),
            _ci_sig(r, "pesq_wb_delta_vs_static", "pesq_wb_delta_ci95_low", "pesq_wb_delta_ci95_high",
                    "pesq_wb_delta_significant"),
            _ci(r, "pesq_wb_gain_retained", "pesq_wb_gain_retained_ci95_low", "pesq_wb_gain_retained_ci95_high", 2),
            _ci(r, "stoi", "stoi_ci95_low", "stoi_ci95_high") + _range(r, "stoi"),
            _ci_sig(r, "stoi_delta_vs_static", "stoi_delta_ci95_low", "stoi_delta_ci95_high",
                    "stoi_delta_significant"),
            _ci(r, "stoi_gain_retained", "stoi_gain_retained_ci95_low", "stoi_gain_retained_ci95_high", 2),
            _ci(r, "si_sdr_db", "si_sdr_db_ci95_low", "si_sdr_db_ci95_high", 2) + _range(r, "si_sdr_db", 2),
            _fmt(r["estoi"]), dn, f"{r['n_scored']} / {r['n_total']}",
            *[_ci(r, c, f"{c}_ci95_low", f"{c}_ci95_high") for c in PROBE_CI_COLUMNS],
            (NA if _num(r["probe_cost_frac"]) is None else f"{100 * float(r['probe_cost_frac']):.4f} %"),
            str(r.get("train_origin", NA)),
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
    "seeds": "training seeds averaged in the row (`<level>_seed<k>` systems; seed 0 = the plain name); the seed "
             "spread shown as (seeds min..max) is the range of the per-seed means",
    "target_keep": "keep ratio the gates were trained towards (params `levels`)",
    "realized_keep": "mean fraction of gated channels computed per frame on the test split (p5/p95 over frames)",
    "macs": "analytic MACs per second of 16 kHz audio (bench.macs); dynamic = from the recorded masks, gate cost "
            "included; 1 MAC = 1 multiply-accumulate",
    "mac_saving": "1 - dynamic / dense MACs of the same model, with the gates' own MACs counted (first) and "
                  "without them (second)",
    "gain retained": "(level - noisy) / (static - noisy) of the seed means, ratio recomputed per bootstrap "
                     "replicate; 1 = keeps all of the static model's improvement over the noisy input",
    "probes": "linear probe at C* (C* = fewest top-ranked mask channels within probe.c_star_tol of the best valid "
              "score; bench.probes, probes.json), mean over probe seeds, CI = cluster bootstrap over the test "
              "mixtures; noise acc is frame-level; F0 R² on Hz; probe cost = additions of the C* linear probes "
              "(all tasks) / dynamic MACs",
    "CI": "95 % percentile bootstrap; Δ columns are paired per utterance (same replicate weights for both "
          "systems); * = significant: the CI excludes 0 and every training seed's own difference has the same sign",
}


def stats_note(df: pd.DataFrame, design_desc: str | None = None, n_boot: int | None = None,
               boot_seed: int | None = None) -> str:
    """The method note of the statistics (Markdown section)."""
    how = design_desc or "see bench.score.bootstrap"
    clusters = "source clips" in how
    return "\n".join([
        "## Statistics (method)", "",
        f"- Resampling: {how}. "
        + ("Each replicate draws independent multinomial counts over the clips of each factor (speech clips, "
           "noise clips) of the test split; a mixture's weight is the product of its clips' counts (the "
           "pigeonhole bootstrap of Owen 2007), and every statistic is the weighted mean. Mixtures share source "
           "clips, so resampling mixtures alone gives intervals that are too narrow: in simulations with crossed "
           "clip effects (`benchmarks/bench_bootstrap.py`) the 95 % utterance interval covered 0.77-0.80, the "
           "pigeonhole one 0.98-0.997 (conservative) at 29-120 speech clips, and 0.91 with only 8 x 6 clips."
           if clusters else "The test metadata names no source clips: mixtures are resampled as if independent, "
           "which understates the uncertainty where mixtures share clips.")
        + (f" {n_boot} replicates, seed {boot_seed} (`report.bootstrap_seed`)." if n_boot else ""),
        "- Paired: differences, gain retained and the validity gate use the same replicate weights for every "
        "system; ratios are recomputed per replicate and the CI is the 2.5-97.5 % percentile of the replicates.",
        "- Training seeds: a row averages its seeds per utterance; a difference vs static is called significant "
        "only when the CI of the seed-mean difference excludes 0 and every seed's own difference (seed k minus "
        "the static seed-mean) has the same sign. Rows with one seed cannot show training variance.",
        "- The per-utterance scores are in `scores_per_utterance.csv` / `data/scores/per_utterance.parquet`.",
    ]) + "\n"


def paper_section(df: pd.DataFrame) -> str | None:
    """Comparison with the papers' figures (P1 arXiv 2412.17121: 29.6 % MACs saved for a 0.75 % relative
    PESQ drop; P2 arXiv 2602.10666: VAD 0.93, noise 0.84, F0 R² 0.86); None when the validity gate did not pass."""
    if not paper_comparison_allowed(df):
        return None
    st = df[df["model"] == "static"]
    sp = _num(st["pesq_wb"].iloc[0]) if len(st) else None
    lines = ["## Comparison with the papers' figures", "",
             f"P1 (arXiv 2412.17121): {100 * PAPER_SE['mac_saving']:.1f} % of MACs saved for a "
             f"{100 * PAPER_SE['rel_pesq_drop']:.2f} % relative PESQ drop. P2 (arXiv 2602.10666): VAD acc "
             f"{PAPER_PROBES['vad_acc']}, noise acc {PAPER_PROBES['noise_acc']}, F0 R² {PAPER_PROBES['f0_r2']}. "
             "Operating points differ (our target keep vs the paper's channel share, gates' cost counted here).", "",
             "| model | MAC saving | relative PESQ-wb drop | VAD acc (P2 0.93) | noise acc (P2 0.84) | "
             "F0 R² (P2 0.86) |",
             "|---|---|---|---|---|---|"]
    for r in df.to_dict("records"):
        if _num(r.get("realized_keep")) is None or float(r["realized_keep"]) >= 1.0:
            continue
        d = _num(r.get("pesq_wb_delta_vs_static"))
        rel = NA if d is None or not sp else f"{-100 * d / sp:.2f} %"
        lines.append(f"| {r['model']} | {_pct(r['mac_saving'])} | {rel} | {_fmt(r['vad_acc'])} | "
                     f"{_fmt(r['noise_acc'])} | {_fmt(r['f0_r2'])} |")
    return "\n".join(lines) + "\n"


def to_markdown(df: pd.DataFrame, prov_md: str, extra_sections: list[str] | None = None,
                title: str = "Leaderboard", stats_md: str | None = None) -> str:
    """The leaderboard page in Markdown: validity banner (when the gate did not pass), table, statistics
    method, paper comparison (only when the gate passed), metric implementations, columns, notes, provenance."""
    head, body = display_rows(df)
    banner = validity_banner(df) if "validity" in df.columns else None
    lines = [f"# {title}", ""]
    if banner:
        lines += [f"> **{banner}**", ""]
    elif "validity_detail" in df.columns and len(df):
        lines += [f"Validity gate passed: {df['validity_detail'].iloc[0]} (paired 95 % CIs above zero).", ""]
    lines += [md_table(head, body), ""]
    if stats_md:
        lines += [stats_md.rstrip(), ""]
    ps = paper_section(df)
    if ps:
        lines += [ps.rstrip(), ""]
    lines += ["## Metric implementations", "", "| metric | implementation | version | mode |", "|---|---|---|---|"]
    for m, s in metric_spec_rows(df):
        impl, ver, mode = (s.split(" | ", 2) + ["", ""])[:3]
        lines.append(f"| {m} | {impl} | {ver} | {mode} |")
    lines += ["", "## Columns", ""] + [f"- **{k}**: {v}" for k, v in COLUMN_DOCS.items()]
    lines += ["- full precision and every provenance column: `leaderboard.csv` (columns documented in "
              "`bench/report/leaderboard.py`)"]
    nl = notes_list(df)
    lines += ["", "## Notes (every n/a has its reason here)", ""] + ([f"- {n}" for n in nl] or ["- none"])
    for sec in extra_sections or []:
        lines += ["", sec.rstrip()]
    lines += ["", prov_md.rstrip(), ""]
    return "\n".join(lines)


def probes_section(probes: dict | None) -> str | None:
    """Markdown section: each mask probe (linear, C*) with its CI and what it adds beyond the per-block
    active-channel counts (channel identity) and the noisy input's frame log-energy (probes.json)."""
    if not probes:
        return None
    rows = []
    for lv, h in probes.items():
        if not isinstance(h, dict):
            continue
        for name, label in (("vad_acc", "VAD acc"), ("noise_acc", "noise acc (frame)"), ("f0_r2", "F0 R² (Hz)"),
                            ("snr_r2", "SNR R²")):
            if _num(h.get(name)) is None:
                continue

            def c(k):
                v, lo, hi = _num(h.get(k)), _num(h.get(f"{k}_ci95_low")), _num(h.get(f"{k}_ci95_high"))
                if v is None:
                    return NA
                return f"{v:+.3f}" + (f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None and hi is not None else "") \
                    if k != name else f"{v:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None
                                                    else "")
            rows.append([lv, label, c(name), c(f"{name}_beyond_count"), c(f"{name}_beyond_log_energy")])
    if not rows:
        return None
    return ("## Mask probes: channel identity beyond the count\n\n"
            "Linear probe at C* on the gate masks (test split, mean over probe seeds, 95 % cluster-bootstrap CI over "
            "test mixtures) and what it adds beyond two controls fitted on the same frames: the per-block counts of "
            "active channels (one feature per gated block) and the frame log-energy of the noisy input. A difference "
            "whose CI includes 0: the masks' channel identity adds nothing measurable. Every control: "
            "`probes.csv`, `probes.md`.\n\n"
            + md_table(["level", "task", "masks (linear, C*)", "masks - per-block counts", "masks - log-energy"], rows)
            + "\n")


#: primary metric per task of the baselines table (bench/tasks.py SPECS, as bench.baselines.cli.PRIMARY)
BASELINE_PRIMARY = TASK_HEAD_METRIC


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
