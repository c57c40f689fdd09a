"""`survey`: plan, fly and analyse disaster-survey drone flights."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from survey.cli import analyze as analyze_cmd
from survey.cli import demo as demo_cmd
from survey.cli import detect as detect_cmd
from survey.cli import fly as fly_cmd
from survey.cli import plan as plan_cmd
from survey.cli import review as review_cmd
from survey.cli import sitl as sitl_cmd
from survey.cli.errors import print_error

USAGE_EXIT = 2
"""Exit code of a command line that cannot be parsed, as of any other bad input."""


class OneLineErrors(TyperGroup):
    """The app's command group: a command line that cannot be parsed (an option the command
    does not take, a missing argument, a value of the wrong type, no such command) is one
    ``error:`` line on stderr and exit code 2, like every other error, for every command.

    ``--help`` and a bare command (which prints its help) are unchanged.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        run = super().main
        if not standalone_mode:
            return run(args, prog_name, complete_var, standalone_mode=False,
                       windows_expand_args=windows_expand_args, **extra)
        try:
            code = run(args, prog_name, complete_var, standalone_mode=False,
                       windows_expand_args=windows_expand_args, **extra)
        except typer.TyperException as e:  # click's ClickException and UsageError
            _usage_error(e)
        except typer.Abort:
            print_error(Console(stderr=True), "aborted")
            sys.exit(1)
        # without standalone mode, an Exit (typer.Exit, --help) comes back as its code
        sys.exit(code if isinstance(code, int) else 0)


def _usage_error(e: typer.TyperException) -> NoReturn:
    if type(e).__name__ == "NoArgsIsHelpError":  # the help is already printed (typer's test)
        sys.exit(USAGE_EXIT)
    message = e.format_message().rstrip(".")
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        message = f"{ctx.command_path}: {message}; see {ctx.command_path} --help"
    print_error(Console(stderr=True), message)
    sys.exit(USAGE_EXIT)


app = typer.Typer(
    name="survey",
    help="Drone disaster survey: plan obstacle-aware flights, fly them over MAVLink, find the "
    "damage in the photos and map it for HQ.",
    epilog="Example: survey plan examples/joso/area.geojson --obstacles "
    "examples/joso/zones.geojson --camera mavic3e --gsd 2.0 --overlap 80/70 -o out/joso  "
    "(survey plan --help lists the cameras)",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    cls=OneLineErrors,
)


@dataclass(frozen=True)
class AppContext:
    """What every command shares: where to print results and errors."""

    out: Console
    err: Console


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        Console().print(f"survey {version('drone-survey')}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(ctx: typer.Context, show_version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_show_version,
        is_eager=True)] = False) -> None:
    """Drone disaster survey pipeline."""
    ctx.obj = AppContext(out=Console(), err=Console(stderr=True))


app.command("demo")(demo_cmd.demo)
app.command("plan", no_args_is_help=True)(plan_cmd.plan)
app.command("fly", no_args_is_help=True)(fly_cmd.fly)
app.add_typer(sitl_cmd.sitl_app, name="sitl")
app.command("detect", no_args_is_help=True)(detect_cmd.detect)
app.command("train", no_args_is_help=True)(detect_cmd.train)
app.command("evaluate", no_args_is_help=True)(detect_cmd.evaluate)
app.command("calibrate", no_args_is_help=True)(detect_cmd.calibrate)
app.add_typer(detect_cmd.dataset_app, name="dataset")
app.command("analyze", no_args_is_help=True)(analyze_cmd.analyze)
app.command("map", no_args_is_help=True)(analyze_cmd.map_cmd)
app.command("share", no_args_is_help=True)(analyze_cmd.share)
app.add_typer(review_cmd.review_app, name="review")
