"""Folder-per-label source for noise and speech."""
import pytest

from datagen.sources import CorpusError, SourceContext, run_source
from tests.datagen.sources.trees import make_folder, write


def _run(root, **cfg):
    return run_source({"type": "folder", "root": str(root), **cfg}, SourceContext(base_dir=root, progress=False))


def test_noise_folders(tmp_path):
    res = _run(make_folder(tmp_path / "f"), name="mynoise")
    assert len(res.rows) == 8
    assert {r["noise_class"] for r in res.rows} == {"hum", "fan"} and all(r["kind"] == "noise" for r in res.rows)
    assert all(r["source_id"].startswith("mynoise/") and r["split_group"] == r["source_id"] for r in res.rows)
    st = next(r for r in res.rows if r["path"] == "hum/stereo.flac")
    assert st["orig_channels"] == 2
    assert next(r for r in res.rows if r["path"] == "fan/deep/nested.ogg")["noise_class"] == "fan"
    reasons = dict(res.rejects)
    assert "not inside a class folder" in reasons["loose.wav"]
    assert "unsupported format '.mp4'" in reasons["fan/clip.mp4"]


def test_speech_folders(tmp_path):
    res = _run(make_folder(tmp_path / "s", kind="speech"), kind="speech")
    assert {r["speaker"] for r in res.rows} == {"alice", "bob"}
    assert all(r["split_group"] == r["speaker"] and r["noise_class"] == "" for r in res.rows)


def test_bad_kind_and_empty(tmp_path):
    with pytest.raises(CorpusError, match="kind must be one of"):
        _run(make_folder(tmp_path / "f"), kind="music")
    (tmp_path / "e" / "cls").mkdir(parents=True)
    (tmp_path / "e" / "cls" / "notes.wav").write_text("hello")
    with pytest.raises(CorpusError, match=r"at .*/e: no usable audio files \(1 rejected"):
        _run(tmp_path / "e")
