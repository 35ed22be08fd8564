"""Side-by-side summary of several ``bench_train_curve.py`` runs (e.g. loss variants), chosen on valid only.

    .venv/bin/python benchmarks/compare_train_curves.py LABEL=curve.json [LABEL=curve.json ...] \
        --out reports/benchmarks/loss_variants.json

For each run: its recorded training settings, the noisy reference, every epoch's valid PESQ-wb / STOI /
SI-SDR gains, and the mean gains over its last ``--last`` epochs (the curves are noisy epoch to epoch).
Runs stopped early are kept and marked ``complete: false``; compare them at equal epochs. Runs started
together share the CPU, so their minutes are not comparable to a lone run's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen.atomic import write_json  # noqa: E402

GAINS = ("pesq_wb_gain", "stoi_gain", "si_sdr_gain_db")


def summarise(label: str, path: Path, last: int) -> dict:
    d = json.loads(path.read_text())
    rows = d["rows"]
    if not rows:
        raise SystemExit(f"{path}: no epochs recorded")
    tail = rows[-last:]
    return {"label": label, "file": path.name, "train": d["train"], "noisy": d["noisy"],
            "valid_utterances": d["valid_utterances"], "epochs_run": len(rows), "complete": d["complete"],
            "machine": d["machine"], "versions": d["versions"],
            f"mean_gain_last_{len(tail)}_epochs": {g: float(np.mean([r[g] for r in tail])) for g in GAINS if g in tail[0]},
            "rows": [{k: r[k] for k in ("epoch", "train_minutes", "valid_loss", *GAINS) if k in r} for r in rows]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="LABEL=path/to/train_curve.json")
    ap.add_argument("--last", type=int, default=3, help="average the gains over this many last epochs")
    ap.add_argument("--note", default="", help="free text stored with the summary (how the runs were made)")
    ap.add_argument("--out", default=str(ROOT / "reports/benchmarks/loss_variants.json"))
    a = ap.parse_args()
    runs = []
    for spec in a.runs:
        label, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"{spec!r}: expected LABEL=path")
        runs.append(summarise(label, Path(path), a.last))
    for r in runs:
        g = next(v for k, v in r.items() if k.startswith("mean_gain_last"))
        print(f"{r['label']:<34} epochs {r['epochs_run']:>2}  PESQ-wb {g['pesq_wb_gain']:+.3f}  "
              f"STOI {g['stoi_gain']:+.3f}  SI-SDR {g.get('si_sdr_gain_db', float('nan')):+.2f} dB")
    write_json(Path(a.out), {"benchmark": "compare_train_curves", "split": "valid", "note": a.note,
                             "last_epochs_averaged": a.last, "runs": runs})
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
