"""`survey plan`'s library entry: inputs → Plan (sorties of MAVLink items, fence, rally)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from missions.plan import items as mi
from missions.plan.corridor import check_width, corridor_area, corridor_tasks
from missions.plan.coverage import coverage_route
from missions.plan.drone import DroneProfile
from missions.plan.fence_budget import ARDUPILOT_FENCE, fit_fence, is_round
from missions.plan.inputs import Poi, Zone
from missions.plan.limits import (
    BOUNDS,
    MAX_PHOTOS,
    MAX_PLAN_VERTICES,
    PLAN_TOLERANCE_M,
    check_bound,
    check_vertices,
)
from missions.plan.model import Mode, Photo, Plan, Sortie, footprints_union
from missions.plan.patrol import order_tasks
from missions.plan.sorties import SortieRoute, Task, merge_pieces, pieces, split_sorties
from missions.plan.visibility import Router
from survey.core.camera import Camera
from survey.core.errors import InputError, ParamError, PlanningError
from survey.core.frame import LocalFrame
from survey.core.geometry import lines_of, polygons_of

if TYPE_CHECKING:  # rasterio is imported only for a plan with a DEM
    from mapping.dem import Dem
    from missions.plan.terrain import TerrainFollower

XY = tuple[float, float]

_MITRE_LIMIT = 1.1  # margins grown with mitred corners, bevelled beyond 10 % over the margin
_REFLY_PIECE = 0.05  # longest piece of a sweep line, as a share of a sortie's range


@dataclass(frozen=True)
class PlanRequest:
    """Everything `survey plan` needs; lon/lat geometry, as read from the files."""

    area: BaseGeometry  # Polygon | MultiPolygon (lon/lat); for patrol, may be empty
    camera: Camera
    zones: Sequence[Zone] = ()
    pois: Sequence[Poi] = ()
    home_latlon: tuple[float, float] | None = None
    altitude_m: float | None = None
    gsd_cm: float | None = None
    front_overlap: float = 0.75
    side_overlap: float = 0.65
    drone: DroneProfile = field(default_factory=DroneProfile)
    margin_m: float = 10.0  # horizontal clearance from no-fly zones and tall obstacles
    vertical_clearance_m: float = 20.0  # an obstacle this far below the altitude is overflown
    max_altitude_m: float = 150.0
    allow_altitude: bool = False
    refly: bool = True
    hold_s: float = 2.0  # hover at a patrol point for its photo
    dem: Dem | None = None  # terrain following: altitude_m above this DEM's ground
    terrain_tolerance_m: float = 5.0  # most the flown height may stray from altitude_m
    area_source: str = "area"
    zones_source: str = "zones"
    pois_source: str = "pois"
    dem_source: str = "dem"
    corridor: Sequence[LineString] = ()  # corridor scan: centre lines (lon/lat), area unused
    corridor_width_m: float | None = None
    corridor_source: str = "corridor"

    @property
    def mode(self) -> Mode:
        return Mode.PATROL if self.pois else Mode.SURVEY


def resolve_altitude(req: PlanRequest) -> float:
    """The flight altitude above ground from ``--altitude`` or ``--gsd``, checked against the
    ceiling.

    Raises
    ------
    InputError
        Both or neither given where one is needed, not positive, or above the ceiling without
        ``allow_altitude``.
    """
    if req.altitude_m is not None and req.gsd_cm is not None:
        raise ParamError("altitude_m", "give `altitude_m` or `gsd_cm`, not both")
    if req.gsd_cm is not None:
        check_bound("gsd_cm", req.gsd_cm)
        alt = req.camera.altitude_for_gsd_m(req.gsd_cm)
        low = BOUNDS["altitude_m"].low
        if alt < low:
            raise ParamError("gsd_cm", f"{req.gsd_cm:g} cm/px needs {alt:.2g} m above ground; "
                             f"the lowest survey altitude is {low:g} m (with this camera: "
                             f"`gsd_cm` ≥ {req.gsd_cm * low / alt:.2f})")
        param = "gsd_cm"
    else:
        alt = 80.0 if req.altitude_m is None else req.altitude_m
        param = "altitude_m"
    check_bound("altitude_m", alt)
    if alt > req.max_altitude_m and not req.allow_altitude:
        raise ParamError(param, f"{alt:.1f} m above ground exceeds the {req.max_altitude_m:g} m "
                         "ceiling; pass `allow_altitude` if you hold a permit for it")
    return alt


def _check_numbers(req: PlanRequest) -> None:
    """Every number of the request within :data:`missions.plan.limits.BOUNDS`."""
    for name, v in (("front", req.front_overlap), ("side", req.side_overlap)):
        if not 0.0 <= v <= 0.95:
            raise ParamError(f"{name}_overlap", f"{name} overlap {v * 100:g} % is outside "
                             "0–95 %")
    d = req.drone
    check_bound("cruise_speed_m_s", d.cruise_speed_m_s)
    check_bound("endurance_s", d.endurance_s)
    check_bound("reserve", d.reserve)
    check_bound("max_range_m", d.max_range_m)
    check_bound("margin_m", req.margin_m)
    w = d.wind
    check_bound("wind_m_s", w.speed_m_s)
    if w.speed_m_s >= d.cruise_speed_m_s:
        raise ParamError("wind", f"a {w.speed_m_s:g} m/s wind from {w.from_deg:03.0f}° leaves "
                         f"no headway at {d.cruise_speed_m_s:g} m/s cruise speed (flying into "
                         "it the drone would not come back): raise the speed or wait")


def _check_work(req: PlanRequest, area_m2: float, spacing_m: float, trigger_m: float,
                reach_m: float, altitude_m: float) -> None:
    """Refuse a plan no sortie can fly, or one that would take more than
    :data:`~missions.plan.limits.MAX_PHOTOS` photos, before any route is built."""
    d = req.drone
    if reach_m < 2 * spacing_m:
        climb = d.vertical_time_s(altitude_m)
        raise ParamError("endurance_s", f"{d.endurance_s / 60:g} min less a {d.reserve:.0%} "
                         f"reserve leaves {d.budget_s:.0f} s a sortie, {climb:.0f} s of it "
                         f"climbing to {altitude_m:.0f} m and back: too short to fly a line "
                         f"(reach {max(reach_m, 0):.0f} m)")
    if req.mode is Mode.SURVEY:
        photos = area_m2 / max(spacing_m * trigger_m, 1e-9)
        if photos > MAX_PHOTOS:
            raise InputError(req.area_source, f"would take ~{photos:,.0f} photos; at most "
                             f"{MAX_PHOTOS:,} a plan (raise `gsd_cm` or `altitude_m`, lower "
                             "`side_overlap`, or split the area)")


def _simplified(geom: BaseGeometry, *, grow: bool = False) -> BaseGeometry:
    """``geom`` (local metres) simplified to :data:`~missions.plan.limits.PLAN_TOLERANCE_M`; with
    ``grow``, first grown by it, so that the result still contains ``geom`` (a zone)."""
    if grow:
        geom = geom.buffer(PLAN_TOLERANCE_M, quad_segs=2)
        return geom.simplify(PLAN_TOLERANCE_M / 2).buffer(PLAN_TOLERANCE_M / 2, quad_segs=1)
    return geom.simplify(PLAN_TOLERANCE_M)


def _default_home(area: BaseGeometry, keepout: BaseGeometry) -> XY:
    """The point of the area's edge nearest its centroid, moved out of any keep-out zone."""
    c = area.centroid
    edge = nearest_points(area.boundary, c)[0]
    if keepout.is_empty or not keepout.buffer(1.0).contains(edge):
        return (edge.x, edge.y)
    free_edge = area.boundary.difference(keepout.buffer(1.0))
    if free_edge.is_empty:
        raise PlanningError("the whole edge of the area lies in no-fly zones; give `home_latlon`")
    p = nearest_points(free_edge, c)[0]
    return (p.x, p.y)


def _keepout(zones: Sequence[Zone], frame: LocalFrame, altitude_m: float,
             req: PlanRequest) -> tuple[list[tuple[Zone, Polygon]], BaseGeometry, list[str]]:
    """Zones the route must keep ``margin_m`` away from (local), their union grown by the
    margin, and notes on obstacles that are overflown."""
    blocking: list[tuple[Zone, Polygon]] = []
    notes: list[str] = []
    overflown = 0
    for z in zones:
        if z.height_m is not None and z.height_m <= altitude_m - req.vertical_clearance_m:
            overflown += 1
            continue
        blocking.append((z, _simplified(frame.geom_to_local(z.geometry), grow=True)))
    if overflown:
        top = altitude_m - req.vertical_clearance_m
        notes.append(f"{overflown} obstacle(s) lower than {top:.0f} m are overflown with "
                     f"≥ {req.vertical_clearance_m:g} m clearance")
    # Mitred joins contain the round margin, with a vertex per corner (one or two, bevelled)
    # where rounding would add arcs: fewer vertices for the router to go round.
    grown = [g.buffer(req.margin_m, join_style="mitre", mitre_limit=_MITRE_LIMIT)
             for _, g in blocking]
    keepout = shapely.union_all(grown) if grown else Polygon()
    return blocking, keepout, notes


def _operation_region(operation: BaseGeometry, keepout: BaseGeometry, home: XY, reach_m: float,
                      margin_m: float) -> Polygon:
    """The convex region every route stays in: the hull of the operation area, of home and of
    the keep-out zones near it (so that routes can go round a zone that reaches past the area),
    grown by a margin, and cut to the drone's reach from home."""
    base = shapely.union_all([operation, Point(home)]).convex_hull.buffer(margin_m)
    near = [g for g in polygons_of(keepout) if g.intersects(base)]
    hull = shapely.union_all([base, *near]).convex_hull
    grown = hull.buffer(margin_m, quad_segs=2).convex_hull if near else hull
    disc = Point(home).buffer(reach_m, quad_segs=32)
    region = grown.intersection(disc)
    return region if isinstance(region, Polygon) else region.convex_hull


def _fence(region: Polygon, blocking: list[tuple[Zone, Polygon]], frame: LocalFrame,
           margin_m: float, notes: list[str], keep_clear: BaseGeometry
           ) -> tuple[mi.FenceZone, ...]:
    """The inclusion fence (the planning region with 5 m of slack) and one exclusion fence per
    blocking zone, grown by half the margin so the planned route never breaches it: round
    zones as circles, all fitted to ArduPilot's fence storage (:mod:`missions.plan.fence_budget`;
    coarser shapes keep a quarter of the margin from ``keep_clear``, what the vehicle flies).
    Zones that are never entered come first; of obstacles, the largest."""
    inclusion = region.buffer(5.0, quad_segs=1).convex_hull.simplify(1.0)
    ranked = sorted(blocking, key=lambda zg: (zg[0].height_m is not None, -zg[1].area))
    exclusion: list[Polygon] = []
    for _, g in ranked:
        grown = g.buffer(margin_m / 2, quad_segs=4 if is_round(g) else 1)
        exclusion.extend(p if is_round(p) else p.simplify(margin_m / 8)
                         for p in polygons_of(grown))
    fitted = fit_fence([inclusion], exclusion, frame, ARDUPILOT_FENCE, keep_clear=keep_clear,
                       clearance_m=max(margin_m / 4, 1.0))
    if fitted.note():
        notes.append(str(fitted.note()))
    return fitted.zones


def _inside_router(area: BaseGeometry, keepout: BaseGeometry, region: Polygon,
                   margin_m: float) -> Router:
    """A router whose paths stay over the area grown by ``margin_m`` (the camera's half
    footprint): connectors between sweep lines go round a notch in the area instead of cutting
    across it. The space outside is one more obstacle, kept apart from the zones (a union would
    change their outlines); a metre of slack holds the nodes, set a little off each obstacle,
    inside the margin."""
    outside = region.buffer(1.0).difference(area.buffer(max(margin_m - 1.0, 0.0), quad_segs=4))
    outside = outside.simplify(0.25)
    return Router(shapely.GeometryCollection([*polygons_of(keepout), *polygons_of(outside)]),
                  region)


def _rally(free: BaseGeometry, home: XY, frame: LocalFrame, altitude_m: float,
           follower: TerrainFollower | None = None,
           home_amsl_m: float | None = None) -> tuple[mi.RallyPoint, ...]:
    """Up to four rally points: the free space's points farthest north, east, south and west,
    so that RTL from any corner of the area has a near place to go; over terrain, each at
    ``altitude_m`` above its own ground (rally altitudes are above home)."""
    pts: list[XY] = []
    polys = polygons_of(free)
    if not polys:
        return ()
    coords = shapely.get_coordinates(shapely.union_all([p.exterior for p in polys]))
    for k in (coords[:, 1].argmax(), coords[:, 0].argmax(), coords[:, 1].argmin(),
              coords[:, 0].argmin()):
        p = (float(coords[k, 0]), float(coords[k, 1]))
        if all(math.dist(p, q) > 50.0 for q in [home, *pts]):
            pts.append(p)
    out = []
    for x, y in pts:
        lon, lat = frame.to_geo(x, y)
        alt = altitude_m
        if follower is not None and home_amsl_m is not None:
            alt = float(follower.path3d([(x, y)])[0, 2]) - home_amsl_m
        out.append(mi.RallyPoint(float(lat), float(lon), alt))
    return tuple(out)


def _reach(home: XY, drone: DroneProfile, altitude_m: float) -> float:
    """Farthest distance from home a sortie can reach and come back from in a straight line."""
    spare = drone.budget_s - drone.vertical_time_s(altitude_m) - 2 * drone.turn_s
    return max(0.0, min(drone.max_range_m, spare * drone.round_trip_speed_m_s() / 2.0))


def _photos(task: Task, trigger_m: float) -> list[Photo]:
    """Photo points along a task: every ``trigger_m`` from its start (distance triggering), or
    one at a point task."""
    if not task.trigger or len(task.points) == 1:
        return [Photo(task.points[0][0], task.points[0][1], 0.0)]
    out: list[Photo] = []
    carry = 0.0  # distance flown since the last photo
    first = True
    for (x0, y0), (x1, y1) in zip(task.points, task.points[1:], strict=False):
        seg = math.dist((x0, y0), (x1, y1))
        if seg < 1e-9:
            continue
        hdg = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
        s = 0.0 if first else trigger_m - carry
        first = False
        while s <= seg + 1e-9:
            f = s / seg
            out.append(Photo(x0 + f * (x1 - x0), y0 + f * (y1 - y0), hdg))
            s += trigger_m
        carry = seg - (s - trigger_m)
    return out


_GAP_ROUNDS = 3
_MAX_GAP_PHOTOS = 500


def _fill_gaps(tasks: list[Task], free: BaseGeometry, camera: Camera, altitude_m: float,
               trigger_m: float) -> tuple[list[Task], int]:
    """Add a hover photo in each gap the sweep lines' photos leave in ``free`` (a corner that
    a line cannot reach without nearing a zone), each visited after the task that ends
    nearest to it; return the tasks and how many photos were added.

    A gap is a piece of free space outside every footprint larger than half a percent of a
    footprint; its photo is taken at a point inside it (so outside every keep-out zone).
    """
    photos = [p for t in tasks for p in _photos(t, trigger_m)]
    if not photos or free.is_empty:
        return tasks, 0
    fp = photos[0].footprint(camera, altitude_m)
    min_area = max(10.0, 0.005 * fp.area)
    seen = footprints_union(photos, camera, altitude_m)
    added: list[XY] = []
    for _ in range(_GAP_ROUNDS):
        gaps = [g for g in polygons_of(free.difference(seen)) if g.area >= min_area]
        if not gaps or len(added) >= _MAX_GAP_PHOTOS:
            break
        new = [_xy(g.representative_point()) for g in gaps][:_MAX_GAP_PHOTOS - len(added)]
        added.extend(new)
        seen = shapely.union_all([seen, *(Photo(x, y, 0.0).footprint(camera, altitude_m)
                                          for x, y in new)])
    out = list(tasks)
    for x, y in added:
        ends = [math.dist(t.points[-1], (x, y)) for t in out]
        out.insert(int(np.argmin(ends)) + 1, Task(((x, y),), trigger=False, name="gap"))
    return out, len(added)


def _path3d(path: Sequence[XY], altitude_m: float,
            follower: TerrainFollower | None) -> np.ndarray:
    """A sortie's path with the altitude to fly at each point: ``altitude_m`` above home, or,
    over terrain, densified and above the DEM's datum (AMSL)."""
    if follower is not None:
        return follower.path3d(path)
    xy = np.asarray(path, dtype=float)
    return np.column_stack([xy, np.full(len(xy), altitude_m)])


def _items(route: SortieRoute, path3: np.ndarray, home: XY, frame: LocalFrame,
           req: PlanRequest, trigger_m: float, *, absolute: bool) -> tuple[mi.MissionItem, ...]:
    """MAVLink items for one sortie: take-off, speed, the path with camera control, RTL.

    ``path3`` holds every point of ``route.path`` (and, over terrain, points between) with its
    altitude: above home, or with ``absolute`` above sea level (MAV_FRAME_GLOBAL)."""
    alt_frame = mi.Frame.GLOBAL if absolute else mi.Frame.GLOBAL_RELATIVE_ALT
    lonlat = np.column_stack(frame.to_geo(path3[:, 0], path3[:, 1]))
    xy = [(float(x), float(y)) for x, y in path3[:, :2]]

    def wp(k: int, hold_s: float = 0.0) -> mi.MissionItem:
        return mi.MissionItem(mi.Cmd.NAV_WAYPOINT, alt_frame, hold_s,
                              lat_deg=float(lonlat[k, 1]), lon_deg=float(lonlat[k, 0]),
                              alt_m=float(path3[k, 2]))

    def find(p: XY, after: int) -> int:
        for k in range(after, len(xy)):
            if xy[k] == p:
                return k
        raise AssertionError(f"{p} not on the sortie's path")  # the route holds every task

    home_lon, home_lat = frame.to_geo(*home)
    take = mi.takeoff(float(home_lat), float(home_lon), float(path3[0, 2]))
    out = [mi.MissionItem(take.command, alt_frame, lat_deg=take.lat_deg, lon_deg=take.lon_deg,
                          alt_m=take.alt_m),
           mi.MissionItem(mi.Cmd.DO_CHANGE_SPEED, param1=1.0,
                          param2=req.drone.cruise_speed_m_s, param3=-1.0)]
    last = 0  # index in the path of the last point flown so far
    for task in route.tasks:
        start = find(task.points[0], last)
        out.extend(wp(k) for k in range(last + 1, start))  # transit to the task
        end = start
        for p in task.points[1:]:
            end = find(p, end + 1)
        if task.trigger and len(task.points) > 1:
            out.append(wp(start))
            out.append(mi.trigger_distance(trigger_m))
            out.extend(wp(k) for k in range(start + 1, end + 1))
            out.append(mi.trigger_distance(0.0))
        else:
            out.append(wp(start, req.hold_s))
            out.append(mi.take_photo())
        last = end
    out.extend(wp(k) for k in range(last + 1, len(xy) - 1))  # the way home round obstacles
    out.append(wp(len(xy) - 1))
    out.append(mi.return_to_launch())
    return tuple(out)


def _terrain(req: PlanRequest, altitude_m: float, frame: LocalFrame,
             extent: BaseGeometry) -> TerrainFollower:
    """The terrain follower for a plan over ``req.dem``, once the DEM is known to cover the
    area and the ceiling holds with the tolerance on top."""
    from missions.plan.terrain import TerrainFollower

    assert req.dem is not None
    check_bound("terrain_tolerance_m", req.terrain_tolerance_m)
    if req.terrain_tolerance_m >= altitude_m / 2:
        raise ParamError("terrain_tolerance_m", f"{req.terrain_tolerance_m:g} m is half or more "
                         f"of the {altitude_m:.0f} m height above ground")
    top = altitude_m + req.terrain_tolerance_m
    if top > req.max_altitude_m and not req.allow_altitude:
        raise ParamError(("altitude_m", "terrain_tolerance_m"), f"{altitude_m:.1f} m above "
                         f"ground plus {req.terrain_tolerance_m:g} m of tolerance exceeds the "
                         f"{req.max_altitude_m:g} m ceiling")
    if not req.dem.covers(extent.convex_hull):
        raise InputError(req.dem_source, f"the DEM does not cover the {req.area_source} "
                         "(every point of the area's outline needs a height)")
    return TerrainFollower(frame, req.dem, altitude_m, req.terrain_tolerance_m, req.drone)


def _terrain_checks(req: PlanRequest, frame: LocalFrame, paths3: list[np.ndarray],
                    altitude_m: float) -> list[str]:
    """Every sortie's 3-D path against the ground, the obstacles and the ceiling above the
    ground below it; notes on what holds, PlanningError on what does not."""
    from missions.plan.terrain import check_ceiling, check_clearance

    assert req.dem is not None
    tall = [z for z in req.zones if z.height_m is not None]
    worst_top = -math.inf
    for n, p in enumerate(paths3, start=1):
        bad = check_clearance(p, frame, req.dem, tall, req.vertical_clearance_m,
                              margin_m=req.margin_m)
        if bad:
            raise PlanningError(f"sortie {n}: {bad[0]} ({len(bad)} place(s) in all); raise "
                                "the altitude or mark the obstacle as a no-fly zone")
        over = check_ceiling(p, frame, req.dem, req.max_altitude_m)
        if over is not None and not req.allow_altitude:
            raise PlanningError(f"sortie {n}: {over}")
        worst_top = max(worst_top, float(p[:, 2].max()))
    home_amsl = float(paths3[0][0, 2]) - altitude_m
    return [f"terrain following {altitude_m:.0f} m ± {req.terrain_tolerance_m:g} m above the "
            f"ground of {req.dem_source}; altitudes are above sea level (MAV_FRAME_GLOBAL), "
            "the vehicle needs no terrain data",
            f"home ground {home_amsl:.1f} m; the route climbs to {worst_top:.1f} m: set RTL_ALT "
            f"to at least {max(worst_top - home_amsl, 0.0):.0f} m so that a return in a straight "
            "line clears the ground"]


def make_plan(req: PlanRequest) -> Plan:
    """Plan a survey (or, with ``pois``, a patrol) as battery-sized sorties.

    Raises
    ------
    InputError
        Bad options (overlap, altitude, home inside a zone, a point of interest in a zone).
    PlanningError
        Valid inputs with no plan: the area is fully blocked or out of reach.
    """
    _check_numbers(req)
    altitude_m = resolve_altitude(req)
    if req.corridor:
        req = replace(req, area_source=req.corridor_source)
        extent = shapely.union_all(list(req.corridor))
    else:
        extent = req.area if not req.area.is_empty else shapely.union_all(
            [p.geometry for p in req.pois])
    frame = LocalFrame.around(extent)
    follower = _terrain(req, altitude_m, frame, extent) if req.dem is not None else None
    # With terrain the drone may fly as low as altitude − tolerance: photos are sized from it.
    low_m = altitude_m - (req.terrain_tolerance_m if follower is not None else 0.0)
    corridor = [_simplified(frame.geom_to_local(g)) for g in req.corridor]
    if corridor:
        if req.corridor_width_m is None:
            raise ParamError("corridor_width_m", "a corridor scan needs the corridor's width")
        area = _simplified(corridor_area(corridor, check_width(req.corridor_width_m)))
    else:
        area = _simplified(frame.geom_to_local(req.area)) if not req.area.is_empty else Polygon()
    blocking, keepout, notes = _keepout(req.zones, frame, low_m, req)
    check_vertices(f"{req.area_source} and {req.zones_source}",
                   int(shapely.get_num_coordinates(area))
                   + sum(int(shapely.get_num_coordinates(g)) for _, g in blocking),
                   MAX_PLAN_VERTICES)

    free_all = area.difference(keepout) if not area.is_empty else Polygon()
    if req.mode is Mode.SURVEY and (free_all.is_empty or free_all.area < 1.0):
        raise PlanningError(f"{req.area_source}: the area is fully blocked by no-fly zones")
    home = _home(req, frame, area, keepout, blocking)
    home_lon, home_lat = frame.to_geo(*home)

    if req.drone.wind.speed_m_s > 0:
        notes.append(_wind_note(req.drone))
    across_m, along_m = req.camera.footprint_m(low_m)
    spacing_m = across_m * (1.0 - req.side_overlap)
    trigger_m = along_m * (1.0 - req.front_overlap)
    reach_m = _reach(home, req.drone, altitude_m)
    _check_work(req, area.area, spacing_m, trigger_m, reach_m, altitude_m)
    pois_local = [frame.geom_to_local(p.geometry) for p in req.pois]
    operation = shapely.union_all([area, Point(home), *pois_local])
    region = _operation_region(operation, keepout, home, reach_m,
                               max(2 * req.margin_m, 30.0, spacing_m))
    router = Router(keepout, region)

    if req.mode is Mode.SURVEY:
        free = free_all.intersection(region)
        unreachable = free_all.difference(region)
        free, cut_off = _reachable_parts(free, home, router)
        if not cut_off.is_empty:
            unreachable = shapely.union_all([unreachable, cut_off])
            notes.append(f"{cut_off.area / 1e4:.2f} ha cannot be reached round the no-fly zones")
        if free.is_empty or free.area < 1.0:
            raise PlanningError(f"{req.area_source}: none of the area can be reached from home "
                                f"(range {reach_m:.0f} m, round the no-fly zones)")
        if corridor:
            tasks = _corridor_tasks(req, corridor, free, home, router, low_m, spacing_m,
                                    trigger_m, along_m, notes)
        else:
            tasks = _survey_tasks(req, free, home, router, low_m, spacing_m, trigger_m,
                                  across_m, notes)
    else:
        tasks = _patrol_tasks(req, frame, keepout, blocking, region, notes)
        tasks = [t for t in tasks if _reachable(t.points[0], home, router, t.name, notes)]
        tasks = order_tasks(tasks, home, router)
        free = Polygon()
        unreachable = Polygon()

    # Connectors stay over the area (a corridor's lines run past its ends: they hop straight).
    inner = (_inside_router(area, keepout, region, min(across_m, along_m) / 2)
             if req.mode is Mode.SURVEY and not corridor else None)
    split = split_sorties(tasks, home=home, router=router, drone=req.drone,
                          altitude_m=altitude_m, refly=req.refly and req.mode is Mode.SURVEY,
                          hold_s=req.hold_s, inner=inner,
                          extra=follower.extra_s if follower is not None else None)
    if not split.sorties:
        raise PlanningError("nothing to fly: every task lies beyond the drone's reach")
    if split.dropped:
        lost = shapely.union_all([LineString(t.points).buffer(spacing_m / 2, cap_style="flat")
                                  if len(t.points) > 1 else Point(t.points[0]).buffer(1.0)
                                  for t in split.dropped])
        unreachable = shapely.union_all([unreachable, lost.intersection(free)
                                         if not free.is_empty else lost])
        notes.append(f"{len(split.dropped)} task(s) cannot be reached within the battery budget")

    routes = list(map(merge_pieces, split.sorties))
    paths3 = [_path3d(sr.path, altitude_m, follower) for sr in routes]
    if follower is not None:
        notes.extend(_terrain_checks(req, frame, paths3, altitude_m))
    home_amsl = float(paths3[0][0, 2] - altitude_m) if follower is not None else None
    sorties = [Sortie(
        number=n,
        items=_items(sr, path3, home, frame, req, trigger_m, absolute=follower is not None),
        route=LineString(sr.path),
        photos=tuple(p for t in sr.tasks for p in _photos(t, trigger_m)),
        lines=len(sr.tasks),
        distance_m=sr.distance_m,
        time_s=sr.time_s,
    ) for n, (sr, path3) in enumerate(zip(routes, paths3, strict=True), start=1)]
    covered = free.difference(unreachable) if not free.is_empty else Polygon()
    rally = _rally(free if not free.is_empty else region, home, frame, altitude_m, follower,
                   home_amsl)
    flown = shapely.union_all([s.route for s in sorties] + [Point(home)] + [
        Point(*frame.to_local(r.lon_deg, r.lat_deg)) for r in rally])
    fence = _fence(region, blocking, frame, req.margin_m, notes, flown)
    return Plan(
        mode=req.mode, frame=frame, home_lat_deg=float(home_lat), home_lon_deg=float(home_lon),
        altitude_m=altitude_m, camera=req.camera, drone=req.drone,
        front_overlap=req.front_overlap, side_overlap=req.side_overlap,
        spacing_m=spacing_m, trigger_m=trigger_m, sorties=tuple(sorties), fence=fence,
        rally=rally,
        area=area if not area.is_empty else operation, keepout=keepout, covered=covered,
        unreachable=unreachable, notes=tuple(notes), home_alt_amsl_m=home_amsl,
        terrain_tolerance_m=req.terrain_tolerance_m if follower is not None else None,
    )


def _home(req: PlanRequest, frame: LocalFrame, area: BaseGeometry, keepout: BaseGeometry,
          blocking: list[tuple[Zone, BaseGeometry]]) -> XY:
    """Where the drone takes off, local metres: ``--home`` (refused inside a zone or its
    margin), else the area's edge nearest its centre, else the patrol points' centre."""
    if req.home_latlon is not None:
        lat, lon = req.home_latlon
        hx, hy = frame.to_local(lon, lat)
        home = (float(hx), float(hy))
        for z, g in blocking:
            if g.buffer(req.margin_m).contains(Point(home)):
                raise ParamError("home_latlon", f"home {lat:.6f},{lon:.6f} is inside no-fly zone "
                                 f"{z.name!r} (or within {req.margin_m:g} m of it)")
        return home
    if not area.is_empty:
        return _default_home(area, keepout)
    c = shapely.union_all([frame.geom_to_local(p.geometry) for p in req.pois]).centroid
    return (c.x, c.y)


def _survey_tasks(req: PlanRequest, free: BaseGeometry, home: XY, router: Router,
                  altitude_m: float, spacing_m: float, trigger_m: float, across_m: float,
                  notes: list[str]) -> list[Task]:
    """The sweep lines over the reachable free area, cut into pieces a sortie can take,
    with hover photos where the lines' photos leave a gap."""
    route = coverage_route(free, spacing_m=spacing_m, home=home, router=router,
                           drone=req.drone, footprint_m=across_m,
                           footprint_along_m=req.camera.footprint_m(altitude_m)[1])
    piece_m = max(4 * trigger_m, _REFLY_PIECE * req.drone.budget_s * req.drone.cruise_speed_m_s)
    tasks = [t for a, b in route.lines for t in pieces(a, b, piece_m)]
    tasks, gaps = _fill_gaps(tasks, free, req.camera, altitude_m, trigger_m)
    if gaps:
        notes.append(f"{gaps} photo(s) added where the sweep lines' photos leave a gap "
                     "(corners between the area's edge and a no-fly zone)")
    notes.append(f"sweep lines {_main_heading_deg(route.lines):.0f}° from north, "
                 f"{route.cells} cells")
    return tasks


def _main_heading_deg(lines: Sequence[tuple[XY, XY]]) -> float:
    """The direction (0–180° clockwise from north) that most of the lines' length runs in
    (cells may be swept at their own angles)."""
    d = np.asarray([[b[0] - a[0], b[1] - a[1]] for a, b in lines], dtype=float).reshape(-1, 2)
    deg = np.round(np.degrees(np.arctan2(d[:, 0], d[:, 1])) % 180.0) % 180.0
    weight = np.bincount(deg.astype(int), weights=np.hypot(d[:, 0], d[:, 1]), minlength=180)
    return float(np.argmax(weight)) if len(d) else 0.0


def _corridor_tasks(req: PlanRequest, lines: list[BaseGeometry], free: BaseGeometry, home: XY,
                    router: Router, altitude_m: float, spacing_m: float, trigger_m: float,
                    along_m: float, notes: list[str]) -> list[Task]:
    """A corridor scan's lines (parallel to the centre lines, round the zones), cut into
    pieces a sortie can take, with hover photos where their photos leave a gap."""
    assert req.corridor_width_m is not None
    piece_m = max(4 * trigger_m, _REFLY_PIECE * req.drone.budget_s * req.drone.cruise_speed_m_s)
    tasks = corridor_tasks(lines, req.corridor_width_m, spacing_m, router.keepout,
                           fence=router.fence, extend_m=along_m / 2, home=home, piece_m=piece_m)
    tasks = [t for t in tasks if _reachable(t.points[0], home, router, t.name, notes)]
    tasks, gaps = _fill_gaps(tasks, free, req.camera, altitude_m, trigger_m)
    n = math.ceil(req.corridor_width_m / spacing_m - 1e-9)
    notes.append(f"corridor {req.corridor_width_m:g} m wide: {n} line(s) along it, "
                 f"{spacing_m:.1f} m apart")
    if gaps:
        notes.append(f"{gaps} photo(s) added where the corridor lines' photos leave a gap")
    return tasks


def _reachable_parts(free: BaseGeometry, home: XY,
                     router: Router) -> tuple[BaseGeometry, BaseGeometry]:
    """Split free space into the parts a path from home reaches and those it cannot (cut off
    by no-fly zones that reach past the operation region).

    A part outside home's piece of the region left by the zones has no path to it: it is cut
    off without a search (which, failing, would grow over every zone on the map); the router
    decides the rest."""
    parts = polygons_of(free)
    space: list[Polygon] = []
    if len(parts) > 1 and router.fence is not None:
        pieces = polygons_of(router.fence.difference(router.keepout))
        hp = Point(home)
        space = [min(pieces, key=hp.distance)] if pieces else []
    ok, cut = [], []
    for p in parts:
        if space and not space[0].intersects(p):
            cut.append(p)
            continue
        try:
            router.path(home, _xy(p.representative_point()))
            ok.append(p)
        except PlanningError:
            cut.append(p)
    return (shapely.union_all(ok) if ok else Polygon(),
            shapely.union_all(cut) if cut else Polygon())


def _reachable(p: XY, home: XY, router: Router, name: str, notes: list[str]) -> bool:
    try:
        router.path(home, p)
    except PlanningError:
        notes.append(f"{name!r} cannot be reached round the no-fly zones: skipped")
        return False
    return True


def _wind_note(drone: DroneProfile) -> str:
    w, v = drone.wind, drone.cruise_speed_m_s
    return (f"planned for a {w.speed_m_s:g} m/s wind from {w.from_deg:03.0f}°: ground speed "
            f"{v - w.speed_m_s:.1f} m/s upwind, {v + w.speed_m_s:.1f} m/s downwind, "
            f"{math.sqrt(v * v - w.speed_m_s ** 2):.1f} m/s across")


def _xy(p: Point) -> XY:
    return (float(p.x), float(p.y))


def _patrol_tasks(req: PlanRequest, frame: LocalFrame, keepout: BaseGeometry,
                  blocking: list[tuple[Zone, Polygon]], region: Polygon,
                  notes: list[str]) -> list[Task]:
    """Points and lines of interest as tasks; lines are cut where they cross a keep-out zone
    or leave the drone's reach."""
    tasks: list[Task] = []
    for poi in req.pois:
        g = frame.geom_to_local(poi.geometry)
        if isinstance(g, Point):
            for z, zg in blocking:
                if zg.buffer(req.margin_m).contains(g):
                    raise InputError(req.pois_source, f"point of interest {poi.name!r} lies in "
                                     f"no-fly zone {z.name!r}")
            if not region.contains(g):
                notes.append(f"{poi.name!r} lies beyond the drone's reach: skipped")
                continue
            tasks.append(Task(((g.x, g.y),), trigger=False, name=poi.name))
            continue
        allowed = g.difference(keepout) if not keepout.is_empty else g
        if allowed.length < 1.0:
            raise InputError(req.pois_source, f"line of interest {poi.name!r} lies entirely in "
                             "no-fly zones")
        kept = allowed.intersection(region)
        parts = [p for p in lines_of(kept) if p.length > 1.0]
        if kept.length < allowed.length - 0.5:
            notes.append(f"{allowed.length - kept.length:.0f} m of {poi.name!r} lie beyond the "
                         "drone's reach and are skipped")
        if allowed.length < g.length - 0.5:
            notes.append(f"{g.length - allowed.length:.0f} m of {poi.name!r} lie in no-fly zones "
                         "and are skipped")
        tasks.extend(Task(tuple(p.coords), trigger=True, name=poi.name) for p in parts)
    return tasks
