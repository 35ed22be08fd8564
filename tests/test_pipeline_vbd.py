"""End to end: the `vbd` profile through `dvc repro` on a generated miniature VoiceBank+DEMAND tree, offline.

The profile is applied exactly as a user would (`sebench profile vbd`), then an overlay shrinks only what
must be small for CI: the model and training size (the `tiny` profile's model, train, score, probe and
baselines sections) and the one path that points at the corpus. Corpus, split, plan (paired: one mixture
per pair), render and labels settings are the vbd profile's own, except CREPE `tiny` (no shipped tracks for
generated audio; full CREPE would take minutes).
"""
from __future__ import annotations

import json
import sys

import pandas as pd
import yaml

from tests.datagen.sources.test_source_paired import make_vbd
from tests.e2e import REPO, check_report, dvc_repro_offline, fresh_repo, run


def test_vbd_profile_dvc_repro_end_to_end(tmp_path):
    root = tmp_path / "VoiceBank-DEMAND"
    log = make_vbd(root, utts_per_speaker=3)
    work, env = fresh_repo(tmp_path)
    run([sys.executable, "-m", "bench.cli", "profile", "vbd"], work, env)

    tiny = yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())
    overlay = {k: tiny[k] for k in ("model", "levels!", "gated_levels", "causal", "train", "score", "probe",
                                    "baselines")}
    overlay["profile"] = "vbd-mini"
    overlay["corpus"] = {"sources": [{"type": "vbd", "root": str(root), "paired": True}],
                         "speech_split": {"valid": ["p226"], "test": []}}   # the mini tree has 3 training speakers
    overlay["labels"] = {"f0": {"model": "tiny"}}
    overlay["render"] = {"workers": 2}
    # 6 training pairs: a few optimiser steps per stage so the keep50 gates actually learn to close
    overlay["train"] = {**tiny["train"], "epochs": 3, "epochs_gated": 4, "batch_size": 2}
    (tmp_path / "vbd-mini.yaml").write_text(yaml.safe_dump(overlay))
    run([sys.executable, "-m", "bench.cli", "profile", str(tmp_path / "vbd-mini.yaml")], work, env)
    params = yaml.safe_load((work / "params.yaml").read_text())
    assert params["plan"]["n_mixtures"] == {"train": None, "valid": None, "test": None}   # vbd's own: every pair
    assert params["model"]["config"] == "tiny"

    dvc_repro_offline(work, env)
    lb = check_report(work, env, {"noisy", "static", "keep50"})

    # one mixture per logged pair, the logged noise type and SNR carried through to the dataset
    meta = pd.concat([pd.read_parquet(p) for p in sorted((work / "data/dataset/metadata").glob("*.parquet"))])
    assert len(meta) == len(log)
    assert set(meta["noise_class"]) == {t for t, _ in log.values()}
    assert sorted(meta["snr_db"]) == sorted(snr for _, snr in log.values())
    assert meta.groupby("split").size().to_dict() == {"train": 6, "valid": 3, "test": 6}
    card = json.loads((work / "data/dataset/dataset_info.json").read_text())
    assert card, "dataset_info.json is empty"
    prov = json.loads((work / "reports" / "provenance.json").read_text())
    assert "vbd" in json.dumps(prov)
    assert lb.loc[lb["model"] == "noisy", "n_scored"].iloc[0] > 0
