"""``sebench evaluate``: tiny trained models enhanced + scored on generated paired trees (VBD and generic layouts)."""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from bench.cli import main as sebench
from bench.evaluate import build_parser, run
from bench.train import train_level
from tests.bench.tiny import tiny_params
from tests.datagen.sources.test_source_paired import make_vbd
from tests.synth import make_dataset

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    ds = make_dataset(root / "ds", n_per_split={"train": 4, "valid": 2, "test": 2}, duration_s=1.5)
    p = tiny_params(root / "run", ds, epochs=1)
    for level in ("static", "keep50"):
        train_level(p, level, progress=False)
    vbd = root / "vbd"
    make_vbd(vbd)                                    # 48 kHz pairs: resampled to 16 kHz, recorded
    return p, vbd, root


def _args(argv):
    return build_parser().parse_args(argv)


def _set_hash(root: Path, noisy: str, clean: str) -> str:
    lines = sorted(f"{sub}/{f.name}\t{hashlib.sha256(f.read_bytes()).hexdigest()}\n"
                   for sub in (noisy, clean) for f in (root / sub).glob("*.wav"))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_vbd_layout_end_to_end(trained, tmp_path):
    p, vbd, _ = trained
    out = tmp_path / "eval"
    ext = tmp_path / "copy"                           # an external "system" that returns its input
    ext.mkdir()
    for f in (vbd / "noisy_testset_wav").glob("*.wav"):
        (ext / f.name).write_bytes(f.read_bytes())
    files = run(_args(["--paired-dir", str(vbd), "--models-dir", p["paths"]["models_dir"], "--out", str(out),
                       "--metrics", "pesq_wb,stoi,si_sdr", "--bootstrap-n", "50", "--workers", "1", "--quiet",
                       "--system", f"copy={ext}"]), p, log=lambda *a: None)
    names = sorted(f.name for f in (vbd / "noisy_testset_wav").glob("*.wav"))
    assert len(names) == 4
    digest = _set_hash(vbd, "noisy_testset_wav", "clean_testset_wav")
    lb = pd.read_csv(files["csv"])
    assert list(lb["model"]) == ["noisy", "static", "keep50", "copy"]
    assert set(lb["dataset_sha256"]) == {digest}
    assert (lb.set_index("model").loc[["noisy", "static", "keep50", "copy"], "n_scored"].astype(int) == 4).all()
    # enhanced files keep the pairs' names, at 16 kHz, as long as the resampled input
    for lv in ("static", "keep50"):
        assert sorted(f.name for f in (out / "enhanced" / lv).glob("*.wav")) == names
        for n in names:
            info_in, info_out = sf.info(vbd / "noisy_testset_wav" / n), sf.info(out / "enhanced" / lv / n)
            assert info_out.samplerate == 16000 and info_out.subtype == "PCM_16"
            assert info_out.frames == round(info_in.frames * 16000 / info_in.samplerate)
    pairs = pd.read_csv(files["pairs"])
    assert pairs["resampled"].all() and set(pairs["noisy_sample_rate_hz"]) == {48000}
    # the external copy of the input scores exactly like the input
    per = pd.read_parquet(out / "scores" / "per_utterance.parquet")
    a = per[per.system == "noisy"].set_index(["mixture_id", "metric"])["value"]
    b = per[per.system == "copy"].set_index(["mixture_id", "metric"])["value"]
    np.testing.assert_allclose(b.loc[a.index].to_numpy(), a.to_numpy(), rtol=0, atol=1e-9)
    # realised keep of the gated level measured on this set; the leaderboard json carries the set and provenance
    summ = json.loads((out / "enhanced" / "keep50" / "summary.json").read_text())
    assert 0.0 < summ["realised_keep"]["mean"] <= 1.0 and summ["gated"] and summ["set_sha256"] == digest
    js = json.loads(files["json"].read_text())
    assert js["set"]["set_sha256"] == digest and js["provenance"]["dataset_sha256"] == digest
    assert "Evaluated set" in files["md"].read_text()
    # nothing of the pipeline's default outputs was written
    for k in ("reports_dir", "scores_dir", "enhanced_dir"):
        assert not Path(p["paths"][k]).exists(), k


def test_generic_layout_and_default_out(trained, tmp_path, monkeypatch):
    p, _, _ = trained
    root = tmp_path / "pairs"
    rng = np.random.default_rng(3)
    for i in range(2):
        clean = 0.2 * np.sin(2 * np.pi * 180 * np.arange(16000) / 16000)
        for sub, x in (("clean", clean), ("noisy", clean + 0.05 * rng.standard_normal(16000))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            sf.write(root / sub / f"utt_{i}.wav", x.astype(np.float32), 16000, subtype="PCM_16")
    monkeypatch.chdir(tmp_path)
    files = run(_args(["--paired-dir", str(root), "--models-dir", p["paths"]["models_dir"], "--level", "static",
                       "--metrics", "si_sdr", "--bootstrap-n", "20", "--workers", "1", "--quiet"]), p,
                log=lambda *a: None)
    digest = _set_hash(root, "noisy", "clean")
    assert files["csv"].resolve() == (tmp_path / "data" / "evaluate" / digest[:12] / "leaderboard.csv").resolve()
    lb = pd.read_csv(files["csv"])
    assert list(lb["model"]) == ["noisy", "static"]
    assert not pd.read_csv(files["pairs"])["resampled"].any()


def _err(argv, capsys) -> str:
    rc = sebench(["evaluate", "--params", str(REPO / "params.yaml"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("sebench evaluate: ")
    return err


def test_one_line_errors(trained, tmp_path, capsys):
    p, vbd, _ = trained
    models = p["paths"]["models_dir"]
    (tmp_path / "empty").mkdir()
    assert "no paired layout found" in _err(["--paired-dir", str(tmp_path / "empty"), "--models-dir", models], capsys)
    bad = tmp_path / "bad"
    for sub, names in (("noisy", ["a.wav", "b.wav"]), ("clean", ["a.wav", "c.wav"])):
        for n in names:
            (bad / sub).mkdir(parents=True, exist_ok=True)
            sf.write(bad / sub / n, np.full(8000, 0.1, np.float32), 16000)
    e = _err(["--paired-dir", str(bad), "--models-dir", models], capsys)
    assert "unmatched file names" in e and "b.wav" in e and "c.wav" in e
    (bad / "clean" / "c.wav").unlink()
    (bad / "noisy" / "b.wav").unlink()
    (bad / "noisy" / "a.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    assert str(bad / "noisy" / "a.wav") in _err(["--paired-dir", str(bad), "--models-dir", models], capsys)
    e = _err(["--paired-dir", str(vbd), "--models-dir", models, "--level", "keep99"], capsys)
    assert "keep99" in e and "no trained model" in e
    e = _err(["--paired-dir", str(vbd), "--models-dir", models, "--out", str(REPO / "reports" / "x")], capsys)
    assert "DVC-tracked" in e
