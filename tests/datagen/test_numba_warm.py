"""datagen.numba_warm: every librosa module that compiles cached numba kernels at import is warmed."""
import importlib.util
import re
import sys
from pathlib import Path

from datagen.numba_warm import LIBROSA_NUMBA_MODULES, warm_librosa


def test_warm_covers_every_cached_numba_module_of_librosa():
    root = Path(importlib.util.find_spec("librosa").origin).parent
    pat = re.compile(r"@(numba\.)?(guvectorize|vectorize|stencil|jit|njit)\([^)]*cache\s*=\s*True", re.S)
    found = sorted("librosa." + ".".join(p.relative_to(root).with_suffix("").parts)
                   for p in root.rglob("*.py") if pat.search(p.read_text(encoding="utf-8")))
    found = [m for m in found if not m.endswith(("decorators", "__init__"))]
    assert found, "no cached numba kernels found in librosa: the pattern no longer matches its source"
    missing = sorted(set(found) - set(LIBROSA_NUMBA_MODULES))
    assert not missing, f"librosa modules with cached numba kernels not warmed: {missing}"


def test_warm_imports_the_modules():
    names = warm_librosa()
    assert names == list(LIBROSA_NUMBA_MODULES)
    assert all(n in sys.modules for n in names)
