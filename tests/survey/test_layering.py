"""The house's layering, read from the source (every import, lazy ones too):

- ``survey.core`` (the foundation) imports nothing of ours but itself;
- the library packages (``missions``, ``detection``, ``mapping``, ``sitl``) import the foundation
  and each other along one direction only, never the roof (``survey.cli``, ``survey.pipelines``);
- inside ``missions``, flying reads plans but planning never imports flying;
- no two modules import each other at run time, directly or round a longer cycle (an import
  under ``if TYPE_CHECKING:`` is for annotations and does not count).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("survey", "missions", "detection", "mapping", "sitl")
LIBRARIES = ("missions", "detection", "mapping", "sitl")


def module_name(file: Path, root: Path = ROOT) -> str:
    parts = file.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(file: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """Our modules that ``file`` imports: ``from a.b import c`` counts ``a.b.c`` when that is a
    module, else ``a.b``."""
    mod = module_name(file, root)
    package = mod if file.name == "__init__.py" else mod.rpartition(".")[0]
    tree = ast.parse(file.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for stmt in block.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: no import at run time
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            subs = {f"{base}.{a.name}" for a in node.names} & modules
            found.update(subs or {base})
    return found & modules


def graph(root: Path = ROOT) -> nx.DiGraph:
    files = [f for pkg in OURS for f in (root / pkg).rglob("*.py")]
    modules = {module_name(f, root) for f in files}
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for f in files:
        source = module_name(f, root)
        for target in imports_of(f, modules, root) - {source}:
            g.add_edge(source, target)
    return g


def layer(module: str) -> str:
    """``core``, ``roof`` or the library package's name."""
    if module == "survey" or module.startswith("survey.core"):
        return "core"
    if module.startswith("survey."):
        return "roof"
    return module.split(".")[0]


def violations(g: nx.DiGraph) -> list[str]:
    bad = []
    for a, b in g.edges:
        la, lb = layer(a), layer(b)
        if la == "core" and lb != "core":
            bad.append(f"foundation {a} imports {b}")
        if la in LIBRARIES and lb == "roof":
            bad.append(f"library {a} imports the roof's {b}")
        if a.startswith("missions.plan") and b.startswith("missions.fly"):
            bad.append(f"planning {a} imports flying {b}")
    packages = nx.DiGraph((layer(a), layer(b)) for a, b in g.edges
                          if layer(a) in LIBRARIES and layer(b) in LIBRARIES
                          and layer(a) != layer(b))
    bad += [f"library packages import each other: {' -> '.join(c)}"
            for c in nx.simple_cycles(packages)]
    bad += [f"import cycle: {' -> '.join(c)}" for c in nx.simple_cycles(g)]
    return bad


def test_the_house_keeps_its_layers() -> None:
    assert violations(graph()) == []


@pytest.mark.parametrize(("source", "target", "problem"), [
    ("survey/core/frame.py", "missions.plan.model", "foundation survey.core.frame imports"),
    ("detection/merge.py", "survey.pipelines.analyze", "library detection.merge imports the roof"),
    ("missions/plan/planner.py", "missions.fly.link", "planning missions.plan.planner imports"),
    ("detection/tiling.py", "mapping.georef", "library packages import each other"),
    ("survey/core/damage.py", "survey.core.frame", None),
])
def test_a_wrong_import_is_found(tmp_path: Path, source: str, target: str,
                                 problem: str | None) -> None:
    """The check fails when one import breaks a rule: each rule, on a copy of the tree."""
    for pkg in OURS:
        shutil.copytree(ROOT / pkg, tmp_path / pkg,
                        ignore=shutil.ignore_patterns("weights", "assets", "*.pt", "data"))
    file = tmp_path / source
    file.write_text(file.read_text(encoding="utf-8") + f"\nimport {target}\n", encoding="utf-8")
    found = violations(graph(tmp_path))
    if problem is None:
        assert found == []
    else:
        assert any(problem in v for v in found), found


def test_a_cycle_is_found(tmp_path: Path) -> None:
    g = nx.DiGraph([("detection.train", "detection.evaluate"),
                    ("detection.evaluate", "detection.train")])
    [found] = violations(g)
    assert found.startswith("import cycle: detection.")
