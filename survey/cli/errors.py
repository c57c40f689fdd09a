"""Turning an error into one line on stderr and an exit code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from survey.cli.text import escape
from survey.core.errors import SurveyError

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def print_error(err: Console, message: str) -> None:
    """``error: message`` as one line on ``err`` (line breaks in it become spaces)."""
    err.print(f"[bold red]error:[/] {escape(_LINE_BREAKS.sub(' ', message.strip()))}",
              soft_wrap=True, highlight=False)


@contextmanager
def cli_errors(err: Console) -> Iterator[None]:
    """Report a SurveyError raised in the body as ``error: …`` and exit with its code."""
    try:
        yield
    except SurveyError as e:
        print_error(err, str(e))
        raise typer.Exit(e.exit_code) from None
