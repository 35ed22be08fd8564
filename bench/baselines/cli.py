"""``sebench baselines``: train/evaluate standalone auxiliary models beside the mask probes.

Writes ``<reports_dir>/aux_baselines.csv`` (one row per task x model x metric), ``aux_baselines.json``
(the same rows + environment + notes) and ``aux_baselines.png`` (score vs extra MACs per task, with
the mask probes of ``reports/probes.csv`` at their near-zero cost when that file exists). Per-frame
test predictions go to ``<baselines_dir>/predictions/<task>__<model>.npz`` (``mixture_id``, ``frame``,
``y``, ``pred``), in exactly the order of :func:`bench.tasks.task_frames`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from bench import tasks as T
from bench.baselines import evaluate as E
from bench.baselines import features, models, offshelf, train
from bench.params import load_params
from datagen.dataset import load_metadata, read_stem
from datagen.frames import FrameGrid

COLUMNS = ["task", "model", "metric", "value", "ci95_low", "ci95_high", "macs_m_per_s", "params",
           "wall_s_per_audio_s", "n_frames", "n_mixtures", "macs_method", "implementation", "notes"]
PRIMARY = T.HEAD_METRIC   # headline metric per task (bench/tasks.py SPECS)
PROBE_X_M_PER_S = 1e-3   # where mask probes are drawn on the log MAC axis ("~0": a masked weighted sum)


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "n/a"


def machine() -> str:
    """CPU model and core count of this machine (every wall-clock figure is for it)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}"


def environment() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except Exception:
        commit = "n/a"
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return dict(date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), git_commit=commit,
                machine=machine(), load_average_1_5_15min=load, python=platform.python_version(),
                packages={p: _pkg(p) for p in ("torch", "torchaudio", "torchcrepe", "silero-vad",
                                               "webrtcvad-wheels", "librosa", "onnxruntime", "numpy")})


def subset_by_duration(meta: pd.DataFrame, max_s: float | None) -> pd.DataFrame:
    """First mixtures by id whose cumulative duration stays <= ``max_s`` (at least one); all if None."""
    if max_s is None:
        return meta
    keep = np.cumsum(meta["duration_s"].to_numpy(float)) <= float(max_s)
    keep[0] = True
    return meta[keep].reset_index(drop=True)


def restrict(tf: T.TaskFrames, ids) -> T.TaskFrames:
    sel = np.isin(tf.mixture_id, np.asarray(list(ids), dtype=object))
    return T.TaskFrames(tf.task, tf.mixture_id[sel], tf.frame[sel], tf.y[sel])


class Runner:
    """Collects result rows and predictions; one instance per stage run."""

    def __init__(self, params: dict, dataset_dir: Path, baselines_dir: Path):
        self.p, self.dataset_dir, self.out = params, dataset_dir, baselines_dir
        b = params.get("baselines", {})
        self.n_boot = int(b.get("bootstrap_n", 1000))
        self.seed = int(params.get("report", {}).get("bootstrap_seed", 0))
        self.grid = FrameGrid.from_params(params["frames"])
        self.rows: list[dict] = []
        self.meta = load_metadata(dataset_dir, "test")
        self.tf = {t: T.task_frames(self.meta, t) for t in T.FRAME_TASKS}  # the probes' frame sets
        # noise tasks: test mixtures of classes never seen in train are excluded, as in the probes
        self.noise_meta, dropped = T.seen_noise_rows(
            self.meta, load_metadata(dataset_dir, "train")["noise_class_id"].unique())
        self.noise_note = (f"; {len(self.meta) - len(self.noise_meta)} test mixtures of noise classes {dropped} "
                           "unseen in train excluded" if dropped else "")
        if dropped:
            print(f"[baselines] noise tasks{self.noise_note}", file=sys.stderr)
        self.tf["noise"] = T.task_frames(self.noise_meta, "noise")
        self.n_classes = train.n_noise_classes(dataset_dir)

    # -------------------------------------------------------------- bookkeeping
    def _save_pred(self, task: str, model: str, tf: T.TaskFrames, pred: np.ndarray) -> None:
        d = self.out / "predictions"
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f"{task}__{model}.tmp.npz"
        np.savez_compressed(tmp, mixture_id=tf.mixture_id.astype(str), frame=tf.frame, y=tf.y, pred=pred)
        os.replace(tmp, d / f"{task}__{model}.npz")

    def _add(self, task, model, metrics: dict, tf_ids, n_frames, **common) -> None:
        for name, m in metrics.items():
            self.rows.append(dict(task=task, model=model, metric=name, **m, n_frames=int(n_frames),
                                  n_mixtures=int(len(pd.unique(tf_ids))), **common))

    def eval_vad(self, model, probs_or_dec: dict, tf: T.TaskFrames, threshold: float = 0.5, **common):
        pred = (T.gather(probs_or_dec, tf) >= threshold).astype(np.int64)
        self._save_pred("vad", model, tf, pred)
        self._add("vad", model, E.classification_metrics(tf.y, pred, tf.mixture_id, 2, self.n_boot, self.seed),
                  tf.mixture_id, len(tf.y), **common)

    def eval_f0(self, model, f0: dict, tf: T.TaskFrames, **common):
        pred = T.gather(f0, tf).astype(np.float64)
        self._save_pred("f0", model, tf, pred)
        self._add("f0", model, E.f0_metrics(tf.y, pred, tf.mixture_id, self.n_boot, self.seed),
                  tf.mixture_id, len(tf.y), **common)

    # -------------------------------------------------------------- trained CNNs
    def trained(self, sizes: list[str], force: bool = False) -> None:
        g = self.grid
        tr = train.load_split(self.dataset_dir, "train", g)
        va = train.load_split(self.dataset_dir, "valid", g)
        te = train.load_split(self.dataset_dir, "test", g)
        if te.ids != list(self.meta["mixture_id"]):
            raise AssertionError("test features are not in metadata order")
        fe_macs = features.frontend_macs_per_s(g)
        for task in train.TRAINED_TASKS:
            for size in sizes:
                net, ck = train.train_one(task, size, self.p, self.dataset_dir, self.out, tr, va,
                                          self.n_classes, force=force)
                t0 = time.perf_counter()
                outs = train.predict(net, ck, task, te.feats)
                wall = (time.perf_counter() - t0 + te.feature_wall_s) / te.audio_s
                per_mix = dict(zip(te.ids, outs))
                net_macs = models.macs_per_frame(net) * g.frames_per_s
                fc_macs = models.flop_counter_macs_per_frame(net, features.N_MELS) * g.frames_per_s
                rf = net.receptive_field_frames
                common = dict(
                    macs_m_per_s=(net_macs + fe_macs) / 1e6, params=models.count_params(net),
                    wall_s_per_audio_s=wall, macs_method="analytic conv MACs + analytic log-mel front-end",
                    implementation=f"bench.baselines FrameCNN ({size}), torch {torch.__version__}",
                    notes=(f"log-mel 64 (torchaudio {_pkg('torchaudio')}) incl. front-end "
                           f"{fe_macs / 1e6:.2f} M MACs/s; net {net_macs / 1e6:.3f} M/s (FlopCounterMode "
                           f"{fc_macs / 1e6:.3f} M/s); {'causal' if net.config['causal'] else 'centred'} "
                           f"context {rf} frames ({rf * g.hop_s * 1000:.0f} ms); best epoch "
                           f"{ck['best_epoch']} of {len(ck['history'])}"))
                model = f"cnn_{size}"
                if task == "vad":
                    self.eval_vad(model, per_mix, self.tf["vad"], **common)
                elif task == "snr":
                    tf = self.tf["snr"]
                    pred = T.gather(per_mix, tf).astype(np.float64)
                    self._save_pred("snr", model, tf, pred)
                    self._add("snr", model, E.regression_metrics(tf.y, pred, tf.mixture_id, self.n_boot,
                                                                 self.seed, unit="db"), tf.mixture_id, len(tf.y), **common)
                else:
                    self.eval_noise(model, per_mix, **common)

    def eval_noise(self, model: str, probs: dict, **common) -> None:
        tf = self.tf["noise"]
        frame_pred = T.gather(probs, tf).argmax(1) if len(tf.y) else np.zeros(0, np.int64)
        self._save_pred("noise", model, tf, frame_pred)
        common = common | dict(notes=common["notes"] + self.noise_note)
        if len(tf.y):
            self._add("noise", model, E.classification_metrics(tf.y, frame_pred, tf.mixture_id, self.n_classes,
                                                               self.n_boot, self.seed), tf.mixture_id,
                      len(tf.y), **common)
        # segment level: average the class probabilities over the mixture's noise-active frames
        # (all frames when it has none), argmax.
        seg_ids, seg_y = T.segment_labels(self.noise_meta)
        if not len(seg_ids):
            return
        seg_pred = []
        for mid in seg_ids:
            fr = tf.frame[tf.mixture_id == mid]
            pm = probs[mid][fr] if len(fr) else probs[mid]
            seg_pred.append(int(pm.mean(0).argmax()))
        seg_pred = np.asarray(seg_pred, np.int64)
        seg_tf = T.TaskFrames("noise_seg", seg_ids, np.zeros(len(seg_ids), np.int64), seg_y)
        self._save_pred("noise_seg", model, seg_tf, seg_pred)
        m = E.classification_metrics(seg_y, seg_pred, seg_ids, self.n_classes, self.n_boot, self.seed)
        self._add("noise_seg", model, m, seg_ids, len(seg_ids),
                  **(common | dict(notes=common["notes"] + "; segment = mean frame probabilities")))

    # -------------------------------------------------------------- off-the-shelf
    def _audio(self, meta: pd.DataFrame) -> tuple[dict, float]:
        xs = {r.mixture_id: read_stem(self.dataset_dir, r, "noisy") for r in meta.itertuples(index=False)}
        return xs, sum(len(x) for x in xs.values()) / self.grid.sample_rate_hz

    def _timed(self, fn, xs: dict, desc: str) -> tuple[dict, float]:
        if xs:  # warm-up outside the timing (model loading, JIT/numba compilation)
            first = next(iter(xs.values()))
            fn(first[: min(len(first), self.grid.sample_rate_hz)])
        out, t0 = {}, time.perf_counter()
        for mid, x in tqdm(xs.items(), desc=desc, leave=False):
            out[mid] = fn(x)
        return out, time.perf_counter() - t0

    def offshelf_vad(self) -> None:
        xs, audio_s = self._audio(self.meta)
        tf = self.tf["vad"]
        probs, wall = self._timed(lambda x: offshelf.silero_vad_probs(x, self.grid), xs, "silero vad")
        n_par, macs = offshelf.silero_params_and_macs_per_s(self.grid)
        self.eval_vad("silero_vad", probs, tf, offshelf.SILERO_THRESHOLD, macs_m_per_s=macs / 1e6,
                      params=n_par, wall_s_per_audio_s=wall / audio_s,
                      macs_method="FlopCounterMode on the JIT model (16 kHz branch), 31.25 windows/s",
                      implementation=f"silero-vad {_pkg('silero-vad')} ONNX (onnxruntime {_pkg('onnxruntime')})",
                      notes="512-sample windows; frame t gets the window containing sample t*hop; p >= 0.5")
        for mode in offshelf.WEBRTC_MODES:
            for ms in offshelf.WEBRTC_FRAME_MS:
                dec, wall = self._timed(lambda x: offshelf.webrtc_vad(x, mode, ms, self.grid), xs,
                                        f"webrtc m{mode} {ms}ms")
                self.eval_vad(f"webrtc_vad_m{mode}_{ms}ms", dec, tf, 0.5, macs_m_per_s=np.nan, params=np.nan,
                              wall_s_per_audio_s=wall / audio_s, macs_method="not counted",
                              implementation=f"webrtcvad-wheels {_pkg('webrtcvad-wheels')}",
                              notes=f"GMM, negligible / not counted; aggressiveness {mode}, {ms} ms frames; "
                                    "frame t gets the decision of the frame containing sample t*hop")

    def offshelf_f0(self) -> None:
        b, f0p = self.p.get("baselines", {}), self.p["labels"]["f0"]
        fmin, fmax, dec = float(f0p["fmin_hz"]), float(f0p["fmax_hz"]), str(f0p.get("decoder", "viterbi"))
        specs = [("crepe_tiny", b.get("crepe_tiny_max_s")), ("pyin", b.get("pyin_max_s")),
                 ("crepe_full", b.get("crepe_full_max_s", 60.0))]
        for name, cap in specs:
            if cap is not None and float(cap) <= 0:
                continue
            sub = subset_by_duration(self.meta, cap)
            xs, audio_s = self._audio(sub)
            tf = restrict(self.tf["f0"], sub["mixture_id"])
            if name == "pyin":
                f0, wall = self._timed(lambda x: offshelf.pyin_f0(x, fmin, fmax, self.grid), xs, name)
                n_par, macs = 0, offshelf.pyin_macs_per_s(fmin, fmax, self.grid)
                how, impl = ("analytic estimate: YIN FFT autocorrelation + dense Viterbi (librosa 0.11 "
                             "implementation)"), f"librosa {_pkg('librosa')} pyin, frame 1024, centred"
            else:
                cap_model = name.split("_")[1]
                f0, wall = self._timed(lambda x: offshelf.crepe_f0(x, cap_model, fmin, fmax, dec, self.grid),
                                       xs, name)
                n_par, macs = offshelf.crepe_params_and_macs_per_s(cap_model, self.grid)
                how = "FlopCounterMode on the CREPE net, one 1024-sample window per grid frame; decoder not counted"
                impl = f"torchcrepe {_pkg('torchcrepe')} {cap_model}, {dec} decoder, hop {self.grid.hop_length}"
            subset = (f"subset: first {len(sub)} of {len(self.meta)} test mixtures by id ({audio_s:.1f} s, "
                      f"cap {cap} s)" if len(sub) < len(self.meta) else "all test mixtures")
            if len(tf.y) == 0:
                continue
            self.eval_f0(name, f0, tf, macs_m_per_s=macs / 1e6, params=n_par, wall_s_per_audio_s=wall / audio_s,
                         macs_method=how, implementation=impl,
                         notes=f"run on the noisy mixture; ground truth = CREPE on clean source; {subset}")


# ------------------------------------------------------------------ outputs
def write_outputs(rows: list[dict], reports_dir: Path, env: dict, extra: dict) -> pd.DataFrame:
    reports_dir.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = np.nan
    df = df[COLUMNS]
    tmp = reports_dir / "aux_baselines.csv.tmp"
    df.to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, reports_dir / "aux_baselines.csv")
    js = dict(environment=env, **extra,
              rows=json.loads(df.to_json(orient="records")))
    tmp = reports_dir / "aux_baselines.json.tmp"
    tmp.write_text(json.dumps(js, indent=2))
    os.replace(tmp, reports_dir / "aux_baselines.json")
    return df


def plot(df: pd.DataFrame, reports_dir: Path, probes_csv: Path) -> str:
    """Score vs extra MACs (log x), one subplot per task; returns a note about the probes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probes = pd.read_csv(probes_csv) if probes_csv.is_file() else None
    note = (f"mask probes from {probes_csv}" if probes is not None
            else f"{probes_csv} absent: baselines only")
    tasks = [t for t in T.ALL_TASKS if (df.task == t).any()]
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.2 * max(1, len(tasks)), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        metric = PRIMARY[task]
        d = df[(df.task == task) & (df.metric == metric)]
        x = d.macs_m_per_s.to_numpy(float)
        uncounted = ~np.isfinite(x)
        x = np.where(uncounted, PROBE_X_M_PER_S * 10, x)
        y, lo, hi = (d[c].to_numpy(float) for c in ("value", "ci95_low", "ci95_high"))
        yerr = np.abs(np.stack([y - lo, hi - y]))
        webrtc = d.model.str.startswith("webrtc").to_numpy()
        best_webrtc = int(np.nanargmax(np.where(webrtc, y, -np.inf))) if webrtc.any() else -1
        for i, m in enumerate(d.model):
            if webrtc[i]:  # 12 WebRTC settings: grey squares, only the best one labelled
                ax.errorbar(x[i], y[i], yerr=yerr[:, i:i + 1], fmt="s", ms=3, capsize=1, color="0.6")
                if i != best_webrtc:
                    continue
                m = m.replace("webrtc_vad_", "webrtc best: ")
            else:
                ax.errorbar(x[i], y[i], yerr=yerr[:, i:i + 1], fmt="o", ms=4, capsize=2)
            ax.annotate(m, (x[i], y[i]), fontsize=6, xytext=(3, 2), textcoords="offset points")
        if probes is not None and {"task", "metric", "mean"} <= set(probes.columns):
            pr = probes[(probes.task == task) & (probes.metric.astype(str) == metric)]
            if "features" in pr:  # the probes proper, not their controls
                pr = pr[pr.features.astype(str) == "masks"]
            if "level" in pr:
                pr = pr[pr.level.astype(str) != "input"]
            if len(pr):
                best = pr.loc[pr.groupby("level")["mean"].idxmax()] if "level" in pr else pr
                ax.scatter(np.full(len(best), PROBE_X_M_PER_S), best["mean"], marker="*", s=60, c="k",
                           label="mask probes (~0 MACs)", zorder=3)
                for _, r in best.iterrows():
                    ax.annotate(str(r.get("level", "")), (PROBE_X_M_PER_S, r["mean"]), fontsize=6,
                                xytext=(3, -6), textcoords="offset points")
                ax.legend(fontsize=6, loc="lower right")
        ax.set_xscale("log")
        ax.set_xlabel("extra M MACs per second of audio (log)")
        ax.set_ylabel(f"{metric} (test, 95% CI)")
        ax.set_title(task, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"Standalone auxiliary baselines vs mask probes; squares = MACs not counted "
                 f"(WebRTC GMM); {note}", fontsize=7)
    fig.tight_layout()
    tmp = reports_dir / "aux_baselines.tmp.png"
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    os.replace(tmp, reports_dir / "aux_baselines.png")
    return note


def cli(argv: list[str]) -> int:
    from bench import parsers   # options live there, so `sebench baselines --help` needs no torch

    a = parsers.baselines().parse_args(argv)
    p = load_params(a.params)
    paths, b = p["paths"], p.get("baselines", {})
    dataset_dir = Path(a.dataset_dir or paths["dataset_dir"])
    baselines_dir = Path(a.baselines_dir or paths["baselines_dir"])
    reports_dir = Path(a.reports_dir or paths["reports_dir"])
    torch.set_num_threads(int(b.get("num_threads", 1)))
    torch.manual_seed(int(p.get("seed", 0)))
    r = Runner(p, dataset_dir, baselines_dir)
    if "trained" in a.only:
        r.trained(list(b.get("sizes", ["small", "large"])), force=a.retrain)
    if "vad" in a.only:
        r.offshelf_vad()
    if "f0" in a.only:
        r.offshelf_f0()
    if not r.rows:
        raise SystemExit(f"{dataset_dir}: no baseline produced a result (empty test frame sets?)")
    env = environment()
    extra = dict(frontend_macs_per_frame=features.frontend_macs_per_frame(r.grid),
                 bootstrap=dict(n=r.n_boot, seed=r.seed, unit="test mixture"),
                 dataset_dir=str(dataset_dir), test_mixtures=len(r.meta))
    df = write_outputs(r.rows, reports_dir, env, extra)
    note = plot(df, reports_dir, reports_dir / "probes.csv")
    js = json.loads((reports_dir / "aux_baselines.json").read_text())
    js["plot_note"] = note
    tmp = reports_dir / "aux_baselines.json.tmp"
    tmp.write_text(json.dumps(js, indent=2))
    os.replace(tmp, reports_dir / "aux_baselines.json")
    prim = df[[PRIMARY.get(t) == m for t, m in zip(df.task, df.metric)]]
    with pd.option_context("display.width", 200, "display.max_rows", 100):
        print(prim[["task", "model", "metric", "value", "ci95_low", "ci95_high", "macs_m_per_s",
                    "wall_s_per_audio_s", "n_frames"]].to_string(index=False))
    print(f"wrote {reports_dir / 'aux_baselines.csv'} (+ .json, .png); machine: {env['machine']}")
    return 0
