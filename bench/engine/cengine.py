"""C backend of the streaming engine: build ``csrc/engine.c`` once per machine, call it through ctypes.

The library is compiled with the system C compiler (``$CC``, else ``cc``) for the host CPU (``-march=native``:
AVX-512 where the CPU has it) into ``$SEBENCH_CACHE_DIR/engine`` (default ``~/.cache/sebench/engine``), named
by a hash of the source, the flags, the compiler's version and the CPU's flags, so that a changed source, compiler
or machine gets its own build. Written to a temporary name and renamed: concurrent builders (pytest workers,
pipeline stages) never load a half-written file. ``scripts/setup.sh`` builds it ahead (``python -m
bench.engine.cengine``); without a compiler :func:`load` raises :class:`CBackendUnavailable` and the numba
backend remains.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from datagen.errors import SebenchError

SOURCE = Path(__file__).with_name("csrc") / "engine.c"
# -O3 and the host's vector ISA; -fopenmp-simd only honours the `omp simd` reductions (no OpenMP runtime);
# -ffp-contract=fast lets the compiler fuse multiply-adds (as the numba kernels' "contract" flag). No fast-math.
CFLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-ffp-contract=fast", "-fPIC", "-shared"]
LIBS = ["-lmvec", "-lm"]   # libmvec: glibc's vector math (logf/expf, csrc/engine.c)


class CBackendUnavailable(SebenchError, RuntimeError):
    """No C compiler, or the engine's C source failed to build (the message says which and why)."""


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def _compiler() -> str:
    cc = os.environ.get("CC") or "cc"
    path = shutil.which(cc)
    if path is None:
        raise CBackendUnavailable(f"no C compiler ({cc!r} not on PATH): the C engine backend needs one "
                                  "(Debian: apt-get install gcc); the numba backend works without")
    return path


def cache_dir() -> Path:
    """``$SEBENCH_CACHE_DIR/engine`` (default ``~/.cache/sebench/engine``), created; a per-user directory under
    the system temp dir when that one cannot be created or written (read-only home)."""
    root = os.environ.get("SEBENCH_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "sebench")
    for d in (Path(root) / "engine", Path(tempfile.gettempdir()) / f"sebench-engine-{os.getuid()}"):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    raise CBackendUnavailable(f"no writable cache directory for the C engine library ({root}/engine, "
                              f"{tempfile.gettempdir()})")


def compiler_version() -> str:
    """First line of ``cc --version`` (part of the build key and of benchmark provenance)."""
    return (subprocess.run([_compiler(), "--version"], capture_output=True, text=True).stdout.splitlines() or [""])[0]


def library_path(extra_flags: tuple[str, ...] = ()) -> Path:
    """Where this machine's build of the current source (with ``extra_flags`` after :data:`CFLAGS`) lives."""
    key = hashlib.sha256("\n".join([SOURCE.read_text(), " ".join(CFLAGS + list(extra_flags) + LIBS),
                                    compiler_version(), _cpu_flags()]).encode()).hexdigest()[:16]
    return cache_dir() / f"libsebench_engine-{key}.so"


def compile_library(source: Path, out: Path, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile ``source`` with :data:`CFLAGS` (+ ``extra_flags``) into ``out``, written under a temporary name
    and renamed (concurrent builders never load a half-written file)."""
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        r = subprocess.run([_compiler(), *CFLAGS, *extra_flags, str(source), "-o", tmp, *LIBS], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise CBackendUnavailable(f"{source}: the C compiler failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def build(force: bool = False, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the library if this machine has no build of the current source; returns its path.
    ``extra_flags`` (e.g. ``("-mno-avx512f",)``: the portable loops) go after :data:`CFLAGS`."""
    out = library_path(extra_flags)
    if out.is_file() and not force:
        return out
    return compile_library(SOURCE, out, extra_flags)


_P = ctypes.c_void_p
_I64 = ctypes.c_int64


class EngineStruct(ctypes.Structure):
    """Mirror of ``Engine`` in csrc/engine.c (dimensions, then weight and state pointers)."""
    _fields_ = ([(n, _I64) for n in ("nF", "nB", "nH", "nb", "nvh", "pool", "O1", "Lm", "G", "Hg",
                                      "RX", "RA", "RK", "RS", "W", "ldb")]
                + [("cexp", ctypes.c_double)]
                + [(n, _P) for n in ("wf", "bf", "wb", "bb", "chan", "w1t", "w2t", "vh", "b2", "sc", "gf", "gbf",
                                      "gm", "gbm", "gl", "gbl", "geo", "xr", "ar", "kr", "kc", "fr", "sr", "wk",
                                      "cnt")])


@lru_cache(maxsize=4)
def load(extra_flags: tuple[str, ...] = ()) -> ctypes.CDLL:
    """The built library with its functions' signatures (builds it first if needed)."""
    return open_library(build(extra_flags=extra_flags))


def open_library(path: Path) -> ctypes.CDLL:
    """A compiled engine library (:func:`compile_library`) with its functions' signatures."""
    lib = ctypes.CDLL(str(path))
    S = ctypes.POINTER(EngineStruct)
    lib.se_step.argtypes = [S, _P, ctypes.c_int, ctypes.c_int, _P, _I64, _P, _I64, _P, _P]
    lib.se_step.restype = _I64
    lib.se_run.argtypes = [S, _P, _I64, _I64, ctypes.c_int, _P, _I64, _P, _I64, _P, _P]
    lib.se_run.restype = _I64
    lib.se_timed_pass.argtypes = [S, _P, _I64, ctypes.c_int, _P, _I64, _P]
    lib.se_timed_pass.restype = None
    return lib


@lru_cache(maxsize=1)
def available() -> bool:
    """True when the C backend builds and loads on this machine (remembered for the process: a failed build is
    not retried by every engine)."""
    try:
        load()
        return True
    except (CBackendUnavailable, OSError):
        return False


def make_struct(weights: tuple, state: tuple) -> EngineStruct:
    """An :class:`EngineStruct` pointing into the numpy arrays of a StreamingEngine (``_weights``, ``_state``;
    the caller keeps them alive). Every array must be C-contiguous with the kernels' dtypes."""
    (wf, bf, wb, bb, cexp, chan, w1t, w2t, vh, b2, sc, gf, gbf, gm, gbm, gl, gbl, geo, pool) = weights
    (xr, ar, kr, kc, fr, sr, wk, cnt) = state
    arrays = dict(wf=wf, bf=bf, wb=wb, bb=bb, chan=chan, w1t=w1t, w2t=w2t, vh=vh, b2=b2, sc=sc, gf=gf, gbf=gbf,
                  gm=gm, gbm=gbm, gl=gl, gbl=gbl, geo=geo, xr=xr, ar=ar, kr=kr, kc=kc, fr=fr, sr=sr, wk=wk, cnt=cnt)
    want = dict(geo=np.int64, cnt=np.int64, kr=np.int32, kc=np.int32)
    for name, a in arrays.items():
        if not a.flags.c_contiguous or a.dtype != want.get(name, np.float32):
            raise AssertionError(f"engine array {name}: {a.dtype}, contiguous={a.flags.c_contiguous}")   # a bug
    nb, nH, _, nB = chan.shape
    return EngineStruct(
        nF=wf.shape[0], nB=nB, nH=nH, nb=nb, nvh=vh.shape[1], pool=int(pool),
        O1=gf.shape[1], Lm=gm.shape[1], G=gm.shape[2], Hg=gl.shape[2] if gl.shape[1] else 0,
        RX=xr.shape[1], RA=ar.shape[1], RK=kr.shape[1], RS=sr.shape[0], W=wk.shape[1], ldb=wb.shape[1], cexp=float(cexp),
        **{name: a.ctypes.data for name, a in arrays.items()})


def main() -> int:
    """``python -m bench.engine.cengine``: build (or find) this machine's library and print its path."""
    try:
        print(build(force="--force" in sys.argv))
    except CBackendUnavailable as e:
        print(f"C engine backend not built: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
