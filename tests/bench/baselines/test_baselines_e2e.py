"""Tiny end-to-end run of ``sebench baselines`` on tests/synth.py data (fixture ``e2e`` in conftest)."""
import json
import os

import numpy as np
import pandas as pd
import torch

from bench import tasks as T
from bench.baselines import cli as bcli
from bench.baselines import features, models, train
from bench.cli import main
from datagen.dataset import load_metadata


def test_csv_has_all_columns_and_rows(e2e):
    df = pd.read_csv(e2e["r"] / "aux_baselines.csv")
    for c in ["task", "model", "metric", "value", "ci95_low", "ci95_high", "macs_m_per_s", "params",
              "wall_s_per_audio_s", "n_frames", "notes"]:
        assert c in df.columns
    assert set(df.task) == {"vad", "noise", "noise_seg", "f0", "snr"}
    models_ = set(df.model)
    assert {"cnn_small", "cnn_large", "silero_vad", "crepe_tiny", "pyin"} <= models_
    assert sum(m.startswith("webrtc_vad_m") for m in models_) == 12
    assert "crepe_full" not in models_          # capped to 0 s in the fixture
    prim = df[df.metric.isin(["acc", "r2", "r2_hz"])]
    assert prim.value.notna().all()
    assert (prim.wall_s_per_audio_s > 0).all()
    ok = df.value.notna() & df.ci95_low.notna()
    assert (df.ci95_low[ok] <= df.value[ok] + 1e-9).all() and (df.value[ok] <= df.ci95_high[ok] + 1e-9).all()
    acc = df[(df.metric == "acc")].value
    assert ((acc >= 0) & (acc <= 1)).all()
    assert df[df.model.str.startswith("webrtc")].notes.str.contains("not counted").all()
    js = json.loads((e2e["r"] / "aux_baselines.json").read_text())
    assert js["environment"]["machine"] and len(js["rows"]) == len(df)
    assert "absent" in js["plot_note"]
    assert (e2e["r"] / "aux_baselines.png").stat().st_size > 1000


def test_f0_subset_is_first_mixtures_by_id(e2e):
    df = pd.read_csv(e2e["r"] / "aux_baselines.csv")
    r = df[(df.model == "pyin") & (df.metric == "r2_hz")].iloc[0]
    assert r.n_mixtures == 1 and "subset: first 1 of 3" in r.notes
    z = np.load(e2e["b"] / "predictions" / "f0__pyin.npz")
    assert set(z["mixture_id"]) == {"test-000000"}


def test_predictions_use_exactly_the_task_frames(e2e):
    meta = load_metadata(e2e["ds"], "test")
    for task, model in [("vad", "cnn_small"), ("vad", "silero_vad"), ("vad", "webrtc_vad_m2_30ms"),
                        ("noise", "cnn_large"), ("snr", "cnn_small"), ("f0", "crepe_tiny")]:
        tf = T.task_frames(meta, task)
        z = np.load(e2e["b"] / "predictions" / f"{task}__{model}.npz")
        if task == "f0":
            tf = bcli.restrict(tf, ["test-000000"])
        assert z["mixture_id"].tolist() == tf.mixture_id.astype(str).tolist()
        np.testing.assert_array_equal(z["frame"], tf.frame)
        np.testing.assert_array_equal(z["y"], tf.y)
        assert len(z["pred"]) == len(tf.y)
    ids, y = T.segment_labels(meta)
    z = np.load(e2e["b"] / "predictions" / "noise_seg__cnn_small.npz")
    assert z["mixture_id"].tolist() == list(ids) and np.array_equal(z["y"], y)


def test_trained_models_macs_match_flop_counter_and_are_cached(e2e):
    for task in train.TRAINED_TASKS:
        for size in e2e["params"]["baselines"]["sizes"]:
            cfg = train.train_config(task, size, e2e["params"], e2e["ds"])
            hit = train.load_cached(e2e["b"] / f"{task}_{size}", cfg)
            assert hit is not None, f"{task}_{size} not cached with its config"
            net, ck = hit
            a = models.macs_per_frame(net)
            m = models.flop_counter_macs_per_frame(net, features.N_MELS)
            assert abs(a - m) / m < 0.01
            assert ck["best_epoch"] >= 0 and len(ck["history"]) >= 1
    # a changed config is a cache miss
    p2 = json.loads(json.dumps(e2e["params"]))
    p2["baselines"]["lr"] = 0.5
    assert train.load_cached(e2e["b"] / "vad_small", train.train_config("vad", "small", p2, e2e["ds"])) is None


def test_rerun_reuses_cache_and_is_deterministic(e2e):
    before = {p: os.stat(p).st_mtime_ns for p in e2e["b"].glob("*/model.pt")}
    df1 = pd.read_csv(e2e["r"] / "aux_baselines.csv")
    assert main(e2e["argv"][:1] + ["--only", "trained"] + e2e["argv"][1:]) == 0
    after = {p: os.stat(p).st_mtime_ns for p in e2e["b"].glob("*/model.pt")}
    assert before == after and len(before) == 6
    df2 = pd.read_csv(e2e["r"] / "aux_baselines.csv")
    key = ["task", "model", "metric"]
    m = df1.merge(df2, on=key, suffixes=("_1", "_2"))
    assert len(m) == len(df2) > 0
    np.testing.assert_allclose(m.value_1, m.value_2)
    np.testing.assert_allclose(m.ci95_low_1, m.ci95_low_2)


def test_training_is_seeded(e2e, tmp_path):
    g = bcli.FrameGrid.from_params(e2e["params"]["frames"])
    tr = train.load_split(e2e["ds"], "train", g)
    va = train.load_split(e2e["ds"], "valid", g)
    p = json.loads(json.dumps(e2e["params"]))
    p["baselines"]["epochs"] = 1
    nets = [train.train_one("vad", "small", p, e2e["ds"], tmp_path / str(i), tr, va, 3)[0] for i in range(2)]
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()):
        assert torch.equal(a, b)


def test_plot_places_mask_probes_when_probes_csv_exists(e2e, tmp_path):
    """A probes.csv in the probe stage's layout (level, task, probe, features, metric, mean) is drawn."""
    df = pd.read_csv(e2e["r"] / "aux_baselines.csv")
    probes = pd.DataFrame([dict(level=lv, task=t, probe="linear", features=f, n_features=64, metric=m, mean=v)
                           for lv in ("keep50", "keep25") for t, m in bcli.PRIMARY.items()
                           for f, v in (("masks", 0.8), ("shuffled_labels", 0.1))])
    probes.to_csv(tmp_path / "probes.csv", index=False)
    note = bcli.plot(df, tmp_path, tmp_path / "probes.csv")
    assert "mask probes from" in note and (tmp_path / "aux_baselines.png").stat().st_size > 1000
