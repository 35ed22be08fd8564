"""index.html in a real headless browser (Debian's chromium): it renders, and the rendered DOM has no raw
Markdown pipes in its text, no image from outside the page, no image wider than its container or the
window (at a desktop and a narrow width), every image decoded and every audio clip playable.

The measurements run in the page: a copy of index.html gets a small script that writes its findings as JSON
into the DOM, which ``chromium --dump-dom`` returns (the report itself carries no script). A deliberately
broken page checks that each measurement catches its fault.
"""
from __future__ import annotations

import html as _html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.report.cli import cli
from tests.bench.report.test_report_html import make_page_run

EXE = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(EXE is None, reason="chromium not installed (scripts/setup.sh installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--mute-audio"]

MEASURE = r"""<script>
window.addEventListener('load', function () {
  var r = {external: [], undecoded: [], overflow: [], rawPipes: [], audio: [], nImg: 0};
  var vw = document.documentElement.clientWidth;
  var imgs = document.querySelectorAll('img');
  r.nImg = imgs.length;
  imgs.forEach(function (im) {
    var src = im.getAttribute('src') || '';
    if (src.indexOf('data:') !== 0) r.external.push(src.slice(0, 100));
    if (!im.complete || im.naturalWidth === 0) r.undecoded.push((im.alt || src).slice(0, 100));
    var b = im.getBoundingClientRect(), c = im.parentElement, cs = getComputedStyle(c);
    var inner = c.getBoundingClientRect().right - parseFloat(cs.paddingRight) - parseFloat(cs.borderRightWidth);
    if (b.right > inner + 0.5 || b.right > vw + 0.5)
      r.overflow.push({alt: (im.alt || '').slice(0, 80), right: b.right, container: inner, viewport: vw});
  });
  var w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), n;
  while ((n = w.nextNode())) {
    // a literal pipe inside a real table cell is text; pipes elsewhere are a table that did not parse
    if (n.parentElement.closest('pre, code, script, style, th, td')) continue;
    if (/\|[^|\n]*\|/.test(n.nodeValue)) r.rawPipes.push(n.nodeValue.trim().slice(0, 120));
  }
  r.scrollWidth = document.documentElement.scrollWidth; r.viewport = vw;
  var auds = Array.prototype.slice.call(document.querySelectorAll('audio'));
  var done = function () {
    auds.forEach(function (a) {
      r.audio.push({src: (a.getAttribute('src') || '').slice(0, 20), duration: a.duration,
                    error: a.error ? a.error.code : null, title: a.title});
    });
    var pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = JSON.stringify(r);
    document.body.appendChild(pre);
  };
  var left = auds.length;
  if (!left) return done();
  var one = function () { if (--left === 0) done(); };
  auds.forEach(function (a) {
    if (a.readyState >= 1 || a.error) one();
    else { a.addEventListener('loadedmetadata', one, {once: true}); a.addEventListener('error', one, {once: true}); }
  });
});
</script>"""


def measure(page: Path, tmp: Path, width: int, height: int = 1200) -> dict:
    """Render a copy of ``page`` with the measuring script at ``width`` px; the script's findings."""
    probe = tmp / f"measure_{width}_{page.stem}.html"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    r = subprocess.run([EXE, *FLAGS, f"--user-data-dir={tmp / f'profile_m{width}'}", f"--window-size={width},{height}",
                        "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()],
                       capture_output=True, text=True, timeout=240)
    m = re.search(r'<pre id="measure">(.*?)</pre>', r.stdout, re.S)
    assert m, f"no measurement (rc {r.returncode}): {r.stderr[-2000:]}"
    return json.loads(_html.unescape(m.group(1)))


@pytest.fixture(scope="module")
def page(run_dir, tmp_path_factory) -> Path:
    params = make_page_run(run_dir, tmp_path_factory.mktemp("browserrun") / "run")
    out = tmp_path_factory.mktemp("browserhtml")
    assert cli(["--params", str(params), "--out", str(out)]) == 0
    return out / "index.html"


def test_page_renders_in_headless_chromium(page, tmp_path):
    shot = tmp_path / "report.png"
    r = subprocess.run([EXE, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                        "--window-size=1400,2400", page.as_uri()], capture_output=True, text=True, timeout=240)
    assert shot.is_file(), f"no screenshot (rc {r.returncode}): {r.stderr[-2000:]}"
    px = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert px.shape[0] >= 2000 and px.shape[1] >= 1300
    assert px.std() > 10.0, "blank screenshot"
    assert (px < 128).mean() > 0.005, "almost no dark pixels (text / plots missing)"
    dom = subprocess.run([EXE, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=240)
    assert '<table id="leaderboard">' in dom.stdout, dom.stderr[-2000:]
    assert "keep50" in dom.stdout and "Provenance" in dom.stdout


@pytest.mark.parametrize("width", [1400, 800])
def test_rendered_page_has_no_raw_pipes_external_or_overflowing_images(page, tmp_path, width):
    m = measure(page, tmp_path, width)
    assert m["nImg"] == 10, m["nImg"]
    assert m["external"] == [], m["external"]
    assert m["undecoded"] == [], m["undecoded"]
    assert m["overflow"] == [], m["overflow"]
    assert m["rawPipes"] == [], m["rawPipes"]
    assert m["scrollWidth"] <= m["viewport"], f"page scrolls sideways: {m['scrollWidth']} > {m['viewport']} px"
    assert len(m["audio"]) == 15
    for a in m["audio"]:
        assert a["error"] is None and a["src"].startswith("data:audio/flac"), a
        assert a["duration"] is not None and 0.5 <= float(a["duration"]) <= 3.05, a


def test_measurements_catch_each_fault(tmp_path):
    """A page with a Markdown table left as text, an outside image and an image wider than its box."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{max-width:600px}</style></head>'
                   "<body><p>| split | n |\n|---|---|\n| test | 4 |</p>"
                   '<div style="width:300px"><img alt="wide" style="width:500px" src="data:image/gif;base64,'
                   'R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="></div>'
                   '<img alt="remote" src="http://127.0.0.1:9/x.png"></body></html>')
    m = measure(bad, tmp_path, 1000)
    assert m["rawPipes"] and m["rawPipes"][0].startswith("| split | n |")
    assert m["external"] == ["http://127.0.0.1:9/x.png"] and m["undecoded"] == ["remote"]
    assert [o["alt"] for o in m["overflow"]] == ["wide"]
