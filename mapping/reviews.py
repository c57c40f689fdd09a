"""HQ's check of the AI's grades: the ``review.geojson`` the offline map exports, and applying
it to the survey.

The file is a GeoJSON FeatureCollection, one Point feature per review, at the reviewed
object's centre:

``{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
"properties": {"target": "object:12" | "building:<footprint id>", "grade": "intact" | "minor" |
"major" | "destroyed" | "not_building", "reviewer": "…", "time": "2026-12-03T10:15:00+09:00",
"note": "…", "model_grade": "major"}}``

``target`` names what was reviewed: a damage object by its number in the survey
(``object:N``, as the map numbers them) or a footprint by its own id from the municipality's
file (``building:KEY``). :func:`apply_reviews` records them in the store beside the model's
grade; a later review of the same target wins (by ``time``), the same review twice changes
nothing, and a review whose target is not in the survey — or whose object has moved more than
:data:`MAX_MOVE_M` since (a re-run of ``survey analyze`` re-merges and renumbers objects) — is
reported, not applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

from pyproj import Geod

from mapping.store import ReviewRow, Store
from survey.core.damage import DamageClass
from survey.core.errors import InputError
from survey.core.files import read_json

NOT_BUILDING = "not_building"
GRADES: tuple[str, ...] = (*(c.label for c in DamageClass), NOT_BUILDING)
"""What a reviewer can say: a damage grade, or that it is not a building at all."""
MAX_MOVE_M = 10.0
"""How far an object may lie from where it was reviewed and still be the one reviewed."""
_GEOD = Geod(ellps="WGS84")
MAX_TEXT = 2000
"""Longest reviewer name or note kept (characters)."""
REVIEW_FIELDS = ("model_grade", "reviewed_by", "reviewed_at", "review_note")
"""The columns every export adds: the model's grade beside the reviewed one, who and when."""


def review_fields(review: ReviewRow | None, model_grade: str) -> dict[str, str]:
    """The :data:`REVIEW_FIELDS` of a reviewed (or not) object or building."""
    if review is None:
        return {"model_grade": model_grade, "reviewed_by": "", "reviewed_at": "",
                "review_note": ""}
    return {"model_grade": model_grade, "reviewed_by": review.reviewer,
            "reviewed_at": review.time, "review_note": review.note}


def object_target(number: int) -> str:
    """The review target of the survey's damage object ``number`` (1-based, as mapped)."""
    return f"object:{number}"


def building_target(key: str) -> str:
    """The review target of the footprint whose own id is ``key``."""
    return f"building:{key}"


@dataclass
class ApplySummary:
    """What :func:`apply_reviews` did with a file's reviews."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    """Reviews not applied because the survey holds a later one of the same target."""
    unknown: list[str] = field(default_factory=list)
    """Targets not in the survey (or moved away since), with why."""


def read_reviews(path: str | PathLike[str]) -> list[ReviewRow]:
    """The reviews of a ``review.geojson``.

    Raises
    ------
    InputError
        One line naming the file (and the feature): not JSON, not a FeatureCollection, a
        feature without a target, an unknown grade, no reviewer, or a time that is not
        ISO 8601 with its time zone.
    """
    file = Path(path)
    doc = read_json(file, what="a review file")
    if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InputError(file, "not a review file (expected a GeoJSON FeatureCollection)")
    return [_review(file, n, feature) for n, feature in enumerate(doc["features"], start=1)]


def _review(file: Path, n: int, feature: Any) -> ReviewRow:
    where = f"review {n}"
    props = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(props, dict):
        raise InputError(file, f"{where}: not a GeoJSON feature with properties")
    target = props.get("target")
    if not isinstance(target, str) or not target.startswith(("object:", "building:")):
        raise InputError(file, f"{where}: target must be object:N or building:KEY")
    grade = props.get("grade")
    if grade not in GRADES:
        raise InputError(file, f"{where}: grade {grade!r} is not one of {', '.join(GRADES)}")
    reviewer = props.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InputError(file, f"{where}: no reviewer")
    time = props.get("time")
    try:
        stamp = datetime.fromisoformat(str(time))
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise InputError(file, f"{where}: time {time!r} is not ISO 8601 with a time zone")
    note = props.get("note") or ""
    if not isinstance(note, str):
        raise InputError(file, f"{where}: note must be text")
    model = props.get("model_grade")
    lon, lat = _point(feature.get("geometry"))
    return ReviewRow(target, grade, model if isinstance(model, str) else None,
                     reviewer.strip()[:MAX_TEXT], stamp.isoformat(), note[:MAX_TEXT], lon, lat,
                     file.name)


def _point(geometry: Any) -> tuple[float | None, float | None]:
    try:
        lon, lat = (float(v) for v in geometry["coordinates"][:2])
    except (TypeError, KeyError, ValueError):
        return None, None
    ok = math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90
    return (lon, lat) if ok else (None, None)


def survey_targets(store: Store) -> dict[str, tuple[float, float, str | None]]:
    """Every reviewable thing of the survey: target → (lon, lat, the model's grade)."""
    targets: dict[str, tuple[float, float, str | None]] = {
        object_target(i): (o.lon, o.lat, o.damage.label)
        for i, o in enumerate(store.objects(), start=1)}
    for b in store.buildings():
        targets[building_target(b.key)] = (b.lon, b.lat, None if b.grade is None
                                           else b.grade.label)
    return targets


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Ground distance between two points on the WGS84 ellipsoid, metres (pyproj)."""
    return float(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


def current_reviews(store: Store) -> dict[str, ReviewRow]:
    """The store's reviews that still point at what was reviewed (see the module)."""
    targets = survey_targets(store)
    out = {}
    for target, review in store.reviews().items():
        here = targets.get(target)
        if here is not None and _still_there(review, here):
            out[target] = review
    return out


def _still_there(review: ReviewRow, here: tuple[float, float, str | None]) -> bool:
    if review.lon is None or review.lat is None:
        return True
    return distance_m(review.lon, review.lat, here[0], here[1]) <= MAX_MOVE_M


def apply_reviews(store: Store, reviews: list[ReviewRow]) -> ApplySummary:
    """Record ``reviews`` in ``store`` (one transaction); see the module for the rules."""
    summary = ApplySummary()
    targets = survey_targets(store)
    have = store.reviews()
    changed: dict[str, ReviewRow] = {}
    for review in reviews:
        here = targets.get(review.target)
        if here is None:
            summary.unknown.append(f"{review.target} (not in this survey)")
            continue
        if not _still_there(review, here):
            assert review.lon is not None and review.lat is not None
            moved = distance_m(review.lon, review.lat, here[0], here[1])
            summary.unknown.append(f"{review.target} (reviewed {moved:.0f} m from where it is "
                                   "now: the survey was re-analysed since)")
            continue
        if review.model_grade is None:
            review = _with_model_grade(review, here[2])
        old = changed.get(review.target) or have.get(review.target)
        if old is not None and _same(old, review):
            summary.unchanged += 1
            continue
        if old is not None and datetime.fromisoformat(old.time) > datetime.fromisoformat(
                review.time):
            summary.older += 1
            continue
        if review.target in have or review.target in changed:
            summary.updated += 1
        else:
            summary.added += 1
        changed[review.target] = review
    if changed:
        store.put_reviews(list(changed.values()))
    return summary


def _with_model_grade(review: ReviewRow, grade: str | None) -> ReviewRow:
    return ReviewRow(review.target, review.grade, grade, review.reviewer, review.time,
                     review.note, review.lon, review.lat, review.source)


def _same(a: ReviewRow, b: ReviewRow) -> bool:
    return (a.grade, a.reviewer, datetime.fromisoformat(a.time), a.note) == (
        b.grade, b.reviewer, datetime.fromisoformat(b.time), b.note)
