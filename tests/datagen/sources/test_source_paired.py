"""Paired corpora as a source: VoiceBank+DEMAND layout (log files) and generic paired folders."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr

from datagen.sources import CorpusError, SourceContext, run_source
from datagen.sources.paired import VBD_NOISE_TYPES, parse_log

SR48 = 48000
#: (set folder suffix, speakers, noise types cycled, SNRs cycled) of the miniature VBD tree
MINI_SETS = {
    "trainset_28spk": (("p226", "p227", "p228"), ("kitchen", "ssn", "metro"), (0.0, 5.0, 10.0, 15.0)),
    "testset": (("p232", "p257"), ("bus", "cafe", "living"), (2.5, 7.5, 12.5, 17.5)),
}


def harmonic(seed: int, sr: int = SR48, lead_s: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """A gliding harmonic tone (speech-like F0 100-220 Hz) after ``lead_s`` of silence; (x, active mask)."""
    rng = np.random.default_rng(seed)
    n = int(rng.uniform(0.9, 1.3) * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(100, 220) * (1 + 0.08 * np.sin(2 * np.pi * 1.5 * t))
    ph = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * ph) / k for k in range(1, 8))
    active = t >= lead_s
    x = np.where(active, x, 0.0) * np.hanning(n) ** 0.25
    return 0.25 * x / np.abs(x).max(), active


def make_vbd(root: Path, utts_per_speaker: int = 2, logs_in: str = "logfiles") -> dict[str, tuple[str, float]]:
    """A miniature VoiceBank+DEMAND tree at 48 kHz (clean = harmonic tones, noisy = clean + noise at the
    logged SNR over the tone's active samples); returns {utterance: (noise type, snr dB)}."""
    log_all, seed = {}, 0
    for set_name, (speakers, types, snrs) in MINI_SETS.items():
        lines = []
        for spk in speakers:
            for i in range(1, utts_per_speaker + 1):
                utt = f"{spk}_{i:03d}"
                seed += 1
                clean, active = harmonic(seed)
                ntype, snr = types[seed % len(types)], snrs[seed % len(snrs)]
                rng = np.random.default_rng(1000 + seed)
                # noise band-limited to 8 kHz (made at 16 kHz, upsampled), so the logged SNR also holds at 16 kHz
                w = soxr.resample(rng.standard_normal(len(clean) // 3 + 64), 16000, SR48, quality="HQ")[: len(clean)]
                if ntype in ("metro", "bus"):  # low-passed ("rumble") vs white
                    w = np.convolve(w, np.ones(24) / 24, "same")
                g = math.sqrt(np.mean(clean[active] ** 2) / (np.mean(w ** 2) * 10 ** (snr / 10)))
                for kind, x in (("clean", clean), ("noisy", clean + g * w)):
                    p = root / f"{kind}_{set_name}_wav" / f"{utt}.wav"
                    p.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(p, x.astype(np.float32), SR48, subtype="PCM_16")
                lines.append(f"{utt} {ntype} {snr:g}")
                log_all[utt] = (ntype, snr)
        log = root / logs_in / f"log_{set_name}.txt" if logs_in else root / f"log_{set_name}.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("\n".join(lines) + "\n")
    return log_all


def _ctx(root: Path) -> SourceContext:
    return SourceContext(base_dir=root, progress=False)


def test_vbd_pairs_rows(tmp_path):
    root = tmp_path / "vbd"
    log = make_vbd(root)
    res = run_source({"type": "vbd", "root": str(root)}, _ctx(root))   # paired: auto (log files present)
    assert not res.rejects and len(res.rows) == len(log) == 10
    for r in res.rows:
        utt = Path(r["path"]).stem
        assert r["kind"] == "speech" and r["speaker"] == utt.split("_")[0] == r["split_group"]
        assert r["split"] == ("test" if r["speaker"] in ("p232", "p257") else None)
        assert r["orig_sample_rate_hz"] == SR48
        assert r["paired_noisy_path"] == r["path"].replace("clean_", "noisy_")
        assert (r["paired_noise_class"], r["paired_snr_db"]) == log[utt]
        assert len(r["paired_noisy_sha256"]) == 64 and r["paired_noisy_sha256"] != r["sha256"]
    # paired: false keeps the clean-speech-only behaviour (no paired columns)
    res = run_source({"type": "vbd", "root": str(root), "paired": False}, _ctx(root))
    assert len(res.rows) == 10 and all("paired_noisy_path" not in r for r in res.rows)


def test_vbd_logs_in_root_are_found(tmp_path):
    root = tmp_path / "vbd"
    make_vbd(root, utts_per_speaker=1, logs_in="")
    res = run_source({"type": "vbd", "root": str(root), "paired": True}, _ctx(root))
    assert len(res.rows) == 5


def test_vbd_missing_log_entry(tmp_path):
    root = tmp_path / "vbd"
    make_vbd(root, utts_per_speaker=1)
    log = root / "logfiles" / "log_testset.txt"
    log.write_text("\n".join(ln for ln in log.read_text().splitlines() if not ln.startswith("p257")) + "\n")
    with pytest.raises(CorpusError, match=r"log_testset\.txt: no entry for utterance 'p257_001'"):
        run_source({"type": "vbd", "root": str(root)}, _ctx(root))


def test_vbd_missing_log_file(tmp_path):
    root = tmp_path / "vbd"
    make_vbd(root, utts_per_speaker=1)
    (root / "logfiles" / "log_trainset_28spk.txt").unlink()
    with pytest.raises(CorpusError, match=r"log_trainset_28spk\.txt .*not found"):
        run_source({"type": "vbd", "root": str(root)}, _ctx(root))


@pytest.mark.parametrize("line, match", [
    ("p232_001 jackhammer 2.5", r"log_testset\.txt:1: .*unknown noise type 'jackhammer'"),
    ("p232_001 bus", r"log_testset\.txt:1: .*3 fields"),
    ("p232_001 bus loud", r"log_testset\.txt:1: .*SNR 'loud' is not a number"),
    ("p232_001 bus nan", r"log_testset\.txt:1: .*not finite"),
])
def test_vbd_bad_log_lines(tmp_path, line, match):
    root = tmp_path / "vbd"
    make_vbd(root, utts_per_speaker=1)
    log = root / "logfiles" / "log_testset.txt"
    log.write_text(line + "\n" + "\n".join(log.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(CorpusError, match=match):
        run_source({"type": "vbd", "root": str(root)}, _ctx(root))


def test_parse_log_any_types_and_duplicates(tmp_path):
    p = tmp_path / "log.txt"
    p.write_text("a_001 jackhammer 3\n\nb_002 bus -2.5\n")
    assert parse_log(p, None) == {"a_001": ("jackhammer", 3.0), "b_002": ("bus", -2.5)}
    with pytest.raises(CorpusError, match="unknown noise type"):
        parse_log(p, VBD_NOISE_TYPES)
    p.write_text("a_001 bus 3\na_001 bus 4\n")
    with pytest.raises(CorpusError, match=r"log\.txt:2: .*listed twice"):
        parse_log(p, VBD_NOISE_TYPES)


def test_vbd_unpaired_and_misaligned_lengths(tmp_path):
    root = tmp_path / "vbd"
    make_vbd(root, utts_per_speaker=1)
    noisy = root / "noisy_testset_wav" / "p232_001.wav"
    x, sr = sf.read(noisy)
    sf.write(noisy, x[: len(x) - sr // 20], sr, subtype="PCM_16")       # 50 ms shorter
    with pytest.raises(CorpusError, match=r"misaligned pair: noisy .*p232_001\.wav lasts .* but clean .*p232_001\.wav"):
        run_source({"type": "vbd", "root": str(root)}, _ctx(root))
    noisy.unlink()
    with pytest.raises(CorpusError, match=r"clean .*clean_testset_wav/p232_001\.wav has no noisy counterpart"):
        run_source({"type": "vbd", "root": str(root)}, _ctx(root))


def test_vbd_bad_audio_is_rejected(tmp_path):
    root = tmp_path / "vbd"
    make_vbd(root, utts_per_speaker=1)
    (root / "noisy_testset_wav" / "p257_001.wav").write_bytes(b"RIFF0000WAVEjunk")
    res = run_source({"type": "vbd", "root": str(root)}, _ctx(root))
    assert len(res.rows) == 4 and res.rejects[0][0] == "noisy_testset_wav/p257_001.wav"
    assert "corrupt" in res.rejects[0][1]


def _paired_folder(root: Path, names: list[str], meta: pd.DataFrame | None = None) -> None:
    for i, name in enumerate(names):
        clean, _ = harmonic(100 + i, sr=16000)
        noise = 0.05 * np.random.default_rng(i).standard_normal(len(clean))
        for kind, x in (("clean", clean), ("noisy", clean + noise)):
            p = root / kind / name
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, x.astype(np.float32), 16000, subtype="PCM_16")
    if meta is not None:
        meta.to_csv(root / "meta.csv", index=False)


def test_generic_paired_folder_with_metadata(tmp_path):
    root = tmp_path / "pf"
    names = ["alice_1.wav", "alice_2.wav", "bob_1.wav", "sub/carol_1.wav"]
    meta = pd.DataFrame({"file": ["alice_1.wav", "bob_1.wav", "sub/carol_1.wav"], "noise_class": ["fan", "street", ""],
                         "snr_db": ["5", "", "-3.5"], "speaker": ["", "", "carla"], "split": ["", "test", "test"]})
    _paired_folder(root, names, meta)
    cfg = {"type": "paired", "name": "mine", "root": str(root), "metadata_csv": "meta.csv", "noise_class": "room"}
    res = run_source(cfg, _ctx(root))
    got = {r["source_id"]: (r["speaker"], r["split"], r["paired_noise_class"], r["paired_snr_db"], r["paired_noisy_path"])
           for r in res.rows}
    assert set(got) == {f"mine/clean/{n}" for n in names}
    assert got["mine/clean/alice_1.wav"][:4] == ("alice", None, "fan", 5.0)
    assert got["mine/clean/alice_2.wav"][:3] == ("alice", None, "room") and math.isnan(got["mine/clean/alice_2.wav"][3])
    assert got["mine/clean/bob_1.wav"][:3] == ("bob", "test", "street")
    assert got["mine/clean/sub/carol_1.wav"][:4] == ("carla", "test", "room", -3.5)
    assert got["mine/clean/sub/carol_1.wav"][4] == "noisy/sub/carol_1.wav"


def test_generic_paired_folder_errors(tmp_path):
    root = tmp_path / "pf"
    _paired_folder(root, ["a_1.wav", "a_2.wav"])
    (root / "clean" / "a_2.wav").unlink()
    with pytest.raises(CorpusError, match=r"noisy .*a_2\.wav has no clean counterpart"):
        run_source({"type": "paired", "root": str(root)}, _ctx(root))
    (root / "noisy" / "a_2.wav").unlink()
    pd.DataFrame({"file": ["a_1.wav"], "snr": ["3"]}).to_csv(root / "m.csv", index=False)
    with pytest.raises(CorpusError, match=r"m\.csv: unknown metadata columns \['snr'\]"):
        run_source({"type": "paired", "root": str(root), "metadata_csv": "m.csv"}, _ctx(root))
    pd.DataFrame({"file": ["a_1.wav"], "snr_db": ["x"]}).to_csv(root / "m.csv", index=False)
    with pytest.raises(CorpusError, match=r"m\.csv:2: snr_db 'x' is not a number"):
        run_source({"type": "paired", "root": str(root), "metadata_csv": "m.csv"}, _ctx(root))
    with pytest.raises(CorpusError, match="unknown noise class 'unknown'"):
        run_source({"type": "paired", "root": str(root), "noise_types": ["fan"]}, _ctx(root))
