"""`survey demo` through the real app: help, and the refusals that must come before any work."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from survey.cli.main import app

ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["demo", *[str(a) for a in args]], env=ENV)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def test_help_has_an_example() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "Example: survey demo -o out/demo" in out


def test_refuses_a_folder_that_is_not_a_demo(tmp_path) -> None:
    keep = tmp_path / "mine" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("precious")
    code, _, err = run("-o", keep.parent)
    assert code == 2
    assert err.count("\n") == 1 and "not a demo folder" in err and "Traceback" not in err
    assert keep.read_text() == "precious"


def test_bad_speedup_and_weights(tmp_path) -> None:
    code, _, err = run("-o", tmp_path / "d", "--speedup", 0)
    assert code == 2 and "--speedup" in err
    code, _, err = run("-o", tmp_path / "d", "--assessor", tmp_path / "none.pt")
    assert code == 2 and "none.pt" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()
