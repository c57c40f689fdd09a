"""Every command of `survey` (walked from the app itself, so a new one cannot be forgotten)
answers --help with an example."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from survey.cli.main import app


def _leaves(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in sorted(group.commands.items()):  # type: ignore[attr-defined]
        if hasattr(command, "commands"):  # a group
            out += _leaves(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


COMMANDS = _leaves(typer.main.get_command(app))


def test_the_walk_finds_the_commands() -> None:
    assert {("plan",), ("analyze",), ("review", "apply"), ("calibrate",),
            ("dataset", "xbd")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example: survey " in " ".join(result.output.split())
