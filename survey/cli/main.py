"""`survey`: plan, fly and analyse disaster-survey drone flights."""

from __future__ import annotations

from dataclasses import dataclass

import typer
from rich.console import Console

from survey.cli import analyze as analyze_cmd
from survey.cli import demo as demo_cmd
from survey.cli import detect as detect_cmd
from survey.cli import fly as fly_cmd
from survey.cli import plan as plan_cmd
from survey.cli import sitl as sitl_cmd

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
)


@dataclass(frozen=True)
class AppContext:
    """What every command shares: where to print results and errors."""

    out: Console
    err: Console


@app.callback()
def main(ctx: typer.Context) -> None:
    """Drone disaster survey pipeline."""
    ctx.obj = AppContext(out=Console(), err=Console(stderr=True))


app.command("demo")(demo_cmd.demo)
app.command("plan", no_args_is_help=True)(plan_cmd.plan)
app.command("fly", no_args_is_help=True)(fly_cmd.fly)
app.add_typer(sitl_cmd.sitl_app, name="sitl")
app.command("detect", no_args_is_help=True)(detect_cmd.detect)
app.command("train", no_args_is_help=True)(detect_cmd.train)
app.command("evaluate", no_args_is_help=True)(detect_cmd.evaluate)
app.add_typer(detect_cmd.dataset_app, name="dataset")
app.command("analyze", no_args_is_help=True)(analyze_cmd.analyze)
app.command("map", no_args_is_help=True)(analyze_cmd.map_cmd)
app.command("share", no_args_is_help=True)(analyze_cmd.share)
