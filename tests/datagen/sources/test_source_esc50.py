"""ESC-50 source: folds -> fixed splits, categories or major categories, metadata checks."""
import pandas as pd
import pytest

from datagen.sources import CorpusError, SourceContext, run_source
from tests.datagen.sources.trees import ESC_CATEGORIES, make_esc50


def _run(root, **cfg):
    return run_source({"type": "esc50", "root": str(root), **cfg}, SourceContext(base_dir=root, progress=False))


def test_folds_define_splits_and_groups(tmp_path):
    res = _run(make_esc50(tmp_path / "esc"))
    assert len(res.rows) == 5 * len(ESC_CATEGORIES) * 2 and not res.rejects
    for r in res.rows:
        fold = int(r["path"].split("/")[-1].split("-")[0])
        assert r["split_group"] == f"esc50-fold{fold}"
        assert r["split"] == {1: "train", 2: "train", 3: "train", 4: "valid", 5: "test"}[fold]
        assert r["orig_sample_rate_hz"] == 44100 and r["duration_s"] == pytest.approx(0.5)
    assert {r["noise_class"] for r in res.rows} == set(ESC_CATEGORIES.values())


def test_major_categories_and_custom_folds(tmp_path):
    res = _run(make_esc50(tmp_path / "esc"), major_categories=True, folds={"train": [1, 2], "valid": [3], "test": [4]})
    assert {r["noise_class"] for r in res.rows} == {"animals", "natural_soundscapes_water", "exterior_urban"}
    assert {r["split"] for r in res.rows} == {"train", "valid", "test"}
    assert all("fold 5 not in the fold map" in why for _, why in res.rejects) and len(res.rejects) == 8


def test_fold_in_two_splits(tmp_path):
    with pytest.raises(CorpusError, match="fold 3 assigned to both"):
        _run(make_esc50(tmp_path / "esc"), folds={"train": [1, 2, 3], "valid": [3], "test": [5]})


def test_missing_meta_columns(tmp_path):
    root = make_esc50(tmp_path / "esc")
    df = pd.read_csv(root / "meta" / "esc50.csv").drop(columns=["fold", "category"])
    df.to_csv(root / "meta" / "esc50.csv", index=False)
    with pytest.raises(CorpusError, match=r"meta/esc50\.csv: missing columns \['fold', 'category'\]"):
        _run(root)


def test_listed_missing_and_unlisted_files(tmp_path):
    root = make_esc50(tmp_path / "esc")
    victim = sorted((root / "audio").iterdir())[0]
    victim.rename(root / "audio" / "9-unlisted-A-0.wav")
    res = _run(root)
    reasons = dict(res.rejects)
    assert reasons[f"audio/{victim.name}"] == "listed in meta/esc50.csv but file not found"
    assert reasons["audio/9-unlisted-A-0.wav"] == "audio file not listed in meta/esc50.csv"
