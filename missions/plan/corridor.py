"""Corridor scans: photo coverage of a polyline (river bank, levee, road) buffered by half a width.

The flight lines run parallel to the corridor: ``n = ceil(width / spacing)`` offsets of the
centre line, evenly spread so that each edge lies within half a spacing of the outermost line
(as :func:`missions.plan.sweep.grid_lines` spreads sweep lines over a cell), flown in
alternate directions (boustrophedon) so that the turn at each end is one spacing long. They
follow the bends, are cut where they enter the keep-out zones, and are lengthened at the
corridor's ends so that the photos cover them. QGroundControl's "Corridor Scan" and Mission
Planner's corridor survey do the same.

Choices
-------
Caps
    Flat: the corridor ends where its line ends, as in QGroundControl.
Joins
    Round, for the corridor and its lines alike: the corridor is exactly the ground within
    ``width / 2`` of its line, and at a bend each line keeps its distance from the line, so
    the outer lines run round the bend on an arc (photo headings turn gradually, the
    footprints fan out and leave no wedge). Mitre joins would push the outer lines out to
    ``d / sin(θ / 2)`` at a bend of interior angle θ (twice the offset at 60°) and add spikes
    outside the corridor that need no photos.
Inner side of a bend
    A line is the set of points at its offset from the centre line (shapely's ``offset_curve``,
    GEOS's buffer-based offset curve): the loops a naive offset makes on the inside of a sharp
    bend are not part of it, and where the offset is larger than the radius of a hairpin it
    breaks into pieces or vanishes. Each piece longer than a metre is kept, in order along the
    centre line; a vanished line leaves its band to the lines of both legs, which are then up
    to one spacing (not half) away: covered by the footprints from 50 % side overlap on, and
    by :func:`missions.plan.planner._fill_gaps` hover photos below that.
Several lines
    Lines that meet end to end (one road drawn as several features) are merged
    (``shapely.line_merge``) and become one corridor that turns at the joint: two corridors
    with flat caps would leave a wedge uncovered there. A line that crosses itself is split at
    the crossing (``shapely.node``), so that every centre line, and every offset of it, is
    simple. The corridors that remain (separate, crossing or meeting at a junction of three
    or more) are flown one after the other, each next the one whose entry is nearest (in a
    straight line) to where the previous one ended, starting from ``home``. A closed line (a
    levee ring) gives closed lines round it, not lengthened.

Wiring into :func:`missions.plan.planner.make_plan`
----------------------------------------------------
With ``PlanRequest`` fields ``corridor: Sequence[LineString] = ()`` (lon/lat, from
:func:`read_corridor`), ``corridor_width_m: float | None = None`` and
``corridor_source: str = "corridor"``, in survey mode::

    frame = LocalFrame.around(shapely.union_all(req.corridor))
    lines = [_simplified(frame.geom_to_local(g)) for g in req.corridor]
    area = corridor_area(lines, width_m)
    ...                                  # keep-out, home, spacing, trigger, region, router
    tasks = corridor_tasks(lines, width_m, spacing_m, keepout, fence=region,
                           extend_m=along_m / 2, home=home, piece_m=piece_m)
    tasks = [t for t in tasks if _reachable(t.points[0], home, router, t.name, notes)]
    tasks, gaps = _fill_gaps(tasks, free, req.camera, altitude_m, trigger_m)

instead of ``_survey_tasks`` (``piece_m`` as it computes it), then the existing
``split_sorties`` (with ``inner=None``: the connectors between neighbouring lines are short
straight hops, and the extended ends lie outside the area that ``_inside_router`` keeps the
connectors over) and the export path. ``area`` is the plan's area for coverage accounting
(``free``, ``unreachable``, ``_check_work``) and ``_default_home``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import shapely
from shapely.geometry import LinearRing, LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from missions.plan.inputs import _check_lonlat, _parts, _read_features
from missions.plan.sorties import Task
from survey.core.errors import InputError, ParamError
from survey.core.geometry import lines_of, polygons_of
from survey.core.vector import Source

__all__ = ["MAX_WIDTH_M", "centre_lines", "check_width", "corridor_area", "corridor_tasks",
           "read_corridor"]

XY = tuple[float, float]
Lines: TypeAlias = LineString | MultiLineString | Sequence[LineString]

MAX_WIDTH_M = 2_000.0
_QUAD_SEGS = 8  # round joins: a vertex every 11.25° of a bend
_MIN_PIECE_M = 1.0  # shorter pieces of a line are dropped


def check_width(width_m: float) -> float:
    """``width_m`` if it is a corridor width (0 < width ≤ :data:`MAX_WIDTH_M`).

    >>> check_width(60.0)
    60.0
    >>> check_width(0.0)
    Traceback (most recent call last):
    ...
    survey.core.errors.ParamError: corridor_width_m: the corridor width must be more than 0 m, got 0

    Raises
    ------
    ParamError
        For ``corridor_width_m``: not a number, ≤ 0, or above :data:`MAX_WIDTH_M`.
    """
    if not math.isfinite(width_m) or width_m <= 0.0:
        raise ParamError("corridor_width_m", f"the corridor width must be more than 0 m, got "
                         f"{width_m:g}")
    if width_m > MAX_WIDTH_M:
        raise ParamError("corridor_width_m", f"a {width_m:g} m corridor is wider than "
                         f"{MAX_WIDTH_M:g} m: survey it as an area instead")
    return width_m


def centre_lines(lines: Lines) -> list[LineString]:
    """The corridors' centre lines (local metres): lines that meet end to end merged, lines
    that cross themselves split at the crossings, zero-length ones dropped; each is simple.

    >>> parts = centre_lines([LineString([(0, 0), (10, 0)]), LineString([(10, 0), (10, 10)]),
    ...                       LineString([(50, 0), (60, 0)])])
    >>> [len(p.coords) for p in parts]
    [3, 2]
    """
    given = lines_of(lines) if isinstance(lines, BaseGeometry) else [
        p for g in lines for p in lines_of(g)]
    noded = [p for g in given if g.length > 0.0 for p in lines_of(shapely.node(g))]
    if not noded:
        return []
    return [p for p in lines_of(shapely.line_merge(MultiLineString(noded))) if p.length > 0.0]


def corridor_area(lines: Lines, width_m: float) -> Polygon | MultiPolygon:
    """The ground to cover: the centre lines buffered by ``width_m / 2``, flat caps, round
    joins (local metres).

    >>> round(corridor_area(LineString([(0, 0), (1000, 0)]), 60.0).area)
    60000

    Raises
    ------
    ParamError
        A bad width (:func:`check_width`).
    ValueError
        No line of non-zero length.
    """
    check_width(width_m)
    centres = centre_lines(lines)
    if not centres:
        raise ValueError("no corridor line of non-zero length")
    area = shapely.union_all([_buffer(c, width_m / 2) for c in centres])
    if not isinstance(area, Polygon | MultiPolygon):  # pragma: no cover - union of polygons
        raise ValueError(f"the corridor is a {area.geom_type}")
    return area


def corridor_tasks(lines: Lines, width_m: float, spacing_m: float, keepout: BaseGeometry, *,
                   fence: Polygon | None = None, extend_m: float = 0.0,
                   home: XY | None = None, piece_m: float | None = None) -> list[Task]:
    """The flight lines of the corridors, in flight order, as distance-triggered tasks.

    Parameters
    ----------
    lines
        Centre lines, local metres (merged and split by :func:`centre_lines`).
    width_m
        Corridor width; the lines cover ``width_m / 2`` either side of the centre line.
    spacing_m
        Largest distance between neighbouring lines (footprint across × (1 − side overlap)).
    keepout
        Ground the lines must not enter (the no-fly zones grown by the margin): a line is cut
        where it enters it and the parts outside become separate tasks, in order.
    fence
        Region the lines must stay in, where they are cut as at the keep-out.
    extend_m
        Each line is lengthened by this at both ends of its corridor (not at a closed line),
        e.g. half the footprint along the track, so that photos cover the corridor's ends.
    home
        Where the flight starts: the corridors and the end each is entered from are chosen
        greedily from it (the first corridor's first line from its nearer end).
    piece_m
        Cut each task into equal consecutive pieces no longer than this, so that a sortie may
        end between two and the next re-flies only a piece.

    Returns
    -------
    list[Task]
        Named ``corridor 1``, ``corridor 2`` ... in the order they are flown; pieces shorter
        than a metre are dropped.

    >>> ts = corridor_tasks(LineString([(0, 0), (100, 0)]), 60.0, 25.0, Polygon(), extend_m=5)
    >>> [t.points for t in ts]
    [((-5.0, -20.0), (105.0, -20.0)), ((105.0, 0.0), (-5.0, 0.0)), ((-5.0, 20.0), (105.0, 20.0))]

    Raises
    ------
    ParamError
        A bad width (:func:`check_width`).
    ValueError
        ``spacing_m`` or ``piece_m`` not positive, ``extend_m`` negative.
    """
    check_width(width_m)
    if not spacing_m > 0.0 or (piece_m is not None and not piece_m > 0.0):
        raise ValueError(f"spacing {spacing_m!r} and piece length {piece_m!r} must be positive")
    if not extend_m >= 0.0:
        raise ValueError(f"extend_m must be ≥ 0, got {extend_m!r}")
    n = max(1, math.ceil(width_m / spacing_m - 1e-9))
    step = width_m / n
    offsets = -width_m / 2 + (np.arange(n) + 0.5) * step
    corridors: list[list[list[LineString]]] = []  # per corridor: the parts of each line
    for centre in centre_lines(lines):
        extended = _extended(centre, extend_m)
        rows = [_line_parts(extended, float(d), keepout, fence) for d in offsets]
        rows = [r for r in rows if r]
        if rows:
            corridors.append(rows)

    out: list[Task] = []
    pos = home
    number = 0
    while corridors:
        flights = [(k, _flown(rows, side, flip)) for k, rows in enumerate(corridors)
                   for side in (False, True) for flip in (False, True)]
        k, parts = min(flights, key=lambda kf: 0.0 if pos is None else math.dist(
            pos, kf[1][0].coords[0]))
        corridors.pop(k)
        number += 1
        for part in parts:
            out.extend(_pieces(Task(_xy(part), True, f"corridor {number}"), piece_m))
        pos = _xy(parts[-1])[-1]
    return out


def read_corridor(path: Source) -> list[LineString]:
    """The corridors' centre lines: every LineString (multi-parts split) in a vector file.

    Read as :func:`missions.plan.inputs.read_area` reads an area (any vector format GDAL
    reads, every layer); points and polygons in the file are ignored.

    Returns
    -------
    list[LineString]
        In file order, lon/lat degrees.

    Raises
    ------
    InputError
        As :func:`~missions.plan.inputs.read_area` for the file and its coordinates, plus: no
        line in the file, a line of zero length.
    """
    out: list[LineString] = []
    other: dict[str, int] = {}
    for feature in _read_features(path):
        for part in _parts(feature.geometry):
            if not isinstance(part, LineString):
                other[part.geom_type.lower()] = other.get(part.geom_type.lower(), 0) + 1
                continue
            _check_lonlat(path, feature.label, part)
            if part.is_empty or part.length == 0.0:
                raise InputError(path, f"{feature.label}: the line has zero length")
            out.append(part)
    if not out:
        found = ", ".join(f"{k} {g}(s)" for g, k in other.items()) or "no geometry"
        raise InputError(path, f"no line in the file (a corridor is a LineString or "
                               f"MultiLineString; found {found})")
    return out


# --- the lines of one corridor ----------------------------------------------------------------

def _buffer(line: LineString, distance_m: float) -> Polygon:
    return line.buffer(distance_m, cap_style="flat", join_style="round", quad_segs=_QUAD_SEGS)


def _extended(line: LineString, extend_m: float) -> LineString:
    """``line`` lengthened by ``extend_m`` straight on at both ends (unless it is closed): its
    offsets are then lengthened the same."""
    if extend_m <= 0.0 or line.is_closed:
        return line
    xy = shapely.get_coordinates(line)
    xy = xy[np.r_[True, np.any(np.diff(xy, axis=0) != 0.0, axis=1)]]  # no repeated points
    start = xy[0] + (xy[0] - xy[1]) / np.hypot(*(xy[0] - xy[1])) * extend_m
    end = xy[-1] + (xy[-1] - xy[-2]) / np.hypot(*(xy[-1] - xy[-2])) * extend_m
    xy[0], xy[-1] = start, end  # straight on: the old ends stay on the line
    return LineString(xy)


def _line_parts(centre: LineString, offset_m: float, keepout: BaseGeometry,
                fence: Polygon | None) -> list[LineString]:
    """The line at ``offset_m`` (left of the centre line where positive), as its pieces
    outside ``keepout`` and inside ``fence`` that are longer than a metre, in order along the
    centre line and in its direction."""
    if offset_m == 0.0:
        raw = [centre]
    elif centre.is_closed:
        raw = _ring_offset(centre, offset_m)
    else:
        curve = centre.offset_curve(offset_m, quad_segs=_QUAD_SEGS, join_style="round")
        # GEOS may hand back a continuous offset in pieces end to end: join them
        raw = _in_order(centre, lines_of(shapely.line_merge(curve)))
    out: list[LineString] = []
    for line in raw:
        allowed: BaseGeometry = line
        if not keepout.is_empty:
            allowed = allowed.difference(keepout)
        if fence is not None:
            allowed = allowed.intersection(fence)
        kept = lines_of(shapely.line_merge(allowed)) if allowed is not line else [line]
        out.extend(_in_order(line, [p for p in kept if p.length >= _MIN_PIECE_M]))
    return out


def _ring_offset(ring: LineString, offset_m: float) -> list[LineString]:
    """The closed lines at ``offset_m`` left of a closed centre line, running its way round:
    the edges of the polygon it encloses, grown or shrunk (GEOS's offset curve of a closed
    line leaves a gap at its start)."""
    ccw = LinearRing(ring.coords).is_ccw
    grown = Polygon(ring.coords).buffer(-offset_m if ccw else offset_m, join_style="round",
                                        quad_segs=_QUAD_SEGS)
    out = []
    for poly in polygons_of(grown):
        edge = poly.exterior
        out.append(LineString(edge.coords if edge.is_ccw == ccw else edge.coords[::-1]))
    return out


def _in_order(along: LineString, parts: list[LineString]) -> list[LineString]:
    """``parts`` (pieces near ``along``) sorted by where their middles project onto ``along``,
    each turned to run the same way."""
    def at(part: LineString, f: float) -> float:
        return float(along.project(part.interpolate(f, normalized=True)))

    turned = [p if along.is_closed or at(p, 0.25) <= at(p, 0.75) else p.reverse()
              for p in parts]
    return sorted(turned, key=lambda p: at(p, 0.5))


def _flown(rows: list[list[LineString]], reverse_side: bool, flip: bool) -> list[LineString]:
    """The parts of a corridor's lines in flight order: side by side from the right (or, with
    ``reverse_side``, the left), alternate lines flown the other way (the first one too with
    ``flip``)."""
    out: list[LineString] = []
    for j, parts in enumerate(rows[::-1] if reverse_side else rows):
        out.extend([p.reverse() for p in parts[::-1]] if (j % 2 == 1) != flip else parts)
    return out


def _pieces(task: Task, piece_m: float | None) -> list[Task]:
    """``task`` cut into equal consecutive pieces no longer than ``piece_m``."""
    n = 1 if piece_m is None else max(1, math.ceil(task.length_m / piece_m - 1e-9))
    if n == 1:
        return [task]
    line = LineString(task.points)
    cuts = np.linspace(0.0, line.length, n + 1)
    return [Task(_xy(substring(line, float(a), float(b))), task.trigger, task.name)
            for a, b in itertools.pairwise(cuts)]


def _xy(line: LineString) -> tuple[XY, ...]:
    return tuple((float(x), float(y)) for x, y in shapely.get_coordinates(line))
