"""Embedded source on a generated tree with the layout of datagen/embedded/."""
import pandas as pd
import pytest

from datagen.sources import MANIFEST_COLUMNS, CorpusError, SourceContext, run_source
from tests.datagen.sources.trees import EMBEDDED_NOISE, EMBEDDED_SPEAKERS, make_embedded


def test_rows_and_rejects(tmp_path):
    root = make_embedded(tmp_path / "emb")
    res = run_source({"type": "embedded", "root": str(root)}, SourceContext(base_dir=tmp_path, progress=False))
    n_good = sum(EMBEDDED_SPEAKERS.values()) + sum(EMBEDDED_NOISE.values())
    assert len(res.rows) == n_good
    reasons = dict(res.rejects)
    assert "silent" in reasons["emb/speech/spk_a/silent.flac"]
    assert "sha256 mismatch" in reasons["emb/noise/birds/tampered.flac"]
    for r in res.rows:
        assert set(r) == set(MANIFEST_COLUMNS) and r["split"] is None
        assert (tmp_path / r["path"]).is_file() and r["path"].startswith("emb/")
        if r["kind"] == "speech":
            assert r["speaker"] == r["split_group"] and r["noise_class"] == ""
            assert r["duration_s"] == pytest.approx(0.6)
        else:
            assert r["noise_class"] in EMBEDDED_NOISE and r["speaker"] == ""
            # the index describes the original recording, not the converted file
            assert (r["orig_sample_rate_hz"], r["orig_channels"]) == (44100, 2)


def test_missing_columns_named(tmp_path):
    root = make_embedded(tmp_path / "emb", bad=False)
    df = pd.read_csv(root / "embedded.csv").drop(columns=["licence", "sha256"])
    df.to_csv(root / "embedded.csv", index=False)
    with pytest.raises(CorpusError, match=r"embedded\.csv: missing columns \['licence', 'sha256'\]"):
        run_source({"type": "embedded", "root": str(root)}, SourceContext(progress=False))


def test_missing_index(tmp_path):
    with pytest.raises(CorpusError, match=r"embedded\.csv: embedded corpus index not found"):
        run_source({"type": "embedded", "root": str(tmp_path)}, SourceContext(progress=False))


def test_all_bad_is_an_empty_source(tmp_path):
    root = make_embedded(tmp_path / "emb", bad=False)
    with pytest.raises(CorpusError, match=r"no usable audio files.*rejected"):
        run_source({"type": "embedded", "root": str(root)}, SourceContext(min_duration_s=5.0, progress=False))
