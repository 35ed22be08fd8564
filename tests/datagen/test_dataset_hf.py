"""The labelled dataset through Hugging Face ``datasets`` (offline, soundfile decoding) and its cards.

One tiny dataset is built once (plan -> render -> labels on the generated fixture corpus of conftest.py,
with a `gender` column on the speech rows and licences of every family) and shared by the tests.
"""
import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bench.params import load_params
from datagen.dataset import SPLITS, STEMS, load_classes, load_hf, load_metadata, read_stem
from tests.datagen.conftest import REPO, write_corpus

LICENCES = {"spkA": "CC-BY-SA-3.0", "spkB": "CC-BY-4.0", "spkC": "CC-BY-3.0", "spkD": "CC-BY-SA-3.0"}
GENDER = {"spkA": "F", "spkB": "M", "spkC": "", "spkD": "F"}


def _build(root: Path, with_gender: bool = True) -> dict:
    from datagen.card import write_card
    from datagen.labels import build_metadata
    from datagen.plan import make_plan
    from datagen.render import render

    p = copy.deepcopy(load_params(REPO / "params.yaml"))
    for k in list(p["paths"]):
        p["paths"][k] = str(root / k)
    p["plan"]["n_mixtures"] = {"train": 4, "valid": 2, "test": 3}
    p["plan"]["duration_s"] = 2.0
    p["labels"]["f0"]["model"] = "tiny"
    m = write_corpus(root / "src")
    sp = m["kind"] == "speech"
    m.loc[sp, "licence"] = m.loc[sp, "speaker"].map(LICENCES)
    m.loc[~sp, "licence"] = np.where(m.loc[~sp, "noise_class"] == "hiss", "GPL-2.0-or-later", "CC0-1.0")
    if with_gender:
        m["gender"] = m["speaker"].map(GENDER).fillna("")
    Path(p["paths"]["corpus_dir"]).mkdir(parents=True)
    m.to_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet", index=False)
    plan = make_plan(m, p)
    Path(p["paths"]["plan_dir"]).mkdir(parents=True)
    plan.to_parquet(Path(p["paths"]["plan_dir"]) / "plan.parquet", index=False)
    render(p)
    write_card(p, build_metadata(p))
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("hf"))


def test_hf_audio_decodes_offline_bit_identical_to_read_stem(built):
    d = built["paths"]["dataset_dir"]
    ds = load_hf(d)
    assert set(ds) == set(SPLITS)
    meta = load_metadata(d, "test")
    ex = ds["test"][1]
    row = meta.set_index("mixture_id").loc[ex["mixture_id"]]
    for stem in STEMS:
        ref = read_stem(d, row, stem)
        got = ex[stem]["array"]
        assert ex[stem]["sampling_rate"] == 16000
        assert got.dtype == np.float32 and got.shape == ref.shape
        assert np.array_equal(got, ref), stem
    # batched access decodes too, and label sequences come back with n_frames entries
    b = ds["train"][:2]
    assert len(b["noisy"]) == 2 and b["noisy"][0]["array"].ndim == 1
    assert len(b["vad"][0]) == b["n_frames"][0]


def test_noise_class_is_a_classlabel_matching_noise_class_id(built):
    import datasets

    d = built["paths"]["dataset_dir"]
    ds = load_hf(d, decode_audio=False)
    feat = ds["train"].features["noise_class"]
    assert isinstance(feat, datasets.ClassLabel)
    assert feat.names == load_classes(d)
    assert isinstance(ds["train"].features["noisy"], datasets.Audio)
    for split in SPLITS:
        assert ds[split]["noise_class"] == ds[split]["noise_class_id"]
        names = [feat.int2str(i) for i in ds[split]["noise_class"]]
        assert names == list(load_metadata(d, split)["noise_class"])


def test_unknown_noise_class_is_a_clear_error(built, tmp_path):
    import shutil

    d = tmp_path / "ds"
    shutil.copytree(built["paths"]["dataset_dir"], d)
    (d / "classes.json").write_text('{"noise_classes": ["hiss"]}')
    with pytest.raises(ValueError, match=r"rumble.*classes.json"):
        load_hf(d)


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_hf_card_beside_the_data_has_yaml_header_and_sections(built):
    d = Path(built["paths"]["dataset_dir"])
    text = (d / "README.md").read_text()
    meta = _front_matter(text)
    assert meta["license"] == ["cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc0-1.0", "gpl-2.0"]
    assert [c["path"] for c in meta["configs"][0]["data_files"]] == [f"metadata/{s}.parquet" for s in SPLITS]
    for h in ("## Sources and material", "## Licence", "## Languages", "## Speakers by gender",
              "## Intended use", "## Limitations", "## Citation", "```bibtex"):
        assert h in text, h
    # the YAML's parquet configs load with plain datasets, offline
    import datasets

    plain = datasets.load_dataset("parquet", data_files={c["split"]: str(d / c["path"])
                                                          for c in meta["configs"][0]["data_files"]})
    assert plain["test"].num_rows == len(load_metadata(d, "test"))


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_licence_section_counts_and_duties(built):
    d = built["paths"]["dataset_dir"]
    card = (Path(built["paths"]["reports_dir"]) / "dataset_card.md").read_text()
    lic = _section(card, "Licence")
    per_split = {s: load_metadata(d, s) for s in SPLITS}
    allm = pd.concat(per_split.values())
    man = pd.read_parquet(Path(built["paths"]["corpus_dir"]) / "manifest.parquet").set_index("source_id")
    # mixtures holding GPL noise (hiss) and CC-BY-SA-3.0 speech (spkA/spkD) are flagged as incompatible
    gpl = allm["noise_class"] == "hiss"
    sa = allm["speech_ids"].map(lambda ids: any(man.loc[i, "licence"] == "CC-BY-SA-3.0" for i in ids))
    n_gpl, n_sa, n_conflict = int(gpl.sum()), int(sa.sum()), int((gpl & sa).sum())
    assert f"(GPL-2.0-or-later): {n_gpl} mixtures" in lic
    assert f"(CC-BY-SA-3.0): {n_sa} mixtures" in lic
    if n_conflict:
        assert f"{n_conflict} mixtures combine GPL and CC BY-SA" in lic
    else:
        assert "Incompatible" not in lic
    row = next(x for x in lic.splitlines() if x.startswith("| CC0-1.0 |"))
    assert row.split("|")[2].strip() == "public-domain"
    assert int(row.split("|")[5]) == int((~gpl).sum())   # every non-hiss mixture holds CC0 rumble noise


def test_speakers_by_gender_per_split(built):
    card = (Path(built["paths"]["reports_dir"]) / "dataset_card.md").read_text()
    sec = _section(card, "Speakers by gender")
    rows = {r.split("|")[1].strip(): [int(c) for c in r.split("|")[2:6]] for r in sec.splitlines()
            if r.startswith("| ") and not r.startswith("| split")}
    assert rows == {"train": [2, 1, 1, 0], "valid": [1, 0, 0, 1], "test": [1, 1, 0, 0]}
    assert "not recorded" in _section(card, "Languages").lower() or "no `language`" in card


def test_card_without_gender_column_counts_unknown(tmp_path):
    p = _build(tmp_path, with_gender=False)
    sec = _section((Path(p["paths"]["reports_dir"]) / "dataset_card.md").read_text(), "Speakers by gender")
    assert "no `gender` column" in sec
    assert "| test | 1 | 0 | 0 | 1 |" in sec
