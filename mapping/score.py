"""Objects found against ground truth: recall and precision by class, position error.

Used where the truth is known (the demo's generated scenes, xBD tiles). A truth building is
*found* when an object's centroid lies within ``max_distance_m`` of the building's centroid
(closest pairs first, one to one); found *right* when that object also has its class.
Only buildings inside the surveyed area (the photos' footprints) count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shapely import wkt
from shapely.geometry.base import BaseGeometry

from mapping.store import ObjectRow
from survey.core.damage import DamageClass
from survey.core.frame import LocalFrame

LABELS = tuple(c.label for c in DamageClass)


@dataclass(frozen=True)
class ClassScore:
    """One damage class: truth count, found (any class), right class, objects given it."""

    truth: int
    found: int
    right: int
    predicted: int
    predicted_right: int

    @property
    def recall(self) -> float:
        """Share of the class's buildings found with the right class."""
        return self.right / self.truth if self.truth else math.nan

    @property
    def found_share(self) -> float:
        """Share of the class's buildings found at all (any class)."""
        return self.found / self.truth if self.truth else math.nan

    @property
    def precision(self) -> float:
        """Share of the objects given this class whose building has it."""
        return self.predicted_right / self.predicted if self.predicted else math.nan


@dataclass(frozen=True)
class Score:
    """Per-class scores, damaged (major + destroyed) vs the rest, and position errors."""

    classes: dict[str, ClassScore]
    damaged: ClassScore
    errors_m: tuple[float, ...]
    unmatched_objects: int

    @property
    def median_error_m(self) -> float:
        e = sorted(self.errors_m)
        return e[len(e) // 2] if e else math.nan

    @property
    def max_error_m(self) -> float:
        return max(self.errors_m) if self.errors_m else math.nan

    def to_json(self) -> dict:
        def one(c: ClassScore) -> dict:
            return {"truth": c.truth, "found": c.found, "right": c.right,
                    "predicted": c.predicted, "recall": _r(c.recall),
                    "precision": _r(c.precision), "found_share": _r(c.found_share)}
        return {"classes": {k: one(v) for k, v in self.classes.items()},
                "damaged": one(self.damaged), "median_error_m": _r(self.median_error_m),
                "max_error_m": _r(self.max_error_m), "matched": len(self.errors_m),
                "unmatched_objects": self.unmatched_objects}


def _r(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 3)


def score_objects(objects: Sequence[ObjectRow], buildings: Sequence[object],
                  surveyed: BaseGeometry, *, max_distance_m: float = 8.0) -> Score:
    """Score ``objects`` against truth ``buildings`` (``polygon_lonlat`` and ``damage``)."""
    inside = [b for b in buildings
              if surveyed.contains(b.polygon_lonlat.centroid)]  # type: ignore[attr-defined]
    shapes = [wkt.loads(o.ground_wkt) for o in objects]
    frame = LocalFrame.around(surveyed if not surveyed.is_empty else shapes[0])
    truth_xy = [frame.geom_to_local(b.polygon_lonlat).centroid  # type: ignore[attr-defined]
                for b in inside]
    obj_xy = [frame.geom_to_local(s).centroid for s in shapes]
    pairs = sorted((t.distance(o), i, j) for i, t in enumerate(truth_xy)
                   for j, o in enumerate(obj_xy) if t.distance(o) <= max_distance_m)
    match: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in pairs:
        if i not in match and j not in used:
            match[i] = j
            used.add(j)
    truth_of = {j: inside[i].damage for i, j in match.items()}  # type: ignore[attr-defined]
    classes = {}
    for label in LABELS:
        idx = [i for i, b in enumerate(inside) if b.damage == label]  # type: ignore[attr-defined]
        preds = [j for j, o in enumerate(objects) if o.damage == label]
        classes[label] = ClassScore(
            truth=len(idx), found=sum(i in match for i in idx),
            right=sum(i in match and objects[match[i]].damage == label for i in idx),
            predicted=len(preds), predicted_right=sum(truth_of.get(j) == label for j in preds))
    damaged = {"major", "destroyed"}
    d_idx = [i for i, b in enumerate(inside) if b.damage in damaged]  # type: ignore[attr-defined]
    d_pred = [j for j, o in enumerate(objects) if o.damage in damaged]
    damaged_score = ClassScore(
        truth=len(d_idx), found=sum(i in match for i in d_idx),
        right=sum(i in match and objects[match[i]].damage in damaged for i in d_idx),
        predicted=len(d_pred), predicted_right=sum(truth_of.get(j) in damaged for j in d_pred))
    errors = tuple(truth_xy[i].distance(obj_xy[j]) for i, j in match.items())
    return Score(classes, damaged_score, errors, len(objects) - len(used))


def score_buildings(graded: Sequence[object], truth: dict[str, str]) -> Score:
    """Score per-building grades (``key``, ``grade``: a :class:`~mapping.store.BuildingRow`)
    against the true damage by footprint key. A building *found* is one graded (seen by a
    photo); *right* when its grade is the true one. Footprints are given, so there is no
    position error."""
    seen = [(truth[b.key], b.grade) for b in graded  # type: ignore[attr-defined]
            if b.key in truth and b.grade is not None]  # type: ignore[attr-defined]
    n_truth = {label: sum(t == label for t in truth.values()) for label in LABELS}

    def group(labels: set[str]) -> ClassScore:
        return ClassScore(
            truth=sum(n_truth[x] for x in labels), found=sum(t in labels for t, _ in seen),
            right=sum(t in labels and g in labels for t, g in seen),
            predicted=sum(g in labels for _, g in seen),
            predicted_right=sum(g in labels and t in labels for t, g in seen))

    classes = {label: group({label}) for label in LABELS}
    return Score(classes, group({"major", "destroyed"}), (), 0)
