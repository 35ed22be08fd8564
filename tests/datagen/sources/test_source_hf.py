"""Hugging Face datasets on disk (save_to_disk and Parquet), audio as bytes, decoded with soundfile."""
import datasets
import numpy as np
import pytest
import soundfile as sf

from datagen.sources import CorpusError, SourceContext, run_source
from tests.datagen.sources.trees import tone, wav_bytes


def _clips():
    xs = [tone(300 + i, 0.4, sr=22050 if i == 1 else 16000) for i in range(4)]
    blobs = [wav_bytes(x, 22050 if i == 1 else 16000) for i, x in enumerate(xs)]
    blobs.append(b"not audio at all, just bytes")
    return xs, blobs


def _dataset(blobs, labels):
    ds = datasets.Dataset.from_dict({"audio": [{"bytes": b, "path": None} for b in blobs], "label": labels,
                                     "spk": [f"s{i % 2}" for i in range(len(blobs))]})
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    return ds.cast_column("label", datasets.ClassLabel(names=["hum", "fan"]))


def test_save_to_disk_dict(tmp_path):
    xs, blobs = _clips()
    dd = datasets.DatasetDict({"train": _dataset(blobs, [0, 1, 1, 0, 0]), "test": _dataset(blobs[:2], [1, 0])})
    dd.save_to_disk(str(tmp_path / "ds"))
    ctx = SourceContext(corpus_dir=tmp_path / "corpus", base_dir=tmp_path, progress=False)
    res = run_source({"type": "hf", "name": "hfn", "path": str(tmp_path / "ds"), "label_column": "label"}, ctx)
    assert [r["source_id"] for r in res.rows] == [f"hfn/test/{i:06d}" for i in range(2)] + \
        [f"hfn/train/{i:06d}" for i in range(4)]
    assert res.rejects[0][0] == "hf:hfn/train/000004" and "unsupported or unrecognised" in res.rejects[0][1]
    r1 = next(r for r in res.rows if r["source_id"] == "hfn/train/000001")
    assert r1["noise_class"] == "fan" and r1["orig_sample_rate_hz"] == 22050 and r1["path"] == "corpus/hf/hfn/train/000001.flac"
    y, sr = sf.read(tmp_path / r1["path"], dtype="float32")
    assert sr == 22050 and np.max(np.abs(y - xs[1])) < 2 / 32768 + 1e-6   # 16-bit re-encoding only
    import hashlib
    assert r1["sha256"] == hashlib.sha256(blobs[1]).hexdigest()


def test_parquet_speech(tmp_path):
    _, blobs = _clips()
    _dataset(blobs[:4], [0, 1, 0, 1]).to_parquet(str(tmp_path / "d.parquet"))
    ctx = SourceContext(corpus_dir=tmp_path / "c", base_dir=tmp_path, progress=False)
    res = run_source({"type": "hf", "path": str(tmp_path / "d.parquet"), "kind": "speech",
                      "speaker_column": "spk", "label_column": "label"}, ctx)
    assert [r["speaker"] for r in res.rows] == ["s0", "s1", "s0", "s1"]
    assert all(r["split_group"] == r["speaker"] and r["kind"] == "speech" for r in res.rows)


def test_missing_columns(tmp_path):
    _, blobs = _clips()
    _dataset(blobs[:2], [0, 1]).to_parquet(str(tmp_path / "d.parquet"))
    with pytest.raises(CorpusError, match=r"d\.parquet: missing columns \['category'\]"):
        run_source({"type": "hf", "path": str(tmp_path / "d.parquet"), "label_column": "category"},
                   SourceContext(corpus_dir=tmp_path / "c", progress=False))
