"""The fast labels stage writes the very bytes of the previous implementation (kept here as the reference)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import datagen.labels as L
from datagen.frames import FrameGrid
from datagen.placement import place_frames
from datagen.plan import make_plan
from datagen.render import render
from datagen.vad import frame_energy_db, vad_from_params


# ------------------------------------------------------------------ the previous implementation (reference)
def ref_frame_energy_db(x: np.ndarray, grid: FrameGrid) -> np.ndarray:
    frames = grid.frame_signal(np.asarray(x, np.float64))
    return 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def ref_source_labels(manifest, speech_ids, params, f0_workers=None, progress=True):
    from datagen.audio_io import load_audio
    from datagen.f0 import F0Cache, F0Settings

    grid = FrameGrid.from_params(params["frames"])
    settings = F0Settings.from_params(params)
    cache = F0Cache(device="cpu")
    paths = dict(zip(manifest["source_id"], manifest["path"]))
    out = {}
    for sid in sorted(set(speech_ids)):
        x, _ = load_audio(paths[sid], target_sr=grid.sample_rate_hz)
        f0, per = cache.get_or_compute(x, settings)
        vad = vad_from_params(x, grid, params["labels"]["vad"])
        out[sid] = dict(vad=vad, f0_hz=np.asarray(f0, np.float32), periodicity=np.asarray(per, np.float32))
    return out


def ref_mixture_labels(row, src, dataset_dir, params):
    grid = FrameGrid.from_params(params["frames"])
    lp = params["labels"]
    hop, n = grid.hop_length, int(row["n_samples"])
    nf = grid.n_frames(n)
    vad = np.zeros(nf, np.uint8)
    f0 = np.zeros(nf, np.float32)
    per = np.zeros(nf, np.float32)
    for sid, s0, d0, ln in zip(row["speech_ids"], row["speech_src_start_samples"],
                               row["speech_dst_start_samples"], row["speech_n_samples"]):
        for out, key in ((vad, "vad"), (f0, "f0_hz"), (per, "periodicity")):
            place_frames(out, src[sid][key], int(s0), int(d0), int(ln), hop)
    f0 = np.where(vad > 0, f0, 0.0).astype(np.float32)
    per = np.where(vad > 0, per, 0.0).astype(np.float32)
    voiced = ((vad > 0) & (per >= float(lp["f0"]["periodicity_threshold"]))).astype(np.uint8)
    speech, _ = sf.read(dataset_dir / row["speech_path"], dtype="float64")
    noise, _ = sf.read(dataset_dir / row["noise_path"], dtype="float64")
    e_n = ref_frame_energy_db(noise, grid)
    e_s = ref_frame_energy_db(speech, grid)
    noise_active = ((e_n > e_n.max() - float(lp["noise_active_threshold_db"])) &
                    (e_n > L.NOISE_ABS_FLOOR_DBFS)).astype(np.uint8)
    frame_snr = np.clip(e_s - e_n, float(lp["frame_snr_floor_db"]), float(lp["frame_snr_ceil_db"])).astype(np.float32)
    return dict(n_frames=nf, vad=vad, f0_hz=f0, periodicity=per, voiced=voiced, noise_active=noise_active,
                frame_snr_db=frame_snr)


# ------------------------------------------------------------------ tests
def test_fast_frame_energy_is_bit_identical():
    grid = FrameGrid()
    rng = np.random.default_rng(7)
    lengths = [0, 1, 255, 256, 257, 511, 512, 513, 4000 + 37, 64000, 160000 + 255]
    for n in lengths:
        for x in (rng.standard_normal(n) * 0.3, (rng.standard_normal(n) * 1e-4).astype(np.float32),
                  np.round(rng.uniform(-1, 1, n) * 32767) / 32767, np.zeros(n)):
            a = L.fast_frame_energy_db(x, grid)
            assert a.tobytes() == ref_frame_energy_db(x, grid).tobytes(), n
            assert a.tobytes() == frame_energy_db(x, grid).tobytes(), n   # the rule the VAD module states
    other = FrameGrid(16000, 160, 400)                                    # n_fft != 2 hop: the reference path
    x = rng.standard_normal(5000)
    assert L.fast_frame_energy_db(x, other).tobytes() == ref_frame_energy_db(x, other).tobytes()


def _digest(d: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted((d / "metadata").glob("*.parquet")) + [d / "classes.json", d / "dataset_info.json"]}


def test_labels_bytes_equal_the_previous_implementation(tiny_params, tmp_path, monkeypatch):
    monkeypatch.setenv("SEBENCH_CACHE_DIR", str(tmp_path / "cache"))   # fresh CREPE tracks stay in the test
    p = tiny_params
    m = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    plan = make_plan(m, p)
    Path(p["paths"]["plan_dir"]).mkdir(parents=True, exist_ok=True)
    plan.to_parquet(Path(p["paths"]["plan_dir"]) / "plan.parquet", index=False)
    assert plan["reverb"].any() and not plan["reverb"].all()          # speech stems of both kinds
    render(p, workers=1)
    ds = Path(p["paths"]["dataset_dir"])
    monkeypatch.setattr(L, "SOURCE_CHUNK_S", 2.0)                        # several source chunks
    new_split = L.build_metadata(p, f0_workers=1, progress=False)
    new = _digest(ds)
    monkeypatch.setattr(L, "source_labels", ref_source_labels)
    monkeypatch.setattr(L, "mixture_labels", ref_mixture_labels)
    ref_split = L.build_metadata(p, progress=False)
    assert set(new_split) == {"train", "valid", "test"}
    assert _digest(ds) == new
    for split in new_split:
        pd.testing.assert_frame_equal(new_split[split], ref_split[split])


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_stem_reader_equals_soundfile_float64(tmp_path, subtype):
    x = np.random.default_rng(1).uniform(-0.99, 0.99, 3001)
    p = tmp_path / f"x_{subtype}.wav"
    sf.write(p, x, 16000, subtype=subtype)
    assert L._read_stem_float64(p).tobytes() == sf.read(p, dtype="float64")[0].tobytes()
