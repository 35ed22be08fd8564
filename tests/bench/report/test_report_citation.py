"""CITATION.cff: CFF 1.2.0 with the fields the format requires and the two method papers as references."""
from __future__ import annotations

from pathlib import Path

import yaml

CFF = Path(__file__).resolve().parents[3] / "CITATION.cff"


def test_citation_cff_required_fields():
    d = yaml.safe_load(CFF.read_text())
    assert d["cff-version"] == "1.2.0"
    for k in ("message", "title", "authors", "version", "license", "type"):
        assert d.get(k), k
    assert all(("name" in a) or ("family-names" in a) for a in d["authors"])
    ids = {i["value"] for r in d["references"] for i in r.get("identifiers", [])}
    assert {"arXiv:2412.17121", "arXiv:2602.10666"} <= ids
    assert "dataset_sha256" in d["message"] and "git_commit" in d["message"]
