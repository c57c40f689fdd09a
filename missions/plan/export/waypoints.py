"""Mission Planner ``QGC WPL 110`` text files: the mission, the fence and the rally points.

One item a line, tab separated: ``seq current frame command p1 p2 p3 p4 lat lon alt
autocontinue``. In a mission, line 2 is home (seq 0, as ArduPilot numbers it); the items follow
from seq 1. Fence (5001/5002 polygon vertices, 5003/5004 circles) and rally (5100) files use
the same layout without a home line, items from seq 0, as MAVProxy's ``fence load`` /
``rally load`` (pymavlink ``MissionItemProtocol_Fence/_Rally``) read them: every line is sent
as an item, so a home line would reach the vehicle as fence item 0, which it refuses
(UNSUPPORTED). Files written with a home line by earlier versions are still read.
Numbers are written exactly (the shortest decimal that reads
back as the same double, never fewer than 8 decimals for params and degrees, 6 for altitudes),
unlike MAVProxy's 6-decimal files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from missions.plan.items import Cmd, FenceZone, MissionItem, RallyPoint, fence_from_items
from survey.core.errors import InputError
from survey.core.files import atomic_write_text

HEADER = "QGC WPL 110"


class WaypointsFile(NamedTuple):
    """A mission file: home ``(lat_deg, lon_deg, alt_m)`` and the items after it (seq 1..n)."""

    home: tuple[float, float, float]
    items: list[MissionItem]


class FenceFile(NamedTuple):
    """A fence file: the polygon and circle zones."""

    zones: list[FenceZone]


class RallyFile(NamedTuple):
    """A rally file: the rally points."""

    points: list[RallyPoint]


def write_waypoints(home: tuple[float, float, float], items: Sequence[MissionItem],
                    path: str | os.PathLike[str]) -> None:
    """Write a mission as a ``QGC WPL 110`` file (atomically).

    Parameters
    ----------
    home
        ``(lat_deg, lon_deg, alt_m)`` written as seq 0 (frame 0: altitude above sea level).
    items
        The mission after home, numbered from seq 1.
    path
        Output file.
    """
    atomic_write_text(path, format_waypoints(home, items))


def write_fence_waypoints(zones: Sequence[FenceZone], path: str | os.PathLike[str]) -> None:
    """Write fence zones as ``MAV_CMD_NAV_FENCE_POLYGON_VERTEX_*`` / ``_CIRCLE_*`` items from
    seq 0, no home line (atomically)."""
    atomic_write_text(path, format_items([it for z in zones for it in z.items()]))


def write_rally_waypoints(points: Sequence[RallyPoint], path: str | os.PathLike[str]) -> None:
    """Write rally points as ``MAV_CMD_NAV_RALLY_POINT`` items from seq 0 (atomically)."""
    atomic_write_text(path, format_items([p.item() for p in points]))


def format_items(items: Sequence[MissionItem], start: int = 0) -> str:
    """A ``QGC WPL 110`` text of ``items`` numbered from ``start``, without a home line.

    >>> from missions.plan.items import RallyPoint
    >>> print(format_items([RallyPoint(36.07, 139.98, 40.0).item()]).replace("\\t", " "))
    QGC WPL 110
    0 0 3 5100 0.00000000 0.00000000 0.00000000 0.00000000 36.07000000 139.98000000 40.000000 1
    <BLANKLINE>
    """
    d = exact_decimal
    lines = [HEADER]
    for seq, it in enumerate(items, start=start):
        fields = [str(seq), "0", str(int(it.frame)), str(int(it.command))]
        fields += [d(p, 8) for p in (it.param1, it.param2, it.param3, it.param4)]
        fields += [d(it.lat_deg, 8), d(it.lon_deg, 8), d(it.alt_m, 6)]
        fields.append("1" if it.autocontinue else "0")
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def format_waypoints(home: tuple[float, float, float], items: Sequence[MissionItem]) -> str:
    """The text of a ``QGC WPL 110`` file: header, home as seq 0, then ``items`` from seq 1.

    >>> print(format_waypoints((36.0712345678, 139.9812345678, 0.0), []).replace("\\t", " "))
    QGC WPL 110
    0 1 0 16 0 0 0 0 36.0712345678 139.9812345678 0.000000 1
    <BLANKLINE>
    """
    d = exact_decimal
    lat, lon, alt = home
    nav = str(int(Cmd.NAV_WAYPOINT))
    home_line = "\t".join(["0", "1", "0", nav, "0", "0", "0", "0", d(lat, 8), d(lon, 8),
                           d(alt, 6), "1"])
    return HEADER + "\n" + home_line + "\n" + format_items(items, start=1)[len(HEADER) + 1:]


def exact_decimal(x: float, min_decimals: int = 0) -> str:
    """``x`` in plain decimal notation (no exponent), exact: the shortest decimal that reads back
    as the same double, padded with zeros to ``min_decimals``.

    >>> exact_decimal(36.0712345678, 8), exact_decimal(1e-9, 8), exact_decimal(40.0, 6)
    ('36.0712345678', '0.000000001', '40.000000')
    >>> exact_decimal(40.0), exact_decimal(-0.5)
    ('40', '-0.5')
    """
    x = float(x)
    if not math.isfinite(x):
        return repr(x)
    text = format(Decimal(repr(x)), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(min_decimals, "0")
    return f"{whole}.{frac}" if frac else whole


def read_waypoints(path: str | os.PathLike[str]) -> WaypointsFile:
    """Read a mission ``QGC WPL 110`` file.

    Raises
    ------
    InputError
        Missing header or home line, a line without 12 fields, a number that does not parse,
        sequence numbers out of order, a position out of range; the message names the path and
        the line number (1 is the header).
    """
    home, rows = _read(path)
    return WaypointsFile(home, [it for _, it in rows])


def read_fence_waypoints(path: str | os.PathLike[str]) -> FenceFile:
    """Read a fence file of polygon vertex items (5001 inclusion, 5002 exclusion).

    Raises
    ------
    InputError
        As :func:`read_waypoints`, plus other commands (circles, return points) and polygons
        whose vertex count (param1) does not match the vertices that follow.
    """
    rows = _read_items(path)
    kinds = (Cmd.FENCE_VERTEX_INCLUSION, Cmd.FENCE_VERTEX_EXCLUSION,
             Cmd.FENCE_CIRCLE_INCLUSION, Cmd.FENCE_CIRCLE_EXCLUSION)
    _only(path, rows, kinds, "fence polygons and circles")
    i = 0
    while i < len(rows):  # same grouping as fence_from_items, but errors point at a line
        line, first = rows[i]
        if first.command in (Cmd.FENCE_CIRCLE_INCLUSION, Cmd.FENCE_CIRCLE_EXCLUSION):
            if not first.param1 > 0:
                raise InputError(path, f"line {line}: a fence circle needs param1 (its radius) "
                                       f"above 0, found {first.param1:g}")
            i += 1
            continue
        n = int(first.param1) if math.isfinite(first.param1) else 0
        group = rows[i:i + n]
        if n < 3:
            raise InputError(path, f"line {line}: a fence polygon needs param1 (its vertex "
                                   f"count) of 3 or more, found {first.param1:g}")
        if len(group) != n or any(it.command != first.command for _, it in group):
            raise InputError(path, f"line {line}: the fence polygon of {n} vertices that starts "
                                   "here is incomplete")
        i += n
    return FenceFile(fence_from_items([it for _, it in rows]))


def read_rally_waypoints(path: str | os.PathLike[str]) -> RallyFile:
    """Read a rally file of ``MAV_CMD_NAV_RALLY_POINT`` (5100) items.

    Raises
    ------
    InputError
        As :func:`read_waypoints`, plus items with another command.
    """
    rows = _read_items(path)
    _only(path, rows, (Cmd.RALLY_POINT,), "rally points")
    return RallyFile([RallyPoint(it.lat_deg, it.lon_deg, it.alt_m) for _, it in rows])


def _only(path: str | os.PathLike[str], rows: list[tuple[int, MissionItem]],
          commands: tuple[Cmd, ...], what: str) -> None:
    for line, it in rows:
        if it.command not in commands:
            allowed = ", ".join(f"{int(c)} ({c.name})" for c in commands)
            raise InputError(path, f"line {line}: command {it.command} in a file of {what}; "
                                   f"expected {allowed}")


def _read_items(path: str | os.PathLike[str]) -> list[tuple[int, MissionItem]]:
    """The numbered items (file line, item) of a fence or rally file: from seq 0, or after a
    home line (a seq-0 waypoint, as this tool wrote them before)."""
    rows = [(line, seq, it) for line, seq, it in _lines(path)]
    if rows and rows[0][1] == 0 and rows[0][2].command == Cmd.NAV_WAYPOINT:
        rows = rows[1:]
    first = rows[0][1] if rows else 0
    for k, (line, seq, _) in enumerate(rows):
        if seq != first + k or first not in (0, 1):
            raise InputError(path, f"line {line}: sequence number {seq}, expected "
                                   f"{first + k if first in (0, 1) else 0}")
    return [(line, it) for line, _, it in rows]


def _lines(path: str | os.PathLike[str]) -> list[tuple[int, int, MissionItem]]:
    """(file line, seq, item) of every item line of a ``QGC WPL 110`` file."""
    try:
        with open(path, encoding="utf-8-sig") as f:  # tolerate a BOM
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(path, f"cannot read the waypoints file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a text file (bad UTF-8)") from None
    if not lines or lines[0].strip() != HEADER:
        found = repr(lines[0][:40]) if lines else "an empty file"
        raise InputError(path, f"line 1: expected the header {HEADER!r}, found {found}")
    out = []
    for number, text in enumerate(lines[1:], start=2):
        if text.strip():
            out.append((number, *_parse_line(path, number, text)))
    return out


def _read(path: str | os.PathLike[str]
          ) -> tuple[tuple[float, float, float], list[tuple[int, MissionItem]]]:
    """Home and the numbered items (file line, item) of a mission ``QGC WPL 110`` file."""
    lines = _lines(path)
    if not lines:
        raise InputError(path, "no home line (seq 0) after the header")
    rows: list[tuple[int, MissionItem]] = []
    for k, (number, seq, item) in enumerate(lines):
        if seq != k:
            raise InputError(path, f"line {number}: sequence number {seq}, expected {k}")
        if k:
            rows.append((number, item))
    home = lines[0][2]
    return (home.lat_deg, home.lon_deg, home.alt_m), rows


def _parse_line(path: str | os.PathLike[str], number: int, text: str) -> tuple[int, MissionItem]:
    fields = text.split("\t")
    if len(fields) != 12:
        fields = text.split()  # some tools write spaces
    if len(fields) != 12:
        raise InputError(path, f"line {number}: expected 12 tab-separated fields, "
                               f"found {len(fields)}")
    names = ("seq", "current", "frame", "command")
    try:
        seq, current, frame, command = (int(v) for v in fields[:4])
        p1, p2, p3, p4, lat, lon, alt = (float(v) for v in fields[4:11])
        auto = int(fields[11])
    except ValueError:
        bad = next(i for i, v in enumerate(fields) if not _parses(v, integer=i in (0, 1, 2, 3, 11)))
        name = (*names, "param1", "param2", "param3", "param4", "latitude", "longitude",
                "altitude", "autocontinue")[bad]
        raise InputError(path, f"line {number}: {name} {fields[bad]!r} is not a number") from None
    if current not in (0, 1) or auto not in (0, 1):
        raise InputError(path, f"line {number}: current and autocontinue must be 0 or 1")
    if not all(math.isfinite(v) for v in (lat, lon, alt)):
        raise InputError(path, f"line {number}: latitude, longitude and altitude must be finite")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InputError(path, f"line {number}: latitude {lat!r}, longitude {lon!r} out of range")
    return seq, MissionItem(command, frame, p1, p2, p3, p4, lat, lon, alt, auto == 1)


def _parses(text: str, *, integer: bool) -> bool:
    try:
        int(text) if integer else float(text)
    except ValueError:
        return False
    return True
