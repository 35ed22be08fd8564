"""Joint training vs plain DynCP: what training with probe heads (``train.joint``, :mod:`bench.joint`) does.

Each joint level is compared with its *plain twin*: the gated level with the same target keep that is not
trained with heads (same static warm start, data, epochs and crop order; only the head loss differs).
Rows (``reports/joint.csv``, one per quantity):

- enhancement: PESQ-wb, STOI, SI-SDR as **paired** differences joint - plain over the test utterances
  both scored, with a 95 % bootstrap CI (``bench.score.bootstrap.paired_vs``, seed ``report.bootstrap_seed``);
- cost: realised keep and MAC saving (enhance summaries, test split);
- mask probes (``reports/probes.csv``): the linear probe at C* (chosen on valid) and the MLP, mean over
  probe seeds, difference with the larger of the two seed standard deviations as its spread;
- the heads' own valid-split scores (``train_summary.json``), for reference: the heads are a training
  device, the leaderboard's probe columns come from the probe stage like every other level's.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.leaderboard import SEED_RE

#: (label, probes.csv task, metric, probe) of the probe rows
PROBE_ROWS = [("VAD acc (linear, C*)", "vad", "acc", "linear"), ("noise acc (linear, C*)", "noise", "acc", "linear"),
              ("noise segment acc (linear, C*)", "noise_seg", "acc", "linear"),
              ("F0 R² Hz (linear, C*)", "f0", "r2_hz", "linear"), ("F0 R² cents (linear, C*)", "f0", "r2_cents", "linear"),
              ("SNR R² (linear, C*)", "snr", "r2", "linear"), ("VAD acc (MLP, all)", "vad", "acc", "mlp"),
              ("noise acc (MLP, all)", "noise", "acc", "mlp"), ("F0 R² Hz (MLP, all)", "f0", "r2_hz", "mlp"),
              ("SNR R² (MLP, all)", "snr", "r2", "mlp")]
SCORE_ROWS = [("PESQ-wb", "pesq_wb"), ("STOI", "stoi"), ("SI-SDR dB", "si_sdr")]
COLUMNS = ["joint", "plain", "quantity", "plain_value", "joint_value", "diff", "ci95_low", "ci95_high",
           "spread", "source"]


def twins(params: dict) -> list[tuple[str, str]]:
    """(joint level, plain twin) pairs; a joint level without a twin is skipped (nothing to compare).
    Seed replicates of a joint level (``<joint>_seed<k>``) are not compared."""
    levels = {str(k): float(v) for k, v in (params.get("levels") or {}).items()}
    joint = [str(j) for j in (((params.get("train") or {}).get("joint") or {}).get("levels") or [])
             if not SEED_RE.match(str(j))]
    out = []
    for j in joint:
        cand = [lv for lv, k in levels.items() if lv not in joint and k < 1.0 and k == levels.get(j)
                and not SEED_RE.match(lv)]   # training-seed replicates (<level>_seed<k>) are no twins
        if cand:
            out.append((j, cand[0]))
    return out


def _probe_value(probes: pd.DataFrame, level: str, task: str, metric: str, probe: str):
    s = probes[(probes["level"] == level) & (probes["task"] == task) & (probes["metric"] == metric)
               & (probes["probe"] == probe) & (probes["features"] == "masks")]
    if probe == "linear":
        s = s[s["n_features"] == s["c_star"]]
    if s.empty:
        return None, None
    return float(s["mean"].iloc[0]), float(s["std"].iloc[0])


def comparison(params: dict, summaries: dict, per_utt: pd.DataFrame | None, probes: pd.DataFrame | None,
               models_dir: Path, n_boot: int = 1000, seed: int = 0, spec: dict | None = None,
               design=None) -> pd.DataFrame:
    """The comparison table (COLUMNS) of every (joint, plain) pair; empty when no joint level has a twin.

    ``spec``: {metric: "implementation | version | mode"} (``leaderboard.metric_spec``), named in ``source``;
    ``design``: the cluster bootstrap design (:class:`bench.score.bootstrap.ClusterDesign`; None = utterances)."""
    from bench.score.bootstrap import paired_vs

    rows = []
    for j, p in twins(params):
        def add(q, pv, jv, diff=None, lo=None, hi=None, spread=None, source=""):
            if diff is None and pv is not None and jv is not None:
                diff = jv - pv
            rows.append(dict(joint=j, plain=p, quantity=q, plain_value=pv, joint_value=jv, diff=diff,
                             ci95_low=lo, ci95_high=hi, spread=spread, source=source))

        if per_utt is not None and len(per_utt):
            d = per_utt[per_utt["system"].isin([j, p])]
            pv_df = paired_vs(d, p, n_boot, seed, design)
            ok = d[d["status"] == "ok"] if "status" in d else d
            for label, metric in SCORE_ROWS:
                r = pv_df[(pv_df["system"] == j) & (pv_df["metric"] == metric)]
                mean = ok[ok["metric"] == metric].groupby("system")["value"].mean()
                if r.empty:
                    continue
                r = r.iloc[0]
                add(label, float(mean.get(p, np.nan)), float(mean.get(j, np.nan)), float(r.mean_diff),
                    float(r.ci95_low), float(r.ci95_high),
                    source=(f"{(spec or {}).get(metric, metric)}; paired over {int(r.n_paired)} test utterances, "
                            f"{'cluster' if design is not None and design.factors else 'utterance'} bootstrap "
                            f"{n_boot} (seed {seed})"))
        if j in summaries and p in summaries:
            keep = lambda s: float(s["realised_keep"]["mean"] if isinstance(s["realised_keep"], dict)  # noqa: E731
                                   else s["realised_keep"])
            add("realised keep (test)", keep(summaries[p]), keep(summaries[j]), source="enhance summary.json")
            add("MAC saving (test)", float(summaries[p]["mac_saving"]), float(summaries[j]["mac_saving"]),
                source="enhance summary.json (analytic, gates included)")
        if probes is not None and len(probes):
            for label, task, metric, probe in PROBE_ROWS:
                (pv, ps), (jv, js) = (_probe_value(probes, p, task, metric, probe),
                                      _probe_value(probes, j, task, metric, probe))
                if pv is None or jv is None:
                    continue
                add(label, pv, jv, spread=max(ps, js),
                    source=f"probes.csv, mean over seeds (spread: larger seed std)")
        ts = models_dir / j / "train_summary.json"
        if ts.is_file():
            hv = (json.loads(ts.read_text()).get("joint") or {}).get("heads_valid") or {}
            for task, metric in (("vad", "acc"), ("noise", "acc"), ("f0", "r2_hz"), ("f0", "r2_cents"), ("snr", "r2")):
                if metric in hv.get(task, {}):
                    add(f"heads' own {task} {metric} (valid)", None, float(hv[task][metric]),
                        source=f"{ts} (bench.joint heads trained with the model)")
    return pd.DataFrame(rows, columns=COLUMNS)


def _f(v, d=3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{d}f}"


def section_md(df: pd.DataFrame, weight=None, tasks=None) -> str | None:
    """Markdown section of the comparison (None when empty)."""
    if df.empty:
        return None
    lines = ["## Joint training with probe heads (bench.joint)", "",
             f"Each joint level was trained with linear heads on its gates (tasks {tasks}, head-loss weight "
             f"{weight}); its plain twin has the same target keep and warm start. diff = joint - plain; "
             "[CI] = paired 95 % bootstrap over test utterances; ± = larger probe-seed std. Metric "
             "implementations as in the table above (named per row in `joint.csv`).", "",
             "| joint | plain | quantity | plain | joint | diff |", "|---|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        diff = _f(r.diff, 4 if "PESQ" in r.quantity or "STOI" in r.quantity else 3)
        if r.ci95_low is not None and np.isfinite(r.ci95_low):
            diff += f" [{_f(r.ci95_low, 4)}, {_f(r.ci95_high, 4)}]"
        elif r.spread is not None and np.isfinite(r.spread):
            diff += f" ± {_f(r.spread)}"
        lines.append(f"| {r.joint} | {r.plain} | {r.quantity} | {_f(r.plain_value)} | {_f(r.joint_value)} | {diff} |")
    return "\n".join(lines) + "\n"
