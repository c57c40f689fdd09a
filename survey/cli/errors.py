"""Turning an error into one line on stderr and an exit code.

The library names a bad parameter as it names it itself (:class:`ParamError`: ``"margin_m"``,
``"url"``); here it becomes the running command's option (``--margin``, ``--connect``). The
options come from the command's own parameters (``ctx.command.params``: each one's Python name
and its options), so no flag is spelled twice; a command whose parameter is named otherwise
than the library's passes ``renamed`` (library name → its own). A message that points at
another parameter writes its name in backquotes (``"give `altitude_m` or `gsd_cm`"``); those
become the command's options too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import typer
from rich.console import Console

from survey.cli.text import escape
from survey.core.errors import ParamError, SurveyError

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
_MENTION = re.compile(r"`([a-z_][a-z0-9_]*)`")

Renamed = Mapping[str, str]
"""Library parameter name → the command's parameter name, where they differ."""


def print_error(err: Console, message: str) -> None:
    """``error: message`` as one line on ``err`` (line breaks in it become spaces)."""
    err.print(f"[bold red]error:[/] {escape(_LINE_BREAKS.sub(' ', message.strip()))}",
              soft_wrap=True, highlight=False)


def option_for(ctx: typer.Context, param: str, renamed: Renamed | None = None) -> str:
    """How the command of ``ctx`` spells the library's parameter ``param``: its long option
    (``--margin``) or its argument as its usage line shows it (``area``); ``param`` itself
    where it takes no such parameter."""
    name = (renamed or {}).get(param, param)
    for p in ctx.command.params:
        if p.name == name:
            if p.param_type_name == "option":
                return next((o for o in p.opts if o.startswith("--")), p.opts[0])
            return p.metavar or str(p.name)
    return param


def error_message(ctx: typer.Context, e: SurveyError, renamed: Renamed | None = None) -> str:
    """``e`` as the user reads it: a :class:`ParamError`, and every `parameter` its message
    mentions, named as the command's options (a name the command does not take stays)."""
    if isinstance(e, ParamError):
        text = f"{'/'.join(option_for(ctx, p, renamed) for p in e.params)}: {e.problem}"
    else:
        text = str(e)

    names = {p.name for p in ctx.command.params}

    def mention(m: re.Match[str]) -> str:
        param = m.group(1)
        if (renamed or {}).get(param, param) in names:
            return option_for(ctx, param, renamed)
        return m.group(0)

    return _MENTION.sub(mention, text)


@contextmanager
def cli_errors(ctx: typer.Context, renamed: Renamed | None = None) -> Iterator[None]:
    """Report a SurveyError raised in the body as ``error: …`` on the app's stderr console
    (``ctx.obj.err``) and exit with its code; a library parameter is named as the command's
    option (:func:`option_for`)."""
    try:
        yield
    except SurveyError as e:
        print_error(ctx.obj.err, error_message(ctx, e, renamed))
        raise typer.Exit(e.exit_code) from None
