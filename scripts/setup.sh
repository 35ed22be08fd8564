#!/usr/bin/env bash
# Set up everything a fresh machine needs: a venv with the pinned stack, the package, test tools.
# Idempotent. Usage: scripts/setup.sh   (VENV=.venv by default)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# requirements.lock pins every package (torch 2.11 with the torchaudio 2.11 built against it).
"$VENV/bin/python" -m pip install -q -c requirements.lock -e '.[test]'
# librosa's numba caches: delete any (a pair written by two processes at once segfaults every later import,
# see datagen/numba_warm.py) and compile them once, serially, before any stage starts worker processes.
find "$("$VENV/bin/python" -c 'import os, importlib.util; print(os.path.dirname(importlib.util.find_spec("librosa").origin))')" \
  -name '*.nb[ic]' -delete
"$VENV/bin/python" -c 'from datagen.numba_warm import warm_librosa; warm_librosa()'
# The streaming engine's C backend (bench/engine/csrc/engine.c), built for this CPU into ~/.cache/sebench/engine;
# without a C compiler the engine uses its numba backend instead (a message, not a failure).
"$VENV/bin/python" -m bench.engine.cengine >/dev/null || echo "setup: C engine backend not built (numba backend used)"
# Debian tools used by the report's browser test (optional elsewhere): chromium for a headless render.
if [ "${SETUP_APT:-1}" = "1" ] && ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "setup: chromium not installed (browser test will be skipped)"
fi
echo "setup: ok ($("$VENV/bin/python" -c 'import torch, torchaudio; print("torch", torch.__version__, "torchaudio", torchaudio.__version__)'))"
