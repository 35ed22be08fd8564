"""``njit`` with an on-disk cache when a cache location is writable, without one otherwise."""
from __future__ import annotations

import numba


def njit(fn=None, **kw):
    """``numba.njit(cache=True, **kw)``; falls back to ``cache=False`` when numba finds no writable cache
    directory (read-only install; numba raises RuntimeError "no locator available" at decoration)."""
    def deco(f):
        try:
            return numba.njit(cache=True, **kw)(f)
        except RuntimeError:
            return numba.njit(cache=False, **kw)(f)
    return deco if fn is None else deco(fn)
