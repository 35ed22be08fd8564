"""The labels stage's DVC-tracked outputs depend only on what determines them (issue 15, item 5): its params hash
covers the params it reads (``frames``, ``labels``), and the card carries no timestamp or host name."""
import copy
import json
import platform
import re
from pathlib import Path

import pandas as pd

from datagen.card import write_card
from datagen.config import params_hash
from datagen.labels import LABEL_PARAM_KEYS, build_metadata
from datagen.plan import make_plan
from datagen.render import render


def _label(p: dict) -> dict[str, bytes]:
    write_card(p, build_metadata(p, progress=False))
    ds, rep = Path(p["paths"]["dataset_dir"]), Path(p["paths"]["reports_dir"])
    files = [ds / "dataset_info.json", ds / "classes.json", rep / "dataset_card.md", rep / "dataset_snr_level.png",
             *sorted((ds / "metadata").glob("*.parquet"))]
    return {f.name: f.read_bytes() for f in files}


def test_tracked_outputs_ignore_unrelated_params_and_the_clock(tiny_params):
    p = tiny_params
    m = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    Path(p["paths"]["plan_dir"]).mkdir(parents=True)
    make_plan(m, p).to_parquet(Path(p["paths"]["plan_dir"]) / "plan.parquet", index=False)
    render(p, workers=1)
    first = _label(p)

    info = json.loads(first["dataset_info.json"])
    assert info["params_hash"] == params_hash({k: p[k] for k in LABEL_PARAM_KEYS}) != params_hash(p)
    card = first["dataset_card.md"].decode()
    assert f"label params hash `{info['params_hash']}`" in card
    assert not re.search(r"\d{4}-\d{2}-\d{2}|UTC", card), "no timestamp in a tracked output"
    assert platform.node() not in card, "no host name in a tracked output"

    other = copy.deepcopy(p)   # edits the labels stage does not read: a probe setting, the profile name, training
    other["profile"] = "someone-else"
    other["probe"]["seeds"] = list(other["probe"].get("seeds") or [0]) + [99]
    other["train"]["lr"] = float(other["train"]["lr"]) * 2
    assert _label(other) == first                       # byte-identical, rerun later on identical data too

    changed = copy.deepcopy(p)  # a labels setting: the hash must move
    changed["labels"]["frame_snr_floor_db"] = float(changed["labels"]["frame_snr_floor_db"]) - 1.0
    assert json.loads(_label(changed)["dataset_info.json"])["params_hash"] != info["params_hash"]
