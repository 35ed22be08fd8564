"""Tiny on-disk fixture trees in the layouts the corpus sources read (written by the tests themselves)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

SR = 16000


def tone(seed: int, duration_s: float = 0.5, sr: int = SR, channels: int = 1, f0_hz: float = 440.0,
         amp: float = 0.3) -> np.ndarray:
    """A sine plus a little noise, float32 (n,) or (n, channels); distinct per seed."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    t = np.arange(n) / sr
    x = amp * np.sin(2 * np.pi * (f0_hz + 10 * (seed % 17)) * t) + 0.02 * rng.standard_normal(n)
    x = x.astype(np.float32)
    if channels > 1:
        x = np.stack([x * (1.0 - 0.3 * c) for c in range(channels)], axis=1)
    return x


def write(path: Path, x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


EMBEDDED_SPEAKERS = {"spk_a": 3, "spk_b": 2, "ivrvoice_ru": 2, "june": 2}
EMBEDDED_NOISE = {"machinery": 5, "birds": 4, "water": 3}


def make_embedded(root: Path, bad: bool = True) -> Path:
    """``root/embedded.csv`` + ``root/speech/<spk>/*.flac`` + ``root/noise/<cls>/*.flac``.

    With ``bad``: one silent speech clip and one noise row with a wrong sha256 (both must be rejected).
    """
    rows, seed = [], 0
    for spk, n in EMBEDDED_SPEAKERS.items():
        for i in range(n):
            seed += 1
            rel = f"speech/{spk}/{spk}_{i}.flac"
            p = write(root / rel, tone(seed, 0.6))
            rows.append(dict(source_id=f"embedded/speech/{spk}/{i}", kind="speech", path=rel, duration_s=0.6,
                             orig_sample_rate_hz=16000, orig_channels=1, speaker=spk, noise_class="",
                             split_group=spk, licence="CC-BY 3.0", author="Test Voice", origin=f"test {spk} {i}",
                             sha256=sha(p)))
    for cls, n in EMBEDDED_NOISE.items():
        for i in range(n):
            seed += 1
            rel = f"noise/{cls}/{cls}_{i}.flac"
            p = write(root / rel, tone(seed, 0.8, f0_hz=200.0))
            rows.append(dict(source_id=f"embedded/noise/{cls}/{i}", kind="noise", path=rel, duration_s=0.8,
                             orig_sample_rate_hz=44100, orig_channels=2, speaker="", noise_class=cls,
                             split_group=f"rec:{cls}:{i}", licence="CC0", author="Test Author",
                             origin=f"test {cls} {i}", sha256=sha(p)))
    if bad:
        p = write(root / "speech/spk_a/silent.flac", np.zeros(8000, np.float32))
        rows.append(dict(source_id="embedded/speech/spk_a/silent", kind="speech", path="speech/spk_a/silent.flac",
                         duration_s=0.5, orig_sample_rate_hz=16000, orig_channels=1, speaker="spk_a",
                         noise_class="", split_group="spk_a", licence="CC0", author="x", origin="x", sha256=sha(p)))
        p = write(root / "noise/birds/tampered.flac", tone(999, 0.8))
        rows.append(dict(source_id="embedded/noise/birds/tampered", kind="noise", path="noise/birds/tampered.flac",
                         duration_s=0.8, orig_sample_rate_hz=16000, orig_channels=1, speaker="", noise_class="birds",
                         split_group="rec:birds:t", licence="CC0", author="x", origin="x", sha256="0" * 64))
    pd.DataFrame(rows).to_csv(root / "embedded.csv", index=False)
    return root


def make_dns(root: Path) -> Path:
    """DNS layout: readers, a folder speaker, noise ``<Class>_<id>.wav``, an IR folder to ignore, bad files."""
    d = root / "datasets"
    for r, reader in enumerate(["00012", "00345"]):
        for i in range(2):
            write(d / "clean" / f"book_0001{i}_chp_0002_reader_{reader}_{i}_seg_1.wav", tone(10 + 2 * r + i))
    write(d / "clean" / "emma" / "utt_01.wav", tone(20, sr=48000), sr=48000)
    write(d / "noise" / "AirConditioner_001.wav", tone(30))
    write(d / "noise" / "AirConditioner_002.wav", tone(31))
    write(d / "noise" / "sub" / "Typing_17.wav", tone(32))
    write(d / "noise" / "nounderscore.wav", tone(33))            # no class -> rejected
    write(d / "noise" / "Door_42.wav", np.zeros(8000, np.float32))  # silent -> rejected
    (d / "noise" / "readme.txt").write_text("not audio")          # ignored
    write(root / "impulse_responses" / "Room_1.wav", tone(34))   # ignored (not clean/noise)
    return root


ESC_CATEGORIES = {0: "dog", 1: "rooster", 10: "rain", 41: "chainsaw"}


def make_esc50(root: Path, sr: int = 44100) -> Path:
    """ESC-50 layout: 2 clips per (fold, target) for folds 1..5, 44.1 kHz, plus meta/esc50.csv."""
    rows, seed = [], 100
    for fold in range(1, 6):
        for target, cat in ESC_CATEGORIES.items():
            for take in "AB":
                seed += 1
                src = f"{1000 + seed}"
                fn = f"{fold}-{src}-{take}-{target}.wav"
                write(root / "audio" / fn, tone(seed, 0.5, sr=sr), sr=sr)
                rows.append(dict(filename=fn, fold=fold, target=target, category=cat,
                                 esc10=str(target in (0, 1, 10, 41)), src_file=src, take=take))
    (root / "meta").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    return root


def make_folder(root: Path, kind: str = "noise") -> Path:
    labels = ["hum", "fan"] if kind == "noise" else ["alice", "bob"]
    for j, lab in enumerate(labels):
        for i in range(3):
            write(root / lab / f"{lab}_{i}.wav", tone(200 + 10 * j + i))
    write(root / labels[0] / "stereo.flac", tone(250, channels=2))
    write(root / labels[1] / "deep" / "nested.ogg", tone(251), subtype="VORBIS")
    write(root / "loose.wav", tone(252))                        # not inside a label folder -> rejected
    (root / labels[1] / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))  # unsupported -> rejected
    return root


def wav_bytes(x: np.ndarray, sr: int = SR, fmt: str = "WAV") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype="PCM_16")
    return buf.getvalue()
