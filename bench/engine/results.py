"""Read ``reports/benchmarks/engine.json`` (written by ``benchmarks/bench_engine.py``)."""
from __future__ import annotations

import json
from pathlib import Path

from datagen.errors import SebenchError


class BenchmarkFileError(SebenchError, ValueError):
    """The engine benchmark JSON is missing keys or malformed."""


def load_benchmark(path: str | Path, config: str = "small") -> dict[str, float]:
    """``{level: cpu_time_saving}`` of ``config``'s rows: 1 - skipping/dense time per frame (median, 1 thread).

    The static level, if measured, is 0.0 (its dense time is the reference). Raises
    :class:`FileNotFoundError` or :class:`BenchmarkFileError` naming the file and the problem.
    """
    return {lv: float(r["cpu_time_saving"]) for lv, r in load_rows(path, config)[0].items()}


def load_rows(path: str | Path, config: str = "small") -> tuple[dict[str, dict], dict]:
    """``({level: row}, machine)`` of ``config``'s rows of an engine benchmark file (each row has
    ``cpu_time_saving``, ``mac_saving``, ``ratio`` and, for trained models, ``model_sha256``); the same
    errors as :func:`load_benchmark`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no engine benchmark (run benchmarks/bench_engine.py)")
    try:
        d = json.loads(path.read_text())
        rows = {str(r["level"]): dict(r) for r in d["rows"] if r["config"] == config}
        for r in rows.values():
            float(r["cpu_time_saving"])
        machine = dict(d.get("machine") or {}, date=d.get("date"), git_commit=d.get("git_commit"))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise BenchmarkFileError(f"{path}: not an engine benchmark file ({type(e).__name__}: {e})") from None
    return rows, machine
