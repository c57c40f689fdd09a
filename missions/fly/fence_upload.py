"""Uploading a fence the vehicle has room for: when it answers that the fence does not fit,
fit it to the next smaller ArduPilot fence storage and send it again (the route keeps its full
margin regardless: the fence only backs it up)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from missions.fly.link import Link
from missions.fly.transfer.protocol import TransferConfig, upload
from missions.fly.transfer.wire import MissionType
from missions.plan.fence_budget import SMALLER_FENCES, FittedFence, item_count, refit, storage_bytes
from missions.plan.items import FenceZone, MissionItem, RallyPoint
from survey.core.errors import MissionRejected

_NO_SPACE = 4  # MAV_MISSION_NO_SPACE
_ERROR = 1  # MAV_MISSION_ERROR


def flown_lonlat(home: tuple[float, float, float], items: Sequence[MissionItem],
                 rally: Sequence[RallyPoint]) -> BaseGeometry:
    """What the vehicle will fly, lon/lat: home, the mission's positions in order, rally."""
    pts = [(home[1], home[0])] + [(it.lon_deg, it.lat_deg) for it in items
                                  if it.lat_deg or it.lon_deg]
    parts: list[BaseGeometry] = [Point(p) for p in pts[:1]]
    if len(pts) > 1:
        parts.append(LineString(pts))
    parts += [Point(r.lon_deg, r.lat_deg) for r in rally]
    return shapely.union_all(parts)


def does_not_fit(exc: MissionRejected, n_items: int) -> bool:
    """Whether a refused fence upload means "no room": NO_SPACE at the count, or ArduPilot's
    MISSION_ERROR after the last item ("Fence exceeds storage size")."""
    return exc.ack_type == _NO_SPACE or (exc.ack_type == _ERROR and exc.seq == n_items - 1)


def upload_fence(link: Link, zones: Sequence[FenceZone], flown: BaseGeometry, *,
                 config: TransferConfig | None = None,
                 on_note: Callable[[str], None] = lambda text: None) -> tuple[FenceZone, ...]:
    """Upload ``zones`` (verified); on "no room", refit them to each smaller storage in turn
    (:data:`~missions.plan.fence_budget.SMALLER_FENCES`) and retry, telling ``on_note`` what was
    simplified. Returns the zones the vehicle now holds.

    Raises
    ------
    MissionRejected
        Any other refusal, or no room even in the smallest storage.
    """
    current = tuple(zones)
    ladder = list(SMALLER_FENCES)
    while True:
        items = [i for z in current for i in z.items()]
        try:
            upload(link, MissionType.FENCE, items, config=config)
            return current
        except MissionRejected as exc:
            if not items or not does_not_fit(exc, len(items)):
                raise
            fitted: FittedFence | None = None
            while ladder and fitted is None:
                budget = ladder.pop(0)
                if budget.bytes >= storage_bytes(current) and budget.items >= item_count(
                        current):
                    continue  # it already fitted that one
                try:
                    fitted = refit(zones, budget, flown)
                except ValueError:
                    continue
            if fitted is None:
                raise MissionRejected(f"{exc} (and no simplified fence fits either)",
                                      ack_type=exc.ack_type, seq=exc.seq) from None
            on_note(f"the vehicle has no room for the fence ({len(items)} items, "
                    f"{storage_bytes(current)} bytes): {fitted.note() or 'resent'}")
            current = fitted.zones


FENCE_PARAMS: tuple[tuple[str, float], ...] = (
    ("FENCE_TYPE", 4.0),  # polygons and circles only: not ArduCopter's default 150 m home circle
    ("FENCE_ACTION", 1.0),  # RTL (or land) on a breach
    ("FENCE_ENABLE", 1.0),
)
"""What makes ArduCopter enforce the uploaded fence (it stores it but ignores it while
``FENCE_ENABLE`` is 0)."""


def enable_fence(link: Link, *, timeout_s: float = 1.5) -> None:
    """Set :data:`FENCE_PARAMS` and check each value the vehicle echoes back.

    Raises
    ------
    VehicleRefused
        The vehicle kept another value.
    """
    from missions.fly.commands import set_param
    from survey.core.errors import VehicleRefused

    for name, value in FENCE_PARAMS:
        got = set_param(link, name, value, timeout_s=timeout_s)
        if got != value:
            raise VehicleRefused("enable the fence", f"{name} reads back {got:g}, not {value:g}")
