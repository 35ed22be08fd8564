"""Import structure: no module of bench/ or datagen/ imports itself back through others, even inside a
function (a loop hidden behind a function-level import still couples the two modules both ways)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _graph() -> dict[str, set[str]]:
    mods: dict[str, set[str]] = {}
    for pkg in ("bench", "datagen"):
        for p in (ROOT / pkg).rglob("*.py"):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            name = name[: -len(".__init__")] if name.endswith(".__init__") else name
            deps = set()
            for node in ast.walk(ast.parse(p.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("bench", "datagen"):
                    deps.add(node.module)
                    deps |= {f"{node.module}.{a.name}" for a in node.names}
                elif isinstance(node, ast.Import):
                    deps |= {a.name for a in node.names if a.name.split(".")[0] in ("bench", "datagen")}
            mods[name] = deps
    return {m: {d for d in ds if d in mods and d != m} for m, ds in mods.items()}


def test_no_import_cycles():
    g = _graph()
    assert len(g) > 50 and "bench.train" in g and "datagen.labels" in g
    cycles = set()

    def walk(start: str, node: str, path: list[str]) -> None:
        for n in g[node]:
            if n == start:
                cycles.add(tuple(sorted(path)))
            elif n not in path and len(path) < 10:
                walk(start, n, path + [n])

    for m in g:
        walk(m, m, [m])
    assert not cycles, f"import cycles: {sorted(cycles)}"

