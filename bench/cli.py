"""``sebench``: the one command behind every DVC stage and every manual run.

Each subcommand lives in its own module as ``cli(argv: list[str]) -> int``; this file only dispatches,
importing lazily so ``sebench --help`` stays fast.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "build-corpus": ("datagen.build_corpus", "rebuild the embedded default corpus from Debian packages"),
    "corpus": ("datagen.corpus", "index the configured sources into a manifest"),
    "plan": ("datagen.plan", "sample every random choice of every mixture into a table"),
    "render": ("datagen.render", "render mixtures from the plan (shardable k/n, resumable)"),
    "labels": ("datagen.labels", "frame-level ground truth + dataset metadata + dataset card"),
    "train": ("bench.train", "train one Conv-FSENet at one pruning level"),
    "enhance": ("bench.enhance", "enhance the test split, record gate masks for all splits"),
    "score": ("bench.score.cli", "per-utterance quality metrics and aggregates with CIs"),
    "evaluate": ("bench.evaluate", "enhance + score your own noisy/clean pairs with the trained models"),
    "probe": ("bench.probes.cli", "linear / MLP probes on the gate masks, with controls"),
    "baselines": ("bench.baselines.cli", "standalone auxiliary models and their compute"),
    "report": ("bench.report.cli", "leaderboard, report page and provenance"),
    "profile": ("bench.profile", "write params.yaml for a profile (tiny, paper, vbd, ...)"),
}


def _version() -> str:
    """The installed package's version (pyproject ``version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dyncp-sebench")
    except PackageNotFoundError:   # run from a source tree that was never pip-installed
        import re
        from pathlib import Path

        text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
        return re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)


def _usage() -> str:
    lines = ["usage: sebench [--version] <command> [options]", "", "commands:"]
    lines += [f"  {name:<14}{help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "sebench <command> --help for a command's options; every command accepts --no-progress (no bars),",
              "prints its elapsed time and sums up its warnings in one line."]
    return "\n".join(lines)


NO_PARAMS_CHECK = {"profile"}   # commands that do not run on params.yaml (profile validates what it writes)


def _params_file(rest: list[str]) -> str:
    """The ``--params`` value of a stage's arguments (default params.yaml)."""
    for i, a in enumerate(rest):
        if a == "--params" and i + 1 < len(rest):
            return rest[i + 1]
        if a.startswith("--params="):
            return a.split("=", 1)[1]
    return "params.yaml"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"sebench {_version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"sebench: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from datagen.errors import SebenchError

    try:
        # the whole params file is validated before any work (datagen/config.py): a typo fails here, in one line
        if name not in NO_PARAMS_CHECK and not {"-h", "--help"} & set(rest):
            from pathlib import Path

            from datagen.config import check_params_file

            if Path(_params_file(rest)).is_file():
                check_params_file(_params_file(rest))
        if {"-h", "--help"} & set(rest):
            from bench.parsers import PARSERS   # torch/sklearn commands: help without importing them

            if name in PARSERS:
                try:
                    PARSERS[name]().parse_args(rest)
                except SystemExit as e:
                    return int(e.code or 0)
            return int(importlib.import_module(COMMANDS[name][0]).cli(rest) or 0)
        from bench.stagerun import StageRun

        with StageRun(name) as run:   # elapsed time + one-line warning summary on stderr
            module = importlib.import_module(COMMANDS[name][0])
            run.rc = int(module.cli(rest) or 0)
        return run.rc
    except SebenchError as e:   # bad params / bad input: one line, no traceback
        print(f"sebench {name}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
