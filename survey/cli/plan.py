"""`survey plan`: area + no-fly zones → obstacle-aware sorties and mission files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from missions.plan.model import Plan

if TYPE_CHECKING:
    from missions.plan.fleet import FleetPlan
from survey.cli.errors import cli_errors
from survey.cli.options import Altitude, Gsd, OutDir, Overlap
from survey.cli.text import escape
from survey.core.camera import CATALOG, DEFAULT_CAMERA
from survey.core.errors import InputError

_CAMERAS = ", ".join(
    f"{c.name} ({c.sensor_w_mm:g}×{c.sensor_h_mm:g} mm, {c.focal_mm:g} mm, "
    f"{c.image_w_px}×{c.image_h_px})" for c in CATALOG.values()
)

RENAMED = {
    "altitude_m": "altitude", "gsd_cm": "gsd", "front_overlap": "overlap",
    "side_overlap": "overlap", "cruise_speed_m_s": "speed", "endurance_s": "endurance",
    "max_range_m": "max_range", "margin_m": "margin", "home_latlon": "home", "wind_m_s": "wind",
    "terrain_tolerance_m": "terrain_tolerance", "corridor_width_m": "width",
}
"""The planner's parameters (:class:`~missions.plan.planner.PlanRequest` and
:class:`~missions.plan.drone.DroneProfile` fields) this command names otherwise."""

EPILOG = (
    "Example: survey plan examples/joso/area.geojson --obstacles examples/joso/zones.geojson "
    "--camera mavic3e --gsd 2.0 --overlap 80/70 -o out/joso\n\n"
    "Over a valley, in a wind: survey plan examples/valley/area.geojson --dem "
    "examples/valley/dem.tif --gsd 2.0 --wind 6@270 -o out/valley\n\n"
    "Along a river bank: survey plan --corridor examples/joso/levee.geojson --width 80 "
    "--obstacles examples/joso/zones.geojson --gsd 2.0 -o out/levee\n\n"
    "Three drones at once: survey plan examples/joso/area.geojson --obstacles "
    "examples/joso/zones.geojson --gsd 2.0 --drones 3 -o out/fleet"
)


def parse_overlap(text: str) -> tuple[float, float]:
    """``"80/70"`` → (0.80, 0.70).

    >>> parse_overlap("75/65")
    (0.75, 0.65)
    """
    try:
        front, side = (float(v) / 100.0 for v in text.split("/"))
    except ValueError:
        raise InputError("--overlap", f"expected FRONT/SIDE in percent, e.g. 80/70, got "
                         f"{text!r}") from None
    return front, side


def parse_wind(text: str) -> tuple[float, float]:
    """``"6@270"`` (6 m/s from the west) → (6.0, 270.0).

    >>> parse_wind("6@270")
    (6.0, 270.0)
    """
    try:
        speed, from_deg = (float(v) for v in text.split("@"))
    except ValueError:
        raise InputError("--wind", f"expected SPEED@FROM_DEG (m/s, degrees clockwise from "
                         f"north the wind blows from), e.g. 6@270, got {text!r}") from None
    if not 0.0 <= from_deg <= 360.0:
        raise InputError("--wind", f"the direction the wind blows from must be 0–360°, got "
                         f"{from_deg:g}")
    return speed, from_deg % 360.0


def _check_what_to_fly(area: Path | None, corridor: Path | None, width: float | None,
                       patrol: Path | None) -> None:
    """One of an area or a corridor (with its width); a patrol flies over an area."""
    if area is None and corridor is None:
        raise InputError("area", "give the survey area, or --corridor LINES with --width")
    if area is not None and corridor is not None:
        raise InputError("--corridor", "give the survey area or --corridor, not both")
    if corridor is not None and patrol is not None:
        raise InputError("--corridor", "a corridor scan and --patrol cannot be combined")
    if corridor is not None and width is None:
        raise InputError("--width", "a corridor scan needs the corridor's width, e.g. --width 60")
    if corridor is None and width is not None:
        raise InputError("--width", "--width is the width of a --corridor")


def plan(
    ctx: typer.Context,
    out: OutDir,
    area: Annotated[Path | None, typer.Argument(
        help="Survey area: polygon(s) in GeoJSON, KML/KMZ, GeoPackage, Shapefile (any CRS); "
        "leave out with --corridor.")] = None,
    obstacles: Annotated[Path | None, typer.Option(
        "--obstacles", help="No-fly zones and obstacles (a vector file as for the area; "
        "optional height_m).")] = None,
    home: Annotated[str | None, typer.Option(
        "--home", help="Launch point LAT,LON (default: the area's edge nearest its centre).",
    )] = None,
    camera: Annotated[str, typer.Option(
        "--camera", help=f"Camera: {_CAMERAS}; or custom:WxH:FOCAL:PXxPY (mm, mm, px).",
    )] = DEFAULT_CAMERA,
    altitude: Altitude = None,
    gsd: Gsd = None,
    overlap: Overlap = "75/65",
    patrol: Annotated[Path | None, typer.Option(
        "--patrol", help="Patrol points/lines of interest (any vector file): visit them instead of "
        "covering the area.")] = None,
    speed: Annotated[float, typer.Option(help="Cruise speed, m/s.")] = 10.0,
    endurance: Annotated[float, typer.Option(help="Battery endurance, minutes.")] = 25.0,
    reserve: Annotated[float, typer.Option(help="Battery reserve, percent.")] = 20.0,
    max_range: Annotated[float, typer.Option(help="Farthest distance from home, metres.")
                         ] = 2000.0,
    margin: Annotated[float, typer.Option(
        help="Horizontal clearance from no-fly zones and tall obstacles, metres.")] = 10.0,
    allow_altitude: Annotated[bool, typer.Option(
        "--allow-altitude", help="Allow altitudes above the 150 m ceiling.")] = False,
    refly: Annotated[bool, typer.Option(
        help="Re-fly the last line at each sortie cut, so photos overlap across it.")] = True,
    wind: Annotated[str | None, typer.Option(
        "--wind", metavar="SPEED@FROM_DEG", help="Steady wind to plan for, e.g. 6@270 (6 m/s "
        "from the west): sortie times from each leg's ground speed, sweep lines across the "
        "wind when that flies faster.")] = None,
    corridor: Annotated[Path | None, typer.Option(
        "--corridor", help="Corridor scan instead of an area: centre line(s) of a river bank, "
        "levee or road (any vector file), flown in lines along it; needs --width.")] = None,
    width: Annotated[float | None, typer.Option(
        "--width", help="With --corridor: the corridor's width, metres.")] = None,
    drones: Annotated[int | None, typer.Option(
        "--drones", min=1, help="Fly the survey with N copies of the drone at once: the area is "
        "cut into N parts of equal flight time, each flown from its own home (its outer edge "
        "nearest its centre, off the seams); files in OUT/droneK/ and a fleet summary.json.")
    ] = None,
    fleet: Annotated[Path | None, typer.Option(
        "--fleet", help="Fleet file (JSON): per drone name, home LAT,LON, camera, speed_m_s, "
        "endurance_min (missing: this command's values); parts of equal flight time, files in "
        "OUT/<name>/.")] = None,
    dem: Annotated[Path | None, typer.Option(
        "--dem", help="Elevation model (GeoTIFF, any CRS, heights above sea level): follow the "
        "terrain at the altitude above ground, waypoints written above sea level.")] = None,
    terrain_tolerance: Annotated[float, typer.Option(
        help="With --dem: most the flown height may stray from the altitude above ground, "
        "metres (photos are sized for the lowest).")] = 5.0,
) -> None:
    """Plan an obstacle-aware survey (or patrol) split into battery-sized sorties.

    Writes per sortie a QGroundControl [bold].plan[/] and a Mission Planner
    [bold].waypoints[/] file, fence and rally files, and plan.kml / plan.geojson / summary.json.
    """
    from shapely.geometry import Polygon

    from missions.plan.drone import DroneProfile, Wind
    from missions.plan.export.bundle import write_plan_files
    from missions.plan.inputs import parse_latlon, read_area, read_pois, read_zones
    from missions.plan.planner import PlanRequest, make_plan
    from survey.core.camera import camera_from_name

    app = ctx.obj
    with cli_errors(ctx, RENAMED):
        front, side = parse_overlap(overlap)  # the numbers' bounds: missions.plan.limits
        air = Wind(*parse_wind(wind)) if wind else Wind()
        _check_what_to_fly(area, corridor, width, patrol)
        lines = ()
        if corridor is not None:
            from missions.plan.corridor import read_corridor

            lines = tuple(read_corridor(corridor))
        if dem is not None:
            from mapping.dem import open_dem  # rasterio, only for a plan over terrain
        req = PlanRequest(
            area=read_area(area) if area is not None else Polygon(),
            corridor=lines,
            corridor_width_m=width,
            corridor_source=str(corridor),
            zones=read_zones(obstacles) if obstacles else (),
            pois=read_pois(patrol) if patrol else (),
            home_latlon=parse_latlon(home) if home else None,
            camera=camera_from_name(camera),
            altitude_m=altitude,
            gsd_cm=gsd,
            front_overlap=front,
            side_overlap=side,
            drone=DroneProfile(cruise_speed_m_s=speed, endurance_s=endurance * 60.0,
                               reserve=reserve / 100.0, max_range_m=max_range, wind=air),
            margin_m=margin,
            allow_altitude=allow_altitude,
            refly=refly,
            area_source=str(area if area is not None else corridor),
            zones_source=str(obstacles),
            pois_source=str(patrol),
            dem=open_dem(dem) if dem is not None else None,
            terrain_tolerance_m=terrain_tolerance,
            dem_source=str(dem),
        )
        if drones is not None and fleet is not None:
            raise InputError("--fleet", "give --drones or --fleet, not both")
        if drones is not None or fleet is not None:
            from missions.plan.fleet import copies, make_fleet_plan, read_fleet, write_fleet_files

            members = read_fleet(fleet) if fleet else copies(drones or 1)
            with app.err.status("Planning the fleet…"):
                team = make_fleet_plan(req, members)
            with app.err.status("Writing files…"):
                written = write_fleet_files(team, out)
            render_fleet_summary(team, app.out)
            app.out.print(f"Wrote {len(written)} files to [bold]{escape(str(out))}[/]")
            return
        with app.err.status("Planning…"):
            result = make_plan(req)
        with app.err.status("Writing files…"):
            written = write_plan_files(result, out)
    render_summary(result, app.out)
    app.out.print(f"Wrote {len(written)} files to [bold]{escape(str(out))}[/]")


plan.__doc__ = (plan.__doc__ or "") + "\n\n" + EPILOG


def render_fleet_summary(team: FleetPlan, console: Console) -> None:
    """The fleet as a table, one row per drone, then its notes and each drone's own plan."""
    t = Table(title=f"Fleet plan: {len(team.drones)} drones, makespan "
                    f"{team.makespan_s / 60:.1f} min")
    for col in ("drone", "part ha", "sorties", "distance km", "time min", "photos", "home"):
        t.add_column(col, justify="right")
    for d in team.drones:
        p = d.plan
        t.add_row(escape(d.name), f"{d.part.area / 1e4:.2f}", str(len(p.sorties)),
                  f"{p.distance_m / 1000:.2f}", f"{p.time_s / 60:.1f}", str(p.photo_count),
                  f"{p.home_lat_deg:.6f}, {p.home_lon_deg:.6f}")
    t.add_row("total", f"{team.area.area / 1e4:.2f}",
              str(sum(len(d.plan.sorties) for d in team.drones)),
              f"{sum(d.plan.distance_m for d in team.drones) / 1000:.2f}",
              f"{team.total_time_s / 60:.1f}", str(sum(d.plan.photo_count for d in team.drones)),
              "", style="bold")
    console.print(t)
    for note in team.notes:
        console.print(f"[dim]note[/] {escape(note)}")
    for d in team.drones:
        console.rule(escape(d.name))
        render_summary(d.plan, console)


def render_summary(plan: Plan, console: Console) -> None:
    """The plan as tables: one row per sortie, then the totals and the survey parameters."""
    t = Table(title=f"{plan.mode.value.capitalize()} plan: {len(plan.sorties)} sortie(s)")
    for col in ("sortie", "lines" if plan.mode.value == "survey" else "targets", "distance km",
                "time min", "photos", "items"):
        t.add_column(col, justify="right")
    for s in plan.sorties:
        t.add_row(str(s.number), str(s.lines), f"{s.distance_m / 1000:.2f}",
                  f"{s.time_s / 60:.1f}", str(len(s.photos)), str(len(s.items)))
    t.add_row("total", str(sum(s.lines for s in plan.sorties)), f"{plan.distance_m / 1000:.2f}",
              f"{plan.time_s / 60:.1f}", str(plan.photo_count),
              str(sum(len(s.items) for s in plan.sorties)), style="bold")
    console.print(t)
    info = Table(show_header=False, box=None)
    info.add_column(style="dim")
    info.add_column()
    info.add_row("camera", escape(plan.camera.name))
    if plan.absolute_altitudes:
        info.add_row("altitude", f"{plan.altitude_m:.1f} m ± {plan.terrain_tolerance_m:g} m "
                     f"above ground (terrain; home ground {plan.home_alt_amsl_m:.1f} m AMSL)")
    else:
        info.add_row("altitude", f"{plan.altitude_m:.1f} m above take-off")
    info.add_row("GSD", f"{plan.gsd_cm:.2f} cm/px")
    info.add_row("overlap", f"{plan.front_overlap * 100:.0f} % front / "
                 f"{plan.side_overlap * 100:.0f} % side")
    info.add_row("line spacing", f"{plan.spacing_m:.1f} m, photo every {plan.trigger_m:.1f} m")
    if plan.mode.value == "survey":
        info.add_row("area covered", f"{plan.covered.area / 1e4:.2f} ha")
    if not plan.unreachable.is_empty:
        info.add_row("unreachable", f"{plan.unreachable.area / 1e4:.2f} ha (beyond range or "
                     "battery)", style="yellow")
    info.add_row("home", f"{plan.home_lat_deg:.6f}, {plan.home_lon_deg:.6f}")
    for note in plan.notes:
        info.add_row("note", escape(note))
    console.print(info)
