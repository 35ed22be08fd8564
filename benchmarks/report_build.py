"""Wall time of `sebench report` (tables + every figure + index.html) and of a headless-chromium render.

Runs on the small synthetic finished run of tests/bench/report/conftest.py (4 test mixtures, 3 levels), so
the figures are of the report machinery itself, not of scoring. Prints the figures and writes
reports/benchmarks/report_build.json. Usage: python benchmarks/report_build.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from bench.report.cli import build_report
    from bench.report.provenance import collect, cpu_model
    from bench.params import load_params
    from tests.bench.report.conftest import build_run

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pfile = build_run(tmp / "run")
        params = load_params(pfile)
        t_tables, t_full = [], []
        for i in range(a.repeats):
            t0 = time.perf_counter()
            build_report(params, tmp / f"t{i}", html=False, log=lambda *_: None)
            t_tables.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            w = build_report(params, tmp / f"f{i}", html=True, log=lambda *_: None)
            t_full.append(time.perf_counter() - t0)
        page = w["html"]
        chrome = shutil.which("chromium")
        t_browser = None
        if chrome:
            t0 = time.perf_counter()
            subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={tmp / 'prof'}", f"--screenshot={tmp / 's.png'}",
                            "--window-size=1400,2400", page.as_uri()], capture_output=True, timeout=300)
            t_browser = time.perf_counter() - t0
        res = dict(
            what="sebench report build time on the synthetic test run (4 test mixtures, levels static/keep50/keep25)",
            implementation="bench.report.cli.build_report (matplotlib Agg figures, base64-embedded)",
            machine=f"{cpu_model()}, {os.cpu_count()}-core CPU (shared, loaded)", python=platform.python_version(),
            repeats=a.repeats, tables_only_s_median=statistics.median(t_tables),
            with_html_s_median=statistics.median(t_full), html_bytes=page.stat().st_size,
            chromium_screenshot_s=t_browser, provenance=collect(params, cuda=False))
    print(f"tables+csv+provenance: {res['tables_only_s_median']:.2f} s (median of {a.repeats})")
    print(f"with index.html:       {res['with_html_s_median']:.2f} s, page {res['html_bytes'] / 1e3:.0f} kB")
    print(f"chromium screenshot:   {t_browser if t_browser is None else f'{t_browser:.2f} s'}")
    out = ROOT / "reports" / "benchmarks" / "report_build.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
