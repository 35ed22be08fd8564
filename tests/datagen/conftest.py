"""A tiny corpus (generated audio + manifest) and params pointing into a temp dir, for plan/render/labels."""
import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from bench.params import load_params

REPO = Path(__file__).resolve().parents[2]
SPLIT_OF = {"spkA": "train", "spkB": "train", "spkC": "valid", "spkD": "test"}


def _utterance(rng, sr=16000):
    n = int(rng.uniform(0.8, 1.6) * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))
    ph = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * ph) / k for k in range(1, 10)) * np.hanning(n) ** 0.5
    x[: int(0.1 * sr)] = 0
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def write_corpus(root: Path, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    root.mkdir(parents=True, exist_ok=True)
    for spk, split in SPLIT_OF.items():
        for i in range(3):
            p = root / f"{spk}_{i}.wav"
            x = _utterance(rng)
            sf.write(p, x, 16000, subtype="PCM_16")
            rows.append(dict(source_id=f"speech/{spk}/{i}", kind="speech", path=str(p), duration_s=len(x) / 16000,
                             speaker=spk, noise_class="", split_group=spk, split=split))
    for cls in ("hiss", "rumble"):
        for split in ("train", "valid", "test"):
            for i in range(2):
                p = root / f"{cls}_{split}_{i}.wav"
                n = int(rng.uniform(1.0, 3.0) * 16000)
                w = rng.standard_normal(n)
                x = w if cls == "hiss" else np.convolve(w, np.ones(32) / 32, "same")
                sf.write(p, (0.2 * x / np.abs(x).max()).astype(np.float32), 16000, subtype="PCM_16")
                rows.append(dict(source_id=f"noise/{cls}/{split}/{i}", kind="noise", path=str(p),
                                 duration_s=n / 16000, speaker="", noise_class=cls,
                                 split_group=f"{cls}-{split}-{i}", split=split))
    df = pd.DataFrame(rows)
    for c in ("orig_sample_rate_hz",):
        df[c] = 16000
    df["orig_channels"] = 1
    df["licence"], df["author"], df["origin"], df["sha256"] = "CC0", "test", "generated", ""
    return df.sort_values("source_id").reset_index(drop=True)


@pytest.fixture
def tiny_params(tmp_path):
    p = copy.deepcopy(load_params(REPO / "params.yaml"))
    for k in list(p["paths"]):
        p["paths"][k] = str(tmp_path / k)
    p["plan"]["n_mixtures"] = {"train": 5, "valid": 2, "test": 3}
    p["plan"]["duration_s"] = 2.0
    p["plan"]["reverb"]["prob"] = 0.5
    p["labels"]["f0"]["model"] = "tiny"
    manifest = write_corpus(tmp_path / "src")
    Path(p["paths"]["corpus_dir"]).mkdir(parents=True)
    manifest.to_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet", index=False)
    return p
