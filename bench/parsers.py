"""Argument parsers of the commands whose modules import torch or scikit-learn at the top.

They live here, importable with the standard library only, so that ``sebench train --help`` answers
without loading torch (``bench.cli`` prints the help from :data:`PARSERS`); the command modules build
their parser from here too, so help and behaviour cannot drift apart. Add an option here, not in the
command module.
"""
from __future__ import annotations

import argparse

from datagen.cliflags import add_params_arg


def train() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sebench train", description="sebench train --level L: train one "
                                 "Conv-FSENet at one pruning level (params levels[L]).")
    add_params_arg(ap)
    ap.add_argument("--level", required=True, help="pruning level name (a key of params levels)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    ap.add_argument("--stop-after-epochs", type=int, default=None,
                    help="leave after this many epochs in this invocation (checkpoint kept; rerun resumes)")
    return ap


def enhance() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sebench enhance", description="sebench enhance --level L: run a "
                                 "trained model over params enhance.splits.")
    add_params_arg(ap)
    ap.add_argument("--level", required=True, help="pruning level name (a key of params levels)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    return ap


def probe() -> argparse.ArgumentParser:
    from datagen.cliflags import add_levels_arg

    ap = argparse.ArgumentParser(prog="sebench probe", description="sebench probe: linear / MLP probes on "
                                 "the DynCP gate masks, with controls, selection, cost, plots.")
    add_params_arg(ap)
    add_levels_arg(ap, help="subset of gated levels (default: all with keep < 1)")
    ap.add_argument("--no-plots", action="store_true", help="skip figures (t-SNE is the slow one)")
    return ap


def baselines() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sebench baselines", description="sebench baselines: train/evaluate "
                                 "standalone auxiliary models beside the mask probes.")
    add_params_arg(ap)
    ap.add_argument("--dataset-dir", help="override paths.dataset_dir")
    ap.add_argument("--baselines-dir", help="override paths.baselines_dir (model cache, predictions)")
    ap.add_argument("--reports-dir", help="override paths.reports_dir")
    ap.add_argument("--only", nargs="+", choices=["trained", "vad", "f0"], default=["trained", "vad", "f0"],
                    help="which groups of baselines to run (default: all)")
    ap.add_argument("--retrain", action="store_true", help="ignore the model cache")
    return ap


PARSERS = {"train": train, "enhance": enhance, "probe": probe, "baselines": baselines}
