"""Citation and licence metadata: CITATION.cff is complete CFF 1.2.0, consistent with pyproject, LICENSE,
the README's BibTeX block and the dataset card's; the README names no file outside the repository."""
import re
import tomllib
from pathlib import Path

import yaml

from datagen.card_sections import CITATION_BIBTEX

REPO = Path(__file__).resolve().parents[1]
# required keys of CFF 1.2.0 (https://github.com/citation-file-format/citation-file-format/blob/main/schema.json)
CFF_REQUIRED = ("cff-version", "message", "title", "authors")


def _cff() -> dict:
    return yaml.safe_load((REPO / "CITATION.cff").read_text())


def test_cff_complete_and_consistent_with_pyproject():
    c = _cff()
    for k in CFF_REQUIRED:
        assert c.get(k), f"CITATION.cff: missing {k}"
    assert c["cff-version"] == "1.2.0"
    assert all(a.get("name") or a.get("family-names") for a in c["authors"])
    proj = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert str(c["version"]) == proj["version"]
    assert c["license"] == "Apache-2.0"
    assert "Apache-2.0" in str(proj.get("license"))
    # no placeholder URLs: a url key, if any, must be a real http(s) address
    for k in ("url", "repository-code", "repository"):
        if k in c:
            assert re.match(r"^https?://[^<>\s]+$", c[k]) and "example" not in c[k], k
    for ref in c.get("references", []):
        assert ref.get("title") and ref.get("authors") and ref.get("type"), ref


def test_licence_file_is_apache_2():
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


def test_readme_bibtex_matches_card_and_cff():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bibtex\n(.*?)\n```", readme, re.S)
    assert blocks, "README: no ```bibtex block"
    assert blocks[0].strip() == CITATION_BIBTEX.strip()
    title = " ".join(re.search(r"title\s*=\s*\{(.*?)\},", CITATION_BIBTEX, re.S).group(1).split())
    assert title == _cff()["title"]
    assert f"version = {{{_cff()['version']}}}" in CITATION_BIBTEX


def test_readme_references_only_files_in_the_repository():
    readme = (REPO / "README.md").read_text()
    assert not re.search(r"DESIGN\.md|DATA\.md|PAPERS\.md|\.\./shared|/work/shared", readme)
    for path in re.findall(r"`((?:docs|datagen|bench|benchmarks|scripts|profiles|tests)/[\w./-]+\.(?:md|py|sh|yaml))`",
                           readme):
        assert (REPO / path).exists(), f"README names {path}, which is not in the repository"


def test_no_tracked_file_cites_documents_outside_the_repository():
    """Code, docs and profiles cite papers and measured facts, never the team's private notes."""
    import subprocess

    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.yaml", "*.sh", "*.cff", "*.toml"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"\b(DESIGN|DATA|PAPERS)\.md\b|\.\./shared/|/work/shared")
    hits = [f for f in files if f != "tests/test_citation.py" and pattern.search((REPO / f).read_text(errors="ignore"))]
    assert not hits, f"files citing documents users do not have: {hits}"
