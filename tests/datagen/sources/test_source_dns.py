"""DNS Challenge layout source."""
import pandas as pd
import pytest

from datagen.sources import CorpusError, SourceContext, run_source
from tests.datagen.sources.trees import make_dns


def _run(root, **cfg):
    return run_source({"type": "dns", "root": str(root), **cfg}, SourceContext(base_dir=root, progress=False))


def test_speakers_classes_and_ignored(tmp_path):
    res = _run(make_dns(tmp_path / "dns"))
    by_id = {r["source_id"].split("/", 1)[1]: r for r in res.rows}
    speech = {k: r for k, r in by_id.items() if r["kind"] == "speech"}
    assert sorted({r["speaker"] for r in speech.values()}) == ["emma", "reader_00012", "reader_00345"]
    assert speech["datasets/clean/emma/utt_01.wav"]["orig_sample_rate_hz"] == 48000
    noise = {k: r["noise_class"] for k, r in by_id.items() if r["kind"] == "noise"}
    assert noise == {"datasets/noise/AirConditioner_001.wav": "AirConditioner",
                     "datasets/noise/AirConditioner_002.wav": "AirConditioner",
                     "datasets/noise/sub/Typing_17.wav": "Typing"}
    assert all(r["split_group"] == r["source_id"] for r in res.rows if r["kind"] == "noise")
    assert not any("impulse_responses" in r["path"] or "readme" in r["path"] for r in res.rows)
    reasons = dict(res.rejects)
    assert "noise class not found" in reasons["datasets/noise/nounderscore.wav"]
    assert "silent" in reasons["datasets/noise/Door_42.wav"]


def test_class_csv_overrides_name(tmp_path):
    root = make_dns(tmp_path / "dns")
    pd.DataFrame({"filename": ["nounderscore.wav", "sub/Typing_17.wav"], "class": ["Fan", "Keyboard"]}).to_csv(
        tmp_path / "classes.csv", index=False)
    res = _run(root, class_csv=str(tmp_path / "classes.csv"))
    cls = {r["path"]: r["noise_class"] for r in res.rows if r["kind"] == "noise"}
    assert cls["datasets/noise/nounderscore.wav"] == "Fan" and cls["datasets/noise/sub/Typing_17.wav"] == "Keyboard"


def test_class_csv_missing_columns(tmp_path):
    root = make_dns(tmp_path / "dns")
    pd.DataFrame({"file": ["a.wav"], "label": ["x"]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(CorpusError, match=r"c\.csv: missing columns \['filename', 'class'\]"):
        _run(root, class_csv=str(tmp_path / "c.csv"))


def test_missing_root_named(tmp_path):
    with pytest.raises(CorpusError, match="nowhere"):
        _run(tmp_path / "nowhere")
