"""datagen.config: every bad-params case is refused as one line naming the key and what is allowed."""
import ast
import copy
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest
import yaml

from datagen.config import (PROFILES_DIR, STAGE_KEYS, Params, load_config, load_params, merged_params,
                            validate)
from datagen.errors import ParamsError, SebenchError

REPO = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((REPO / "params.yaml").read_text())


def _set(*path_value):
    """A mutation setting ``a.b.c = value`` (or deleting it when value is the DELETE marker)."""
    *path, value = path_value

    def f(p):
        d = p
        for k in path[:-1]:
            d = d[k]
        if value is DELETE:
            del d[path[-1]]
        else:
            d[path[-1]] = value
    return f


DELETE = object()


def _rename(path, new):
    def f(p):
        d = p
        for k in path[:-1]:
            d = d[k]
        d[new] = d.pop(path[-1])
    return f


# (case, mutation, the one line must contain ...)
BAD = [
    ("inverted SNR range", _set("plan", "snr_db", {"low": 25.0, "high": 20.0}),
     "plan.snr_db: low 25.0 > high 20.0: need low <= high"),
    ("missing key", _set("plan", "snr_db", "high", DELETE), "missing key plan.snr_db.high"),
    ("missing section", _set("render", DELETE), "missing key render"),
    ("all-zero n_mixtures", _set("plan", "n_mixtures", {"train": 0, "valid": 0, "test": 0}),
     "plan.n_mixtures.train: 0 is not allowed: must be >= 1"),
    ("n_mixtures.train 0", _set("plan", "n_mixtures", "train", 0),
     "plan.n_mixtures.train: 0 is not allowed: must be >= 1"),
    ("unknown name in gated_levels", _set("gated_levels", ["keep75", "keep5", "keep25", "keep50_joint"]),
     "gated_levels[1]: 'keep5' is not a level in `levels`"),
    ("gated_levels misses a level", _set("gated_levels", ["keep75", "keep50", "keep50_joint"]),
     "gated_levels: ['keep75', 'keep50', 'keep50_joint'] must list exactly the levels with keep < 1"),
    ("hop_length 1024", _set("frames", "hop_length", 1024),
     "frames.hop_length: 1024 is not allowed: must equal frames.n_fft / 2 = 256"),
    ("hop_length 200", _set("frames", "hop_length", 200),
     "frames.hop_length: 200 is not allowed: must equal frames.n_fft / 2 = 256"),
    ("typo at depth", _rename(("model", "gate", "surrogate_slope"), "surogate_slope"),
     "unknown key model.gate.surogate_slope (did you mean model.gate.surrogate_slope?)"),
    ("typo'd section", _rename(("probe",), "prob"), "unknown key prob (did you mean probe?)"),
    ("YAML 1.1 exponent without a dot", _set("train", "lr", "2e-3"),
     "train.lr: '2e-3' is not allowed: must be a valid number (YAML reads 2e-3 as a string"),
    ("bool for an int", _set("render", "workers", True), "render.workers: True is not allowed"),
    ("keep out of (0, 1]", _set("levels", "keep50", 1.5), "levels.keep50: 1.5 is not allowed: must be <= 1"),
    ("replicate with another keep", _set("levels", "keep50_seed1", 0.25),
     "levels.keep50_seed1: 0.25 is not allowed: a seed replicate keeps its base level's keep (levels.keep50 = 0.5)"),
    ("replicate missing", _set("levels", "keep50_seed2", DELETE),
     "levels: must list exactly the seed replicates ['keep50_seed1', 'keep50_seed2', 'static_seed1', 'static_seed2']"),
    ("gate budget", _set("model", "gate", "budget", "perblock"),
     "model.gate.budget: 'perblock' is not allowed: must be 'per_block' or 'global'"),
    ("budget override of a static level", _set("train", "budget_overrides", {"static": "global"}),
     "train.budget_overrides.static: 'static' is not a gated level"),
    ("joint level not gated", _set("train", "joint", "levels", ["keep50_jiont"]),
     "train.joint.levels[0]: 'keep50_jiont' is not a gated level"),
    ("unknown model config", _set("model", "config", "smal"),
     "model.config: 'smal' is not allowed: must name one of model.configs ['paper', 'small'] (did you mean 'small'?)"),
    ("init from a gated level", _set("train", "init_gated_from", "keep50"),
     "train.init_gated_from: 'keep50' is not allowed: must name a static level"),
    ("unknown probe control", _set("probe", "controls", ["majority", "logmell"]),
     "probe.controls[1]: 'logmell' is not allowed: must be 'majority'"),
    ("c_star_grid entry", _set("probe", "c_star_grid", [8, "al"]),
     "probe.c_star_grid[1]: 'al' is not allowed: must be a valid integer or 'all'"),
    ("f0 band", _set("labels", "f0", "fmin_hz", 600.0), "labels.f0: fmin_hz 600.0 >= fmax_hz 550.0"),
    ("source without type", _set("corpus", "sources", [{"root": "/x"}]), "missing key corpus.sources[0].type"),
    ("null n_mixtures without a paired source", _set("plan", "n_mixtures", "test", None),
     "plan.n_mixtures.test: null (one mixture per pair) is not allowed without a paired corpus source"),
]


@pytest.mark.parametrize("case,mutate,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_params_refused_as_one_line(case, mutate, expected):
    p = copy.deepcopy(BASE)
    mutate(p)
    with pytest.raises(ParamsError) as e:
        validate(p, "bad.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("bad.yaml: "), msg
    assert expected in msg, msg
    assert isinstance(e.value, SebenchError) and isinstance(e.value, ValueError)


def test_several_errors_stay_one_line_and_name_every_key():
    p = copy.deepcopy(BASE)
    p["plan"]["n_mixtures"] = {"train": 0, "valid": 0, "test": 0}
    with pytest.raises(ParamsError, match=r"\(and 2 more: plan\.n_mixtures\.valid, plan\.n_mixtures\.test\)$"):
        validate(p, "bad.yaml")


def _write(tmp_path, mutate, name="bad.yaml"):
    p = copy.deepcopy(BASE)
    p["paths"] = {k: str(tmp_path / k) for k in p["paths"]}
    mutate(p)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


@pytest.mark.parametrize("case", ["inverted SNR range", "hop_length 200", "typo at depth", "n_mixtures.train 0",
                                  "unknown name in gated_levels"])
def test_cli_refuses_before_any_work(tmp_path, case):
    """`sebench plan --params bad.yaml`: exit 2, one line `sebench plan: <file>: <key>: ...`, no traceback,
    nothing written (plan would otherwise fail on the missing corpus manifest, differently)."""
    _, mutate, expected = next(b for b in BAD if b[0] == case)
    bad = _write(tmp_path, mutate)
    r = subprocess.run([sys.executable, "-m", "bench.cli", "plan", "--params", str(bad)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"sebench plan: {bad}: ") and expected in lines[0], lines[0]
    assert not (tmp_path / "plan_dir").exists()


def test_cli_turns_a_stage_domain_error_into_one_line(tmp_path):
    """Valid params, but a manifest without noise: the plan stage's PlanError (a SebenchError) is printed as
    `sebench plan: <message>`, exit 2, no traceback."""
    from tests.datagen.conftest import write_corpus

    good = _write(tmp_path, lambda p: None, "good.yaml")
    manifest = write_corpus(tmp_path / "src")
    (tmp_path / "corpus_dir").mkdir()
    manifest[manifest["kind"] == "speech"].to_parquet(tmp_path / "corpus_dir" / "manifest.parquet", index=False)
    r = subprocess.run([sys.executable, "-m", "bench.cli", "plan", "--params", str(good)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()   # (a stage-run summary line such as "failed after 2.6 s" may precede it)
    assert "sebench plan: split 'train' has no noise sources in the manifest (check corpus.noise_split_fractions)" \
        in lines and all(ln.startswith("sebench plan: ") for ln in lines), r.stderr


def test_committed_params_and_every_profile_validate():
    cfg = load_config(REPO / "params.yaml")
    assert isinstance(cfg, Params) and cfg.profile == "default"
    profiles = sorted(PROFILES_DIR.glob("*.yaml"))
    assert {"tiny", "paper", "vbd"} <= {p.stem for p in profiles}
    for prof in profiles:
        c = load_config(REPO / "params.yaml", prof.stem)
        assert c.profile == yaml.safe_load(prof.read_text()).get("profile", prof.stem)
        reps = {f"{b}_seed{k}" for b in ["static", *c.train.replicate_levels] for k in c.train.replicate_seeds}
        assert set(c.gated_levels) == {k for k, v in c.levels.items() if v < 1} - reps - set(c.causal.gated_levels)


def test_typed_sections_are_frozen_and_typed():
    cfg = load_config(REPO / "params.yaml")
    assert cfg.train.lr == BASE["train"]["lr"] and cfg.frames.hop_length * 2 == cfg.frames.n_fft
    with pytest.raises(pydantic.ValidationError):
        cfg.train.lr = 1.0
    assert cfg.report.bootstrap_n is None and "bootstrap_n" not in BASE["report"]   # optional key: schema default


def test_load_params_returns_the_file_as_written(tmp_path):
    """The stages' dict view is the YAML mapping itself (same values, same types: hashes unchanged)."""
    assert load_params(REPO / "params.yaml") == BASE
    partial = tmp_path / "partial.yaml"
    partial.write_text(yaml.safe_dump({"seed": 1, "score": {"workers": 2}}))
    assert load_params(partial) == {"seed": 1, "score": {"workers": 2}}   # absent keys are fine here ...
    partial.write_text(yaml.safe_dump({"seed": 1, "score": {"wokers": 2}}))
    with pytest.raises(ParamsError, match=r"unknown key score\.wokers \(did you mean score\.workers\?\)"):
        load_params(partial)                                             # ... typos and bad values are not
    partial.write_text(yaml.safe_dump({"score": {"workers": 0}}))
    with pytest.raises(ParamsError, match=r"score\.workers: 0 is not allowed: must be >= 1"):
        load_params(partial)


def test_overlay_merge_and_bad_files(tmp_path):
    raw, source = merged_params(REPO / "params.yaml", "tiny")
    assert raw["profile"] == "tiny" and source.endswith("tiny.yaml") and raw["frames"] == BASE["frames"]
    with pytest.raises(ParamsError, match="profile 'nosuch' not found"):
        merged_params(REPO / "params.yaml", "nosuch")
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)


def test_stage_keys_name_schema_keys():
    for stage, keys in STAGE_KEYS.items():
        for key in keys:
            model, parts = Params, key.split(".")
            for part in parts:
                assert part in model.model_fields, (stage, key)
                ann = model.model_fields[part].annotation
                model = ann if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel) else None
                if model is None:
                    break


def test_datagen_imports_nothing_from_bench():
    offenders = []
    for f in sorted((REPO / "datagen").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{f.relative_to(REPO)}: {n}" for n in names if n == "bench" or n.startswith("bench.")]
    assert not offenders, offenders


def test_every_stage_command_validates_first(tmp_path, capsys):
    """`sebench <command> --params bad.yaml` for every command that runs on params: exit 2, the one line."""
    from bench.cli import COMMANDS, NO_PARAMS_CHECK, main

    bad = _write(tmp_path, _rename(("train", "epochs"), "epocs"))
    for name in sorted(set(COMMANDS) - NO_PARAMS_CHECK):
        assert main([name, "--params", str(bad)]) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"sebench {name}: {bad}: unknown key train.epocs (did you mean train.epochs?)"], (name, err)


def test_schema_name_lists_match_the_stages():
    """The schema's closed name lists are the ones the stages accept (datagen cannot import bench)."""
    from bench.probes.cli import DEFAULTS
    from bench.score.metrics import ALL_METRICS
    from datagen.config import PROBE_CONTROLS, SCORE_METRICS, VAD_KEYS
    from datagen.vad import RULES

    assert set(SCORE_METRICS) == set(ALL_METRICS) | {"dnsmos"}
    assert set(PROBE_CONTROLS) == set(DEFAULTS["controls"])
    assert set(VAD_KEYS) == set(RULES)


def test_model_sizes_are_checked_per_architecture():
    """conv_fsenet sizes: a typo is refused with its path and a suggestion, a missing key is named; another
    registered architecture brings its own size keys (checked by its config_from_params)."""
    import copy

    import pytest
    import yaml

    from datagen.config import ParamsError, validate

    base = yaml.safe_load(open("params.yaml"))
    typo = copy.deepcopy(base)
    typo["model"]["configs"]["small"]["bottlenek"] = typo["model"]["configs"]["small"].pop("bottleneck")
    with pytest.raises(ParamsError, match=r"model\.configs\.small\.bottlenek.*did you mean bottleneck"):
        validate(typo)
    missing = copy.deepcopy(base)
    del missing["model"]["configs"]["paper"]["kernel"]
    with pytest.raises(ParamsError, match=r"model\.configs\.paper.*missing \['kernel'\]"):
        validate(missing)
    other = copy.deepcopy(base)
    other["model"].update(architecture="mynet", config="tiny", configs={"tiny": {"depth": 3, "width": 16}})
    assert validate(other).model.configs["tiny"].model_extra == {"depth": 3, "width": 16}
