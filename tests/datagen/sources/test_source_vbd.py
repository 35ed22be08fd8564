"""VoiceBank+DEMAND clean-speech source: speakers from names, test set fixed to the test split."""
import pytest

from datagen.sources import CorpusError, SourceContext, run_source
from tests.datagen.sources.trees import tone, write


def test_vbd_speakers_and_fixed_test(tmp_path):
    root = tmp_path / "vbd"
    for j, spk in enumerate(("p226", "p227")):
        for i in range(2):
            write(root / "clean_trainset_28spk_wav" / f"{spk}_{i:03d}.wav", tone(40 + 2 * j + i, sr=48000), sr=48000)
    write(root / "clean_testset_wav" / "p232_001.wav", tone(5))
    write(root / "noisy_testset_wav" / "p232_001.wav", tone(6))        # ignored: pre-mixed
    res = run_source({"type": "vbd", "root": str(root)}, SourceContext(base_dir=root, progress=False))
    got = {r["path"]: (r["speaker"], r["split"], r["orig_sample_rate_hz"]) for r in res.rows}
    assert got == {"clean_testset_wav/p232_001.wav": ("p232", "test", 16000),
                   **{f"clean_trainset_28spk_wav/{s}_{i:03d}.wav": (s, None, 48000)
                      for s in ("p226", "p227") for i in range(2)}}


def test_vbd_wrong_layout(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(CorpusError, match="no clean_trainset"):
        run_source({"type": "vbd", "root": str(tmp_path / "x")}, SourceContext(progress=False))
