"""No command-line flag inside a library error (#12): library code names a bad parameter as it
names it itself (``ParamError("margin_m", …)``), and only ``survey.cli`` spells it as an option
(``--margin``). Read from the source, every library module (all but ``survey/cli``):

- no error is raised with a ``--flag`` as its source (``InputError("--home", …)``);
- a :class:`~survey.core.errors.ParamError` names identifiers (``"url"``, not ``"--connect"``
  or ``"epochs/batch"``; several go as a tuple);
- no ``--flag`` is handed on as an argument that names the source (``check_baud(b, "--baud")``,
  ``source="--home"``).

Each rule is shown to fire on a copy of a module with the old line put back.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from survey.core.errors import InputError, ParamError

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ("survey", "missions", "detection", "mapping", "sitl")
ROOF_CLI = ROOT / "survey" / "cli"
FLAG = re.compile(r"--[a-z][a-z0-9-]*(/--[a-z][a-z0-9-]*)*")


def library_files(root: Path = ROOT) -> list[Path]:
    cli = root / "survey" / "cli"
    return sorted(f for pkg in LIBRARY for f in (root / pkg).rglob("*.py")
                  if cli not in f.parents)


def _head(node: ast.expr) -> str | None:
    """The text a string argument starts with (an f-string: its first literal part)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _names(node: ast.expr) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, ast.Tuple) else [node]


HELPERS = ("check_", "parse_", "read_")
"""Library helpers that take the name of what they check, for their errors."""
SOURCE_KEYWORDS = ("source", "param", "option")


def flag_sources(file: Path, root: Path = ROOT) -> list[str]:
    """``path:line: what`` for each place a library error would carry a command-line flag."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = _callee(call)
        where = f"{file.relative_to(root).as_posix()}:{call.lineno}"
        if name.endswith("Error"):
            for arg in _names(call.args[0]) if call.args else []:
                head = _head(arg)
                if head is not None and head.startswith("--"):
                    found.append(f"{where}: {name} with source {head!r}")
                elif name == "ParamError" and not (isinstance(arg, ast.Constant)
                                                   and head is not None and head.isidentifier()):
                    if head is not None:
                        found.append(f"{where}: ParamError names {head!r}, not an identifier")
            continue
        handed = [k.value for k in call.keywords if k.arg in SOURCE_KEYWORDS]
        if name.startswith(HELPERS):
            handed += call.args
        for arg in handed:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                    and FLAG.fullmatch(arg.value):
                found.append(f"{where}: {name}(…{arg.value!r}…) hands on a flag")
    return found


def test_no_library_error_names_a_flag() -> None:
    files = library_files()
    assert len(files) > 50 and not any(ROOF_CLI in f.parents for f in files)
    problems = [p for f in files for p in flag_sources(f)]
    assert not problems, "library errors name their parameters, the CLI maps them:\n" + \
        "\n".join(problems)


@pytest.mark.parametrize(("module", "line", "expect"), [
    ("missions/plan/planner.py", 'raise InputError("--overlap", "bad")', "with source '--overlap'"),
    ("missions/fly/link.py", 'raise InputError(f"--{x}", "bad")', "with source '--'"),
    ("detection/train.py", 'raise ParamError("--epochs", "bad")', "with source '--epochs'"),
    ("detection/train.py", 'raise ParamError(("epochs", "--batch"), "bad")',
     "with source '--batch'"),
    ("detection/train.py", 'raise ParamError("epochs/batch", "bad")', "not an identifier"),
    ("missions/fly/link.py", 'check_baud(baud, "--connect")', "hands on a flag"),
    ("missions/plan/planner.py", 'check_bound("--speed", 1.0)', "hands on a flag"),
    ("survey/pipelines/demo.py", 'make(text, source="--home")', "hands on a flag"),
])
def test_the_scan_fires_on_a_flag_put_back(tmp_path: Path, module: str, line: str,
                                           expect: str) -> None:
    copy = tmp_path / "tree"
    for pkg in LIBRARY:
        shutil.copytree(ROOT / pkg, copy / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n\ndef _bad(x, baud, text):\n"
                      f"    {line}\n", encoding="utf-8")
    problems = [p for f in library_files(copy) for p in flag_sources(f, copy)]
    assert len(problems) == 1 and expect in problems[0], problems
    assert problems[0].startswith(module + ":"), problems


def test_the_cli_is_not_scanned(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    for pkg in LIBRARY:
        (copy / pkg).mkdir(parents=True)
    (copy / "survey" / "cli").mkdir()
    (copy / "survey" / "cli" / "x.py").write_text('raise InputError("--home", "bad")\n')
    assert library_files(copy) == []


def test_a_param_error_is_an_input_error_named_by_its_parameters() -> None:
    one = ParamError("margin_m", "must be 0–2000 m, got -1")
    assert isinstance(one, InputError) and one.exit_code == 2
    assert one.params == ("margin_m",) and one.source == "margin_m"
    assert str(one) == "margin_m: must be 0–2000 m, got -1"
    both = ParamError(("epochs", "batch"), "need epochs ≥ 1, batch ≥ 1")
    assert both.params == ("epochs", "batch") and str(both).startswith("epochs/batch: ")


def raised_params(file: Path) -> set[str]:
    """The parameter names ``file`` raises :class:`ParamError` with, as constants, or hands to
    a ``check_…`` helper that raises it (``check_bound("margin_m", …)``)."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    found: set[str] = set()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = _callee(call)
        args = _names(call.args[0]) if name == "ParamError" and call.args else (
            call.args if name.startswith("check_") else [])
        found.update(a.value for a in args if isinstance(a, ast.Constant)
                     and isinstance(a.value, str) and a.value.isidentifier())
    return found


def test_raised_params_are_read_from_the_source() -> None:
    assert raised_params(ROOT / "missions/fly/link.py") == {"url", "baud", "signing_key"}
    assert {"cruise_speed_m_s", "gsd_cm", "home_latlon"} <= raised_params(
        ROOT / "missions/plan/planner.py")
    assert raised_params(ROOT / "detection/train.py") == {"epochs", "imgsz", "batch"}
