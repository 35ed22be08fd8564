"""index.html: self-contained, every section present, and it renders in a real headless browser."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from bench.report.cli import cli


@pytest.fixture(scope="module")
def page(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    assert cli(["--params", str(run_dir / "params.yaml"), "--out", str(out)]) == 0
    return out / "index.html"


def test_page_self_contained_with_all_parts(page):
    h = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", h), "external resource"
    assert "url(" not in h and "<script" not in h and "<link" not in h
    imgs = re.findall(r'src="data:image/png;base64,', h)
    # pareto, probes vs level, curves.png, aux_baselines.png, block keep, example masks, 1 more probe figure
    assert len(imgs) == 7, len(imgs)
    assert "Figure not available" not in h
    assert 'id="leaderboard"' in h and "keep25" in h and "ΔPESQ-wb" in h
    assert "Dataset card" in h and "<strong>3 classes</strong>" in h and "<table>" in h
    assert "example.org/x" in h and 'href="https' not in h
    assert "dataset_sha256" in h and "pkg_pesq" in h and "test mixture test-0000" in h


def test_page_renders_in_headless_chromium(page, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (scripts/setup.sh installs it with apt-get)")
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    r = subprocess.run([exe, *flags, f"--screenshot={shot}", "--window-size=1400,2400", page.as_uri()],
                       capture_output=True, text=True, timeout=180)
    assert shot.is_file(), f"no screenshot (rc {r.returncode}): {r.stderr[-2000:]}"
    px = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert px.shape[0] >= 2000 and px.shape[1] >= 1300
    assert px.std() > 10.0, "blank screenshot"
    assert (px < 128).mean() > 0.005, "almost no dark pixels (text / plots missing)"
    dom = subprocess.run([exe, *flags[:-1], f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=180)
    assert '<table id="leaderboard">' in dom.stdout, dom.stderr[-2000:]
    assert "keep50" in dom.stdout and "Provenance" in dom.stdout
