"""Compiled (C or numba) frame-by-frame streaming engine for Conv-FSENet with DynCP gates.

:class:`StreamingEngine` (dense or channel-skipping, causal or with buffered look-ahead),
:func:`load_benchmark` (CPU-time savings measured by ``benchmarks/bench_engine.py``).
"""
from bench.engine.results import load_benchmark
from bench.engine.stream import BACKENDS, EngineError, StreamingEngine, resolve_backend

__all__ = ["BACKENDS", "EngineError", "StreamingEngine", "load_benchmark", "resolve_backend"]
