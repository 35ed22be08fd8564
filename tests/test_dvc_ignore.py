"""Code dependencies of the pipeline hash the same in every checkout: Python bytecode is not part of them.

A ``__pycache__`` written next to ``bench/models`` (by ``compileall`` or any run without
PYTHONDONTWRITEBYTECODE) once changed that directory's hash in ``dvc.lock``, so a fresh clone missed every
training stage's run-cache entry and retrained (measured: 2026-12-03).
"""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_bytecode_is_dvc_ignored_in_every_code_dependency():
    from dvc.repo import Repo

    ignore = Repo(str(ROOT)).dvcignore
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    code_dirs = set()
    for st in stages.values():
        body = st.get("do", st)
        for d in body.get("deps") or []:
            if (ROOT / d).is_dir() and any((ROOT / d).glob("*.py")):
                code_dirs.add(d)
    assert {"bench/models", "bench/score"} <= code_dirs
    for d in sorted(code_dirs):
        assert ignore.is_ignored_file(str(ROOT / d / "__pycache__" / "m.cpython-311.pyc")), d
        assert ignore.is_ignored_file(str(ROOT / d / "m.pyc")), d
        some_py = next((ROOT / d).glob("*.py"))
        assert not ignore.is_ignored_file(str(some_py)), some_py
