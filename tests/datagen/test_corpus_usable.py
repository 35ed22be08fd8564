"""The corpus stage refuses a corpus that cannot feed a plan (no usable speech, or no noise) in one line."""
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from datagen.config import load_params
from datagen.corpus import build_corpus
from datagen.sources import CorpusError
from tests.datagen.sources.trees import tone, write

REPO = Path(__file__).resolve().parents[2]


def _folder(root: Path, labels, bad: str | None = None) -> Path:
    for j, lab in enumerate(labels):
        for i in range(2):
            write(root / lab / f"{lab}_{i}.wav", tone(300 + 10 * j + i, 0.5))
    if bad:   # an unusable clip: must appear in the error's example reject
        (root / labels[0] / bad).write_bytes(b"not audio at all" * 10)
    return root


def _params(tmp_path: Path, sources: list[dict]) -> dict:
    p = load_params(REPO / "params.yaml")
    p["paths"]["corpus_dir"] = str(tmp_path / "corpus")
    p["corpus"]["sources"] = sources
    p["corpus"]["speech_split"] = {"valid": [], "test": []}
    p["corpus"]["procedural"] = {**(p["corpus"].get("procedural") or {}),
                                 "clips_per_class": {"train": 0, "valid": 0, "test": 0}}
    return p


def test_no_speech_fails_at_corpus_with_one_line(tmp_path, capsys):
    noise = _folder(tmp_path / "noise", ["hum", "fan"], bad="broken.wav")
    p = _params(tmp_path, [{"type": "folder", "kind": "noise", "root": str(noise)}])
    with pytest.raises(CorpusError, match=r"^no usable speech in the corpus: 0 speech and 4 noise clips accepted, "
                                          r"1 rejected, e\.g\. .*broken\.wav: "):
        build_corpus(p, progress=False)
    assert not (tmp_path / "corpus" / "manifest.parquet").exists()      # nothing half-valid is written
    pf = tmp_path / "params.yaml"
    pf.write_text(yaml.safe_dump(p))
    capsys.readouterr()
    assert main(["corpus", "--params", str(pf), "--no-progress"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "no usable" in ln]
    assert len(err) == 1 and err[0].startswith("sebench corpus: ") and "no usable speech" in err[0]
    assert "Traceback" not in capsys.readouterr().err


def test_no_noise_fails_at_corpus(tmp_path):
    speech = _folder(tmp_path / "speech", ["alice", "bob", "carol"])
    p = _params(tmp_path, [{"type": "folder", "kind": "speech", "root": str(speech), "name": "speech"}])
    with pytest.raises(CorpusError, match=r"^no usable noise in the corpus: 6 speech and 0 noise clips accepted, "
                                          r"0 rejected; corpus.sources must provide both speech and noise$"):
        build_corpus(p, progress=False)


def test_speech_and_noise_pass(tmp_path):
    speech = _folder(tmp_path / "speech", ["alice", "bob", "carol"])
    noise = _folder(tmp_path / "noise", ["hum", "fan"])
    p = _params(tmp_path, [{"type": "folder", "kind": "speech", "root": str(speech), "name": "speech"},
                           {"type": "folder", "kind": "noise", "root": str(noise), "name": "noise"}])
    s = build_corpus(p, progress=False)
    assert s["n_rows"] == 10 and (tmp_path / "corpus" / "manifest.parquet").is_file()
