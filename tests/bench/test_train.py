"""Training: data crops, loss decreases, bit-exact resume, outputs (synthetic dataset, tiny config)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from bench import data as bd
from bench.train import checkpoint_path, cli, fingerprint, level_seed, step_losses, train_level
from tests.bench.tiny import tiny_params
from tests.synth import make_dataset

torch.set_num_threads(1)




@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("synth") / "ds", duration_s=2.0)


# ------------------------------------------------------------------------------------------- data

def test_crops_deterministic_padded_and_sharded(dataset):
    audio = bd.load_split_audio(dataset, "train", progress=False)
    assert len(audio) == 8 and audio.noisy.shape == audio.clean.shape == (int(audio.lengths.sum()),)
    a = list(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2))
    b = list(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2))
    c = list(bd.crop_batches(audio, 8000, 3, seed=5, epoch=3))
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert not torch.equal(a[0][0], c[0][0])
    assert [x[0].shape[0] for x in a] == [3, 3, 2] and len(a) == bd.n_batches(8, 3)
    # gather_crops slices exactly [offset + start, offset + start + crop) of the chosen utterance
    items, starts = torch.tensor([3, 0, 7]), torch.tensor([0, 100, 24000])
    gn, gc = bd.gather_crops(audio, items, starts, 8000)
    for j, (i, s0) in enumerate(zip(items.tolist(), starts.tolist())):
        un, uc = audio.utterance(i)
        assert torch.equal(gn[j], un[s0:s0 + 8000]) and torch.equal(gc[j], uc[s0:s0 + 8000])
    # every random crop is a contiguous piece of one utterance, noisy and clean aligned
    heads = audio.noisy.unfold(0, 64, 1)
    for noisy, clean in a:
        for i in range(noisy.shape[0]):
            pos = int((heads == noisy[i, :64]).all(1).nonzero()[0, 0])
            assert torch.equal(audio.noisy[pos:pos + 8000], noisy[i])
            assert torch.equal(audio.clean[pos:pos + 8000], clean[i])
    # crops longer than the utterance (2 s) are zero padded past the end
    long = next(bd.crop_batches(audio, 3 * 16000, 8, seed=0, epoch=0))
    n = int(audio.lengths[0])
    assert long[0].shape == (8, 48000) and (long[0][:, n:] == 0).all() and (long[1][:, n:] == 0).all()
    # ranks see disjoint shards covering the epoch, with equal counts
    o0, o1 = bd.epoch_order(7, 1, 0, 0, 2), bd.epoch_order(7, 1, 0, 1, 2)
    assert len(o0) == len(o1) == 4 and set(o0.tolist()) | set(o1.tolist()) == set(range(7))


def test_remix_swaps_noise_keeps_clean_and_is_deterministic(dataset):
    """train.remix_p (dynamic mixing): remix_p 0 draws exactly the old crops; remix_p 1 keeps every clean
    crop and replaces its noise by another utterance's noise crop, scaled by the clean-level ratio."""
    audio = bd.load_split_audio(dataset, "train", progress=False)
    levels = bd.clean_levels(audio)
    assert levels.shape == (len(audio),) and (levels > 0).all()
    plain = list(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2, with_index=True))
    off = list(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2, with_index=True, remix_p=0.0, levels=levels))
    on = list(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2, with_index=True, remix_p=1.0, levels=levels))
    again = list(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2, with_index=True, remix_p=1.0, levels=levels))
    for a, b, c, d in zip(plain, off, on, again):
        assert all(torch.equal(x, y) for x, y in zip(a, b))          # off: the same crops
        assert torch.equal(a[1], c[1]) and torch.equal(a[2], c[2])   # clean target and items unchanged
        assert all(torch.equal(x, y) for x, y in zip(c, d))          # deterministic
    noise = audio.noisy - audio.clean
    changed = 0
    for (n0, c0, items, _), (n1, c1, _, _) in zip(plain, on):
        new_noise = n1 - c1
        changed += int((new_noise - (n0 - c0)).abs().max() > 1e-6)
        for j, i in enumerate(items.tolist()):
            # the new noise is a contiguous piece of some utterance's noise, times a positive gain
            ref = new_noise[j]
            if ref.abs().max() == 0:
                continue
            found = False
            for d in range(len(audio)):
                a0, n = int(audio.offsets[d]), int(audio.lengths[d])
                g = float(levels[i] / levels[d])
                seg = noise[a0:a0 + n] * g
                win = seg.unfold(0, 64, 1)
                hit = ((win - ref[:64]).abs().max(1).values < 1e-5).nonzero()
                if len(hit):
                    found = True
                    break
            assert found, (j, i)
    assert changed > 0
    with pytest.raises(ValueError, match="remix_p"):
        next(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2, remix_p=1.5, levels=levels))
    with pytest.raises(ValueError, match="clean levels"):
        next(bd.crop_batches(audio, 8000, 3, seed=5, epoch=2, remix_p=0.5))


def test_full_utterance_batches_cover_split(dataset):
    audio = bd.load_split_audio(dataset, "valid", progress=False)
    got = [x for nb, _ in bd.full_utterance_batches(audio, 2) for x in nb]
    assert len(got) == len(audio)
    for i, x in enumerate(got):
        assert torch.equal(x, audio.utterance(i)[0])


def test_bad_dataset_names_file(tmp_path, dataset):
    import shutil
    ds = tmp_path / "ds"
    shutil.copytree(dataset, ds)
    victim = next((ds / "audio" / "train").glob("*_clean.wav"))
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=victim.name):
        bd.load_split_audio(ds, "train", progress=False)


# ------------------------------------------------------------------------------------------- training

def test_loss_decreases_on_fixed_batch(dataset, tmp_path):
    from bench.models.fsenet import ConvFSENet, FSENetConfig

    torch.manual_seed(0)
    p = tiny_params(tmp_path, dataset)
    audio = bd.load_split_audio(dataset, "train", progress=False)
    noisy, clean = next(bd.crop_batches(audio, 8000, 4, seed=0, epoch=0))
    for keep in (1.0, 0.5):
        model = ConvFSENet(FSENetConfig.from_params(p, keep))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(15):
            loss, spec, bud, out = step_losses(model, noisy, clean, keep, p["train"], 1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(spec.detach()))
        assert losses[-1] < 0.8 * losses[0], (keep, losses)
        assert (bud is None) == (keep == 1.0)


def test_resume_equals_uninterrupted(dataset, tmp_path):
    """A run SIGKILLed mid-epoch (epoch 2 of 3, after epoch 1's checkpoint) resumes from that checkpoint and
    ends bit-identical to an uninterrupted run (checkpoints are written at epoch ends only)."""
    import os
    import signal
    import subprocess
    import sys

    from bench.data import n_batches

    a = tiny_params(tmp_path / "a", dataset, epochs=3)
    b = tiny_params(tmp_path / "b", dataset, epochs=3)
    assert fingerprint(a, "keep50") == fingerprint(b, "keep50")  # output paths do not enter it
    sa = train_level(a, "keep50", progress=False)
    steps = n_batches(8, a["train"]["batch_size"], 1)
    assert steps >= 2
    pb = tmp_path / "b.yaml"
    pb.write_text(yaml.safe_dump(b))
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, SEBENCH_TRAIN_SIGKILL_AT_STEP=str(steps + 1), OMP_NUM_THREADS="1")   # 1st step of epoch 2
    r = subprocess.run([sys.executable, "-m", "bench.cli", "train", "--params", str(pb), "--level", "keep50",
                        "--no-progress"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    ck = checkpoint_path(b, "keep50")
    assert ck.is_file() and not (Path(b["paths"]["models_dir"]) / "keep50" / "model.pt").exists()
    assert torch.load(ck, weights_only=False)["epoch"] == 1
    import shutil
    shutil.rmtree(Path(b["paths"]["models_dir"]) / "keep50", ignore_errors=True)   # as DVC before a stage runs
    sb = train_level(b, "keep50", progress=False)
    wa = torch.load(Path(a["paths"]["models_dir"]) / "keep50" / "model.pt", weights_only=False)["state_dict"]
    wb = torch.load(Path(b["paths"]["models_dir"]) / "keep50" / "model.pt", weights_only=False)["state_dict"]
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert sa["history"] == sb["history"] and sa["final_valid_loss"] == sb["final_valid_loss"]
    # the DVCLive log of the resumed run covers every epoch, byte for byte the uninterrupted run's (replayed
    # from the checkpoint's history: DVC deletes a stage's output directory before a resumed run)
    la, lb = (Path(x["paths"]["models_dir"]) / "keep50" / "dvclive" for x in (a, b))
    files = sorted(f.relative_to(la) for f in la.rglob("*") if f.is_file())
    assert files == sorted(f.relative_to(lb) for f in lb.rglob("*") if f.is_file())
    assert Path("plots/metrics/valid/loss.tsv") in files
    assert all((la / f).read_bytes() == (lb / f).read_bytes() for f in files)
    assert len((la / "plots/metrics/valid/loss.tsv").read_text().splitlines()) == 1 + 3   # header + 3 epochs

    # outputs of the uninterrupted run
    out = Path(a["paths"]["models_dir"]) / "keep50"
    s = json.loads((out / "train_summary.json").read_text())
    assert s["epochs"] == 3 and len(s["history"]) == 3
    assert s["history"][-1]["lr"] == pytest.approx(a["train"]["lr_min"], rel=1e-6)  # cosine reached lr_min
    assert 0.0 <= s["realised_keep_valid_mean"] <= 1.0 and len(s["realised_keep_valid_per_block"]) == 2
    assert s["audio_s_per_s"] > 0 and s["device"] == "cpu"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_config"]["gated"] is True and cfg["model_init_seed"] == level_seed(a, "keep50")
    assert cfg["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    macs = json.loads((out / "macs.json").read_text())
    assert macs["dense_macs_per_s"] > 0
    assert (out / "dvclive" / "metrics.json").is_file()
    model = torch.load(out / "model.pt", weights_only=False)
    assert model["target_keep"] == 0.5 and model["config"]["hidden"] == 16

    # a checkpoint written under other params is not resumed from
    c = tiny_params(tmp_path / "b", dataset, epochs=3)
    c["train"]["lr"] = 2 * float(b["train"]["lr"])
    assert fingerprint(c, "keep50") != fingerprint(b, "keep50")


def test_static_level_and_cli(dataset, tmp_path):
    p = tiny_params(tmp_path, dataset, epochs=1)
    pp = tmp_path / "params.yaml"
    pp.write_text(yaml.safe_dump(p))
    assert cli(["--params", str(pp), "--level", "nope"]) == 2
    assert cli(["--params", str(pp), "--level", "static", "--no-progress"]) == 0
    out = Path(p["paths"]["models_dir"]) / "static"
    s = json.loads((out / "train_summary.json").read_text())
    assert s["realised_keep_valid_mean"] == 1.0 and s["realised_keep_valid_per_block"] is None
    assert json.loads((out / "config.json").read_text())["model_config"]["gated"] is False
    assert "train_budget_loss" not in s["history"][0]


def test_gated_level_warm_starts_from_static(tmp_path):
    """train.init_gated_from: the gated model starts from the static weights (gates at their init)."""
    import copy

    import torch

    from bench.train import check_gated_levels, init_model_path, warm_start
    from bench.models.fsenet import ConvFSENet, FSENetConfig

    p = {"levels": {"static": 1.0, "keep50": 0.5}, "gated_levels": ["keep50"],
         "train": {"init_gated_from": "static"}, "paths": {"models_dir": str(tmp_path)}}
    check_gated_levels(p)
    assert init_model_path(p, "static") is None
    path = init_model_path(p, "keep50")
    assert path == tmp_path / "static" / "model.pt"
    static = ConvFSENet(FSENetConfig(bottleneck=8, hidden=8, stacks=1, gated=False))
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": static.state_dict()}, path)
    gated = ConvFSENet(FSENetConfig(bottleneck=8, hidden=8, stacks=1, gated=True))
    warm_start(gated, path)
    for k, v in static.state_dict().items():
        assert torch.equal(gated.state_dict()[k], v), k
    bad = copy.deepcopy(p)
    joint = copy.deepcopy(p)
    joint["train"]["joint"] = {"levels": ["keep50x"]}
    with pytest.raises(ValueError, match="keep50x"):
        check_gated_levels(joint)
    bad["gated_levels"] = []
    with pytest.raises(ValueError, match="gated_levels"):
        check_gated_levels(bad)
    wrong = ConvFSENet(FSENetConfig(bottleneck=4, hidden=8, stacks=1, gated=True))
    with pytest.raises(RuntimeError):
        warm_start(wrong, path)


def test_init_overrides_train_a_gated_level_from_scratch(tmp_path):
    """train.init_overrides: a level mapped to null starts from scratch and trains for train.epochs;
    the other gated levels keep the warm start and train.epochs_gated."""
    from bench.train import init_model_path, init_source, level_epochs

    p = {"levels": {"static": 1.0, "keep50": 0.5, "keep50_scratch": 0.5, "static_seed1": 1.0,
                    "keep50_scratch_seed1": 0.5},
         "train": {"init_gated_from": "static", "init_overrides": {"keep50_scratch": None},
                   "epochs": 30, "epochs_gated": 8},
         "paths": {"models_dir": str(tmp_path)}}
    assert init_source(p, "keep50") == "static" and level_epochs(p, "keep50") == 8
    assert init_source(p, "keep50_scratch") is None and init_model_path(p, "keep50_scratch") is None
    assert level_epochs(p, "keep50_scratch") == 30 and level_epochs(p, "static") == 30
    assert init_source(p, "keep50_scratch_seed1") is None    # a replicate follows its base level
    p["train"]["init_overrides"] = {"keep50_scratch": "keep50"}  # a gated level is no warm start
    with pytest.raises(ValueError, match="static level"):
        init_source(p, "keep50_scratch")


def test_params_refuse_init_overrides_of_unknown_or_static_levels():
    """The typed schema names the bad key: an override for a static level or from a gated source."""
    import copy

    import yaml

    from datagen.config import ParamsError, validate

    base = yaml.safe_load(open("params.yaml"))
    bad = copy.deepcopy(base)
    bad["train"]["init_overrides"] = {"static": None}
    with pytest.raises(ParamsError, match="train.init_overrides.static"):
        validate(bad)
    bad = copy.deepcopy(base)
    bad["train"]["init_overrides"] = {"keep50_scratch": "keep50"}
    with pytest.raises(ParamsError, match="train.init_overrides.keep50_scratch"):
        validate(bad)


def test_causal_twins_train_causal_models(dataset, tmp_path):
    """causal.static_levels / causal.gated_levels: model.causal true for those levels only; the causal gated
    level warm-starts from its causal static level; the non-causal levels' fingerprints do not change."""
    from bench.engine import StreamingEngine
    from bench.levels import is_causal, model_params, reference_level
    from bench.models.registry import load_checkpoint
    from bench.train import check_gated_levels, init_source

    p = tiny_params(tmp_path, dataset, epochs=1)
    fp_static = fingerprint(p, "static")
    p["levels"].update(causal_static=1.0, causal_keep50=0.5)
    p["causal"] = {"static_levels": ["causal_static"], "gated_levels": {"causal_keep50": "causal_static"}}
    check_gated_levels(p)   # causal gated levels are not in gated_levels
    assert fingerprint(p, "static") == fp_static and model_params(p, "static") is p
    assert is_causal(p, "causal_keep50") and not is_causal(p, "keep50")
    assert init_source(p, "causal_keep50") == "causal_static" and init_source(p, "keep50") is None
    assert reference_level(p, "causal_keep50") == "causal_static" and reference_level(p, "causal_static") == "static"
    assert fingerprint(p, "causal_static") != fingerprint(p, "static")
    train_level(p, "causal_static", progress=False)
    train_level(p, "causal_keep50", progress=False)
    models = Path(p["paths"]["models_dir"])
    for lv in ("causal_static", "causal_keep50"):
        m, cfg, _ = load_checkpoint(models / lv / "model.pt")
        assert cfg.causal is True and json.loads((models / lv / "config.json").read_text())["model_config"]["causal"]
        assert StreamingEngine(m, skip=cfg.gated).lookahead_frames == 0   # streams with no look-ahead
    assert json.loads((models / "causal_keep50" / "config.json").read_text())["init_from"].endswith(
        "causal_static/model.pt")


def test_params_check_causal_twins():
    import copy

    from datagen.config import ParamsError, validate

    base = yaml.safe_load(open("params.yaml"))
    assert base["causal"]["gated_levels"] and validate(copy.deepcopy(base))
    bad = copy.deepcopy(base)
    bad["causal"]["gated_levels"] = {"causal_keep50": "static"}
    with pytest.raises(ParamsError, match="causal.gated_levels.causal_keep50"):
        validate(bad)
    bad = copy.deepcopy(base)
    bad["causal"]["static_levels"] = ["keep50"]
    with pytest.raises(ParamsError, match="causal.static_levels"):
        validate(bad)
    bad = copy.deepcopy(base)
    bad["gated_levels"] = bad["gated_levels"] + ["causal_keep50"]
    with pytest.raises(ParamsError, match="gated_levels"):
        validate(bad)
