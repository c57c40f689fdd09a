"""Turning a SurveyError into one line on stderr and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from survey.cli.text import escape
from survey.errors import SurveyError


@contextmanager
def cli_errors(err: Console) -> Iterator[None]:
    """Report a SurveyError raised in the body as ``error: …`` and exit with its code."""
    try:
        yield
    except SurveyError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True, highlight=False)
        raise typer.Exit(e.exit_code) from None
