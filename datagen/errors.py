"""The one root of the project's domain exceptions.

Every error a user can cause with bad input, bad params or a bad file derives from :class:`SebenchError`;
``sebench`` (``bench/cli.py``) prints such an error as one line, ``sebench <command>: <message>``, and exits
with status 2, without a traceback. Domain exceptions keep their historical built-in base too (mostly
``ValueError``) so existing ``except ValueError`` code keeps working.
"""
from __future__ import annotations


class SebenchError(Exception):
    """Root of every domain error (bad params, bad input files, inconsistent stage outputs)."""


class ParamsError(SebenchError, ValueError):
    """``params.yaml`` or a profile is invalid: the message names the file, the key's dotted path and the
    allowed values (see :mod:`datagen.config`)."""
