"""The ``librispeech`` source on a generated tree in LibriSpeech's standard layout."""
import pandas as pd
import pytest

from datagen.corpus import build_corpus
from datagen.sources import CorpusError, SourceContext, run_source
from datagen.sources.librispeech import parse_speakers_txt
from tests.datagen.sources.trees import tone, write

SPEAKERS_TXT = """; LibriSpeech speakers
;ID  |SEX| SUBSET           |MINUTES| NAME
103  | F | train-clean-100  | 25.06 | Reader A
1034 | M | train-clean-100  | 25.04 | Reader B
19   | F | train-clean-100  | 25.19 | Reader C
26   | M | train-clean-100  | 25.08 | Reader D
"""


def make_librispeech(root, speakers=("103", "1034", "19", "26"), files=2):
    (root).mkdir(parents=True, exist_ok=True)
    (root / "SPEAKERS.TXT").write_text(SPEAKERS_TXT)
    seed = 0
    for spk in speakers:
        for u in range(files):
            seed += 1
            write(root / "train-clean-100" / spk / "1200" / f"{spk}-1200-{u:04d}.flac", tone(seed, 0.7))
    return root


def test_index_standard_layout(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    write(root / "train-clean-100" / "103" / "1200" / "999-1-0000.flac", tone(99, 0.7))   # misnamed
    res = run_source({"type": "librispeech", "root": str(root)}, SourceContext(progress=False))
    assert len(res.rows) == 8 and len(res.rejects) == 1 and "does not match" in res.rejects[0][1]
    by_spk = {r["speaker"]: r["gender"] for r in res.rows}
    assert by_spk == {"ls103": "F", "ls1034": "M", "ls19": "F", "ls26": "M"}
    assert all(r["split_group"] == r["speaker"] and r["licence"] == "CC-BY-4.0" for r in res.rows)
    capped = run_source({"type": "librispeech", "root": str(root), "max_files_per_speaker": 1},
                        SourceContext(progress=False))
    assert len(capped.rows) == 4


def test_speakers_txt_errors(tmp_path):
    bad = tmp_path / "SPEAKERS.TXT"
    bad.write_text("103 | X | train | 1 | y\n")
    with pytest.raises(CorpusError, match=r"SPEAKERS.TXT:1"):
        parse_speakers_txt(bad)
    with pytest.raises(CorpusError, match="not found"):
        parse_speakers_txt(tmp_path / "missing.txt")


def test_gender_balanced_speaker_split(tmp_path):
    spk = [str(100 + i) for i in range(12)]
    root = tmp_path / "ls"
    root.mkdir()
    lines = [f"{s} | {'F' if i % 2 else 'M'} | train-clean-100 | 1 | R{s}" for i, s in enumerate(spk)]
    (root / "SPEAKERS.TXT").write_text("\n".join(lines) + "\n")
    for i, s in enumerate(spk):
        write(root / "sub" / s / "7" / f"{s}-7-0000.flac", tone(i + 1, 0.6))
    for i in range(6):
        write(tmp_path / "noise" / "hum" / f"h{i}.wav", tone(50 + i, 0.8, f0_hz=100.0))

    def params(seed, split):
        return {"seed": seed, "frames": {"sample_rate_hz": 16000},
                "paths": {"corpus_dir": str(tmp_path / f"c{seed}")},
                "corpus": {"sources": [{"type": "librispeech", "root": str(root)},
                                       {"type": "folder", "root": str(tmp_path / "noise")}],
                           "speech_split": split, "noise_split_fractions": {"train": 0.5, "valid": 0.2, "test": 0.3},
                           "noise_min_groups": {"test": 3},
                           "procedural": {"clips_per_class": {"train": 0, "valid": 0, "test": 0}}}}

    s = build_corpus(params(1, {"train": ["ls100"], "n_speakers": {"valid": 2, "test": 4}}), progress=False)
    assert s["speakers_by_gender"]["test"] == {"F": 2, "M": 2}
    assert s["speakers_by_gender"]["valid"] == {"F": 1, "M": 1}
    assert "ls100" in s["speakers"]["train"] and s["n_speakers"]["train"] == 6
    assert s["noise_classes"]["hum"]["test"] == 3                     # noise_min_groups
    m = pd.read_parquet(tmp_path / "c1" / "manifest.parquet")
    assert (m[m["kind"] == "speech"].groupby("speaker")["split"].nunique() == 1).all()
    s2 = build_corpus(params(2, {"n_speakers": {"valid": 2, "test": 4}}), progress=False)
    assert s2["speakers"]["test"] != s["speakers"]["test"]           # the draw follows the seed
    with pytest.raises(CorpusError, match="7 speakers of gender F"):
        build_corpus(params(3, {"n_speakers": {"test": 14}}), progress=False)
