"""The self-contained report page: inline CSS, figures as base64 PNG, no external URL (opens offline)."""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from bench.report.leaderboard import display_rows, metric_spec_rows, notes_list

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1360px;color:#222;
background:#fff;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #ccc;padding-bottom:2px;margin-top:1.6em}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #bbb;padding:3px 6px;
text-align:right;vertical-align:top}th{background:#eef2f7}td:first-child,th:first-child{text-align:left}
table.prov td,table.prov th,table.spec td,table.spec th{text-align:left}tr:nth-child(even) td{background:#f8f9fb}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#555}
.note{font-size:13px;color:#555}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
.card{border:1px solid #ddd;padding:8px 16px;background:#fcfcfc}
"""
_EXT_LINK = re.compile(r'<a href="(https?://[^"]*)"[^>]*>(.*?)</a>', re.S)


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def figure(png: bytes | None, caption: str, missing: str | None = None) -> str:
    """A <figure> with the embedded PNG, or a note saying why the figure is absent."""
    if png is None:
        return f'<p class="note">Figure not available: {html.escape(missing or caption)}</p>'
    return f"<figure>{img_tag(png, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def table(head: list[str], body: list[list[str]], tid: str | None = None, cls: str | None = None) -> str:
    attrs = (f' id="{tid}"' if tid else "") + (f' class="{cls}"' if cls else "")
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body)
    return f"<table{attrs}><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def md_to_html(text: str) -> str:
    """Markdown -> HTML with markdown-it-py (installed with rich); raw HTML disabled, external links as text."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # keep the page buildable without it
        return f"<pre>{html.escape(text)}</pre>"
    out = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return _EXT_LINK.sub(lambda m: f"{m.group(2)} ({html.escape(m.group(1))})", out)


def page(lb: pd.DataFrame, prov_html: str, figures: list[str], sections: list[tuple[str, str]],
         title: str = "DynCP speech-enhancement benchmark report") -> str:
    """The whole page. ``figures``: HTML snippets; ``sections``: (heading, HTML body) after the figures."""
    head, body = display_rows(lb)
    spec = [[m, *((s.split(" | ", 2) + ["", ""])[:3])] for m, s in metric_spec_rows(lb)]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in notes_list(lb)) or "<li>none</li>"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">Generated {html.escape(str(lb["run_id"].iloc[0]) if len(lb) else "")} by '
        "<code>sebench report</code>; every number below carries the provenance block at the end of this page. "
        "Full precision: <code>leaderboard.csv</code>.</p>",
        "<h2>Leaderboard</h2>", table(head, body, tid="leaderboard"),
        "<h3>Notes (reason for every n/a)</h3>", f'<ul class="note">{notes}</ul>',
        "<h3>Metric implementations</h3>",
        table(["metric", "implementation", "version", "mode"], spec, tid="metric-spec", cls="spec"),
        "<h2>Figures</h2>", *figures,
    ]
    for h, b in sections:
        parts += [f"<h2>{html.escape(h)}</h2>", b]
    parts += ["<h2>Provenance</h2>", prov_html, "</body></html>"]
    return "\n".join(parts) + "\n"


def embed_existing_png(path: Path, caption: str) -> str:
    """Figure from a PNG another stage wrote, or a note that it is absent."""
    return figure(path.read_bytes() if path.is_file() else None, caption, f"{path} missing")
