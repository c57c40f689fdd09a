"""GeoJSON (RFC 7946) of a whole plan: routes, photos and footprints, zones, fence, rally, home.

Positions are ``[lon, lat]`` in WGS 84 at full double precision; polygon exterior rings run
counter-clockwise (the RFC's right-hand rule). Altitudes above home are properties (``alt_m``),
not third coordinates, since RFC 7946 reserves those for heights above the ellipsoid. Every
feature has a ``kind`` property: route, photo, footprint, keepout, fence, rally, home, covered,
unreachable.

The text is laid out as ``json.dumps`` lays it out. A large plan has tens of thousands of photos
and footprints: those features are formatted straight from arrays (one transform a sortie), not
built as dicts first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from missions.plan.export.kml import fence_outline
from missions.plan.model import Photo, Plan, Sortie
from survey.core.camera import Camera
from survey.core.files import atomic_write_text
from survey.core.frame import LocalFrame


def plan_to_geojson(plan: Plan) -> dict[str, Any]:
    """The plan as a GeoJSON FeatureCollection: :func:`geojson_text`, parsed.

    Parameters
    ----------
    plan
        The plan; its local geometry is converted with ``plan.frame``.

    Returns
    -------
    dict
        A FeatureCollection, JSON-serialisable. ``keepout``, ``covered`` and ``unreachable``
        features appear only when their geometry is not empty; photo ``index`` is 1-based
        within its sortie.
    """
    return json.loads(geojson_text(plan))


def geojson_text(plan: Plan) -> str:
    """The plan as the text of a GeoJSON FeatureCollection (what :func:`write_geojson` writes).

    Parameters
    ----------
    plan
        The plan; its local geometry is converted with ``plan.frame``.

    Raises
    ------
    ValueError
        A number is not finite (JSON has no NaN or infinity).
    """
    frame = plan.frame
    features: list[str] = []
    for sortie in plan.sorties:
        features.append(_feature(frame.geom_to_geo(sortie.route), {
            "kind": "route", "sortie": sortie.number, "distance_m": sortie.distance_m,
            "time_s": sortie.time_s, "photos": len(sortie.photos), "lines": sortie.lines,
        }))
        features += _photo_features(plan, sortie)
    for kind, geom in (("keepout", plan.keepout), ("covered", plan.covered),
                       ("unreachable", plan.unreachable)):
        if not geom.is_empty:
            features.append(_feature(frame.geom_to_geo(geom), {
                "kind": kind, "area_m2": float(geom.area),
            }))
    for i, zone in enumerate(plan.fence, start=1):
        ring = Polygon([(lon, lat) for lat, lon in fence_outline(zone)])
        props: dict[str, object] = {"kind": "fence", "index": i, "inclusion": zone.inclusion}
        if zone.radius_m is not None:
            props["radius_m"] = zone.radius_m  # a circle fence, drawn as a polygon
        features.append(_feature(ring, props))
    for i, r in enumerate(plan.rally, start=1):
        features.append(_feature(Point(r.lon_deg, r.lat_deg), {
            "kind": "rally", "index": i, "alt_m": r.alt_m,
        }))
    features.append(_feature(Point(plan.home_lon_deg, plan.home_lat_deg), {"kind": "home"}))
    return '{"type": "FeatureCollection", "features": [' + ", ".join(features) + "]}"


# A photo's and a footprint's Feature as json.dumps writes them; %r of a float is its repr, as
# in JSON. Filled in from arrays: tens of thousands of them in a large plan.
_PHOTO = ('{"type": "Feature", "geometry": {"type": "Point", "coordinates": [%r, %r]}, '
          '"properties": {"kind": "photo", "sortie": %d, "index": %d, "heading_deg": %r, '
          '"alt_m": %r}}')
_FOOTPRINT = ('{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [['
              + ", ".join(["[%r, %r]"] * 5)
              + ']]}, "properties": {"kind": "footprint", "sortie": %d, "index": %d}}')


def _photo_features(plan: Plan, sortie: Sortie) -> list[str]:
    """The sortie's photo Features, then its footprint Features, as text."""
    if not sortie.photos:
        return []
    n, alt = sortie.number, float(plan.altitude_m)
    xy = np.array([(p.x_m, p.y_m) for p in sortie.photos], dtype=float)
    points = np.column_stack(plan.frame.to_geo(xy[:, 0], xy[:, 1]))
    rings = footprint_rings(plan.frame, photo_footprints(sortie.photos, plan.camera, alt))
    headings = np.array([p.heading_deg for p in sortie.photos], dtype=float)
    if not all(np.isfinite(a).all() for a in (points, rings, headings, alt)):
        raise ValueError(f"sortie {n}: a photo position or heading is not finite")
    photos = [_PHOTO % (x, y, n, i, h, alt)
              for i, ((x, y), h) in enumerate(zip(points.tolist(), headings.tolist(),
                                                  strict=True), start=1)]
    feet = [_FOOTPRINT % (*ring, n, i)
            for i, ring in enumerate(rings.reshape(len(rings), 10).tolist(), start=1)]
    return photos + feet


def photo_footprints(photos: Sequence[Photo], camera: Camera, altitude_m: float) -> np.ndarray:
    """The corners of every photo's :meth:`Photo.footprint <missions.plan.model.Photo.footprint>`
    at once, in the same order.

    Returns
    -------
    numpy.ndarray
        ``(len(photos), 4, 2)`` local x/y metres.
    """
    across_m, along_m = camera.footprint_m(altitude_m)
    xy = np.array([(p.x_m, p.y_m) for p in photos], dtype=float).reshape(-1, 1, 2)
    h = np.radians([p.heading_deg for p in photos]).reshape(-1, 1, 1)
    along = np.concatenate([np.sin(h), np.cos(h)], axis=2)  # unit vectors (east, north)
    across = np.concatenate([np.cos(h), -np.sin(h)], axis=2)
    sa, sc = _CORNERS[:, 0, None], _CORNERS[:, 1, None]  # (4, 1) each
    return xy + sa * along_m / 2 * along + sc * across_m / 2 * across


# (along, across) signs of a footprint's corners, in Photo.footprint's order.
_CORNERS = np.array([(1, 1), (1, -1), (-1, -1), (-1, 1)], dtype=float)


def footprint_rings(frame: LocalFrame, corners: np.ndarray) -> np.ndarray:
    """Footprint corners in local metres as closed lon/lat rings, counter-clockwise.

    Parameters
    ----------
    frame
        The plan's frame.
    corners
        ``(n, 4, 2)`` local x/y metres, as from :func:`photo_footprints`.

    Returns
    -------
    numpy.ndarray
        ``(n, 5, 2)`` lon/lat degrees, each ring's last position its first.
    """
    lon, lat = frame.to_geo(corners[..., 0].ravel(), corners[..., 1].ravel())
    rings = np.column_stack([lon, lat]).reshape(corners.shape)
    rings = np.concatenate([rings, rings[:, :1]], axis=1)
    # twice each ring's signed area (shoelace, about its first corner): negative if clockwise
    x, y = (rings - rings[:, :1]).transpose(2, 0, 1)
    clockwise = (x[:, :-1] * y[:, 1:] - x[:, 1:] * y[:, :-1]).sum(axis=1) < 0
    rings[clockwise] = rings[clockwise, ::-1]  # as shapely.orient_polygons: same first position
    return rings


def write_geojson(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write :func:`geojson_text` to ``path`` (atomically, UTF-8)."""
    atomic_write_text(path, geojson_text(plan) + "\n")


def _feature(geom: BaseGeometry, properties: dict[str, Any]) -> str:
    """One Feature's text; polygons oriented as RFC 7946 wants."""
    geom = shapely.orient_polygons(geom)  # exterior counter-clockwise, holes clockwise
    return json.dumps({"type": "Feature", "geometry": mapping(geom), "properties": properties},
                      ensure_ascii=False, allow_nan=False)
