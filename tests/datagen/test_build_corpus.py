"""The shipped embedded corpus matches its index, and the builder reproduces it from the Debian packages."""
from __future__ import annotations

import hashlib
import io
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from datagen import build_corpus as bc

ROOT = bc.EMBEDDED_DIR


@pytest.fixture(scope="module")
def rows():
    return bc.read_embedded_csv(ROOT)


def test_files_match_index(rows):
    assert len({r["source_id"] for r in rows}) == len(rows)
    for r in rows:
        path = ROOT / r["path"]
        assert path.is_file(), f"{path} listed in embedded.csv but missing"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"], f"{path}: sha256 differs from embedded.csv"
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "FLAC", "PCM_16"), path
        assert info.frames / 16000 == pytest.approx(float(r["duration_s"]), abs=1e-5), path
        assert r["kind"] in ("speech", "noise")
        assert r["licence"].strip() and r["author"].strip() and r["origin"].strip(), r["source_id"]
        assert int(r["orig_sample_rate_hz"]) >= 8000 and int(r["orig_channels"]) >= 1
        if r["kind"] == "speech":
            assert r["speaker"] and r["split_group"] == r["speaker"] and not r["noise_class"]
        else:
            assert r["noise_class"] and r["split_group"] and not r["speaker"]
    on_disk = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/*.flac")}
    assert on_disk == {r["path"] for r in rows}, "FLAC files not in embedded.csv (or vice versa)"


def test_speech_budget(rows):
    per_spk = defaultdict(float)
    for r in rows:
        if r["kind"] == "speech" and r["speaker"] in bc.SPEAKER_GENDER:
            per_spk[r["speaker"]] += float(r["duration_s"])
            assert 1.5 <= float(r["duration_s"]) <= bc.MAX_PROMPT_S
    assert set(per_spk) == {"allison", "june", "carlo", "ivrvoice_ru"}
    assert sum(per_spk.values()) >= 6 * 60
    assert max(per_spk.values()) / min(per_spk.values()) < 1.3, f"unbalanced speakers {dict(per_spk)}"


def test_many_voices(rows):
    """251 LibriSpeech readers, gender-balanced, every speech row with a gender; no long pauses left."""
    ls = [r for r in rows if r["kind"] == "speech" and r["speaker"].startswith("ls")]
    genders = {r["speaker"]: r["gender"] for r in ls}
    assert len(genders) == 251
    assert sorted(genders.values()).count("F") == 125 and sorted(genders.values()).count("M") == 126
    unknown = {r["speaker"] for r in rows if r["kind"] == "speech" and r["gender"] not in ("F", "M")}
    assert all(s.startswith(("klettres_", "ktuberling_")) for s in unknown), unknown   # no gender given
    assert all(r["gender"] == "" for r in rows if r["speaker"] in unknown)
    assert all(r["licence"] == "CC-BY-4.0" and "LibriSpeech" in r["origin"] for r in ls)
    assert sum(float(r["duration_s"]) for r in ls) > 45 * 60


def test_split_at_pauses():
    """A 3 s pause (room-tone floor) inside an utterance is cut; short pauses are kept."""
    sr = 16000
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    burst = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    floor = lambda n: (1e-3 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731
    x = np.concatenate([floor(3200), burst, floor(8000), burst, floor(3 * sr), burst, floor(3200)])
    vad = {"method": "floor_relative"}
    segs = bc.split_at_pauses(x, vad)
    assert len(segs) == 2
    (a0, b0), (a1, b1) = segs
    assert a0 == 0 and b1 == len(x)
    pause_start, pause_end = 3200 + 2 * sr + 8000, 3200 + 2 * sr + 8000 + 3 * sr
    assert pause_start <= b0 <= pause_start + int(0.5 * sr) and pause_end - int(0.5 * sr) <= a1 <= pause_end
    assert bc.split_at_pauses(x[: pause_start], vad) == [(0, pause_start)]
    assert bc.split_at_pauses(x, None) == [(0, len(x))]


def test_noise_classes(rows):
    groups = defaultdict(set)
    for r in rows:
        if r["kind"] == "noise":
            groups[r["noise_class"]].add(r["split_group"])
    assert len(groups) >= 5, sorted(groups)
    for cls, g in groups.items():
        assert len(g) >= 3, f"noise class {cls} has only {len(g)} source groups"
    assert set(groups) <= set(bc.NOISE_CLASSES)


def test_size_and_docs():
    assert bc.dir_size_mb(ROOT) <= bc.MAX_TOTAL_MB
    att = (ROOT / "ATTRIBUTION.md").read_text()
    for r in bc.read_embedded_csv(ROOT):
        assert f"| {r['path']} |" in att, f"{r['path']} missing from ATTRIBUTION.md"
    lic = (ROOT / "LICENSE").read_text()
    names = {"CC-BY-SA-3.0", "CC-BY-3.0", "CC-BY-4.0", "CC0-1.0", "GPL-2.0-or-later", "GPL-2.0-only"}
    for name in names:
        assert name in lic
    assert {r["licence"] for r in bc.read_embedded_csv(ROOT)} <= names


def test_audio_is_real_and_trimmed(rows):
    for r in rows[::7]:
        x, _ = sf.read(ROOT / r["path"], dtype="float32")
        assert np.all(np.isfinite(x)) and np.abs(x).max() > 0.01, f"{r['path']} is (near) silent"
        if r["kind"] == "speech":
            # trimmed: at most EDGE_MARGIN_S of digital silence at either end
            loud = np.flatnonzero(np.abs(x) >= bc.SILENCE_THRESHOLD * 0.999)
            m = int(bc.EDGE_MARGIN_S * 16000)
            assert loud[0] <= m and len(x) - 1 - loud[-1] <= m, r["path"]

def test_trim_silence():
    x = np.zeros(16000, np.float32)
    x[5000:6000] = 0.5
    y = bc.trim_silence(x)
    m = int(bc.EDGE_MARGIN_S * 16000)
    assert len(y) == 1000 + 2 * m and np.abs(y).max() == 0.5
    assert len(bc.trim_silence(np.zeros(100, np.float32))) == 0


def test_flac_bytes_peak_limited_and_exact():
    x = np.array([0.0, 0.5, -0.5, 1.2, -1.3], np.float32)
    y, sr = sf.read(io.BytesIO(bc.flac_bytes(x)), dtype="int16")
    assert sr == 16000 and y.min() >= -32768 and y.max() <= 32767
    assert y[4] == -32767 or y[4] == -32768  # the loudest sample reaches full scale, no wrap-around
    z = np.round(np.linspace(-0.9, 0.9, 333) * 32768) / 32768
    y2, _ = sf.read(io.BytesIO(bc.flac_bytes(z.astype(np.float32))), dtype="float32")
    np.testing.assert_array_equal(y2, z.astype(np.float32))  # lossless at 16 bit


def test_opensfx_meta_parsing():
    t, credit, lic, group = bc.opensfx_meta('"Cow". Original "Cow - Moan 2.wav" by "Jarred Gib". Edited by "Wuzzy". '
                                            'License: Creative Commons Zero 1.0.')
    assert (t, lic, group) == ("Cow", "CC0-1.0", "opensfx:cow_moan_2_wav") and "Jarred Gib" in credit
    _, _, lic, group = bc.opensfx_meta('"Wind". By Janis Lukss. License: Creative Commons Attribution 3.0 Unported.')
    assert lic == "CC-BY-3.0" and group == ""
    with pytest.raises(bc.CorpusBuildError, match="licence not recognised"):
        bc.opensfx_meta('"X". By Y. License: All rights reserved.')


def test_parse_opensfx_rejects_truncated(tmp_path):
    p = tmp_path / "bad.cat"
    p.write_bytes((16).to_bytes(4, "little") + (10**6).to_bytes(4, "little") + b"\0" * 8)
    with pytest.raises(bc.CorpusBuildError, match="bad.cat"):
        bc.parse_opensfx(p)


def test_game_and_kde_voices(rows):
    """Fish Fillets nl/cs fish voices (~75 s each, sentences) and the KDE voices (~25 s each, words): train-only
    speakers of the default (listed in params.yaml or without gender), none clipped."""
    from datagen.config import load_params
    per_spk = defaultdict(list)
    for r in rows:
        if r["kind"] == "speech" and r["speaker"].startswith(("fillets_", "klettres_", "ktuberling_", "kajongg_")):
            per_spk[r["speaker"]].append(r)
    assert {s for s in per_spk if s.startswith("fillets_")} == set(bc.FILLETS_VOICES)
    assert len([s for s in per_spk if s.startswith(("klettres_", "ktuberling_"))]) >= 20
    assert len([s for s in per_spk if s.startswith("kajongg_")]) == 4
    for spk, rs in per_spk.items():
        total = sum(float(r["duration_s"]) for r in rs)
        budget = bc.FILLETS_PER_SPEAKER_S if spk.startswith("fillets_") else bc.KDE_PER_SPEAKER_S
        assert total <= budget + bc.MAX_PROMPT_S, spk
        assert all(float(r["duration_s"]) >= (bc.MIN_PROMPT_S if spk.startswith("fillets_") else bc.MIN_WORD_S)
                   for r in rs), spk
        assert all(r["licence"].startswith("GPL-2.0") for r in rs), spk
    for r in per_spk["fillets_nl_m"][:3] + per_spk["klettres_en"][:3]:
        x, _ = sf.read(ROOT / r["path"], dtype="float32")
        assert np.mean(np.abs(x) >= 0.99) <= bc.MAX_CLIPPED_FRACTION, r["path"]
    listed = set(load_params()["corpus"]["speech_split"]["train"])
    gendered = {s for s, rs in per_spk.items() if rs[0]["gender"]}
    assert gendered <= listed, "game voices with a gender must be train-only (listed in corpus.speech_split.train)"


needs_pkgs = pytest.mark.skipif(not (bc.OPENSFX_CAT.is_file() and bc.MINETEST_MODS.is_dir()
                                     and bc.FREEDESKTOP_DIR.is_dir() and bc.MOH_DIR.is_dir()),
                                reason="Debian sound packages not installed")


@needs_pkgs
def test_one_clip_per_package_rebuilds_identically(rows):
    """Fast determinism check: one clip from each noise package and one speech prompt -> shipped bytes."""
    shipped = {r["source_id"]: r for r in rows}
    e = next(e for e in bc.parse_opensfx() if e["index"] == 37)
    title, credit, lic, group = bc.opensfx_meta(e["description"])
    x, sr, ch = bc.read_audio_bytes(e["wav"], "cow")
    clip = bc._noise_clip(x, sr, ch, "", "", "", "", "", "", "")
    row = shipped["emb-nz-opensfx_37_cow"]
    assert hashlib.sha256(bc.flac_bytes(clip.audio)).hexdigest() == row["sha256"]
    assert (lic, group, sr, ch) == (row["licence"], row["split_group"], int(row["orig_sample_rate_hz"]), 1)
    f = bc.FREEDESKTOP_DIR / "alarm-clock-elapsed.oga"
    x, sr, ch = bc.read_audio_bytes(f.read_bytes(), str(f))
    clip = bc._noise_clip(x, sr, ch, "", "", "", "", "", "", "")
    assert hashlib.sha256(bc.flac_bytes(clip.audio)).hexdigest() == \
        shipped["emb-nz-freedesktop_alarm_clock_elapsed"]["sha256"]
    sp = next(r for r in rows if r["kind"] == "speech")
    src = Path(sp["origin"].split(":", 1)[1])
    y = bc.trim_silence(bc.decode_g722(src))
    assert hashlib.sha256(bc.flac_bytes(y)).hexdigest() == sp["sha256"]


@needs_pkgs
@pytest.mark.slow
def test_noise_rebuild_is_byte_identical(tmp_path, rows):
    """Same packages -> same bytes: rebuilding the noise part reproduces every shipped noise FLAC."""
    built = bc.write_corpus(bc.select_noise(), tmp_path)
    shipped = {r["source_id"]: r for r in rows if r["kind"] == "noise"}
    assert {r["source_id"] for r in built} == set(shipped)
    for r in built:
        assert r["sha256"] == shipped[r["source_id"]]["sha256"], r["source_id"]


@needs_pkgs
@pytest.mark.slow
def test_full_rebuild_is_byte_identical(tmp_path, rows):
    ls_dir = os.environ.get("SEBENCH_LIBRISPEECH_DIR")   # one utterance per reader + SPEAKERS.TXT
    if not ls_dir:
        pytest.skip("set SEBENCH_LIBRISPEECH_DIR to the LibriSpeech folder the corpus was built from")
    from datagen.config import load_params
    vad = load_params()["labels"]["vad"]
    built = bc.write_corpus(bc.select_speech(100.0) + bc.select_librispeech(Path(ls_dir), 1, vad)
                            + bc.select_game_voices() + bc.select_noise(), tmp_path)
    assert [(r["source_id"], r["sha256"]) for r in built] == [(r["source_id"], r["sha256"]) for r in rows]
    assert (tmp_path / "embedded.csv").read_bytes() == (ROOT / "embedded.csv").read_bytes()
