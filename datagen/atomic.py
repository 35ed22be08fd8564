"""Atomic file writes: write to a temporary name in the target folder, then ``os.replace``.

A reader (or a resumed run) never sees a half-written file: the target either keeps its old bytes or has
the new ones. Temporary names are unique per call (``tempfile.mkstemp``: pid-independent random suffix), so
concurrent processes writing into one folder (render shards) never touch each other's temporaries; a
temporary left behind by a killed process is named ``.<target name>.<random>.tmp``.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

FILE_MODE = 0o644   # mkstemp creates 0600; outputs are meant to be shared like files from open()


@contextlib.contextmanager
def atomic_path(path: str | Path, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    The temporary keeps ``path``'s suffix (``.wav``, ``.npz``, ``.parquet``) for writers that infer the
    format from the name.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (no newline translation: ``\\n`` stays ``\\n``)."""
    return write_bytes(path, text.encode(encoding))


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2, sort_keys: bool = False,
               trailing_newline: bool = True, **dumps_kwargs: Any) -> Path:
    """``json.dumps(obj, indent, sort_keys, **dumps_kwargs)`` (+ ``\\n``) written atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, **dumps_kwargs)
    return write_text(path, text + ("\n" if trailing_newline else ""))


def save_npz(path: str | Path, compressed: bool = True, **arrays: Any) -> Path:
    """``numpy.savez[_compressed]`` of ``arrays`` to ``path`` atomically (``path`` should end in ``.npz``)."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:   # a file object: numpy adds no second suffix
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return Path(path)


def write_parquet(path: str | Path, df: Any, **to_parquet_kwargs: Any) -> Path:
    """``df.to_parquet(path, **kwargs)`` (pandas DataFrame) atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, **to_parquet_kwargs)
    return Path(path)


def write_sound(path: str | Path, data: Any, samplerate: int, subtype: str | None = None,
                format: str | None = None) -> Path:
    """``soundfile.write`` atomically; the format follows ``path``'s suffix unless ``format`` is given."""
    import soundfile as sf

    path = Path(path)
    fmt = format or path.suffix.lstrip(".").upper() or None
    with atomic_path(path) as tmp:
        sf.write(tmp, data, samplerate, subtype=subtype, format=fmt)
    return path
