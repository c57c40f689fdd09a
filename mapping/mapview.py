"""A survey store as the HQ map: objects, photos, routes, track and zones → :mod:`mapping.webmap`.

A map of a large survey cannot carry every photo: the north-up overlays (the offline base
map) are chosen greedily in photo order, a photo kept only when it adds at least
``MIN_NEW_COVER`` of its footprint to what the kept ones already cover; thumbnails go with
every photo up to ``MAX_THUMBNAILS``, beyond that only with photos that have detections.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import shapely
from shapely.geometry import LineString, Polygon, shape
from shapely.geometry.base import BaseGeometry

from mapping.reviews import NOT_BUILDING, building_target, current_reviews, object_target
from mapping.share import damage_of
from mapping.store import ReviewRow, Store
from mapping.webmap import DamageObject, MapContent, Overlay, PhotoView, build_map, write_map
from survey.core.damage import DamageClass
from survey.core.errors import InputError
from survey.core.files import atomic_write_text
from survey.core.geometry import G, parts_of

MIN_NEW_COVER = 0.3
MAX_THUMBNAILS = 500


def _geoms(layer: dict | None) -> list[BaseGeometry]:
    if not layer:
        return []
    return [shape(f["geometry"]) for f in layer.get("features", []) if f.get("geometry")]


def _parts(geoms: list[BaseGeometry], kind: type[G]) -> list[G]:
    """The parts of ``geoms`` of one geometry type (multi-geometries split)."""
    return [p for g in geoms for p in parts_of(g, kind)]


def survey_content(store: Store, *, title: str) -> MapContent:
    """Everything of the store the map shows."""
    reviews = current_reviews(store)
    objects = []
    for i, o in enumerate(store.objects(), start=1):
        review = reviews.get(object_target(i))
        if review is not None and review.grade == NOT_BUILDING:
            continue  # HQ: not a building
        objects.append(DamageObject(i, o.ground, damage_of(o, review), o.confidence,
                                    o.area_m2, o.photos, review_details(review, o.damage)))
    not_seen = []
    for b in store.buildings():  # footprints, graded per building
        review = reviews.get(building_target(b.key))
        details = building_details(b.key, b.attrs, b.probabilities)
        if review is not None and review.grade == NOT_BUILDING:
            not_seen.append((b.ground, f"{details}; {review_details(review, b.grade)}"))
        elif review is not None:
            objects.append(DamageObject(b.id, b.ground, DamageClass.from_label(review.grade),
                                        b.confidence or 0.0, b.area_m2, b.views,
                                        f"{details}; {review_details(review, b.grade)}"))
        elif b.grade is None:
            not_seen.append((b.ground, details))
        else:
            objects.append(DamageObject(b.id, b.ground, b.grade, b.confidence or 0.0,
                                        b.area_m2, b.views, details))
    rows = [(r, foot) for r, foot in store.photo_footprints() if r["status"] == "ok"]
    with_boxes = {d.photo_id for d in store.detections()}
    thumbs_for_all = len(rows) <= MAX_THUMBNAILS
    covered: BaseGeometry = Polygon()
    photos = []
    for r, footprint in rows:
        overlay = None
        if r["overlay"] is not None and footprint.area > 0:
            new = footprint.difference(covered).area / footprint.area
            if new >= MIN_NEW_COVER:
                bounds = tuple(json.loads(r["overlay_bounds"]))
                overlay = Overlay(bytes(r["overlay"]), bounds)
                covered = shapely.union(covered, footprint)
        thumb = r["thumbnail"] if thumbs_for_all or r["id"] in with_boxes else None
        photos.append(PhotoView(r["name"], footprint, bytes(thumb) if thumb else None, overlay))
    layers = store.layers()
    area = _parts(_geoms(layers.get("area")), Polygon)
    return MapContent(
        title=title, objects=objects, photos=photos,
        routes=_parts(_geoms(layers.get("routes")), LineString),
        track=_parts(_geoms(layers.get("track")), LineString),
        zones=_parts(_geoms(layers.get("zones")), Polygon),
        area=area[0] if len(area) == 1 else (shapely.union_all(area) if area else None),
        not_seen=not_seen,
    )


def review_details(review: ReviewRow | None, model: DamageClass | None) -> str:
    """Popup text of HQ's review: the reviewed grade, who, when, and what the model said.

    >>> r = ReviewRow("object:1", "major", "minor", "Sato", "2026-12-03T10:00:00+09:00", "",
    ...               None, None, "review.geojson")
    >>> review_details(r, DamageClass.MINOR)
    'reviewed: major by Sato 2026-12-03T10:00:00+09:00 (model: minor)'
    """
    if review is None:
        return ""
    text = (f"reviewed: {review.grade} by {review.reviewer} {review.time} "
            f"(model: {model.label if model is not None else 'not seen'})")
    return f"{text}; note: {review.note}" if review.note else text


def building_details(key: str, attrs: dict, probabilities: dict[str, float]) -> str:
    """A footprint's popup text: its id, attributes and grade probabilities (plain text).

    >>> building_details("B7", {"address": "1-2 Jōsō"}, {"intact": 0.81, "destroyed": 0.1})
    'id B7; address: 1-2 Jōsō; p intact 0.81, destroyed 0.10'
    """
    parts = [f"id {key}", *(f"{k}: {v}" for k, v in attrs.items() if v not in (None, ""))]
    if probabilities:
        parts.append("p " + ", ".join(f"{g} {p:.2f}" for g, p in probabilities.items()))
    return "; ".join(parts)


def survey_map_html(store: Store, *, offline: bool = True, title: str,
                    review: bool = False) -> str:
    """The map's HTML; ``review``: with HQ's review panel (:mod:`mapping.review_panel`)."""
    page = build_map(survey_content(store, title=title), offline=offline)
    if review:
        from mapping.review_panel import with_review_panel

        page = with_review_panel(page, store)
    return page


def write_survey_map(store: Store, path: str | PathLike[str], *, offline: bool = True,
                     title: str, review: bool = False) -> None:
    """Write the map (atomically; the folder must exist or be creatable); ``review``: with
    HQ's review panel (:mod:`mapping.review_panel`).

    Raises
    ------
    InputError
        Nothing to map, or the file cannot be written there.
    """
    content = survey_content(store, title=title)
    try:
        if review:
            from mapping.review_panel import with_review_panel

            page = with_review_panel(build_map(content, offline=offline), store)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(Path(path), page)
        else:
            write_map(content, path, offline=offline)
    except OSError as exc:  # e.g. a read-only folder, or a file where the folder should be
        why = "its folder is a file" if isinstance(exc, FileExistsError) else exc.strerror
        raise InputError(path, f"cannot write the map ({why or exc})") from None
