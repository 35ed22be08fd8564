"""datagen.numba_warm: every librosa module with a cached guvectorize kernel is warmed."""
import importlib.util
import re
import sys
from pathlib import Path

from datagen.numba_warm import LIBROSA_GUFUNC_MODULES, warm_librosa


def test_warm_covers_every_cached_gufunc_module_of_librosa():
    root = Path(importlib.util.find_spec("librosa").origin).parent
    pat = re.compile(r"@(numba\.)?guvectorize\((?:[^()]|\([^()]*\))*cache\s*=\s*True", re.S)
    found = sorted("librosa." + ".".join(p.relative_to(root).with_suffix("").parts)
                   for p in root.rglob("*.py") if pat.search(p.read_text(encoding="utf-8")))
    assert found, "no cached guvectorize kernel found in librosa: the pattern no longer matches its source"
    assert sorted(LIBROSA_GUFUNC_MODULES) == found


def test_warm_imports_the_modules():
    warm_librosa()   # raises ImportError if a listed module does not exist
    assert all(name in sys.modules for name in LIBROSA_GUFUNC_MODULES)
