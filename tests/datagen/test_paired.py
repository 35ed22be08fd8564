"""A paired corpus (miniature VoiceBank+DEMAND) through corpus -> plan -> render -> labels, unchanged format."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st

from bench.params import load_params
from bench.tasks import FRAME_TASKS as TASKS, task_frames  # noqa: F401  (the probes' frame sets must apply unchanged)
from datagen.corpus import build_corpus
from datagen.dataset import load_metadata, read_stem
from datagen.frames import FrameGrid
from datagen.labels import build_metadata
from datagen.paired import PairError, check_alignment, quantise_pair, settings as pair_settings
from datagen.plan import make_plan
from datagen.render import render
from datagen.sources.paired import VBD_NOISE_TYPES
from tests.datagen.sources.test_source_paired import make_vbd

REPO = Path(__file__).resolve().parents[2]
LABEL_COLUMNS = ("vad", "f0_hz", "periodicity", "voiced", "noise_active", "frame_snr_db")


def vbd_params(tmp_path: Path, root: Path) -> dict:
    p = copy.deepcopy(load_params(REPO / "params.yaml"))
    for k in list(p["paths"]):
        p["paths"][k] = str(tmp_path / k)
    p["corpus"]["sources"] = [{"type": "vbd", "root": str(root)}]
    p["corpus"]["speech_split"] = {"valid": ["p226"], "test": []}
    p["corpus"]["procedural"]["clips_per_class"] = {"train": 0, "valid": 0, "test": 0}
    p["plan"]["n_mixtures"] = {"train": None, "valid": None, "test": None}
    p["labels"]["f0"]["model"] = "tiny"
    return p


def _write_plan(p: dict) -> pd.DataFrame:
    plan = make_plan(pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet"), p)
    Path(p["paths"]["plan_dir"]).mkdir(parents=True, exist_ok=True)
    plan.to_parquet(Path(p["paths"]["plan_dir"]) / "plan.parquet", index=False)
    return plan


@pytest.fixture
def vbd_setup(tmp_path):
    root = tmp_path / "VBD"
    log = make_vbd(root)
    p = vbd_params(tmp_path, root)
    build_corpus(p, progress=False)
    return p, log


@pytest.fixture(scope="module")
def vbd_dataset(tmp_path_factory):
    """corpus -> plan -> render -> labels (tiny CREPE, fresh cache) on the miniature VBD tree, once."""
    tmp = tmp_path_factory.mktemp("vbd_e2e")
    root = tmp / "VBD"
    log = make_vbd(root)
    p = vbd_params(tmp, root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEBENCH_CACHE_DIR", str(tmp / "cache"))   # fresh CREPE tracks, no shared state
        build_corpus(p, progress=False)
        plan = _write_plan(p)
        first, again = render(p, workers=1), render(p, workers=1)
        per_split = build_metadata(p)
    return p, log, plan, (first, again), per_split


def test_vbd_end_to_end_standard_format(vbd_dataset):
    p, log, plan, (first, again), per_split = vbd_dataset
    manifest = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    assert {"paired_noisy_path", "paired_noise_class", "paired_snr_db"} <= set(manifest.columns)
    assert manifest.groupby("speaker")["split"].first().to_dict() == {
        "p226": "valid", "p227": "train", "p228": "train", "p232": "test", "p257": "test"}

    assert len(plan) == len(log) and plan["paired"].all() and not plan["reverb"].any()
    for r in plan.itertuples():
        utt = Path(r.speech_ids[0]).stem
        assert list(r.speech_src_start_samples) == [0] and list(r.speech_dst_start_samples) == [0]
        assert (r.noise_class, r.snr_db) == log[utt] and r.noise_id == f"paired:{r.noise_class}"
        assert list(r.speech_n_samples) == [r.n_samples]
    assert plan.equals(make_plan(pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet"), p))

    assert first["rendered"] == len(plan) and again["rendered"] == 0   # resumable
    ds = Path(p["paths"]["dataset_dir"])
    classes = json.loads((ds / "classes.json").read_text())["noise_classes"]
    assert classes == sorted({c for c, _ in log.values()}) and set(classes) <= set(VBD_NOISE_TYPES)

    grid = FrameGrid.from_params(p["frames"])
    for split in ("train", "valid", "test"):
        meta = load_metadata(ds, split)
        assert len(meta) == len(per_split[split]) > 0
        for c in list(plan.columns) + ["noisy_path", "clean_path", "noise_path", "n_frames", "noise_class_id",
                                       "achieved_snr_db", *LABEL_COLUMNS]:
            assert c in meta.columns, c
        for _, row in meta.iterrows():
            n = int(row["n_samples"])
            assert row["n_frames"] == grid.n_frames(n)
            for c in LABEL_COLUMNS:
                assert len(row[c]) == row["n_frames"], c
            assert classes[row["noise_class_id"]] == row["noise_class"]
            stems = {k: sf.read(ds / row[f"{k}_path"], dtype="int16")[0] for k in ("noisy", "clean", "noise")}
            assert all(len(x) == n for x in stems.values())
            assert np.array_equal(stems["clean"].astype(np.int32) + stems["noise"], stems["noisy"].astype(np.int32))
            # the noise stem is what the corpus mixed in (16 kHz): achieved SNR (active speech) near the logged one
            assert abs(row["achieved_snr_db"] - row["snr_db"]) < 1.0, (row["mixture_id"], row["achieved_snr_db"])
            assert row["paired_corr"] > 0.1 and row["paired_lag_samples"] == 0 and row["paired_residual_db"] < 0
            assert row["paired_resample_method"].startswith("soxr HQ") and row["paired_orig_sample_rate_hz"] == 48000
            vad = np.asarray(row["vad"])
            assert 0.5 < vad.mean() < 1.0                          # lead-in silence is inactive, the tone active
            f0 = np.asarray(row["f0_hz"])[np.asarray(row["voiced"]) > 0]
            assert len(f0) > 10 and 90 < np.median(f0) < 250     # tiny CREPE finds the 100-220 Hz tones
            x = read_stem(ds, row, "noisy")
            assert x.dtype == np.float32 and np.abs(x).max() <= 1.0
    train, test = load_metadata(ds, "train"), load_metadata(ds, "test")
    assert not set(train["noise_id"]) & set(test["noise_id"])     # the probes' noise-disjointness check holds
    assert not set(train["speaker"]) & set(test["speaker"])


def test_misaligned_pair_fails_render_naming_both_files(vbd_setup):
    p, _ = vbd_setup
    manifest = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    noisy = Path(manifest.loc[manifest["speaker"] == "p232", "paired_noisy_path"].iloc[0])
    x, sr = sf.read(noisy)
    shift = int(0.005 * sr)   # 5 ms: same length (corpus check passes), not aligned
    sf.write(noisy, np.concatenate([np.zeros(shift), x[:-shift]]), sr, subtype="PCM_16")
    _write_plan(p)
    with pytest.raises(PairError, match=rf"misaligned pair: noisy .*{noisy.name} vs clean .*clean_testset_wav/"
                                        rf"{noisy.name}: .*lag -?\d+ samples"):
        render(p, workers=1)


def test_check_alignment_rules():
    rng = np.random.default_rng(0)
    sr, cfg = 16000, pair_settings({})
    clean = np.sin(2 * np.pi * 150 * np.arange(sr) / sr) * rng.uniform(0.5, 1.0, sr)
    noisy = clean + 0.3 * rng.standard_normal(sr)
    y, meas = check_alignment(clean, np.concatenate([noisy, [0.1] * 80]), sr, cfg, "c.wav", "n.wav")
    assert len(y) == sr and meas["paired_lag_samples"] == 0 and meas["paired_length_diff_samples"] == 80
    with pytest.raises(PairError, match=r"noisy n\.wav vs clean c\.wav: lengths"):
        check_alignment(clean, noisy[: sr - 400], sr, cfg, "c.wav", "n.wav")
    with pytest.raises(PairError, match="correlation .* < 0.1.*noisy - clean is"):
        check_alignment(clean, rng.standard_normal(sr), sr, cfg, "c.wav", "n.wav")
    with pytest.raises(PairError, match="silent"):
        check_alignment(clean, np.zeros(sr), sr, cfg, "c.wav", "n.wav")
    with pytest.raises(ValueError, match="unknown keys"):
        pair_settings({"paired": {"min_correlation": 0.5}})


def test_plan_cap_and_mixed_manifest(vbd_setup):
    p, log = vbd_setup
    manifest = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    q = copy.deepcopy(p)
    q["plan"]["n_mixtures"] = {"train": 2, "valid": 0, "test": None}
    plan = make_plan(manifest, q)
    assert (plan["split"].value_counts().to_dict() == {"train": 2, "test": 4})
    assert plan.equals(make_plan(manifest.sample(frac=1, random_state=1), q))   # independent of row order
    assert list(plan.loc[plan["split"] == "train", "mixture_id"]) == ["train-000000", "train-000001"]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 31), st.floats(0.1, 3.0))
def test_quantise_pair_sums_exactly(seed, amp):
    rng = np.random.default_rng(seed)
    clean = amp * rng.uniform(-1, 1, 500)
    noisy = clean + amp * rng.uniform(-1, 1, 500)
    c, y, d, rescale = quantise_pair(clean, noisy)
    assert c.dtype == y.dtype == d.dtype == np.int16
    assert np.array_equal(c.astype(np.int32) + d, y.astype(np.int32))
    assert 0 < rescale <= 1.0 and (rescale == 1.0) == (max(np.abs(clean).max(), np.abs(noisy).max(),
                                                          np.abs(noisy - clean).max()) <= 0.99)


def test_vbd_tiny_train_enhance_score(vbd_dataset, tmp_path):
    """The model stages run unchanged on the paired dataset (tiny model, 1 epoch, CPU)."""
    import torch

    from bench.enhance import enhance_level
    from bench.score.cli import cli as score_cli
    from bench.train import train_level

    torch.set_num_threads(1)
    p = copy.deepcopy(vbd_dataset[0])
    for k in ("models_dir", "enhanced_dir", "scores_dir", "reports_dir"):
        p["paths"][k] = str(tmp_path / k)
    p["model"]["configs"]["tiny"] = dict(bottleneck=16, hidden=16, stacks=1, blocks_per_stack=2, kernel=3,
                                         compress_exponent=0.3)
    p["model"]["config"] = "tiny"
    p["model"]["gate"]["hidden"] = 8
    p["train"].update(epochs=1, batch_size=4, crop_s=0.5, num_threads=1, device="cpu")
    p["levels"] = {"static": 1.0, "keep50": 0.5}
    p["causal"] = {"static_levels": [], "gated_levels": {}}
    p["gated_levels"] = ["keep50"]
    p["train"]["joint"]["levels"] = []
    p["train"]["replicate_seeds"], p["train"]["replicate_levels"] = [], []   # no training-seed replicates
    p["enhance"] = {"splits": ["test"]}
    for level in p["levels"]:
        train_level(p, level, progress=False)
        s = enhance_level(p, level, progress=False)
        assert s["n_mixtures"] == 4
    params_path = tmp_path / "params.yaml"
    import yaml

    params_path.write_text(yaml.safe_dump(p))
    assert score_cli(["--params", str(params_path), "--metrics", "pesq_wb,stoi", "--workers", "1",
                      "--bootstrap-n", "50", "--quiet"]) == 0
    scores = json.loads((tmp_path / "reports_dir" / "scores.json").read_text())
    assert set(scores["systems"]) == {"noisy", "static", "keep50"}
    noisy = scores["systems"]["noisy"]
    assert noisy["pesq_wb"]["n_scored"] == 4 and 1.0 <= noisy["pesq_wb"]["mean"] <= 4.7
    assert 0.0 < noisy["stoi"]["mean"] <= 1.0
