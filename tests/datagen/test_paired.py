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
from bench.tasks import TASKS, task_frames  # noqa: F401  (the probes' frame sets must apply unchanged)
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
def vbd_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("SEBENCH_CACHE_DIR", str(tmp_path / "cache"))   # fresh CREPE tracks, no shared state
    monkeypatch.chdir(tmp_path)                                       # manifest paths relative to the cwd
    root = tmp_path / "VBD"
    log = make_vbd(root)
    p = vbd_params(tmp_path, root)
    build_corpus(p, progress=False)
    return p, log


def test_vbd_end_to_end_standard_format(vbd_setup):
    p, log = vbd_setup
    manifest = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    assert {"paired_noisy_path", "paired_noise_class", "paired_snr_db"} <= set(manifest.columns)
    assert manifest.groupby("speaker")["split"].first().to_dict() == {
        "p226": "valid", "p227": "train", "p228": "train", "p232": "test", "p257": "test"}

    plan = _write_plan(p)
    assert len(plan) == len(log) and plan["paired"].all() and not plan["reverb"].any()
    for r in plan.itertuples():
        utt = Path(r.speech_ids[0]).stem
        assert list(r.speech_src_start_samples) == [0] and list(r.speech_dst_start_samples) == [0]
        assert (r.noise_class, r.snr_db) == log[utt] and r.noise_id == f"paired:{r.noise_class}"
        assert list(r.speech_n_samples) == [r.n_samples]
    assert plan.equals(make_plan(pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet"), p))

    out = render(p, workers=1)
    assert out["rendered"] == len(plan) and render(p, workers=1)["rendered"] == 0   # resumable
    per_split = build_metadata(p)
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
