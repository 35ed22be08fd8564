"""Compile librosa's numba kernels in this process, before any worker process starts.

librosa (0.11) decorates kernels with ``numba.guvectorize(..., cache=True)``: they are compiled when their
module is imported and written to the package's ``__pycache__`` as two files per kernel (kernel and gufunc
wrapper), renamed into place one after the other. Two processes importing librosa for the first time at once
can leave a pair from different processes, and every later import of that kernel then crashes with SIGSEGV
(numba issue #10128, librosa issue #1998). Measured here: on a fresh clone the score stage's two workers
compiled these caches at the same second, and the later `baselines` stage died with SIGSEGV in
``librosa.pyin`` (``pitch._pi_wrapper``), on every rerun. Importing the modules in the parent first writes the
caches serially, and forked workers inherit the compiled kernels (spawned ones load the complete cache).
``scripts/setup.sh`` also deletes librosa's numba caches and calls :func:`warm_librosa` once, which repairs a
venv that already holds a mixed pair.
"""
from __future__ import annotations

import importlib

# every librosa module with a cached guvectorize kernel (the kernel + wrapper file pair that a race can mix;
# plain @jit caches are one self-contained file each and compile at first call, not at import).
# tests/datagen/test_numba_warm.py checks the list against the installed librosa's source.
LIBROSA_GUFUNC_MODULES = ("librosa.beat", "librosa.core.audio", "librosa.core.pitch", "librosa.util.utils")


def warm_librosa() -> None:
    """Import :data:`LIBROSA_GUFUNC_MODULES`, compiling (or loading) their cached gufuncs in this process.
    Call it before starting worker processes that may import librosa."""
    for name in LIBROSA_GUFUNC_MODULES:
        importlib.import_module(name)
