"""A small but real finished run for the report tests, built once per session.

* dataset: tests/synth.py (labels-stage format), plan table: a real parquet written here;
* enhance outputs per level (static 1.0, keep50, keep25): "enhanced" audio = clean + a level-dependent share of
  the noise stem (int16 WAV), gate masks via bench.masks_io that follow the VAD label, and a summary.json in
  bench.enhance's format with MACs from bench.macs (analytic) on those masks;
* scores: the real ``sebench score`` (pesq, pystoi, SI-SDR) on that audio;
* probes.json / aux_baselines.csv / dataset_card.md / probe and baseline PNGs: small fixtures in the documented
  formats (the probe and baseline stages are too slow for a unit test).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import yaml  # noqa: E402

from bench import macs as M  # noqa: E402
from bench.masks_io import save_masks  # noqa: E402
from bench.models.fsenet import FSENetConfig, GateConfig  # noqa: E402
from datagen.dataset import load_metadata, read_stem  # noqa: E402
from tests.synth import make_dataset  # noqa: E402

LEVELS = {"static": 1.0, "keep50": 0.5, "keep25": 0.25}
NOISE_SHARE = {"static": 0.15, "keep50": 0.25, "keep25": 0.45}  # residual noise per level: quality ordering known
CFG = FSENetConfig(bottleneck=16, hidden=32, stacks=1, blocks_per_stack=3, gate=GateConfig(hidden=4))
SPLITS = ("train", "valid", "test")
REPO = Path(__file__).resolve().parents[3]


def _summary(level: str, keep: float, g_all: np.ndarray | None) -> dict:
    """summary.json in bench.enhance's format; g_all: bool (frames, n_blocks, H) of the test split."""
    dense = M.dense_macs_per_s(CFG) / 1e6
    fps = M.frames_per_s(CFG)
    s = {"level": level, "target_keep": keep, "gated": g_all is not None, "block_channels": [CFG.hidden] * CFG.n_blocks,
         "dense_mmacs_per_s": dense, "macs_implementation": "bench.macs (analytic)"}
    if g_all is None:
        s.update(realised_keep={"mean": 1.0, "p5": 1.0, "p95": 1.0, "per_block": [1.0] * CFG.n_blocks},
                 dynamic_mmacs_per_s={"mean": dense, "p5": dense, "p95": dense}, mac_saving=0.0)
    else:
        kf = g_all.mean(axis=2)
        mf = M.dynamic_macs_per_frame(CFG, g_all) * fps / 1e6
        st = lambda x: {"mean": float(np.mean(x)), "p5": float(np.percentile(x, 5)), "p95": float(np.percentile(x, 95))}
        s.update(realised_keep={**st(kf.mean(1)), "per_block": kf.mean(0).tolist()}, dynamic_mmacs_per_s=st(mf),
                 mac_saving=1.0 - float(mf.mean()) / dense)
    return s


def _png(path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([8, 16, 32, 64], [0.7, 0.8, 0.85, 0.86], "o-")
    ax.set_title(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)


def build_run(root: Path) -> Path:
    """Write the whole fake run under ``root``; returns the params.yaml path (absolute paths inside)."""
    ds = make_dataset(root / "data" / "dataset", {"train": 4, "valid": 2, "test": 4}, duration_s=2.0, seed=3)
    (root / "data" / "plan").mkdir(parents=True)
    meta = {s: load_metadata(ds, s) for s in SPLITS}
    pd.concat(meta.values())[["mixture_id", "split", "seed", "snr_db"]].to_parquet(
        root / "data" / "plan" / "plan.parquet", index=False)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["paths"] = {k: str(root / v) for k, v in params["paths"].items()}
    params["levels"] = dict(LEVELS)
    params["causal"] = {"static_levels": [], "gated_levels": {}}   # no causal twins in this fake run
    params["report"] = {"reference": "static"}
    enh = Path(params["paths"]["enhanced_dir"])
    rng = np.random.default_rng(0)
    for lv, keep in LEVELS.items():
        (enh / lv / "audio").mkdir(parents=True)
        for row in meta["test"].itertuples(index=False):
            y = read_stem(ds, row, "clean") + NOISE_SHARE[lv] * read_stem(ds, row, "noise")
            sf.write(enh / lv / "audio" / f"{row.mixture_id}.wav", np.round(np.clip(y, -1, 0.99) * 32767)
                     .astype(np.int16), 16000, subtype="PCM_16")
        g_test = None
        if keep < 1.0:
            for split in SPLITS:
                masks = {}
                for row in meta[split].itertuples(index=False):
                    vad = np.asarray(row.vad, bool)[:, None, None]
                    p = np.where(vad, min(1.0, keep * 1.5), keep * 0.5)   # more channels on during speech
                    masks[row.mixture_id] = rng.random((int(row.n_frames), CFG.n_blocks, CFG.hidden)) < p
                save_masks(enh / lv / f"masks_{split}.npz", {k: v.reshape(len(v), -1) for k, v in masks.items()},
                           [CFG.hidden] * CFG.n_blocks, 256, 16000)
                if split == "test":
                    g_test = np.concatenate(list(masks.values()))
        (enh / lv / "summary.json").write_text(json.dumps(_summary(lv, keep, g_test)))
    rep = Path(params["paths"]["reports_dir"])
    rep.mkdir(parents=True, exist_ok=True)
    pfile = root / "params.yaml"
    pfile.write_text(yaml.safe_dump(params, sort_keys=False))
    from bench.score.cli import cli as score_cli

    rc = score_cli(["--params", str(pfile), "--out", str(rep), "--metrics", "pesq_wb,stoi,estoi,si_sdr",
                    "--workers", "1", "--bootstrap-n", "200", "--quiet"])
    assert rc == 0
    probes = {lv: dict(vad_acc=0.9 - 0.1 * (0.5 - k), noise_acc=0.7, noise_seg_acc=0.75, f0_r2=0.6, f0_r2_cents=0.55,
                       snr_r2=0.4, probe_cost_frac=0.0012) for lv, k in LEVELS.items() if k < 1.0}
    (rep / "probes.json").write_text(json.dumps(probes))
    pd.DataFrame([dict(task="vad", model="mlp_small", metric="acc", value=0.91, ci95_low=0.88, ci95_high=0.93,
                       macs_m_per_s=0.8, params=1200),
                  dict(task="f0", model="crepe_tiny", metric="r2_hz", value=0.8, ci95_low=0.75, ci95_high=0.84,
                       macs_m_per_s=560.0, params=480000),
                  dict(task="f0", model="crepe_tiny", metric="mae_hz", value=12.0, ci95_low=10.0, ci95_high=14.0,
                       macs_m_per_s=560.0, params=480000)]).to_csv(rep / "aux_baselines.csv", index=False)
    _png(rep / "probes" / "curves.png", "probe score vs k")
    _png(rep / "probes" / "heatmap_vad_keep50.png", "heat map")
    _png(rep / "aux_baselines.png", "baselines vs MACs")
    (rep / "dataset_card.md").write_text("# Dataset card\n\nSynthetic test dataset, **3 classes**.\n\n"
                                         "| split | n |\n|---|---|\n| test | 4 |\n\nSee https://example.org/x.\n")
    return pfile


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A finished run (read-only for tests: copy it with :func:`fresh_run` before writing into it)."""
    root = tmp_path_factory.mktemp("run")
    build_run(root)
    return root


@pytest.fixture
def fresh_run(run_dir, tmp_path) -> Path:
    """A private copy of the run (params.yaml rewritten to point at the copy)."""
    dst = tmp_path / "run"
    shutil.copytree(run_dir, dst)
    p = yaml.safe_load((dst / "params.yaml").read_text())
    p["paths"] = {k: v.replace(str(run_dir), str(dst)) for k, v in p["paths"].items()}
    (dst / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    return dst
