"""``sebench probe``: linear / MLP probes on the DynCP gate masks, with controls, selection, cost, plots.

For every gated level (``levels`` with keep < 1) and every seed in ``probe.seeds`` and task
(vad, noise [frame], noise_seg [segment], f0, snr): rank channels on train, fit the linear probe on the
top-k channels for each k of ``probe.c_star_grid`` (regularisation chosen on valid; curves on the first
``probe.curve_seeds`` seeds), choose C*, then score on test: masks@all, masks@C*, an MLP on masks@all,
and the controls (majority, shuffled labels, random masks, log-mel input, binarised static
activations). Outputs: ``reports/probes.csv``, ``reports/probes.json``, ``reports/probes.md``,
``reports/probes/*.png``, ``data/probes/{runs.csv, curves.csv, confusion.json, c_star.json}``.
"""
from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from bench.params import load_params
from bench.probes import ci, controls, cost, features, plots
from bench.probes.linear import SELECT_METRIC, TASK_KIND, confusion, fit_probe, metrics
from bench.probes.selection import choose_c_star, rank_channels, resolve_grid
from bench.tasks import ALL_TASKS, FRAME_TASKS, SPECS, seen_noise_rows, segment_labels, spec, task_frames
from datagen.dataset import load_classes, load_metadata
from datagen.frames import FrameGrid

TASKS = ALL_TASKS   # bench/tasks.py SPECS: frame tasks and the segment-level noise task
SPLITS = ("train", "valid", "test")
from datagen.config import REPLICATE_RE as SEED_RE  # noqa: E402  (<level>_seed<k>)
DEFAULTS = dict(seeds=[0, 1, 2], max_train_frames=40000, max_valid_frames=20000,
                c_star_grid=[8, 16, 32, 64, 128, 202, 256, 512, "all"], c_star_tol=0.01, curve_seeds=1,
                reg_grid_logistic=[0.01, 0.1, 1.0], reg_grid_ridge=[1.0, 100.0, 10000.0], max_iter=200,
                mlp=dict(enabled=True, hidden=64, alpha_grid=[1e-4, 1e-2], max_iter=20, max_train_frames=20000,
                         n_seeds=1),
                tsne_frames=2000, logmel_n_mels=64, blocks=None, num_threads=1, control_seeds=None, workers=1,
                bootstrap_n=1000,
                controls=["majority", "shuffled_labels", "random_masks", "logmel", "static_act_binarised",
                          "block_counts", "log_energy"])


def probe_params(p: dict) -> dict:
    """``probe`` section of params with defaults filled in (nested ``mlp`` merged)."""
    pc = {**DEFAULTS, **(p.get("probe") or {})}
    pc["mlp"] = {**DEFAULTS["mlp"], **((p.get("probe") or {}).get("mlp") or {})}
    unknown = set(pc["controls"]) - set(DEFAULTS["controls"])
    if unknown:
        raise ValueError(f"probe.controls: unknown entries {sorted(unknown)}")
    return pc


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


class Runner:
    """Holds the splits' metadata and task frames; builds (X, y) per split for one feature source."""

    def __init__(self, metas: dict, pc: dict):
        self.metas, self.pc = metas, pc
        self.tfs = {t: {s: task_frames(metas[s], t) for s in SPLITS} for t in FRAME_TASKS}
        # noise tasks: only classes seen in training can be classified (VBD's test noises are all unseen)
        train_ids = metas["train"]["noise_class_id"].unique()
        self.noise_metas, self.notes = {"train": metas["train"]}, []
        for s in ("valid", "test"):
            self.noise_metas[s], dropped = seen_noise_rows(metas[s], train_ids)
            if dropped:
                self.notes.append(f"noise tasks, {s}: {len(metas[s]) - len(self.noise_metas[s])} of "
                                  f"{len(metas[s])} mixtures excluded, their noise class ids {dropped} never "
                                  "occur in train")
        for s in SPLITS:
            self.tfs["noise"][s] = task_frames(self.noise_metas[s], "noise")
        self.weights, self.design, self.n_classes = None, None, None

    def set_bootstrap(self, n_boot: int, seed: int, columns=None) -> str:
        """Cluster-bootstrap weights over the test mixtures (bench.probes.ci); returns the design's description."""
        from bench.score.bootstrap import CLUSTER_COLUMNS, design_from_metadata

        test = self.metas["test"]
        cols = [c for c in CLUSTER_COLUMNS if c in test.columns] if columns is None else list(columns)
        self.design = design_from_metadata(test, cols, "test metadata")
        self.weights = self.design.weights(int(n_boot), int(seed))
        return self.design.describe()

    def test_codes(self, task: str) -> np.ndarray:
        """Mixture index (in the bootstrap design) of each test frame of ``task`` (each mixture for noise_seg)."""
        ids = self.noise_metas["test"]["mixture_id"] if spec(task).segment else self.tfs[task]["test"].mixture_id
        return self.design.positions(np.asarray(ids, dtype=str))

    def reps(self, task: str, y_test, pred) -> dict | None:
        """{metric: (B,) bootstrap replicates} of one test prediction (None when no bootstrap is set)."""
        if self.weights is None:
            return None
        return ci.replicates(task, y_test, pred, self.test_codes(task), self.weights, self.n_classes)

    def data(self, task: str, src: dict, seed: int, columns=None, max_train=None) -> dict:
        """{split: (X (N, D) float32, y (N,))} for task on feature source src {split: per-mixture}."""
        if spec(task).segment:
            return {s: (features.pooled_matrix(src[s], self.noise_metas[s], columns),
                        segment_labels(self.noise_metas[s])[1]) for s in SPLITS}
        tf = self.tfs[task]
        sel = {"train": features.subsample(tf["train"], max_train or self.pc["max_train_frames"], seed),
               "valid": features.subsample(tf["valid"], self.pc["max_valid_frames"], seed + 7919),
               "test": tf["test"]}
        return {s: (features.frame_matrix(src[s], sel[s], columns), sel[s].y) for s in SPLITS}


def _reg_grid(task: str, pc: dict) -> list[float]:
    return [float(r) for r in (pc["reg_grid_ridge"] if TASK_KIND[task] == "regression" else pc["reg_grid_logistic"])]


def _fit_score(task, d, pc, seed, probe="linear", y_train=None):
    x_tr, y_tr = d["train"]
    if probe == "mlp":
        m = pc["mlp"]
        n = min(len(y_tr), int(m["max_train_frames"]))
        idx = np.sort(np.random.default_rng(seed + 17).choice(len(y_tr), n, replace=False))
        x_tr, y_tr = x_tr[idx], (y_tr if y_train is None else y_train)[idx]
        pr = fit_probe(task, x_tr, y_tr, *d["valid"], [float(a) for a in m["alpha_grid"]], "mlp", seed,
                       int(m["hidden"]), int(m["max_iter"]))
    else:
        pr = fit_probe(task, x_tr, y_tr if y_train is None else y_train, *d["valid"], _reg_grid(task, pc),
                       "linear", seed, max_iter=int(pc["max_iter"]))
    pred = pr.predict(d["test"][0])
    return pr, pred, metrics(task, d["test"][1], pred)


def _rows(level, task, probe, feats, n_features, seed, n_test, mets: dict, reg=None, reps: dict | None = None):
    """Rows of runs.csv; ``reps`` ({metric: (B,)} bootstrap replicates) ride along as ``_reps`` (not written)."""
    return [dict(level=level, task=task, probe=probe, features=feats, n_features=int(n_features), seed=int(seed),
                 metric=k, value=float(v), n_test_frames=int(n_test), reg=reg,
                 **({"_reps": reps[k]} if reps and k in reps else {})) for k, v in mets.items()]


def probe_level(level: str, masks: dict, block_channels: list[int], runner: Runner, pc: dict, seeds: list[int],
                macs: dict | None, static_acts: dict | None, log=_log):
    """All probes of one gated level. Returns (rows, curve rows, c_star {task: k}, extras for plots)."""
    rows, curve_rows, c_star, extras = [], [], {}, {"confusion": {}}
    cols = features.block_columns(block_channels, pc["blocks"])
    n_all = len(cols)
    ks = resolve_grid(pc["c_star_grid"], n_all)
    rates = controls.firing_rates(masks["train"])
    density = float(rates.mean())
    static_bin = None
    if static_acts is not None and "static_act_binarised" in pc["controls"]:
        thr = controls.density_thresholds(static_acts["train"], density)
        static_bin = {s: controls.binarise(static_acts[s], thr) for s in SPLITS}
    # count control: one feature per gated block = number of active channels (same frames as the masks)
    counts = ({s: features.block_counts(masks[s], block_channels, pc["blocks"]) for s in SPLITS}
              if "block_counts" in pc["controls"] else None)
    for si, seed in enumerate(tqdm(seeds, desc=f"probe {level}", leave=False)):
        rnd = ({s: controls.random_masks(masks[s], rates, seed * 1000 + i) for i, s in enumerate(SPLITS)}
               if "random_masks" in pc["controls"] else None)
        for task in TASKS:
            t0 = time.time()
            d_all = runner.data(task, masks, seed, cols)
            n_test = len(d_all["test"][1])
            if n_test == 0 or len(d_all["train"][1]) == 0:
                log(f"[probe] {level}/{task}: no frames, skipped")
                continue
            order, _ = rank_channels(task, *d_all["train"])
            metric = SELECT_METRIC[task]
            fitted = {}
            if si < int(pc["curve_seeds"]):
                vals = []
                for k in ks:
                    d = {s: (x[:, order[:k]], y) for s, (x, y) in d_all.items()}
                    pr, pred, m = _fit_score(task, d, pc, seed)
                    fitted[k] = (pr, pred, m)
                    sc = {"train": metrics(task, d["train"][1], pr.predict(d["train"][0]))[metric],
                          "valid": pr.valid_scores[pr.reg], "test": m[metric]}
                    vals.append(sc["valid"])
                    curve_rows += [dict(level=level, task=task, seed=seed, k=k, split=s, metric=metric, value=v,
                                        reg=pr.reg) for s, v in sc.items()]
                if task not in c_star:
                    c_star[task] = choose_c_star(ks, vals, float(pc["c_star_tol"]))
            kc = c_star.get(task, n_all)
            for k in sorted({kc, n_all}):
                if k not in fitted:
                    d = {s: (x[:, order[:k]], y) for s, (x, y) in d_all.items()}
                    fitted[k] = _fit_score(task, d, pc, seed)
                pr, pred, m = fitted[k]
                rows += _rows(level, task, "linear", "masks", k, seed, n_test, m, pr.reg,
                              runner.reps(task, d_all["test"][1], pred))
                if not spec(task).segment:  # cost of a frame-level probe on binary features
                    xb = d_all["test"][0][:, order[:k]] > 0.5
                    w, _ = pr.folded()
                    adds = float(cost.additions_per_frame(xb, w).mean())
                    cm = {"adds_per_frame": adds}
                    if macs:
                        cm["cost_frac_dynamic"] = adds / macs["dynamic"]
                        cm["cost_frac_dense"] = adds / macs["dense"]
                    rows += _rows(level, task, "linear", "masks", k, seed, n_test, cm)
                if si == 0 and k == n_all and TASK_KIND[task] == "multiclass":
                    extras["confusion"][task] = confusion(d_all["test"][1], pred, runner.n_classes).tolist()
            if pc["mlp"]["enabled"] and si < int(pc["mlp"]["n_seeds"]):
                pr, pred, m = _fit_score(task, d_all, pc, seed, probe="mlp")
                rows += _rows(level, task, "mlp", "masks", n_all, seed, n_test, m, pr.reg,
                              runner.reps(task, d_all["test"][1], pred))
            y_tr = d_all["train"][1]
            fit_controls = si < int(pc.get("control_seeds") or len(seeds))   # fitted controls: first n seeds
            if "majority" in pc["controls"]:
                pred = controls.majority_predict(task, y_tr, n_test)
                rows += _rows(level, task, "linear", "majority", 0, seed, n_test, metrics(task, d_all["test"][1], pred),
                              reps=runner.reps(task, d_all["test"][1], pred))
            if "shuffled_labels" in pc["controls"] and fit_controls:
                pr, pred, m = _fit_score(task, d_all, pc, seed, y_train=controls.shuffled(y_tr, seed))
                rows += _rows(level, task, "linear", "shuffled_labels", n_all, seed, n_test, m, pr.reg,
                              runner.reps(task, d_all["test"][1], pred))
            if rnd is not None and fit_controls:
                pr, pred, m = _fit_score(task, runner.data(task, rnd, seed, cols), pc, seed)
                rows += _rows(level, task, "linear", "random_masks", n_all, seed, n_test, m, pr.reg,
                              runner.reps(task, d_all["test"][1], pred))
            if counts is not None and fit_controls:
                d = runner.data(task, counts, seed)
                pr, pred, m = _fit_score(task, d, pc, seed)
                rows += _rows(level, task, "linear", "block_counts", d["train"][0].shape[1], seed, n_test, m, pr.reg,
                              runner.reps(task, d["test"][1], pred))
            if static_bin is not None and fit_controls:
                d = runner.data(task, static_bin, seed)
                pr, pred, m = _fit_score(task, d, pc, seed)
                rows += _rows(level, task, "linear", "static_act_binarised", d["train"][0].shape[1], seed, n_test,
                              m, pr.reg, runner.reps(task, d["test"][1], pred))
            log(f"[probe] {level} seed {seed} {task}: {time.time() - t0:.1f} s")
    extras.update(rates=rates, density=density, ks=ks)
    return rows, curve_rows, c_star, extras


def probe_logmel(runner: Runner, logmel: dict, pc: dict, seeds: list[int], log=_log, name: str = "logmel"
                 ) -> list[dict]:
    """The linear probe on an input feature of the noisy audio (``name``: "logmel" spectrogram or
    "log_energy" per frame); level-independent (level = "input")."""
    rows = []
    for seed in seeds[: int(pc.get("control_seeds") or len(seeds))]:
        for task in TASKS:
            d = runner.data(task, logmel, seed)
            if len(d["test"][1]) == 0:
                continue
            pr, pred, m = _fit_score(task, d, pc, seed)
            rows += _rows("input", task, "linear", name, d["train"][0].shape[1], seed, len(d["test"][1]), m, pr.reg,
                          runner.reps(task, d["test"][1], pred))
    return rows


RepKey = tuple  # (level, task, probe, features, n_features, metric, seed)
#: the headline metric per task (probes.json names: vad_acc, noise_acc, noise_seg_acc, f0_r2 (Hz), snr_r2)
HEAD_METRIC = {t: sp.head_metric for t, sp in SPECS.items()}
HEAD_NAME = {t: sp.column for t, sp in SPECS.items()}
#: controls the masks' identity is measured against (features, level of the control rows; None = same level)
BEYOND = {"block_counts": ("count", None), "log_energy": ("log_energy", "input")}


def pop_reps(rows: list[dict]) -> dict[RepKey, np.ndarray]:
    """Take the bootstrap replicates off the rows (in place): {(level, task, probe, features, n_features,
    metric, seed): (B,)}."""
    out = {}
    for r in rows:
        rp = r.pop("_reps", None)
        if rp is not None:
            out[(r["level"], r["task"], r["probe"], r["features"], int(r["n_features"]), r["metric"],
                 int(r["seed"]))] = rp
    return out


def _seed_mean_reps(reps: dict, key: tuple, seeds) -> np.ndarray | None:
    vs = [reps[(*key, int(s))] for s in seeds if (*key, int(s)) in reps]
    return np.mean(vs, axis=0) if vs and len(vs) == len(list(seeds)) else None


def summarise(runs: pd.DataFrame, c_star_all: dict, reps: dict | None = None) -> pd.DataFrame:
    """Mean and std over seeds per (level, task, probe, features, n_features, metric), with ``ci95_low`` /
    ``ci95_high``: percentile interval of the seed-mean over cluster-bootstrap replicates of the test
    mixtures (bench.probes.ci; NaN for cost rows and without replicates)."""
    keys = ["level", "task", "probe", "features", "n_features", "metric"]
    g = runs.groupby(keys, sort=False).agg(mean=("value", "mean"), std=("value", "std"), n_seeds=("seed", "nunique"),
                                           n_test_frames=("n_test_frames", "first")).reset_index()
    g["std"] = g["std"].fillna(0.0)
    lo, hi = [], []
    seeds_of = runs.groupby(keys, sort=False)["seed"].apply(lambda x: sorted(set(int(v) for v in x))).to_dict()
    for r in g.itertuples(index=False):
        k = (r.level, r.task, r.probe, r.features, int(r.n_features), r.metric)
        m = _seed_mean_reps(reps or {}, k, seeds_of[k])
        a, b = ci.interval(m) if m is not None else (float("nan"), float("nan"))
        lo.append(a)
        hi.append(b)
    g["ci95_low"], g["ci95_high"] = lo, hi
    g["c_star"] = [c_star_all.get(lv, {}).get(t) for lv, t in zip(g["level"], g["task"])]
    g["c_star"] = g["c_star"].astype("Int64")
    return g


def beyond_controls(runs: pd.DataFrame, reps: dict, c_star_all: dict, levels: list[str]) -> pd.DataFrame:
    """How much the mask probe (linear, C*) adds beyond a control on the same frames: the per-block
    active-channel counts (channel identity beyond the count) and the noisy input's frame log-energy.
    diff = mask - control, mean over the seeds both have; CI from the paired replicates (same weights)."""
    cols = ["level", "task", "metric", "control", "n_features", "masks", "control_value", "diff", "ci95_low",
            "ci95_high", "n_seeds"]
    out = []
    for lv in levels:
        for task, metric in HEAD_METRIC.items():
            k = c_star_all.get(lv, {}).get(task)
            mk = runs[(runs["level"] == lv) & (runs["task"] == task) & (runs["probe"] == "linear")
                      & (runs["features"] == "masks") & (runs["metric"] == metric)]
            if k is None:
                k = int(mk["n_features"].max()) if len(mk) else None
            mk = mk[mk["n_features"] == k]
            for feats, (_, clv) in BEYOND.items():
                cr = runs[(runs["level"] == (clv or lv)) & (runs["task"] == task) & (runs["features"] == feats)
                          & (runs["metric"] == metric)]
                common = sorted(set(mk["seed"].astype(int)) & set(cr["seed"].astype(int)))
                if not common:
                    continue
                nf_c = int(cr["n_features"].iloc[0])
                mv = mk.set_index("seed")["value"]
                cv = cr.set_index("seed")["value"]
                m_reps = _seed_mean_reps(reps, (lv, task, "linear", "masks", int(k), metric), common)
                c_reps = _seed_mean_reps(reps, (clv or lv, task, "linear", feats, nf_c, metric), common)
                lo, hi = ci.interval(m_reps - c_reps) if m_reps is not None and c_reps is not None \
                    else (float("nan"), float("nan"))
                mm, cc = float(np.mean([mv[s] for s in common])), float(np.mean([cv[s] for s in common]))
                out.append(dict(level=lv, task=task, metric=metric, control=feats, n_features=nf_c, masks=mm,
                                control_value=cc, diff=mm - cc, ci95_low=lo, ci95_high=hi, n_seeds=len(common)))
    return pd.DataFrame(out, columns=cols)


def headline(summary: pd.DataFrame, levels: list[str], beyond: pd.DataFrame | None = None) -> dict:
    """Nested metrics for DVC, per level: the linear probe on the C* channels chosen on valid (no choice
    is made on test) with ``*_ci95_low/high`` (cluster bootstrap over test mixtures), the MLP on all
    channels (``*_mlp``), what the masks add beyond the count and log-energy controls
    (``*_beyond_count``, ``*_beyond_log_energy`` with CIs), and the cost of the four frame-level linear
    probes at C* together as a fraction of the SE model's dynamic MACs per frame."""
    out = {}
    for lv in levels:
        s = summary[(summary["level"] == lv) & (summary["features"] == "masks")]

        def row(task, metric, probe="linear"):
            r = s[(s["task"] == task) & (s["metric"] == metric) & (s["probe"] == probe)]
            if probe == "linear":
                r = r[r["n_features"] == r["c_star"]]
            return None if r.empty else r.iloc[0]

        def val(x, c="mean"):
            return None if x is None or not np.isfinite(float(x[c])) else float(x[c])

        cs = s[(s["metric"] == "cost_frac_dynamic") & (s["n_features"] == s["c_star"])
               & s["task"].isin(list(FRAME_TASKS))]
        h = {}
        for task, name in HEAD_NAME.items():
            r = row(task, HEAD_METRIC[task])
            h[name], h[f"{name}_ci95_low"], h[f"{name}_ci95_high"] = val(r), val(r, "ci95_low"), val(r, "ci95_high")
        h["f0_r2_cents"] = val(row("f0", "r2_cents"))
        for task, name in ((t, HEAD_NAME[t]) for t in FRAME_TASKS):
            h[f"{name}_mlp"] = val(row(task, HEAD_METRIC[task], "mlp"))
        if beyond is not None and len(beyond):
            for b in beyond[beyond["level"] == lv].itertuples(index=False):
                nm = f"{HEAD_NAME[b.task]}_beyond_{BEYOND[b.control][0]}"
                h[nm] = float(b.diff)
                h[f"{nm}_ci95_low"] = None if not np.isfinite(b.ci95_low) else float(b.ci95_low)
                h[f"{nm}_ci95_high"] = None if not np.isfinite(b.ci95_high) else float(b.ci95_high)
        h["probe_cost_frac"] = None if cs.empty else float(cs["mean"].sum())
        out[lv] = h
    return out


def report_md(summary: pd.DataFrame, head: dict, c_star_all: dict, notes: list[str], env: dict,
              beyond: pd.DataFrame | None = None) -> str:
    """probes.md. No comparison with the papers' figures here: the report stage shows it only when the SE
    model passes the validity gate (bench.report.leaderboard)."""
    lines = ["# Mask probes", "",
             "Probes: scikit-learn " + env["sklearn"] + " (LogisticRegression lbfgs / Ridge / MLP), features "
             "standardised on train, regularisation chosen on valid; mean over seeds " + str(env["seeds"]) + ".",
             "[95 % CI]: " + str(env.get("bootstrap", "n/a")) + ", percentile interval of the seed-mean.", "",
             "Headline = linear probe at C* (C* = fewest top-ranked mask channels within probe.c_star_tol of the "
             "best valid score); MLP on all channels in probes.json. F0 R² on Hz (cents in probes.csv).", "",
             "| level | VAD acc | noise acc frame | noise acc segment | F0 R^2 Hz | F0 R^2 cents | "
             "SNR R^2 | C* vad/noise/f0/snr | probe cost / dynamic MACs |",
             "|---|---|---|---|---|---|---|---|---|"]

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    def fc(h, name):
        v, lo, hi = h.get(name), h.get(f"{name}_ci95_low"), h.get(f"{name}_ci95_high")
        return f(v) + (f" [{lo:.3f}, {hi:.3f}]" if v is not None and lo is not None and hi is not None else "")

    for lv, h in head.items():
        cs = c_star_all.get(lv, {})
        cost_s = "n/a" if h["probe_cost_frac"] is None else f"{100 * h['probe_cost_frac']:.4f} %"
        lines.append(f"| {lv} | {fc(h, 'vad_acc')} | {fc(h, 'noise_acc')} | {fc(h, 'noise_seg_acc')} | "
                     f"{fc(h, 'f0_r2')} | {f(h['f0_r2_cents'])} | {fc(h, 'snr_r2')} | "
                     f"{'/'.join(str(cs.get(t, '-')) for t in ('vad', 'noise', 'f0', 'snr'))} | {cost_s} |")
    if beyond is not None and len(beyond):
        lines += ["", "What the mask probe (linear, C*) adds beyond two controls on the same frames: the per-block "
                  "active-channel counts (one feature per gated block: channel identity beyond how many channels "
                  "are on) and the noisy input's frame log-energy. diff = masks - control, mean over the seeds both "
                  "have, paired bootstrap CI; a CI that includes 0 means the masks add nothing measurable.", "",
                  "| level | task (metric) | masks | per-block counts | masks - counts [95 % CI] | log-energy | "
                  "masks - log-energy [95 % CI] |", "|---|---|---|---|---|---|---|"]
        for (lv, task), g in beyond.groupby(["level", "task"], sort=False):
            by = {r.control: r for r in g.itertuples(index=False)}
            cells = []
            for c in ("block_counts", "log_energy"):
                r = by.get(c)
                cells += (["n/a", "n/a"] if r is None else
                          [f"{r.control_value:.3f}", f"{r.diff:+.3f} [{r.ci95_low:+.3f}, {r.ci95_high:+.3f}]"])
            m = next(iter(by.values()))
            lines.append(f"| {lv} | {task} ({m.metric}) | {m.masks:.3f} | {cells[0]} | {cells[1]} | {cells[2]} | "
                         f"{cells[3]} |")
    lines += ["", "Selectivity (linear masks@all minus shuffled-label control, selection metric):", ""]
    sel = []
    for (lv, task), g in summary[summary["level"] != "input"].groupby(["level", "task"], sort=False):
        metric = SELECT_METRIC[task]
        a = g[(g["features"] == "masks") & (g["probe"] == "linear") & (g["metric"] == metric)]
        a = a[a["n_features"] == a["n_features"].max()]["mean"]
        c = g[(g["features"] == "shuffled_labels") & (g["metric"] == metric)]["mean"]
        if len(a) and len(c):
            sel.append(f"- {lv} {task} ({metric}): {a.iloc[0]:.3f} - {c.iloc[0]:.3f} = {a.iloc[0] - c.iloc[0]:+.3f}")
    lines += sel + ["", "Environment: " + json.dumps(env)] + ([""] + [f"Note: {n}" for n in notes] if notes else [])
    return "\n".join(lines) + "\n"


def cli(argv: list[str]) -> int:
    from bench import parsers   # options live there, so `sebench probe --help` needs no torch/sklearn

    args = parsers.probe().parse_args(argv)
    p = load_params(args.params)
    pc = probe_params(p)
    # BLAS/OpenMP threads: oversubscribed OpenMP spin-waits made t-SNE 20x slower on the shared 2-core box
    import torch
    from threadpoolctl import threadpool_limits

    n_threads = int(pc["num_threads"])
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(n_threads):
            return _run(args, p, pc)
    finally:
        torch.set_num_threads(torch_threads)


def _run(args, p: dict, pc: dict) -> int:
    paths, grid = p["paths"], FrameGrid.from_params(p["frames"])
    dataset_dir, enhanced_dir = Path(paths["dataset_dir"]), Path(paths["enhanced_dir"])
    probes_dir, reports_dir = Path(paths["probes_dir"]), Path(paths["reports_dir"])
    seeds = [int(s) for s in pc["seeds"]]
    levels = {str(k): float(v) for k, v in p["levels"].items()}
    # training-seed replicates (<level>_seed<k> beside <level>) are scored, not probed
    replicate = lambda lv: bool(SEED_RE.match(lv)) and SEED_RE.match(lv)["base"] in levels  # noqa: E731
    gated = [lv for lv, keep in levels.items() if keep < 1.0 and not replicate(lv)]
    if args.levels:
        bad = set(args.levels) - set(gated)
        if bad:
            raise ValueError(f"{args.params}: --levels {sorted(bad)} are not gated levels (keep < 1) in {gated}")
        gated = list(args.levels)
    static = [lv for lv, keep in levels.items() if keep >= 1.0 and not replicate(lv)]
    if not gated:
        raise ValueError(f"{args.params}: no gated level (keep < 1) in `levels`; nothing to probe")

    metas = {s: load_metadata(dataset_dir, s) for s in SPLITS}
    features.check_disjoint(metas["train"], metas["test"], source=str(dataset_dir / "metadata"))
    classes = load_classes(dataset_dir)
    runner = Runner(metas, pc)
    runner.n_classes = len(classes)
    rc = p.get("report") or {}
    boot_seed = int(rc["bootstrap_seed"]) if rc.get("bootstrap_seed") is not None else int(p.get("seed", 0))
    boot_desc = runner.set_bootstrap(int(pc["bootstrap_n"]), boot_seed,
                                     (p.get("score") or {}).get("bootstrap_clusters"))
    notes = list(runner.notes)

    static_acts = None
    if static and "static_act_binarised" in pc["controls"]:
        try:
            static_acts = {s: features.load_activations(features.activations_path(enhanced_dir, static[0], s),
                                                        metas[s])[0] for s in SPLITS}
        except FileNotFoundError as e:
            notes.append(f"static_act_binarised control skipped: {e}")
    elif "static_act_binarised" in pc["controls"]:
        notes.append("static_act_binarised control skipped: no static level (keep 1.0) in params")

    rows, curves, c_star_all, extras = [], [], {}, {}
    global _LEVEL_CTX
    _LEVEL_CTX = dict(enhanced_dir=enhanced_dir, metas=metas, grid=grid, runner=runner, pc=pc, seeds=seeds,
                      static_acts=static_acts, classes=classes, plots=not args.no_plots,
                      plots_dir=reports_dir / "probes")
    workers = max(1, min(int(pc.get("workers") or 1), len(gated)))
    if workers > 1:   # levels are independent; each worker probes whole levels (fork: shares the loaded data)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from datagen.numba_warm import warm_librosa

        warm_librosa()   # librosa's numba caches written once, here, not raced by the workers
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as ex:
            results = list(ex.map(_probe_one_level, gated))
    else:
        results = [_probe_one_level(lv) for lv in gated]
    for lv, (r, c, cs, ex, lv_notes) in zip(gated, results):   # merged in params order: same bytes either way
        rows += r; curves += c; c_star_all[lv] = cs
        extras[lv] = ex
        notes += lv_notes
    if "logmel" in pc["controls"]:
        lm = {s: features.logmel(dataset_dir, metas[s], grid.sample_rate_hz, grid.n_fft, grid.hop_length,
                                 int(pc["logmel_n_mels"])) for s in SPLITS}
        rows += probe_logmel(runner, lm, pc, seeds)
    if "log_energy" in pc["controls"]:
        le = {s: features.log_energy(dataset_dir, metas[s], grid.n_fft, grid.hop_length) for s in SPLITS}
        rows += probe_logmel(runner, le, pc, seeds, name="log_energy")

    import sklearn
    env = dict(sklearn=sklearn.__version__, numpy=np.__version__, python=platform.python_version(),
               machine=f"{platform.machine()} {os.cpu_count()}-core CPU", seeds=seeds,
               bootstrap=f"{boot_desc}, {int(pc['bootstrap_n'])} replicates, seed {boot_seed}")
    reps = pop_reps(rows)
    runs = pd.DataFrame(rows)
    summary = summarise(runs, c_star_all, reps)
    beyond = beyond_controls(runs, reps, c_star_all, gated)
    head = headline(summary, gated, beyond)
    curves_df = pd.DataFrame(curves)
    _atomic_csv(runs, probes_dir / "runs.csv")
    _atomic_csv(curves_df, probes_dir / "curves.csv")
    _atomic_text(probes_dir / "c_star.json", json.dumps(dict(rule=f"smallest k within {pc['c_star_tol']} (absolute) "
                                                             "of the best valid score", ranking="ANOVA F on train",
                                                             c_star=c_star_all), indent=2))
    _atomic_text(probes_dir / "confusion.json", json.dumps(
        {lv: dict(classes=classes, **ex["confusion"]) for lv, ex in extras.items()}, indent=2))
    _atomic_csv(summary, reports_dir / "probes.csv")
    _atomic_text(reports_dir / "probes.json", json.dumps(head, indent=2))
    _atomic_csv(beyond, probes_dir / "beyond_controls.csv")
    _atomic_text(reports_dir / "probes.md", report_md(summary, head, c_star_all, notes, env, beyond))
    if not args.no_plots and len(curves_df):
        plots.plot_curves(curves_df, reports_dir / "probes" / "curves.png")
    for n in notes:
        print(f"[probe] note: {n}", file=sys.stderr)
    print(json.dumps(head, indent=2))
    return 0


_LEVEL_CTX: dict = {}


def _probe_one_level(lv: str):
    """Probe one gated level (loads its masks; plots when enabled). Returns (rows, curves, c_star, extras, notes).
    Reads the stage context from ``_LEVEL_CTX`` (set by ``_run``; inherited by forked workers)."""
    c = _LEVEL_CTX
    notes, masks, block_channels = [], {}, None
    for s in SPLITS:
        masks[s], block_channels = features.load_level_masks(c["enhanced_dir"], lv, s, c["metas"][s])
    macs = None
    try:
        macs = cost.se_macs_per_frame(c["enhanced_dir"] / lv / "summary.json", c["grid"].frames_per_s)
    except (FileNotFoundError, KeyError) as e:
        notes.append(f"{lv}: probe cost fraction not computed: {e}")
    rates = controls.firing_rates(masks["train"])
    if np.all((rates == 0) | (rates == 1)):
        notes.append(f"{lv}: every mask channel is constant on train (gates never switch; realised keep "
                     f"{rates.mean():.3f}): its probes can only reach the majority/mean baseline")
    r, cv, cs, ex = probe_level(lv, masks, block_channels, c["runner"], c["pc"], c["seeds"], macs, c["static_acts"])
    ex["block_channels"] = block_channels
    if c["plots"]:
        notes += _level_plots(lv, masks["test"], block_channels, c["metas"]["test"], c["runner"], ex, c["classes"],
                              c["pc"], c["plots_dir"])
    return r, cv, cs, ex, notes


def _level_plots(level, test_masks, block_channels, meta_test, runner, ex, classes, pc, out_dir: Path):
    """t-SNE, firing-rate heat maps and confusion matrices of one level; returns notes on plots skipped."""
    notes = []
    tf = runner.tfs["vad"]["test"]
    sub = features.subsample(tf, int(pc["tsne_frames"]), 0)
    x = features.frame_matrix(test_masks, sub)
    lab = meta_test.set_index("mixture_id")
    f0 = np.array([lab.at[m, "f0_hz"][t] if lab.at[m, "voiced"][t] else np.nan for m, t in zip(sub.mixture_id, sub.frame)])
    noise = np.array([lab.at[m, "noise_class_id"] if lab.at[m, "noise_active"][t] else np.nan
                      for m, t in zip(sub.mixture_id, sub.frame)], np.float64)
    n_distinct = len(np.unique(np.asarray(x), axis=0)) if len(x) else 0
    if len(x) < 10 or n_distinct < 3:   # t-SNE of (nearly) identical vectors is undefined (sklearn divides by 0)
        notes.append(f"{level}: t-SNE skipped ({len(x)} test frames, {n_distinct} distinct mask vectors)")
    else:
        plots.plot_tsne(x, {"vad": sub.y, "noise class": noise, "F0 (Hz)": f0}, out_dir / f"tsne_{level}.png",
                        title=f"t-SNE of test mask vectors, level {level}",
                        class_names={"vad": ["non-speech", "speech"], "noise class": list(classes)})
    xa = features.frame_matrix(test_masks, tf)
    if (tf.y == 1).any() and (tf.y == 0).any():
        diff = xa[tf.y == 1].mean(0) - xa[tf.y == 0].mean(0)
        plots.plot_heatmap(diff, block_channels, out_dir / f"heatmap_vad_{level}.png",
                           f"firing rate speech - non-speech, level {level}", "rate difference")
    tn = runner.tfs["noise"]["test"]
    if len(tn.y):
        xn = features.frame_matrix(test_masks, tn)
        overall = xn.mean(0)
        dev = np.stack([xn[tn.y == c].mean(0) - overall for c in np.unique(tn.y)])
        plots.plot_heatmap(dev[np.argmax(np.abs(dev), 0), np.arange(dev.shape[1])], block_channels,
                           out_dir / f"heatmap_noise_{level}.png",
                           f"largest per-class firing-rate deviation (noise-active frames), level {level}",
                           "rate(class) - rate(all)")
    for task, cm in ex["confusion"].items():
        plots.plot_confusion(np.asarray(cm), classes, out_dir / f"confusion_{task}_{level}.png",
                             f"{task} (linear, all channels), level {level}")
    return notes
