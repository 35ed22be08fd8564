"""What every ``sebench`` command shares: its progress and level flags, its elapsed time and its warnings.

* :func:`add_progress_arg` (from :mod:`datagen.cliflags`, importable without ``bench``) -- ``--no-progress``
  (hidden alias ``--quiet``): ``args.no_progress``; it also turns tqdm's default to ``disable=True``.
* :func:`add_levels_arg` -- ``--level NAME [NAME ...]`` (hidden alias ``--levels``): ``args.levels``.
  Commands that take exactly one level use a plain ``--level NAME``.
* :class:`StageRun` -- wraps one command in :func:`bench.cli.main`: prints ``sebench <cmd>: done in 12.3 s``
  when it succeeds (a failure keeps its one-line error) and replaces the usual warning dump with one summary line
  (``sebench probe: 1750 warnings of 2 kinds: UserWarning x1748 "Features [..] are constant." ...``),
  counting warnings of forked worker processes too. ``python -W ...`` or ``PYTHONWARNINGS`` turn the
  summary off (warnings print as usual).
* When stderr is not a terminal (a log file, ``dvc repro`` in CI) tqdm redraws at most every
  :data:`LOG_MININTERVAL_S` seconds instead of 10 times a second (unless ``TQDM_MININTERVAL`` is set), so
  logs stay small.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

from datagen.cliflags import add_levels_arg, add_progress_arg, tqdm_defaults  # noqa: F401  (re-exported)

LOG_MININTERVAL_S = 30.0
_MAX_KINDS_SHOWN = 3
_MSG_CHARS = 90


def _kind(message: str) -> str:
    """A warning's text with numbers and bracketed lists collapsed, so 1,750 channel lists are one kind."""
    s = re.sub(r"\[[^\]]*\]", "[..]", str(message).splitlines()[0] if str(message) else "")
    return re.sub(r"\d+(\.\d+)?", "N", s)


class StageRun:
    """Context manager around one command: elapsed time and a one-line warning summary on exit.

    Warnings are counted per kind (category, module, text with numbers collapsed) instead of printed. Forked
    worker processes (multiprocessing, ProcessPoolExecutor) inherit the counter; each writes its counts
    to a temp folder when it exits normally, and the parent adds them to its own.
    """

    def __init__(self, name: str, stream=None):
        self.name, self.stream = name, stream or sys.stderr
        self.counts: Counter = Counter()
        self.first: dict[tuple, str] = {}
        self.summarise = not sys.warnoptions
        self.rc = 0   # the command's exit status, set by the caller: nonzero prints no "done in"
        self.active = False

    # --- warnings -------------------------------------------------------------------------------------
    def _show(self, message, category, filename, lineno, file=None, line=None):
        mod = Path(filename).parent.name + "/" + Path(filename).name
        key = (category.__name__, f"{mod}:{lineno}", _kind(message))
        self.counts[key] += 1
        self.first.setdefault(key, str(message).splitlines()[0] if str(message) else "")

    def _after_fork(self, _obj=None):
        """In a forked worker: start from zero and report the counts when the worker exits."""
        from multiprocessing import util

        if not self.active:   # a finished StageRun still alive in a later fork: nothing to collect
            return
        self.counts, self.first = Counter(), {}
        util.Finalize(self, self._dump_child, exitpriority=100)

    def _dump_child(self):
        if not self.counts:
            return
        f = Path(self._dir) / f"{os.getpid()}.json"
        rows = [[list(k), n, self.first.get(k, "")] for k, n in self.counts.items()]
        try:
            f.write_text(json.dumps(rows))
        except OSError:   # the parent already finished its summary
            pass

    def _collect_children(self):
        for f in sorted(Path(self._dir).glob("*.json")):
            try:
                for k, n, first in json.loads(f.read_text()):
                    self.counts[tuple(k)] += n
                    self.first.setdefault(tuple(k), first)
            except (OSError, ValueError):
                pass
            f.unlink(missing_ok=True)
        Path(self._dir).rmdir()

    def summary(self) -> str | None:
        """``"<n> warnings of <k> kinds: <Category> x<n> "<text>" (<file:line>); ..."`` or None."""
        if not self.counts:
            return None
        total = sum(self.counts.values())
        parts = []
        for (cat, where, _k), n in self.counts.most_common(_MAX_KINDS_SHOWN):
            msg = self.first.get((cat, where, _k), "")
            msg = msg if len(msg) <= _MSG_CHARS else msg[: _MSG_CHARS - 3] + "..."
            parts.append(f'{cat} x{n} "{msg}" ({where})')
        more = len(self.counts) - len(parts)
        tail = f"; {more} more kinds" if more > 0 else ""
        kinds = "kind" if len(self.counts) == 1 else "kinds"
        return f"{total} warnings of {len(self.counts)} {kinds}: " + "; ".join(parts) + tail

    # --- context --------------------------------------------------------------------------------------
    def __enter__(self):
        self.t0 = time.perf_counter()
        self.active = True
        if not self.stream.isatty() and "TQDM_MININTERVAL" not in os.environ:
            tqdm_defaults(mininterval=LOG_MININTERVAL_S)
        if self.summarise:
            from multiprocessing import util

            self._dir = tempfile.mkdtemp(prefix="sebench-warnings-")
            self._saved = warnings.showwarning
            warnings.showwarning = self._show
            util.register_after_fork(self, StageRun._after_fork)
        return self

    def __exit__(self, exc_type, exc, tb):
        dt = time.perf_counter() - self.t0
        self.active = False
        if self.summarise:
            warnings.showwarning = self._saved
            self._collect_children()
            line = self.summary()
            if line:
                print(f"sebench {self.name}: {line}", file=self.stream)
        ok = self.rc == 0 and (exc_type is None or (exc_type is SystemExit and not exc.code))
        if ok:   # a failure's own message stays the one line the user reads (no "failed after" line)
            print(f"sebench {self.name}: done in {_fmt_s(dt)}", file=self.stream)
        self.elapsed_s = dt
        return False


def _fmt_s(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min ({s:.0f} s)"
