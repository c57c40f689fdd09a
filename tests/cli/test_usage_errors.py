"""A command line that cannot be parsed is one ``error:`` line on stderr and exit code 2, for
every command (the app's group, :class:`survey.cli.main.OneLineErrors`); --help is unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from survey.cli.main import app

ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


@pytest.mark.parametrize(("args", "expect"), [
    (["plan", "area.geojson", "--bogus"], "survey plan: No such option: --bogus"),
    (["plan", "area.geojson", "--speed", "abc"], "survey plan: Invalid value for '--speed'"),
    (["detect", "a.jpg"], "survey detect: Missing option '--out' / '-o'"),
    (["analyze", "--out", "o"], "survey analyze: Missing argument"),
    (["map", "folder"], "survey map: Missing option '-o' / '--out'"),
    (["train", "data.yaml", "-o", "o", "--epochs", "many"],
     "survey train: Invalid value for '--epochs'"),
    (["dataset", "xbd", "x", "-o", "o", "--seed", "1.5"],
     "survey dataset xbd: Invalid value for '--seed'"),
    (["sitl", "nosuch"], "survey sitl: No such command 'nosuch'"),
    (["nosuch"], "survey: No such command 'nosuch'"),
    (["--bogus"], "survey: No such option: --bogus"),
    (["evaluate", "w", "d.yaml", "--split", "bogus"],
     "survey evaluate: Invalid value for '--split'"),
    (["detect", "a.jpg", "-o", "o", "--conf", "1.5"], "survey detect: Invalid value for '--conf'"),
    (["detect", "a.jpg", "-o", "o", "--tile-overlap", "0.95"],
     "survey detect: Invalid value for '--tile-overlap'"),
    (["detect", "a.jpg", "-o", "o", "--overlap", "0.2"],
     "survey detect: No such option: --overlap"),
])
def test_a_usage_error_is_one_line_exit_2(args: list[str], expect: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expect in lines[0], err
    assert lines[0].endswith("--help")  # names where the usage is
    assert "╭" not in err and out == ""


def test_an_existing_file_as_output_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    for command in (["detect", "a.jpg"], ["dataset", "synthetic"]):
        code, _, err = run(*command, "-o", tmp_path / "a_file")
        assert code == 2 and len(err.splitlines()) == 1, err
        assert err.startswith("error: ") and f"'{tmp_path / 'a_file'}' is a file" in err


@pytest.mark.parametrize("command", [[], ["plan"], ["detect"], ["sitl"], ["dataset", "xbd"]])
def test_help_is_unchanged(command: list[str]) -> None:
    code, out, err = run(*command, "--help")
    assert code == 0 and err == ""
    assert out.lstrip().startswith(f"Usage: {' '.join(['survey', *command])} [OPTIONS]")
    assert "--help" in out and "Show this message and exit." in out
    # a bare command prints its help, as before (to stdout, exit 2, no error line)
    if command and command != ["sitl"]:
        code, bare, err = run(*command)
        assert code == 2 and err == "" and bare.lstrip().startswith("Usage:")


def test_version() -> None:
    from importlib.metadata import version

    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"survey {version('drone-survey')}"


def test_one_flag_name_means_one_thing() -> None:
    """``--overlap`` is the photo overlap of a plan; the detector's tiles overlap by
    ``--tile-overlap``."""
    _, plan_help, _ = run("plan", "--help")
    _, detect_help, _ = run("detect", "--help")
    assert "--overlap" in plan_help and "--tile-overlap" not in plan_help
    assert "--tile-overlap" in detect_help
    assert not re.search(r"--overlap\b", detect_help.replace("--tile-overlap", ""))
