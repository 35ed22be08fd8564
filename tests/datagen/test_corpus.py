"""The corpus stage end to end on generated fixture trees: manifest contract, splits, determinism, errors."""
import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import datagen.sources as sources_mod
from datagen.corpus import allocate, assign_noise_splits, build_corpus, check_disjoint, cli
from datagen.sources import MANIFEST_COLUMNS, SPLITS, CorpusError
from tests.datagen.sources.trees import EMBEDDED_NOISE, make_embedded, make_esc50, make_folder

try:
    import datagen.procedural  # noqa: F401  (colleague's generators; procedural rendering is tested once present)
    HAVE_PROCEDURAL = True
except ImportError:
    HAVE_PROCEDURAL = False


def _params(tmp_path, out="corpus", sources=None, procedural=None):
    emb = tmp_path / "emb"
    if not emb.exists():
        make_embedded(emb)
    if not (tmp_path / "fold").exists():
        make_folder(tmp_path / "fold")
    return {
        "seed": 7, "frames": {"sample_rate_hz": 16000},
        "paths": {"corpus_dir": str(tmp_path / out)},
        "corpus": {
            "sources": sources if sources is not None else
            [{"type": "embedded", "root": str(emb)}, {"type": "folder", "root": str(tmp_path / "fold")}],
            "min_duration_s": 0.3,
            "speech_split": {"valid": ["ivrvoice_ru"], "test": ["june"]},
            "noise_split_fractions": {"train": 0.6, "valid": 0.15, "test": 0.25},
            "procedural": procedural or {"clips_per_class": {"train": 0, "valid": 0, "test": 0}},
        },
    }


def _manifest(p):
    return pd.read_parquet(os.path.join(p["paths"]["corpus_dir"], "manifest.parquet"))


def test_manifest_contract_and_splits(tmp_path):
    p = _params(tmp_path)
    summary = build_corpus(p, progress=False)
    m = _manifest(p)
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert m["source_id"].is_unique and m["source_id"].is_monotonic_increasing
    assert set(m["split"]) == set(SPLITS) and set(m["kind"]) == {"speech", "noise"}
    assert m["orig_sample_rate_hz"].dtype == np.int64 and m["duration_s"].dtype == np.float64
    sp = m[m["kind"] == "speech"].groupby("speaker")["split"].agg(set).to_dict()
    assert sp == {"spk_a": {"train"}, "spk_b": {"train"}, "ivrvoice_ru": {"valid"}, "june": {"test"}}
    # noise: every embedded class has >= 3 groups -> present in all three splits
    noise = m[m["kind"] == "noise"]
    for cls in EMBEDDED_NOISE:
        assert set(noise.loc[noise["noise_class"] == cls, "split"]) == set(SPLITS)
    assert noise.groupby("split_group")["split"].nunique().max() == 1
    rej = pd.read_csv(os.path.join(p["paths"]["corpus_dir"], "rejects.csv"))
    assert list(rej.columns) == ["path", "reason"] and len(rej) == 4   # silent, tampered, loose, mp4
    assert summary["n_rows"] == len(m) and summary["n_rejects"] == 4
    assert sum(summary["counts"]["speech"].values()) == (m["kind"] == "speech").sum()
    assert summary["speakers"]["test"] == ["june"]
    on_disk = json.loads(open(os.path.join(p["paths"]["corpus_dir"], "corpus_summary.json")).read())
    assert on_disk == json.loads(json.dumps(summary))


def test_deterministic_and_listing_order_independent(tmp_path, monkeypatch):
    p1 = _params(tmp_path, "c1")
    build_corpus(p1, progress=False)
    real_walk = os.walk

    def reversed_walk(top, *a, **kw):  # same files, reversed directory listing order
        for d, dirs, files in real_walk(top, *a, **kw):
            dirs.reverse()
            yield d, dirs, files[::-1]

    monkeypatch.setattr(sources_mod.os, "walk", reversed_walk)
    p2 = _params(tmp_path, "c2")
    build_corpus(p2, progress=False)
    for name in ("manifest.parquet", "rejects.csv", "corpus_summary.json"):
        a = open(os.path.join(p1["paths"]["corpus_dir"], name), "rb").read()
        b = open(os.path.join(p2["paths"]["corpus_dir"], name), "rb").read()
        assert a == b, name


def test_fixed_splits_kept_and_single_split_class_warned(tmp_path):
    make_esc50(tmp_path / "esc")
    p = _params(tmp_path)
    p["corpus"]["sources"].append({"type": "esc50", "root": str(tmp_path / "esc"),
                                   "folds": {"train": [1, 2, 3, 4, 5]}})
    s = build_corpus(p, progress=False)
    m = _manifest(p)
    esc = m[m["source_id"].str.startswith("esc50/")]
    assert set(esc["split"]) == {"train"}
    assert any("'dog' is present in only one split (train)" in w for w in s["warnings"])


def test_empty_source_names_root(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    p = _params(tmp_path, sources=[{"type": "folder", "root": str(tmp_path / "empty")}])
    with pytest.raises(CorpusError, match=f"at {tmp_path / 'empty'}: no usable audio files"):
        build_corpus(p, progress=False)


def test_config_errors(tmp_path):
    p = _params(tmp_path)
    p["corpus"]["sources"].append({"type": "folder", "root": str(tmp_path / "fold")})
    with pytest.raises(CorpusError, match="several sources named"):
        build_corpus(p, progress=False)
    p = _params(tmp_path)
    p["corpus"]["speech_split"] = {"valid": ["june"], "test": ["june"]}
    with pytest.raises(CorpusError, match="'june' listed in both"):
        build_corpus(p, progress=False)
    p = _params(tmp_path, sources=[{"type": "nosuch"}])
    with pytest.raises(CorpusError, match="unknown corpus source type 'nosuch'"):
        build_corpus(p, progress=False)


def test_cli(tmp_path, capsys):
    import yaml

    p = _params(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    assert cli(["--params", str(tmp_path / "params.yaml"), "--no-progress"]) == 0
    assert (tmp_path / "corpus" / "manifest.parquet").is_file()
    p["corpus"]["sources"] = [{"type": "dns", "root": str(tmp_path / "missing")}]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(p))
    assert cli(["--params", str(tmp_path / "bad.yaml"), "--no-progress"]) == 2   # domain errors exit 2 (datagen.errors)
    assert f"sebench corpus: error: source 'dns' (dns) root: directory not found: {tmp_path / 'missing'}" \
        in capsys.readouterr().err


def test_check_disjoint_catches_leaks():
    base = dict(path="x", duration_s=1.0, orig_sample_rate_hz=16000, orig_channels=1, licence="", author="",
                origin="", sha256="")
    rows = [dict(base, source_id="a", kind="speech", speaker="s1", noise_class="", split_group="s1", split="train"),
            dict(base, source_id="b", kind="speech", speaker="s1", noise_class="", split_group="s1", split="test")]
    with pytest.raises(CorpusError, match="split leak: speech speaker 's1' is in splits \\['test', 'train'\\]"):
        check_disjoint(pd.DataFrame(rows))
    rows[1].update(speaker="s2", split_group="s2")
    rows.append(dict(base, source_id="c", kind="noise", speaker="", noise_class="n", split_group="g", split="train"))
    rows.append(dict(base, source_id="d", kind="noise", speaker="", noise_class="n", split_group="g", split="valid"))
    with pytest.raises(CorpusError, match="noise split_group 'g'"):
        check_disjoint(pd.DataFrame(rows))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), fr=st.tuples(*[st.floats(0, 1)] * 3).filter(lambda t: sum(t) > 0.05))
def test_allocate_invariants(n, fr):
    f = dict(zip(SPLITS, fr))
    c = allocate(n, f)
    assert sum(c.values()) == n and min(c.values()) >= 0
    positive = [s for s in SPLITS if f[s] > 0]
    if n >= len(positive):
        assert all(c[s] >= 1 for s in positive)
    assert all(c[s] == 0 for s in SPLITS if f[s] == 0)


@settings(max_examples=20, deadline=None)
@given(n_groups=st.integers(1, 25), perm_seed=st.integers(0, 1000))
def test_noise_split_independent_of_row_order(n_groups, perm_seed):
    def rows():
        return [dict(kind="noise", split=None, split_group=f"g{i}", noise_class=f"c{i % 2}") for i in range(n_groups)]
    a = rows()
    assign_noise_splits(a, {"train": 0.6, "valid": 0.15, "test": 0.25}, seed=3)
    b = rows()
    order = np.random.default_rng(perm_seed).permutation(n_groups)
    b = [b[i] for i in order]
    assign_noise_splits(b, {"train": 0.6, "valid": 0.15, "test": 0.25}, seed=3)
    assert {r["split_group"]: r["split"] for r in a} == {r["split_group"]: r["split"] for r in b}


@pytest.mark.skipif(not HAVE_PROCEDURAL, reason="datagen.procedural not present yet")
def test_procedural_noise(tmp_path):
    from datagen import procedural
    from datagen.sources.generated import speech_pool

    proc = {"clips_per_class": {"train": 1, "valid": 1, "test": 1}, "clip_duration_s": 1.0}
    p = _params(tmp_path, "c1", procedural=proc)
    build_corpus(p, progress=False)
    m = _manifest(p)
    gen = m[m["source_id"].str.startswith("procedural/")]
    assert len(gen) == 3 * len(procedural.GENERATORS)
    for r in gen.itertuples():
        name, k = r.source_id.split("/")[-1].rsplit("_", 1)
        assert r.split_group == f"procedural:{name}:{r.split}:{k}" and r.licence == "CC0 (generated)"
        assert r.noise_class == procedural.GENERATORS[name][0]
        assert r.path.endswith(f"procedural/{r.split}/{name}_{k}.flac") and os.path.isfile(r.path)
    # deterministic: a second run renders identical bytes
    p2 = _params(tmp_path, "c2", procedural=proc)
    build_corpus(p2, progress=False)
    for r in gen.itertuples():
        assert open(r.path, "rb").read() == open(r.path.replace("/c1/", "/c2/"), "rb").read()
    # babble pools never use speakers of the split they are for
    speech = m[m["kind"] == "speech"].to_dict("records")
    for split in SPLITS:
        _, ids = speech_pool(speech, split, 16000, 64, 7)
        spk = set(m.set_index("source_id").loc[ids, "speaker"])
        assert ids and not spk & set(m.loc[(m["kind"] == "speech") & (m["split"] == split), "speaker"])
