"""`survey sitl start`: a simulated copter to fly against (built-in or ArduPilot SITL)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from sitl.launch import SimulatedCopter, VehicleKind, start_vehicle
from survey.cli.errors import cli_errors
from survey.cli.text import escape
from survey.core.errors import InputError
from survey.core.files import read_json
from survey.core.plan_folder import PlanFolder

RENAMED = {"terrain": "dem"}
"""The launcher's parameters this command names otherwise."""

EPILOG = ("Example: survey sitl start --plan out/joso --speedup 5  (home from the plan; then, "
          "in another terminal: survey fly out/joso --connect tcp:127.0.0.1:5760)\n\n"
          "Over terrain: survey sitl start --plan out/joso --dem dem.tif  (the built-in copter "
          "flies over the DEM, home on it; for a plan made with survey plan --dem dem.tif)")

sitl_app = typer.Typer(name="sitl", help="Simulated vehicles to fly plans against.",
                       no_args_is_help=True, add_completion=False)


def _wait(stop: threading.Event, vehicle: SimulatedCopter, swap_battery: bool) -> None:
    """Run until ``stop`` is set (Ctrl-C raises KeyboardInterrupt out of here).

    With ``swap_battery``, a copter that has landed and disarmed gets a fresh battery (a
    simulated battery swap between sorties), on either simulator."""
    while not stop.wait(0.2):
        if swap_battery:
            vehicle.swap_battery()


@sitl_app.command("start")
def start(
    ctx: typer.Context,
    home: Annotated[str | None, typer.Option("--home", help="Home LAT,LON (degrees).")] = None,
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="Take home from a folder written by `survey plan`.")] = None,
    vehicle: Annotated[VehicleKind, typer.Option(
        "--vehicle", help="builtin (no install needed) or ardupilot (ARDUPILOT_SITL or "
        "arducopter on PATH).")] = VehicleKind.BUILTIN,
    alt: Annotated[float | None, typer.Option(
        "--alt", help="Ground altitude above sea level, m (default 0); with --dem, only where "
        "the DEM has no height (default: the DEM's height at home).")] = None,
    dem: Annotated[Path | None, typer.Option(
        "--dem", help="Terrain for the built-in copter: an elevation GeoTIFF (heights above "
        "sea level); flat ground at --alt without.")] = None,
    speedup: Annotated[float, typer.Option("--speedup", help="Simulation speed-up.")] = 1.0,
    port: Annotated[int, typer.Option(
        "--port", help="TCP port (builtin; ardupilot: 5760 + 10 × instance, GCS on +2).")
    ] = 5760,
    swap_battery: Annotated[bool, typer.Option(
        help="Recharge the battery whenever the copter has landed and disarmed (both "
        "simulators).")
    ] = True,
) -> None:
    """Start a simulated copter at HOME (or the plan's home) and serve MAVLink until Ctrl-C;
    prints its URL."""
    from missions.plan.inputs import parse_latlon

    app = ctx.obj
    stop = threading.Event()
    with cli_errors(ctx, renamed=RENAMED):
        if home is not None and plan is None:
            lat, lon = parse_latlon(home)
        elif plan is not None and home is None:
            lat, lon = plan_home(plan)
        else:
            raise InputError("--home", "give --home LAT,LON or --plan DIR (one of them)")
        if not speedup > 0:
            raise InputError("--speedup", f"must be positive, got {speedup:g}")
        if not 0 <= port < 65536:
            raise InputError("--port", f"must be 0..65535, got {port}")
        terrain = None
        if dem is not None:
            from mapping.dem import open_dem
            terrain = open_dem(dem)
        sim, url = start_vehicle(vehicle, lat, lon, alt, speedup, port, terrain=terrain)
        try:
            over = f" over {escape(str(dem))}" if dem is not None else ""
            app.out.print(f"{vehicle.value} copter at {lat:.7f},{lon:.7f}{over} ×{speedup:g}: "
                          f"[bold]{escape(url)}[/]", highlight=False)
            app.out.print("Ctrl-C stops it.")
            try:
                _wait(stop, sim, swap_battery)
            except KeyboardInterrupt:
                app.out.print("stopping")
        finally:
            sim.stop()


def plan_home(plan_dir: Path) -> tuple[float, float]:
    """(lat, lon) of home from ``plan_dir/summary.json``.

    Raises
    ------
    InputError
        The file is missing or has no home.
    """
    path = PlanFolder(plan_dir).summary
    doc = read_json(path)
    try:
        home = doc["home"]
        return float(home["lat_deg"]), float(home["lon_deg"])
    except (ValueError, KeyError, TypeError):
        raise InputError(path, "not a survey plan summary (no home lat_deg/lon_deg)") from None


start.__doc__ = (start.__doc__ or "") + "\n\n" + EPILOG
