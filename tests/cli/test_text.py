"""Names with terminal escapes or markup are shown as text, never obeyed by the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from survey.cli.main import app

ENV = {"COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
HOSTILE = "a\x1b[31mred\x1b]0;pwned\x07[bold]b\u202e"


@pytest.mark.parametrize("command", [["plan"], ["analyze"], ["map"]])
def test_error_lines_escape_control_characters(tmp_path: Path, command: list[str]) -> None:
    name = tmp_path / f"{HOSTILE}.geojson"
    args = {"plan": [str(name), "-o", str(tmp_path / "o")],
            "analyze": [str(name), "-o", str(tmp_path / "o")],
            "map": [str(name), "-o", str(tmp_path / "m.html")]}[command[0]]
    result = CliRunner().invoke(app, [*command, *args], env=ENV)
    assert result.exit_code == 2
    err = result.stderr
    assert "\x1b" not in err  # not a single raw escape (the runner's console is not a tty)
    assert "\\x1b[31mred\\x1b]0;pwned\\x07" in err, err
    assert "\x07" not in err and "\u202e" not in err and "[bold]b" in err
