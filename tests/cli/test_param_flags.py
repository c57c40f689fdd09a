"""The CLI names a library's bad parameter as the running command's option (#12): the library
raises ``ParamError("url", …)``, ``survey fly`` says ``error: --connect: …`` (exit 2). The
options come from each command's own parameters; a table per command covers only the names
that differ (``survey.cli.plan.RENAMED``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import click
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from missions.plan.limits import BOUNDS
from survey.cli import detect as detect_cmd
from survey.cli import fly as fly_cmd
from survey.cli import plan as plan_cmd
from survey.cli import sitl as sitl_cmd
from survey.cli.errors import cli_errors, option_for
from survey.cli.main import app
from survey.core.errors import InputError, ParamError, SurveyError
from tests.cli.test_plan_cli import AREA, ENV
from tests.cli.test_plan_cli import run as run_survey
from tests.survey.test_param_errors import ROOT, raised_params

# --- the mapping, on a command of its own -----------------------------------------------------

toy = typer.Typer()


@toy.callback()
def _toy_main(ctx: typer.Context) -> None:
    ctx.obj = SimpleNamespace(err=Console(stderr=True), out=Console())


@toy.command()
def go(
    ctx: typer.Context,
    raise_: Annotated[str, typer.Option("--raise")],
    area: Annotated[str, typer.Argument()] = "a",
    connect_url: Annotated[str, typer.Option("--connect")] = "",
    margin: Annotated[float, typer.Option("--margin", "-m")] = 0.0,
    refly: Annotated[bool, typer.Option()] = True,
) -> None:
    errors: dict[str, SurveyError] = {
        "url": ParamError("url", "bad URL"),  # renamed: the command calls it connect_url
        "margin_m": ParamError("margin_m", "too wide"),  # renamed to margin
        "refly": ParamError("refly", "cannot"),  # the same name here
        "area": ParamError("area", "empty"),  # an argument
        "both": ParamError(("url", "margin_m"), "disagree"),
        "unknown": ParamError("hold_s", "too long"),  # no option for it: its own name
        "file": InputError("zones.geojson", "not GeoJSON"),  # a file: as it was
        # a message pointing at other parameters names them too; unknown names stay
        "mention": ParamError("margin_m", "lower it or pass `refly`, `hold_s` or `url`"),
        "hint": InputError("zones.geojson", "give `margin_m` and `area`"),
    }
    with cli_errors(ctx, {"url": "connect_url", "margin_m": "margin"}):
        raise errors[raise_]


@pytest.mark.parametrize(("which", "line"), [
    ("url", "error: --connect: bad URL"),
    ("margin_m", "error: --margin: too wide"),
    ("refly", "error: --refly: cannot"),
    ("area", "error: area: empty"),
    ("both", "error: --connect/--margin: disagree"),
    ("unknown", "error: hold_s: too long"),
    ("file", "error: zones.geojson: not GeoJSON"),
    ("mention", "error: --margin: lower it or pass --refly, `hold_s` or --connect"),
    ("hint", "error: zones.geojson: give --margin and area"),
])
def test_a_library_parameter_is_named_as_the_commands_option(which: str, line: str) -> None:
    result = CliRunner().invoke(toy, ["go", "--raise", which], env=ENV)
    assert result.exit_code == 2
    assert result.stderr.strip() == line


# --- every parameter a command's library raises has an option there --------------------------

def command(*path: str) -> click.Command:
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


def lib(*files: str) -> set[str]:
    return set().union(*(raised_params(ROOT / f) for f in files))


CAMERA, DEVICE = "survey/core/camera.py", "detection/device.py"


@pytest.mark.parametrize(("path", "params", "renamed"), [
    (("plan",), lib("missions/plan/planner.py", CAMERA) | set(BOUNDS)
     | {"front_overlap", "side_overlap"}, plan_cmd.RENAMED),
    (("fly",), lib("missions/fly/link.py", "missions/fly/flight.py"), fly_cmd.RENAMED),
    (("sitl", "start"), lib("sitl/launch.py"), sitl_cmd.RENAMED),
    (("train",), lib("detection/train.py", "detection/train_assessor.py", DEVICE), None),
    (("detect",), lib(DEVICE), None),
    (("evaluate",), lib(DEVICE), None),
    (("analyze",), lib("survey/pipelines/analyze.py", CAMERA, DEVICE), None),
    (("dataset", "synthetic"), {"scenes", "gsd_m"}, detect_cmd.SYNTHETIC_RENAMED),
])
def test_every_library_parameter_has_an_option(path: tuple[str, ...], params: set[str],
                                               renamed: dict[str, str] | None) -> None:
    ctx = typer.Context(command(*path))
    assert params
    unmapped = {p: option_for(ctx, p, renamed) for p in params}
    assert all(o.startswith("--") for o in unmapped.values()), unmapped
    own = {p.name for p in ctx.command.params}
    assert set((renamed or {}).values()) <= own  # a rename names one of the command's own


# --- through the real commands ----------------------------------------------------------------

@pytest.mark.parametrize(("args", "line"), [
    (["--gsd", "0.01"], "error: --gsd: must be 0.05–100 cm/px, got 0.01"),
    (["--overlap", "70/99"], "error: --overlap: side overlap 99 % is outside 0–95 %"),
    (["--reserve", "95"], "error: --reserve: must be 0–90 %, got 95"),
    (["--endurance", "0.5"], "error: --endurance: must be 1–600 min, got 0.5"),
    (["--camera", "nope"], "error: --camera: unknown camera 'nope'"),
])
def test_survey_plan_names_its_options(tmp_path: Path, args: list[str], line: str) -> None:
    result, _, err = run_survey("plan", AREA, *args, "-o", tmp_path / "o")
    assert result.exit_code == 2 and err.startswith(line) and err.count("\n") == 1, err


def test_survey_train_names_its_options(tmp_path: Path) -> None:
    data = tmp_path / "data.yaml"
    result, _, err = run_survey("train", data, "-o", tmp_path / "o", "--epochs", 0)
    assert result.exit_code == 2, err
    assert err.startswith("error: --epochs/--imgsz/--batch: need epochs ≥ 1"), err
    result, _, err = run_survey("train", data, "-o", tmp_path / "o", "--device", "banana")
    assert result.exit_code == 2 and err.startswith("error: --device: 'banana' is not a "), err
