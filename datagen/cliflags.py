"""The flags every ``sebench`` command spells the same way (one progress flag, one level flag).

* ``--no-progress`` (hidden alias ``--quiet``) -> ``args.no_progress``; it also makes ``disable=True``
  tqdm's default (:func:`tqdm_defaults`), so bars deep inside library code and in workers stay silent.
* ``--level NAME [NAME ...]`` (repeatable; hidden alias ``--levels``) -> ``args.levels`` for commands that
  take a subset of levels; commands that take exactly one level use a plain ``--level NAME``.
"""
from __future__ import annotations

import argparse
import functools
import os
import re
import sys


def tqdm_defaults(**kw) -> None:
    """Default tqdm options (e.g. ``disable=True``) for this process and the processes it starts.

    tqdm reads ``TQDM_<OPTION>`` environment variables once, when it is imported; so this sets them (for
    child processes and a later import) and also rebinds the defaults of an already imported tqdm.
    Options passed explicitly to ``tqdm(...)`` still win.
    """
    for k, v in kw.items():
        os.environ[f"TQDM_{k.upper()}"] = str(v)
    std = sys.modules.get("tqdm.std")
    if std is not None:
        init = std.tqdm.__dict__["__init__"]
        if isinstance(init, functools.partialmethod):
            std.tqdm.__init__ = functools.partialmethod(init.func, *init.args, **{**init.keywords, **kw})
        else:
            std.tqdm.__init__ = functools.partialmethod(init, **kw)


def plain_help(text: str | None) -> str | None:
    """Help text without reST markup: ``x`` and :role:`x` become x (module docstrings feed the descriptions)."""
    if not text:
        return text
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"`{1,2}([^`]*)`{1,2}", r"\1", text)


def add_params_arg(ap: argparse.ArgumentParser) -> None:
    """``--params FILE`` plus :func:`setup_stage_parser` (``datagen.config.add_params_arg`` calls this)."""
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    setup_stage_parser(ap)


def setup_stage_parser(ap: argparse.ArgumentParser) -> None:
    """What every stage parser shares (called by ``add_params_arg``): plain-text description and
    ``--no-progress``."""
    ap.description = plain_help(ap.description)
    add_progress_arg(ap)


class _NoProgress(argparse.Action):
    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, default=False, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        tqdm_defaults(disable=True)


def add_progress_arg(ap: argparse.ArgumentParser) -> None:
    """``--no-progress`` (and the hidden alias ``--quiet``) -> ``args.no_progress``; silences every tqdm bar.

    Called through ``add_params_arg``, so every stage has it; a spelling the parser already defines is left alone.
    """
    have = ap._option_string_actions   # argparse has no public "has option" query
    if "--no-progress" not in have:
        ap.add_argument("--no-progress", dest="no_progress", action=_NoProgress, help="no progress bars")
    if "--quiet" not in have:
        ap.add_argument("--quiet", dest="no_progress", action=_NoProgress, help=argparse.SUPPRESS)


def add_levels_arg(ap: argparse.ArgumentParser, help: str) -> None:  # noqa: A002 (argparse's name)
    """``--level NAME [NAME ...]`` (repeatable; hidden alias ``--levels``) -> ``args.levels`` (None if absent)."""
    ap.add_argument("--level", dest="levels", nargs="+", action="extend", metavar="NAME", help=help)
    ap.add_argument("--levels", dest="levels", nargs="+", action="extend", help=argparse.SUPPRESS)
