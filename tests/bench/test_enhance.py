"""Enhance stage: audio, masks, activations and summary from tiny trained models on the synthetic set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bench import masks_io
from bench.enhance import enhance_level, load_activations
from bench.models.registry import load_checkpoint as load_model
from bench.train import train_level
from datagen.dataset import load_metadata, read_stem
from tests.bench.tiny import tiny_params as _tiny
from tests.synth import make_dataset

torch.set_num_threads(1)



def tiny_params(root: Path, dataset_dir: Path, epochs: int = 1) -> dict:
    p = _tiny(root, dataset_dir, epochs)
    p["enhance"] = {"splits": ["valid", "test"]}
    return p


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("enh")
    ds = make_dataset(root / "ds", n_per_split={"train": 4, "valid": 2, "test": 3}, duration_s=1.5)
    p = tiny_params(root, ds)
    out = {}
    for level in ("static", "keep50"):
        train_level(p, level, progress=False)
        out[level] = enhance_level(p, level, progress=False)
    return p, ds, out


def test_gated_masks_audio_summary(run):
    p, ds, summaries = run
    out = Path(p["paths"]["enhanced_dir"]) / "keep50"
    model, cfg, _ = load_model(Path(p["paths"]["models_dir"]) / "keep50" / "model.pt", torch.device("cpu"))
    c = cfg.n_blocks * cfg.hidden
    for split in ("valid", "test"):
        meta = load_metadata(ds, split)
        masks, m = masks_io.load_masks(out / f"masks_{split}.npz")
        assert m["block_channels"] == [16, 16] and m["hop_length"] == 256
        assert sorted(masks) == sorted(meta["mixture_id"])
        for row in meta.itertuples():
            assert masks[row.mixture_id].shape == (row.n_frames, c)
    assert not (out / "activations_test.npz").exists()
    # stored masks are the model's gates (block-major channel order) for a re-run of one utterance
    meta = load_metadata(ds, "test")
    row = meta.iloc[0]
    with torch.no_grad():
        g = model(torch.from_numpy(read_stem(ds, row, "noisy"))[None]).gates[0]  # (n_blocks, H, T)
    masks, _ = masks_io.load_masks(out / "masks_test.npz")
    assert np.array_equal(masks[row.mixture_id], g.permute(2, 0, 1).reshape(g.shape[-1], -1).bool().numpy())
    # enhanced audio: int16, 16 kHz, same length as noisy
    for row in meta.itertuples():
        info = sf.info(str(out / "audio" / f"{row.mixture_id}.wav"))
        assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.frames == row.n_samples
    s = json.loads((out / "summary.json").read_text())
    assert s == json.loads(json.dumps(summaries["keep50"]))
    assert s["gated"] and s["target_keep"] == 0.5 and s["n_mixtures"] == 5
    k = s["realised_keep"]
    assert 0 <= k["p5"] <= k["mean"] <= k["p95"] <= 1 and len(k["per_block"]) == 2
    assert np.isclose(np.mean(k["per_block"]), k["mean"])
    test_keep = np.concatenate([masks[r].mean(1) for r in meta["mixture_id"]])
    assert np.isclose(k["mean"], test_keep.mean())
    d = s["dynamic_mmacs_per_s"]
    assert d["p5"] <= d["mean"] <= d["p95"] and s["dense_mmacs_per_s"] > 0
    assert np.isclose(s["mac_saving"], 1 - d["mean"] / s["dense_mmacs_per_s"])
    pq = s["pesq_check"]
    assert pq["n"] == 3 and pq["enhanced_failures"] + pq["noisy_failures"] < 6
    assert "0.0.4" in pq["implementation"] and "wb" in pq["implementation"]
    for key in ("enhanced_mean", "noisy_mean"):
        assert pq[key] is None or 1.0 <= pq[key] <= 4.7


def test_static_activations(run):
    p, ds, summaries = run
    out = Path(p["paths"]["enhanced_dir"]) / "static"
    assert not (out / "masks_test.npz").exists()
    acts, meta = load_activations(out / "activations_test.npz")
    assert meta["block_channels"] == [16, 16] and meta["dtype"] == "float16"
    md = load_metadata(ds, "test")
    for row in md.itertuples():
        a = acts[row.mixture_id]
        assert a.dtype == np.float16 and a.shape == (row.n_frames, 32) and np.isfinite(a).all()
    model, cfg, _ = load_model(Path(p["paths"]["models_dir"]) / "static" / "model.pt", torch.device("cpu"))
    row = md.iloc[1]
    with torch.no_grad():
        ref = model(torch.from_numpy(read_stem(ds, row, "noisy"))[None], return_activations=True).activations[0]
    ref = ref.permute(2, 0, 1).reshape(ref.shape[-1], -1).numpy()
    np.testing.assert_allclose(acts[row.mixture_id].astype(np.float32), ref, rtol=2e-3, atol=2e-3)
    s = summaries["static"]
    assert s["mac_saving"] == 0.0 and s["realised_keep"]["mean"] == 1.0 and not s["gated"]
    assert sorted(s["per_split"]) == ["test", "valid"]
    # enhanced audio matches the model output (int16 quantisation only)
    y, sr = sf.read(out / "audio" / f"{row.mixture_id}.wav", dtype="float32")
    with torch.no_grad():
        ref_y = model(torch.from_numpy(read_stem(ds, row, "noisy"))[None]).enhanced[0].numpy()
    assert sr == 16000 and np.max(np.abs(y - np.clip(ref_y, -1, 1))) <= 1.0 / 32768 + 1e-7


def test_missing_model_is_clear(tmp_path, run):
    p, ds, _ = run
    q = dict(p, paths=dict(p["paths"], models_dir=str(tmp_path / "nomodels")))
    with pytest.raises(FileNotFoundError, match="model.pt"):
        enhance_level(q, "keep50", progress=False)
