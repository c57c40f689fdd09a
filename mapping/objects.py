"""One damaged building seen in several photos is one object: merge ground detections.

Overlapping survey photos see each building several times, each view a box on the ground.
Detections are taken best view first (confidence × how central the box sits in its photo:
photo edges are the most oblique and most often cut off). A detection joins the object whose
first (best) ground polygon it overlaps most — at least ``min_overlap`` of the smaller of the
two polygons (so that a view cut off by a photo edge still joins the full one), or holding the
other's centre (boxes of one building drawn tighter or looser in different views) — unless
that object already has a view from the same photo: two boxes of one photo are two buildings,
except when one lies almost wholly (``same_photo_overlap``) inside the other, a part of the
building boxed again. Otherwise it starts a new object. Greedy and order-fixed, so the result
is deterministic.

An object's class is the most severe one that at least half of its best views agree on,
where a view of a more severe class also agrees the building is at least that damaged (so
one "destroyed" among three "intact" views stays intact, two of three make it destroyed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shapely import STRtree
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from survey.core.damage import DamageClass
from survey.core.frame import LocalFrame


@dataclass(frozen=True, slots=True)
class GroundDetection:
    """A detection placed on the ground.

    ``polygon`` is lon/lat; ``centrality`` is 1 at the photo centre and 0 at its corners.
    """

    id: int
    photo: str
    damage: DamageClass
    confidence: float
    polygon: Polygon
    centrality: float = 1.0

    @property
    def view_score(self) -> float:
        return self.confidence * (0.5 + 0.5 * self.centrality)


@dataclass(frozen=True, slots=True)
class MergedObject:
    """A damage object: its views, best first, and the class they agree on."""

    damage: DamageClass
    confidence: float
    polygon: Polygon
    area_m2: float
    views: tuple[GroundDetection, ...]

    @property
    def photos(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.photo for v in self.views))


def agreed_damage(views: Sequence[GroundDetection], best: int = 3) -> DamageClass:
    """The most severe class that at least half of the ``best`` best views agree on (the
    classes are ordered by severity).

    >>> I, M, D = DamageClass.INTACT, DamageClass.MAJOR, DamageClass.DESTROYED
    >>> v = lambda d, c: GroundDetection(0, "p", d, c, Polygon([(0, 0), (1, 0), (1, 1)]))
    >>> agreed_damage([v(D, .9), v(I, .8), v(I, .7)]).label
    'intact'
    >>> agreed_damage([v(D, .9), v(M, .8), v(I, .7)]).label
    'major'
    >>> agreed_damage([v(DamageClass.MINOR, .9)]).label
    'minor'
    """
    top = sorted(views, key=lambda v: -v.view_score)[:best]
    need = math.ceil(len(top) / 2)
    for level in sorted(DamageClass, reverse=True):
        if sum(v.damage >= level for v in top) >= need:
            return level
    return top[0].damage


def _overlap(a: BaseGeometry, b: BaseGeometry) -> float:
    """Intersection over the smaller area (1 when one polygon lies inside the other)."""
    smaller = min(a.area, b.area)
    return a.intersection(b).area / smaller if smaller > 0 else 0.0


def _same_building(a: BaseGeometry, b: BaseGeometry, min_overlap: float) -> float:
    """How strongly two ground boxes are one building: their overlap (see :func:`_overlap`),
    or ``min_overlap`` when either holds the other's centre; 0 when neither."""
    overlap = _overlap(a, b)
    if overlap >= min_overlap:
        return overlap
    if a.contains(b.centroid) or b.contains(a.centroid):
        return min_overlap
    return 0.0


def merge_detections(detections: Sequence[GroundDetection], *, min_overlap: float = 0.5,
                     same_photo_overlap: float = 0.8, best_views: int = 3
                     ) -> list[MergedObject]:
    """Merge detections of the same building across photos (see the module docstring).

    Objects come out ordered by the position of their best view (west to east, then south to
    north, rounded to 0.1 m), so that object numbers do not depend on photo order.
    """
    valid = [d for d in detections if d.polygon.is_valid and not d.polygon.is_empty]
    if not valid:
        return []
    frame = LocalFrame.around(_hull(valid))
    local = {d.id: frame.geom_to_local(d.polygon) for d in valid}
    order = sorted(valid, key=lambda d: (-d.view_score, d.photo, d.id))
    anchors: list[BaseGeometry] = []
    members: list[list[GroundDetection]] = []
    photos: list[set[str]] = []
    tree: STRtree | None = None
    pending: list[int] = []  # objects not yet in the tree
    rebuilt_at = 0
    for det in order:
        shape = local[det.id]
        if tree is None or len(anchors) - rebuilt_at > 64:
            tree, rebuilt_at, pending = STRtree(anchors) if anchors else None, len(anchors), []
        candidates = list(tree.query(shape)) if tree is not None else []
        candidates += pending
        best, best_overlap = -1, min_overlap
        for k in candidates:
            if det.photo in photos[k]:
                overlap = _overlap(shape, anchors[k])
                if overlap < same_photo_overlap:
                    continue
            else:
                overlap = _same_building(shape, anchors[k], min_overlap)
            if overlap >= best_overlap:
                best, best_overlap = k, overlap
        if best < 0:
            anchors.append(shape)
            members.append([det])
            photos.append({det.photo})
            pending.append(len(anchors) - 1)
        else:
            members[best].append(det)
            photos[best].add(det.photo)
    out = []
    for group, anchor in zip(members, anchors, strict=True):
        damage = agreed_damage(group, best_views)
        agreeing = [v for v in group if v.damage == damage] or group
        out.append(MergedObject(
            damage=damage,
            confidence=max(v.confidence for v in agreeing),
            polygon=group[0].polygon,
            area_m2=float(anchor.area),
            views=tuple(group),
        ))
    out.sort(key=lambda o: (round(o.polygon.centroid.x, 6), round(o.polygon.centroid.y, 6)))
    return out


def _hull(dets: Sequence[GroundDetection]) -> BaseGeometry:
    from shapely import MultiPolygon

    return MultiPolygon([d.polygon for d in dets[:1000]]).envelope
