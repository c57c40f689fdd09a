"""HQ's review queue: every mapped object and footprint, the most useful check first.

One :class:`ReviewItem` per review target (:func:`mapping.reviews.object_target`,
:func:`~mapping.reviews.building_target`): the model's grade, a probability per review grade
(:data:`mapping.reviews.GRADES`), the views (photo, box, that view's grade, a small crop),
whether it ``needs_review`` and its ``priority``.

Probabilities. A footprint graded by the assessor has its fused probabilities; its
``background`` is the review's ``not_building``. A detector object has no distribution, only
each detection's class and confidence, so one is made from those and said to be so
(``probability_source == "detections"``): each view gives its confidence to its own class and
the rest, ``1 − confidence``, evenly to the four other grades; the object's vector is the mean
over its views. Three views agreeing at 0.9 give 0.9 to their class; views that disagree split
it.

``needs_review``: the top probability is below :data:`NEEDS_REVIEW_BELOW`, or the views' own
top grades disagree.

Priority, "how much a check changes the picture". HQ acts on the line between damaged (major,
destroyed: the grades a disaster-victim certificate and the response turn on) and not damaged
(intact, minor). With the model's grade ``m`` and probabilities ``p``::

    priority = P(the truth lies across that line from m) + 0.1 · Σ_g p_g · |s(g) − s(m)| / 3

(severity ``s``: intact 0, minor 1, major 2, destroyed 3; ``not_building`` lies across the
line from a damaged grade, since it takes the building out of the damage counts). The first
term is the chance a check changes the damage map; the second, smaller one orders what is
left by the expected change of severity. Ties go to the more severe grade, then the less
probable, then the target. Measured with a reviewer who answers with the truth
(``benchmarks/review.py``): an earlier priority, the severity-weighted expected change alone,
put major-vs-destroyed doubts first and raised the demo's damaged F1 not at all in 20 % of
the queue.

Crops: each view's box with :data:`CONTEXT` of its size around it, cut from the photo file
(``photos.path``), or from the stored thumbnail when the file is gone, the box outlined, at most
:data:`CROP_PX` on the long side, JPEG, as a ``data:`` URI. At most :data:`MAX_VIEWS` views per
item carry a crop, and once :data:`MAX_CROP_BYTES` of crops are embedded (in priority order) the
remaining views are listed without one, so the map of a large survey stays openable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from mapping.reviews import (
    GRADES,
    NOT_BUILDING,
    building_target,
    current_reviews,
    object_target,
)
from mapping.store import ReviewRow, Store

NEEDS_REVIEW_BELOW = 0.6
"""An item whose top probability is below this needs a review."""
MAX_VIEWS = 4
"""Views per item that carry a photo crop (the best first)."""
CROP_PX = 256
"""Long side of a crop, pixels (never enlarged)."""
CONTEXT = 0.5
"""Margin around the box on each side, as a share of the box's longer side."""
MIN_CONTEXT_PX = 12
"""At least this many photo pixels of margin."""
MAX_CROP_BYTES = 24_000_000
"""Crop bytes embedded in one map; views beyond it are listed without a crop."""
JPEG_QUALITY = 80

SEVERITY: dict[str, int] = {"intact": 0, "minor": 1, "major": 2, "destroyed": 3, NOT_BUILDING: 0}
"""Severity of each review grade, for :func:`priority`."""
_ASSESSOR_NAMES = {"background": NOT_BUILDING}


@dataclass(frozen=True)
class ReviewView:
    """One photo's look at an item."""

    photo: str
    box: tuple[float, float, float, float] | None
    """``x0, y0, x1, y1`` in the photo's pixels (``None`` when not stored)."""
    grade: str | None
    """This view's own top grade."""
    score: float
    """This view's confidence (detector) or top probability (assessor)."""
    crop: str | None = None
    """``data:image/jpeg;base64,…`` (``None`` when not embedded or the photo is gone)."""
    photo_id: int = 0


@dataclass(frozen=True)
class ReviewItem:
    """One thing HQ can check (see the module for the numbers)."""

    target: str
    kind: str
    """``object`` (detector) or ``building`` (footprint)."""
    label: str
    """What the panel calls it: ``Object 3`` or ``Building JOSO-A``."""
    lon: float
    lat: float
    model_grade: str
    confidence: float
    probabilities: dict[str, float]
    """One per :data:`mapping.reviews.GRADES`, summing to 1."""
    probability_source: str
    """``assessor`` (fused view probabilities) or ``detections`` (made from the views'
    classes and confidences, see the module)."""
    views: tuple[ReviewView, ...]
    needs_review: bool
    why: str
    """Why it needs review ("" when it does not)."""
    priority: float
    review: ReviewRow | None = None
    """The store's current review of it, if any."""
    details: dict[str, str] = field(default_factory=dict)
    """A footprint's attributes (plain text)."""


DAMAGED = frozenset({"major", "destroyed"})


def priority(model_grade: str, probabilities: dict[str, float]) -> float:
    """How much checking this item is expected to change the damage map (see the module).

    >>> priority("destroyed", {"destroyed": 1.0})
    0.0
    >>> across = priority("minor", {"minor": 0.6, "major": 0.4})   # may be damaged after all
    >>> within = priority("major", {"major": 0.6, "destroyed": 0.4})  # damaged either way
    >>> round(across, 3), round(within, 3)
    (0.413, 0.013)
    """
    damaged = model_grade in DAMAGED
    sm = SEVERITY[model_grade]
    across = sum(p for g, p in probabilities.items()
                 if (g in DAMAGED) != damaged and (g != NOT_BUILDING or damaged))
    change = sum(p * abs(SEVERITY[g] - sm) for g, p in probabilities.items()) / 3
    return across + 0.1 * change


def detection_probabilities(views: Sequence[tuple[str, float]]) -> dict[str, float]:
    """A probability per review grade from detections ``(class, confidence)`` (see the module).

    >>> p = detection_probabilities([("major", 0.8), ("major", 0.6)])
    >>> round(p["major"], 3), round(p["intact"], 3), round(sum(p.values()), 6)
    (0.7, 0.075, 1.0)
    """
    out = dict.fromkeys(GRADES, 0.0)
    if not views:
        return out
    for grade, conf in views:
        c = min(max(float(conf), 0.0), 1.0)
        for g in GRADES:
            out[g] += (c if g == grade else (1 - c) / (len(GRADES) - 1)) / len(views)
    return out


def _assessor_probabilities(raw: dict[str, float] | Sequence[float]) -> dict[str, float]:
    from detection.assessor import GRADES as ASSESSOR_GRADES

    if not isinstance(raw, dict):
        raw = dict(zip(ASSESSOR_GRADES, (float(v) for v in raw), strict=False))
    out = dict.fromkeys(GRADES, 0.0)
    for k, v in raw.items():
        name = _ASSESSOR_NAMES.get(k, k)
        if name in out and math.isfinite(float(v)):
            out[name] += max(float(v), 0.0)
    total = sum(out.values())
    return {g: v / total for g, v in out.items()} if total > 0 else out


def _top(p: dict[str, float]) -> tuple[str, float]:
    g = max(GRADES, key=lambda k: p.get(k, 0.0))
    return g, p.get(g, 0.0)


def _judge(probabilities: dict[str, float], view_grades: Sequence[str | None]
           ) -> tuple[bool, str]:
    _, top = _top(probabilities)
    why = []
    if top < NEEDS_REVIEW_BELOW:
        why.append(f"uncertain (top {top:.2f} < {NEEDS_REVIEW_BELOW:.2f})")
    grades = sorted({g for g in view_grades if g is not None})
    if len(grades) > 1:
        why.append("views disagree (" + " / ".join(grades) + ")")
    return bool(why), "; ".join(why)


def review_items(store: Store, *, crops: bool = True) -> list[ReviewItem]:
    """Every object and footprint of ``store`` that has a grade, highest priority first.

    ``crops=False`` leaves the crops out (quicker, for counts).
    """
    reviews = current_reviews(store)
    photos = {int(r["id"]): r for r in store.photos()}
    boxes = {int(r["id"]): r for r in store.db.execute(
        "SELECT id, photo_id, x0, y0, x1, y1, damage, confidence FROM detections")}
    items: list[ReviewItem] = []
    for n, o in enumerate(store.objects(), start=1):
        views = []
        for d in o.detections:
            row = boxes.get(int(d))
            if row is None:
                continue
            pr = photos.get(int(row["photo_id"]))
            views.append(ReviewView(str(pr["name"]) if pr is not None else "?",
                                    (row["x0"], row["y0"], row["x1"], row["y1"]),
                                    str(row["damage"]), float(row["confidence"]),
                                    photo_id=int(row["photo_id"])))
        probs = detection_probabilities([(v.grade or "", v.score) for v in views])
        need, why = _judge(probs, [v.grade for v in views])
        target = object_target(n)
        items.append(ReviewItem(target, "object", f"Object {n}", o.lon, o.lat, o.damage.label,
                                o.confidence, probs, "detections", tuple(views), need, why,
                                priority(o.damage.label, probs), reviews.get(target)))
    by_building: dict[int, list[ReviewView]] = {}
    for r in store.building_views():
        p = _assessor_probabilities(json.loads(r["probabilities"]))
        g, top = _top(p)
        box = None if r["x0"] is None else (r["x0"], r["y0"], r["x1"], r["y1"])
        by_building.setdefault(int(r["building_id"]), []).append(
            ReviewView(str(r["photo_name"]), box, g, top, photo_id=int(r["photo_id"])))
    for b in store.buildings():
        if b.grade is None:
            continue
        probs = _assessor_probabilities(b.probabilities)
        views = sorted(by_building.get(b.id, []), key=lambda v: _view_rank(b.views, v.photo))
        need, why = _judge(probs, [v.grade for v in views])
        target = building_target(b.key)
        details = {str(k): str(v) for k, v in b.attrs.items() if v not in (None, "")}
        items.append(ReviewItem(target, "building", f"Building {b.key}", b.lon, b.lat,
                                b.grade.label, b.confidence or 0.0, probs, "assessor",
                                tuple(views), need, why, priority(b.grade.label, probs),
                                reviews.get(target), details))
    items.sort(key=lambda i: (-round(i.priority, 9), -SEVERITY[i.model_grade],
                              i.probabilities.get(i.model_grade, 0.0), i.target))
    return _with_crops(store, items, photos) if crops else items


def _view_rank(order: Sequence[str], photo: str) -> int:
    return order.index(photo) if photo in order else len(order)


def survey_key(store: Store, items: Sequence[ReviewItem]) -> str:
    """A short id of this survey's state: the same map written again gets the same one (so
    the browser finds its reviews), a re-analysed survey (renumbered objects) another."""
    h = hashlib.sha256(json.dumps(sorted(store.meta().items())).encode())
    for i in sorted(items, key=lambda i: i.target):
        h.update(f"{i.target} {i.lon:.6f} {i.lat:.6f}\n".encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Crops
# ---------------------------------------------------------------------------------------------


def _with_crops(store: Store, items: list[ReviewItem], photos: dict) -> list[ReviewItem]:
    wanted: dict[int, list[tuple[int, int]]] = {}  # photo id → [(item, view)]
    for i, item in enumerate(items):
        for j, v in enumerate(item.views[:MAX_VIEWS]):
            if v.box is not None and v.photo_id in photos:
                wanted.setdefault(v.photo_id, []).append((i, j))
    made: dict[tuple[int, int], bytes] = {}
    for pid, where in wanted.items():  # one photo decoded at a time
        image, scale = _photo_image(photos[pid])
        if image is None:
            continue
        for i, j in where:
            box = items[i].views[j].box
            assert box is not None
            jpeg = crop_jpeg(image, tuple(v * scale for v in box))  # type: ignore[arg-type]
            if jpeg is not None:
                made[(i, j)] = jpeg
    total = 0
    out = []
    for i, item in enumerate(items):  # the budget goes to the highest priorities
        views = list(item.views)
        for j in range(len(views)):
            jpeg = made.get((i, j))
            if jpeg is None or total + len(jpeg) > MAX_CROP_BYTES:
                continue
            total += len(jpeg)
            views[j] = replace(views[j], crop="data:image/jpeg;base64,"
                               + base64.b64encode(jpeg).decode("ascii"))
        out.append(replace(item, views=tuple(views)))
    return out


def _photo_image(row: object) -> tuple[np.ndarray | None, float]:
    """The photo's pixels and the factor from its stored size to them: the file, else the
    stored thumbnail."""
    width = row["width"]  # type: ignore[index]
    path = Path(str(row["path"]))  # type: ignore[index]
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is not None:
        return image, (image.shape[1] / width) if width else 1.0
    thumb = row["thumbnail"]  # type: ignore[index]
    if thumb:
        image = cv2.imdecode(np.frombuffer(bytes(thumb), np.uint8), cv2.IMREAD_COLOR)
        if image is not None and width:
            return image, image.shape[1] / width
    return None, 1.0


def crop_jpeg(image: np.ndarray, box: tuple[float, float, float, float]) -> bytes | None:
    """The box with its context cut from ``image``, outlined, at most :data:`CROP_PX`, JPEG
    (``None`` when the box is not in the image)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box) or x1 <= x0 or y1 <= y0:
        return None
    pad = max(CONTEXT * max(x1 - x0, y1 - y0), MIN_CONTEXT_PX * min(1.0, w / 400))
    c0, r0 = max(0, math.floor(x0 - pad)), max(0, math.floor(y0 - pad))
    c1, r1 = min(w, math.ceil(x1 + pad)), min(h, math.ceil(y1 + pad))
    if c1 - c0 < 2 or r1 - r0 < 2:
        return None
    crop = np.ascontiguousarray(image[r0:r1, c0:c1])
    k = min(1.0, CROP_PX / max(crop.shape[:2]))
    if k < 1.0:
        size = (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    p0 = (round((x0 - c0) * k), round((y0 - r0) * k))
    p1 = (round((x1 - c0) * k), round((y1 - r0) * k))
    cv2.rectangle(crop, p0, p1, (0, 0, 0), 3)
    cv2.rectangle(crop, p0, p1, (0, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return bytes(buf) if ok else None
