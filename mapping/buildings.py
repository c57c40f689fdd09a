"""Per-building damage: every footprint seen in a photo is cropped, graded, and the views fused.

For each photo, the footprints under its ground footprint are projected into it through the
same camera model as georeferencing (:func:`mapping.georef.ground_to_pixel`, flat ground or
DEM). A footprint makes a *view* when at least :data:`MIN_VISIBLE` of its outline's pixel area
lies inside the frame and the photo sees it at :data:`MAX_GSD_FACTOR` × the assessor's GSD or
finer. The view's crop is cut at the photo's own resolution at that place (the GSD measured
from the projected outline: obliquity and terrain included), resampled to the assessor's
recipe (:func:`detection.crops.cut_crop`) and graded.

The views of a building are fused by a weighted mean of their probabilities; the weight is
how squarely (cosine of the angle from the vertical) and how closely (photo GSD against the
assessor's) the photo sees it, times the visible fraction. One record per footprint: the
grade (most probable of intact / minor / major / destroyed), every probability, the views
used, or ``not_seen``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from detection.assessor import GRADES, Assessor
from detection.crops import cut_crop
from mapping.footprints import Footprint
from mapping.pose import PhotoPose
from mapping.store import ViewRow
from survey.core.damage import DamageClass

MIN_VISIBLE = 0.85
"""Share of a footprint's pixel area that must be inside the frame for a view."""
MAX_GSD_FACTOR = 2.0
"""A view at a GSD coarser than this × the assessor's is too far to grade."""


@dataclass(frozen=True, slots=True)
class BuildingGrade:
    """A building's fused grade."""

    grade: DamageClass | None
    """The most probable class, or ``None`` when not seen."""
    status: str
    """``assessed`` or ``not_seen``."""
    probabilities: dict[str, float]
    confidence: float
    views: tuple[str, ...]
    """Photo names, best view first."""


class FootprintIndex:
    """Footprints with a spatial index (lon/lat)."""

    def __init__(self, footprints: Sequence[Footprint]) -> None:
        self.footprints = list(footprints)
        self._tree = shapely.STRtree([f.polygon for f in self.footprints])

    def under(self, area: Polygon) -> np.ndarray:
        """Indices of footprints that intersect ``area`` (lon/lat)."""
        if area is None or area.is_empty:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self._tree.query(area, predicate="intersects"), dtype=np.int64)


def _outline_lonlat(polygon: object) -> np.ndarray:
    parts = shapely.get_parts(polygon)
    biggest = max(parts, key=lambda p: p.area)
    return np.asarray(biggest.exterior.coords)[:-1, :2]


def _view_geometry(pose: PhotoPose, lonlat: np.ndarray, ground: object
                   ) -> tuple[np.ndarray, float, float] | None:
    """Pixel outline, ground area (m²) and incidence (deg) of a footprint, or ``None``."""
    from mapping.georef import ground_to_pixel, photo_frame

    heights = ground.height_at(lonlat[:, 0], lonlat[:, 1])  # type: ignore[attr-defined]
    if not np.isfinite(heights).all():
        return None
    uv = ground_to_pixel(pose, lonlat, ground, heights)  # type: ignore[arg-type]
    if not np.isfinite(uv).all():
        return None
    frame = photo_frame(pose)
    x, y = frame.to_local(lonlat[:, 0], lonlat[:, 1])
    area_m2 = Polygon(np.column_stack([x, y])).area
    centre = np.array([x.mean(), y.mean(), float(heights.mean()) -
                       ground.camera_height(pose)])  # type: ignore[attr-defined]
    norm = float(np.linalg.norm(centre))
    if norm <= 0 or centre[2] >= 0:
        return None
    incidence = math.degrees(math.acos(min(1.0, -centre[2] / norm)))
    return uv, float(area_m2), incidence


def photo_views(image: np.ndarray, pose: PhotoPose, ground: object, index: FootprintIndex,
                candidates: np.ndarray, assessor: Assessor,
                pre: Callable[[int], np.ndarray | None] | None = None) -> list[ViewRow]:
    """Grade every footprint in ``candidates`` that the photo sees well enough; each view's
    ``building_id`` is the store's id of the footprint (its index in ``index`` + 1).
    ``pre`` gives a footprint's pre-disaster crop by index (``None`` where there is none),
    for an assessor that compares pre and post."""
    height, width = image.shape[:2]
    frame_box = box(0, 0, width, height)
    spec = assessor.spec
    picked: list[tuple[int, tuple[float, float, float, float], float, float, float]] = []
    crops: list[np.ndarray] = []
    befores: list[np.ndarray | None] = []
    for i in candidates:
        lonlat = _outline_lonlat(index.footprints[int(i)].polygon)
        geometry = _view_geometry(pose, lonlat, ground)
        if geometry is None:
            continue
        uv, area_m2, incidence = geometry
        outline = Polygon(uv)
        if not outline.is_valid:
            outline = outline.buffer(0)
        if outline.is_empty or outline.area < 1.0 or area_m2 <= 0:
            continue
        visible = outline.intersection(frame_box).area / outline.area
        gsd_cm = math.sqrt(area_m2 / outline.area) * 100.0
        if visible < MIN_VISIBLE or gsd_cm > MAX_GSD_FACTOR * spec.gsd_cm:
            continue
        bounds = tuple(float(v) for v in outline.bounds)
        crops.append(cut_crop(image, bounds, gsd_cm, spec))
        befores.append(pre(int(i)) if pre is not None else None)
        closeness = min(1.0, spec.gsd_cm / gsd_cm)
        weight = math.cos(math.radians(incidence)) * closeness * visible
        picked.append((int(i), bounds, weight, gsd_cm, incidence))  # type: ignore[arg-type]
    probs = assessor.predict(crops, befores)
    return [ViewRow(i + 1, tuple(round(float(v), 5) for v in p), round(w, 5), round(g, 2),
                    round(inc, 2), b)
            for (i, b, w, g, inc), p in zip(picked, probs, strict=True)]


def fuse_views(views: Sequence[tuple[str, Sequence[float], float]]) -> BuildingGrade:
    """The grade of one building from its views ``(photo name, probabilities, weight)``.

    Examples
    --------
    >>> a, b = (0.1, 0.1, 0.1, 0.6, 0.1), (0.7, 0.1, 0.1, 0.05, 0.05)
    >>> g = fuse_views([("a", a, 1.0), ("b", b, 0.2)])
    >>> g.grade.label, g.views, round(g.probabilities["destroyed"], 3)
    ('destroyed', ('a', 'b'), 0.508)
    >>> fuse_views([]).status
    'not_seen'
    """
    if not views:
        return BuildingGrade(None, "not_seen", {}, 0.0, ())
    weights = np.array([max(w, 1e-6) for _, _, w in views])
    probs = np.array([p for _, p, _ in views], dtype=float)
    fused = (weights[:, None] * probs).sum(0) / weights.sum()
    best = max(DamageClass, key=lambda c: fused[GRADES.index(c.label)])
    order = np.argsort(-weights, kind="stable")
    return BuildingGrade(best, "assessed", {g: round(float(v), 4) for g, v in zip(GRADES, fused,
                                                                                  strict=True)},
                         round(float(fused[GRADES.index(best.label)]), 4),
                         tuple(views[i][0] for i in order))


def grades_from_rows(rows: Sequence[object]) -> dict[int, BuildingGrade]:
    """Fused grades by building id from ``building_views`` rows joined with photo names."""
    by_building: dict[int, list[tuple[str, list[float], float]]] = {}
    for r in rows:
        by_building.setdefault(int(r["building_id"]), []).append(  # type: ignore[index]
            (str(r["photo_name"]), json.loads(r["probabilities"]),  # type: ignore[index]
             float(r["weight"])))  # type: ignore[index]
    return {b: fuse_views(v) for b, v in by_building.items()}
