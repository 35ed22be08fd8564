"""bench.joint: probe heads trained jointly with a DynCP model (synthetic dataset, tiny config)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import data as bd
from bench import joint as J
from bench.models.fsenet import ConvFSENet, FSENetConfig
from bench.train import train_level
from datagen.dataset import load_metadata
from tests.bench.tiny import tiny_params
from tests.synth import make_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("synth") / "ds", duration_s=2.0)


def joint_params(root: Path, dataset: Path, epochs: int = 2) -> dict:
    p = tiny_params(root, dataset, epochs=epochs)
    p["levels"] = {"static": 1.0, "keep50": 0.5, "keep50_joint": 0.5}
    p["gated_levels"] = ["keep50", "keep50_joint"]
    p["train"]["joint"] = {"levels": ["keep50_joint"], "weight": 0.5, "tasks": ["vad", "noise", "f0", "snr"]}
    return p


def test_joint_config(tmp_path, dataset):
    p = joint_params(tmp_path, dataset)
    assert J.JointConfig.from_params(p, "keep50") is None
    c = J.JointConfig.from_params(p, "keep50_joint")
    assert c.tasks == ("vad", "noise", "f0", "snr") and c.weight == 0.5
    p["train"]["joint"]["levels"] = ["static"]
    with pytest.raises(ValueError, match="static level"):
        J.JointConfig.from_params(p, "static")
    p["train"]["joint"] = {"levels": ["keep50"], "tasks": ["pitch"]}
    with pytest.raises(ValueError, match="pitch"):
        J.JointConfig.from_params(p, "keep50")


def test_labels_line_up_with_model_frames_of_aligned_crops(dataset):
    audio = bd.load_split_audio(dataset, "train", progress=False)
    lab = J.load_split_labels(dataset, "train", audio.mixture_ids)
    meta = load_metadata(dataset, "train")
    assert set(lab.targets) == set(J.JOINT_TASKS) == {"vad", "noise", "f0", "snr"}
    assert int(lab.n_frames.sum()) == lab.n_total == lab.targets["vad"].numel() == sum(len(v) for v in meta["vad"])
    with pytest.raises(ValueError, match="order"):
        J.load_split_labels(dataset, "train", audio.mixture_ids[::-1])
    hop, crop = 256, 16000
    model = ConvFSENet(FSENetConfig(bottleneck=8, hidden=8, stacks=1, blocks_per_stack=2, gated=True))
    for noisy, clean, items, starts in bd.crop_batches(audio, crop, 3, seed=1, epoch=0, align_samples=hop,
                                                       with_index=True):
        assert bool((starts % hop == 0).all())
        t = model(noisy).gates.shape[-1]
        assert t == 1 + crop // hop
        y = J.gather_label_crops(lab, items, starts // hop, t)
        tg, fr = y["targets"], y["frames"]
        for b, (i, s) in enumerate(zip(items.tolist(), (starts // hop).tolist())):
            row = meta.iloc[i]
            n_in = min(t, int(row.n_frames) - s)
            assert y["valid"][b].sum() == n_in and not y["valid"][b, n_in:].any()
            assert not any(f[b, n_in:].any() for f in fr.values())      # task frames lie inside the utterance
            vad = np.asarray(row.vad[s:s + n_in], np.float32)
            np.testing.assert_array_equal(tg["vad"][b, :n_in].numpy(), vad)
            assert fr["vad"][b, :n_in].all()
            np.testing.assert_array_equal(fr["snr"][b, :n_in].numpy(), vad > 0.5)
            np.testing.assert_allclose(tg["snr"][b, :n_in].numpy(), np.asarray(row.frame_snr_db[s:s + n_in]), rtol=1e-6)
            assert (tg["noise"][b, :n_in] == int(row.noise_class_id)).all()
            np.testing.assert_array_equal(fr["noise"][b, :n_in].numpy(), np.asarray(row.noise_active[s:s + n_in], bool))
            f0 = np.asarray(row.f0_hz[s:s + n_in])
            voiced = np.asarray(row.voiced[s:s + n_in], bool) & (f0 > 0)
            np.testing.assert_array_equal(fr["f0"][b, :n_in].numpy(), voiced)
            cents = 1200 * np.log2(f0[voiced] / 10.0)               # bench.task_metrics: cents re 10 Hz
            np.testing.assert_allclose(tg["f0"][b, :n_in][torch.from_numpy(voiced)].numpy(), cents, rtol=1e-5)
        # a crop's samples are the utterance's samples from the aligned start
        i, s = int(items[0]), int(starts[0])
        np.testing.assert_array_equal(noisy[0, :100].numpy(), audio.utterance(i)[0][s:s + 100].numpy())


def test_unaligned_crops_unchanged():
    """align_samples=1 / with_index leave the plain levels' crops exactly as before."""
    audio = bd.SplitAudio("x", ["a", "b", "c"], torch.arange(30000.0), torch.arange(30000.0),
                          torch.tensor([10000, 12000, 8000]), torch.tensor([0, 10000, 22000]), 16000)
    plain = list(bd.crop_batches(audio, 4000, 2, seed=3, epoch=1))
    idx = list(bd.crop_batches(audio, 4000, 2, seed=3, epoch=1, with_index=True))
    for (n, c), (n2, c2, items, starts) in zip(plain, idx):
        assert torch.equal(n, n2) and torch.equal(c, c2)
        assert torch.equal(n[:, 0], audio.offsets[items].float() + starts.float())


def test_heads_learn_planted_mapping():
    """Heads on fixed gates where channel 0 = VAD and channels 1..3 one-hot the class reach ~100 %."""
    g = torch.Generator().manual_seed(0)
    n, blocks, h, t = 8, 2, 4, 50
    vad = (torch.rand(n, t, generator=g) > 0.5).float()
    cls = torch.randint(0, 3, (n,), generator=g)
    gates = (torch.rand(n, blocks, h, t, generator=g) > 0.5).float()
    gates[:, 0, 0] = vad
    gates[:, 0, 1:4] = torch.nn.functional.one_hot(cls, 3).float()[:, :, None]
    ones = torch.ones(n, t, dtype=torch.bool)
    y = {"valid": ones, "targets": {"vad": vad, "noise": cls[:, None].expand(n, t), "snr": 5 * vad},
         "frames": {"vad": ones, "noise": ones, "snr": ones}}
    heads = J.ProbeHeads(blocks * h, 3, ("vad", "noise", "snr"), {"snr": (2.5, 2.5)})
    opt = torch.optim.Adam(heads.parameters(), lr=0.1)
    first = None
    for _ in range(150):
        loss = torch.stack(list(J.head_losses(heads, heads(gates), y).values())).mean()
        first = first if first is not None else float(loss.detach())
        opt.zero_grad(); loss.backward(); opt.step()
    assert float(loss.detach()) < 0.05 * first
    pred = heads(gates)
    assert ((pred["vad"][:, 0] > 0).float() == vad).float().mean() > 0.99
    assert (pred["noise"].argmax(1) == cls[:, None]).float().mean() > 0.99
    snr = (pred["snr"][:, 0] * heads.mean_std("snr")[1] + heads.mean_std("snr")[0]).detach()
    assert float((snr - 5 * vad).abs().max()) < 0.5
    assert pred["noise"].shape[1] == 3 and pred["vad"].shape[1] == pred["snr"].shape[1] == 1   # widths by task kind


def test_joint_level_trains_saves_heads_and_resumes_exactly(dataset, tmp_path):
    a = joint_params(tmp_path / "a", dataset, epochs=2)
    b = joint_params(tmp_path / "b", dataset, epochs=2)
    sa = train_level(a, "keep50_joint", progress=False)
    assert train_level(b, "keep50_joint", stop_after_epochs=1, progress=False) is None
    sb = train_level(b, "keep50_joint", progress=False)
    assert sa["history"] == sb["history"]
    ha = torch.load(Path(a["paths"]["models_dir"]) / "keep50_joint" / "probe_heads.pt", weights_only=False)
    hb = torch.load(Path(b["paths"]["models_dir"]) / "keep50_joint" / "probe_heads.pt", weights_only=False)
    assert all(torch.equal(ha["state_dict"][k], hb["state_dict"][k]) for k in ha["state_dict"])
    assert "train_head_loss" in sa["history"][0] and sa["joint"]["weight"] == 0.5
    hv = sa["joint"]["heads_valid"]
    assert set(hv) == {"vad", "noise", "f0", "snr"} and 0.0 <= hv["vad"]["acc"] <= 1.0
    assert {"bal_acc", "f1"} <= set(hv["vad"]) and {"r2_hz", "r2_cents", "gross_err_50c"} <= set(hv["f0"])
    assert hv["vad"]["n_frames"] == sum(len(v) for v in load_metadata(dataset, "valid")["vad"])
    # the saved SE model is a plain gated model: enhance loads it strictly, heads live apart
    out = Path(a["paths"]["models_dir"]) / "keep50_joint"
    ck = torch.load(out / "model.pt", weights_only=False)
    ConvFSENet(FSENetConfig.from_dict(ck["config"])).load_state_dict(ck["state_dict"], strict=True)
    assert json.loads((out / "train_summary.json").read_text())["joint"]["tasks"] == ["vad", "noise", "f0", "snr"]
    # the plain level of the same params carries no heads
    sp = train_level(a, "keep50", progress=False)
    assert sp["joint"] is None and "train_head_loss" not in sp["history"][0]
    assert not (Path(a["paths"]["models_dir"]) / "keep50" / "probe_heads.pt").exists()
