"""The plan folder's file names, in one place: what ``survey plan`` writes, ``survey fly`` adds
under ``flight/``, and ``survey analyze`` and the simulators read.

>>> plan = PlanFolder("out")
>>> plan.sortie_plan(3).as_posix(), plan.flight.photos(3).as_posix()
('out/sortie_03.plan', 'out/flight/sortie_03_photos.json')
>>> PlanFolder.sortie_number("sortie_12.plan"), PlanFolder.sortie_number("fence.waypoints")
(12, None)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_SORTIE_PLAN = re.compile(r"sortie_(\d+)\.plan")
_SORTIE_EXPORT = re.compile(r"sortie_\d+\.(plan|waypoints)")
_SORTIE_PHOTOS = re.compile(r"sortie_(\d+)_photos\.json")


@dataclass(frozen=True)
class FlightFolder:
    """``flight/``: what flying a plan records (per-sortie logs and photos, state, vehicle)."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    def log(self, number: int) -> Path:
        """The sortie's event log, one JSON object a line."""
        return self.path / f"sortie_{number:02d}.jsonl"

    def photos(self, number: int) -> Path:
        """The camera shots (CAMERA_FEEDBACK) the vehicle reported in the sortie."""
        return self.path / f"sortie_{number:02d}_photos.json"

    @property
    def state(self) -> Path:
        """Where a partly flown plan stands (for ``--resume``)."""
        return self.path / "state.json"

    @property
    def vehicle(self) -> Path:
        """What the vehicle said of itself at connect (AUTOPILOT_VERSION)."""
        return self.path / "vehicle.json"

    def logs(self) -> list[Path]:
        """Every sortie log here, in name order."""
        return sorted(self.path.glob("sortie_*.jsonl"))

    def photo_lists(self) -> list[Path]:
        """Every sortie's photo records here, in name order."""
        return sorted(p for p in self.path.glob("sortie_*_photos.json")
                      if _SORTIE_PHOTOS.fullmatch(p.name))


@dataclass(frozen=True)
class PlanFolder:
    """A folder written by ``survey plan``: per sortie a QGC ``.plan`` and a Mission Planner
    ``.waypoints``; the fence, rally points, KML, GeoJSON and ``summary.json``."""

    path: Path

    FLIGHT = "flight"
    FENCE = "fence.waypoints"
    RALLY = "rally.waypoints"
    KML = "plan.kml"
    GEOJSON = "plan.geojson"
    SUMMARY = "summary.json"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    @staticmethod
    def sortie_stem(number: int) -> str:
        """``sortie_NN``: the name of a sortie's files, before the suffix."""
        return f"sortie_{number:02d}"

    def sortie_plan(self, number: int) -> Path:
        """The sortie's QGroundControl plan, which ``survey fly`` flies."""
        return self.path / f"{self.sortie_stem(number)}.plan"

    def sortie_waypoints(self, number: int) -> Path:
        """The sortie's Mission Planner waypoints file."""
        return self.path / f"{self.sortie_stem(number)}.waypoints"

    @staticmethod
    def sortie_number(name: str) -> int | None:
        """The number of a ``sortie_NN.plan`` file name, or ``None`` for any other name."""
        m = _SORTIE_PLAN.fullmatch(name)
        return int(m.group(1)) if m else None

    @staticmethod
    def is_sortie_export(name: str) -> bool:
        """Whether ``name`` is a sortie's ``.plan`` or ``.waypoints`` (an export a re-plan owns)."""
        return _SORTIE_EXPORT.fullmatch(name) is not None

    def sortie_plans(self) -> dict[int, Path]:
        """``{number: path}`` of the ``sortie_NN.plan`` files here."""
        return {n: p for p in self.path.glob("sortie_*.plan")
                if (n := self.sortie_number(p.name)) is not None}

    @property
    def fence(self) -> Path:
        return self.path / self.FENCE

    @property
    def rally(self) -> Path:
        return self.path / self.RALLY

    @property
    def kml(self) -> Path:
        return self.path / self.KML

    @property
    def geojson(self) -> Path:
        return self.path / self.GEOJSON

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def flight(self) -> FlightFolder:
        """``flight/``: what ``survey fly`` records."""
        return FlightFolder(self.path / self.FLIGHT)
