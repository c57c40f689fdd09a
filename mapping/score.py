"""Grades against ground truth: recall and precision by class (where the truth is known: the
demo's generated scenes)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mapping.store import BuildingRow
from survey.core.damage import DAMAGED_CLASSES, DamageClass


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

    classes: dict[DamageClass, ClassScore]
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
        return {"classes": {k.label: one(v) for k, v in self.classes.items()},
                "damaged": one(self.damaged), "median_error_m": _r(self.median_error_m),
                "max_error_m": _r(self.max_error_m), "matched": len(self.errors_m),
                "unmatched_objects": self.unmatched_objects}


def _r(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 3)


def score_buildings(graded: Sequence[BuildingRow], truth: Mapping[str, DamageClass]) -> Score:
    """Score per-building grades against the true damage by footprint key. A building
    *found* is one graded (seen by a photo); *right* when its grade is the true one.
    Footprints are given, so there is no position error.

    >>> from shapely.geometry import Point
    >>> I, D = DamageClass.INTACT, DamageClass.DESTROYED
    >>> row = lambda key, g: BuildingRow(0, key, {}, Point(0, 0), 1.0, 0.0, 0.0, "assessed",
    ...                                  g, 1.0, {}, ())
    >>> s = score_buildings([row("a", D), row("b", D), row("c", None)], {"a": D, "b": I, "c": I})
    >>> s.classes[D].recall, s.classes[D].precision, s.classes[I].found
    (1.0, 0.5, 1)
    """
    seen = [(truth[b.key], b.grade) for b in graded if b.key in truth and b.grade is not None]
    n_truth = {c: sum(t == c for t in truth.values()) for c in DamageClass}

    def group(classes: frozenset[DamageClass]) -> ClassScore:
        return ClassScore(
            truth=sum(n_truth[c] for c in classes), found=sum(t in classes for t, _ in seen),
            right=sum(t in classes and g in classes for t, g in seen),
            predicted=sum(g in classes for _, g in seen),
            predicted_right=sum(g in classes and t in classes for t, g in seen))

    return Score({c: group(frozenset({c})) for c in DamageClass}, group(DAMAGED_CLASSES), (), 0)
