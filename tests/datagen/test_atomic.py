"""datagen.atomic: every writer replaces the target in one step and leaves no temporary behind."""
import json
import os
import stat

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from datagen import atomic


def _no_temps(folder):
    return [p.name for p in folder.iterdir() if ".tmp" in p.name] == []


def test_writers_roundtrip(tmp_path):
    d = tmp_path / "sub"
    atomic.write_text(d / "a.txt", "x\n")
    atomic.write_bytes(d / "b.bin", b"\x00\x01")
    atomic.write_json(d / "c.json", {"b": 1, "a": [1.5]}, sort_keys=True)
    atomic.save_npz(d / "d.npz", x=np.arange(3), y=np.ones((2, 2), np.float32))
    atomic.write_parquet(d / "e.parquet", pd.DataFrame({"a": [1, 2]}), index=False)
    atomic.write_sound(d / "f.wav", np.zeros(160, np.int16), 16000, subtype="PCM_16")
    assert (d / "a.txt").read_bytes() == b"x\n" and (d / "b.bin").read_bytes() == b"\x00\x01"
    assert (d / "c.json").read_text() == json.dumps({"a": [1.5], "b": 1}, indent=2) + "\n"
    with np.load(d / "d.npz") as z:
        assert z["x"].tolist() == [0, 1, 2] and z["y"].dtype == np.float32
    assert pd.read_parquet(d / "e.parquet")["a"].tolist() == [1, 2]
    x, sr = sf.read(d / "f.wav", dtype="int16")
    assert sr == 16000 and len(x) == 160 and sf.info(d / "f.wav").subtype == "PCM_16"
    assert sorted(p.name for p in d.iterdir()) == ["a.txt", "b.bin", "c.json", "d.npz", "e.parquet", "f.wav"]
    assert stat.S_IMODE(os.stat(d / "a.txt").st_mode) == atomic.FILE_MODE


def test_failed_write_keeps_old_content_and_removes_temp(tmp_path):
    target = tmp_path / "t.json"
    atomic.write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        atomic.write_json(target, {"v": object()})          # not JSON-serialisable: fails before any write
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"v": 1} and _no_temps(tmp_path)


def test_temporaries_are_unique_per_call(tmp_path):
    target = tmp_path / "x.wav"
    with atomic.atomic_path(target) as t1, atomic.atomic_path(target) as t2:
        assert t1 != t2 and t1.parent == t2.parent == tmp_path and t1.name.endswith(".wav")
        t1.write_bytes(b"1")
        t2.write_bytes(b"2")
    assert target.read_bytes() == b"1" and _no_temps(tmp_path)   # last replace wins (t1 exits last)
