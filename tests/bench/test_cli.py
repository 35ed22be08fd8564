"""``sebench`` as a user meets it: --version, one progress flag and one level flag everywhere, plain help
text, elapsed time per stage and one summary line for warnings (also from forked workers)."""
import argparse
import os
import re
import subprocess
import sys
import tomllib
import warnings
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp
from pathlib import Path

import pytest

from bench.cli import COMMANDS, main
from bench.stagerun import StageRun
from datagen.cliflags import add_levels_arg, plain_help
from datagen.config import add_params_arg

REPO = Path(__file__).resolve().parents[2]


def test_version_matches_pyproject(capsys):
    assert main(["--version"]) == 0
    want = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out.strip() == f"sebench {want}"


def _help(cmd: str, capsys) -> str:
    try:
        rc = main([cmd, "--help"])
    except SystemExit as e:   # argparse's own exit after printing the help
        rc = e.code
    assert rc in (0, None)
    return capsys.readouterr().out


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_every_command_help_is_plain_and_has_one_progress_flag(cmd, capsys):
    text = _help(cmd, capsys)
    assert not re.search(r"``|:(func|mod|class|data|meth):`", text), text
    if cmd != "profile":
        assert "--no-progress" in text and "--quiet" not in text
        assert "--levels" not in text   # one level flag: --level (the plural is a hidden alias)


def test_progress_flag_and_hidden_alias_silence_an_already_imported_tqdm(monkeypatch):
    import io

    import tqdm.std

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    import functools

    init = tqdm.std.tqdm.__dict__["__init__"]      # an earlier test in this process may have rebound it
    base = init.func if isinstance(init, functools.partialmethod) else init
    monkeypatch.setattr(tqdm.std.tqdm, "__init__", base)   # unpatched tqdm; restored after
    ap = argparse.ArgumentParser(description="``sebench x``: does :func:`y`")
    add_params_arg(ap)
    assert ap.description == "sebench x: does y"
    assert ap.parse_args([]).no_progress is False
    assert not tqdm.std.tqdm(range(2), file=io.StringIO()).disable
    assert ap.parse_args(["--quiet"]).no_progress is True
    assert tqdm.std.tqdm(range(2), file=io.StringIO()).disable          # bars in library code too
    assert not tqdm.std.tqdm(range(2), file=io.StringIO(), disable=False).disable   # explicit wins
    assert os.environ["TQDM_DISABLE"] == "True"                          # and in child processes
    assert ap.parse_args(["--no-progress"]).no_progress is True


def test_levels_flag_and_alias_accumulate():
    ap = argparse.ArgumentParser()
    add_levels_arg(ap, help="levels")
    assert ap.parse_args([]).levels is None
    assert ap.parse_args(["--level", "a", "b", "--levels", "c"]).levels == ["a", "b", "c"]


def test_plain_help_strips_rest_roles():
    assert plain_help("see :mod:`~datagen.f0` and ``x=1`` or `y`") == "see datagen.f0 and x=1 or y"


def _warn_in_worker(i: int) -> int:
    warnings.warn(f"Features [{i} {i + 1}] are constant.", UserWarning)
    return i


def test_stage_run_prints_elapsed_and_one_warning_line_counting_forked_workers(capsys):
    with StageRun("demo") as run:
        for i in range(5):
            warnings.warn(f"Features [{i}] are constant.", UserWarning)
        warnings.warn("something else", RuntimeWarning)
        with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
            assert list(ex.map(_warn_in_worker, range(10))) == list(range(10))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2, err
    assert err[0].startswith("sebench demo: 16 warnings of 3 kinds: UserWarning x10 ")
    assert "UserWarning x5" in err[0] and "RuntimeWarning x1" in err[0]
    assert re.fullmatch(r"sebench demo: done in \d+\.\d s", err[1])
    assert run.elapsed_s > 0


def test_stage_failure_keeps_its_one_line_error(capsys):
    with StageRun("demo") as run:
        run.rc = 2
    assert capsys.readouterr().err == ""


def test_main_reports_elapsed_and_the_error_of_a_failing_stage(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("seed: [1\n")   # broken YAML: one clear error, no traceback, and the elapsed time
    assert main(["plan", "--params", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.strip()][-1].startswith("sebench plan: ")


@pytest.mark.parametrize("cmd", ["train", "enhance", "probe", "baselines"])
def test_help_of_torch_commands_imports_no_heavy_package(cmd):
    code = ("import sys, contextlib, io\nfrom bench.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()) as out: rc = main([{cmd!r}, '--help'])\n"
            "assert rc == 0 and '--no-progress' in out.getvalue(), out.getvalue()\n"
            "print(sorted(m for m in ('torch', 'sklearn', 'pandas', 'pydantic', 'numpy') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_torch_commands_parse_with_their_shared_parser():
    from bench.parsers import PARSERS

    a = PARSERS["train"]().parse_args(["--level", "keep50", "--quiet", "--stop-after-epochs", "1"])
    assert (a.level, a.no_progress, a.stop_after_epochs, a.params) == ("keep50", True, 1, "params.yaml")
    assert PARSERS["probe"]().parse_args(["--levels", "a", "--level", "b"]).levels == ["a", "b"]


def test_forks_after_a_finished_stage_run_stay_quiet(capfd):
    with StageRun("demo"):
        pass
    with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as ex:
        assert list(ex.map(_warn_in_worker, [1])) == [1]
    assert "Traceback" not in capfd.readouterr().err
