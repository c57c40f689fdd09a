"""GeoJSON (RFC 7946) of a whole plan: routes, photos and footprints, zones, fence, rally, home.

Positions are ``[lon, lat]`` in WGS 84 at full double precision; polygon exterior rings run
counter-clockwise (the RFC's right-hand rule). Altitudes above home are properties (``alt_m``),
not third coordinates, since RFC 7946 reserves those for heights above the ellipsoid. Every
feature has a ``kind`` property: route, photo, footprint, keepout, fence, rally, home, covered,
unreachable.
"""

from __future__ import annotations

import json
import os
from typing import Any

import shapely
from shapely.geometry import Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from missions.plan.model import Plan
from survey.core.files import atomic_write_text


def plan_to_geojson(plan: Plan) -> dict[str, Any]:
    """The plan as a GeoJSON FeatureCollection.

    Parameters
    ----------
    plan
        The plan; its local geometry is converted with ``plan.frame.geom_to_geo``.

    Returns
    -------
    dict
        A FeatureCollection, JSON-serialisable. ``keepout``, ``covered`` and ``unreachable``
        features appear only when their geometry is not empty; photo ``index`` is 1-based
        within its sortie.
    """
    frame = plan.frame
    features: list[dict[str, Any]] = []
    for sortie in plan.sorties:
        features.append(_feature(frame.geom_to_geo(sortie.route), {
            "kind": "route", "sortie": sortie.number, "distance_m": sortie.distance_m,
            "time_s": sortie.time_s, "photos": len(sortie.photos), "lines": sortie.lines,
        }))
        for i, photo in enumerate(sortie.photos, start=1):
            lon, lat = frame.to_geo(photo.x_m, photo.y_m)
            features.append(_feature(Point(float(lon), float(lat)), {
                "kind": "photo", "sortie": sortie.number, "index": i,
                "heading_deg": photo.heading_deg, "alt_m": plan.altitude_m,
            }))
        for i, photo in enumerate(sortie.photos, start=1):
            footprint = frame.geom_to_geo(photo.footprint(plan.camera, plan.altitude_m))
            features.append(_feature(footprint, {
                "kind": "footprint", "sortie": sortie.number, "index": i,
            }))
    for kind, geom in (("keepout", plan.keepout), ("covered", plan.covered),
                       ("unreachable", plan.unreachable)):
        if not geom.is_empty:
            features.append(_feature(frame.geom_to_geo(geom), {
                "kind": kind, "area_m2": float(geom.area),
            }))
    for i, zone in enumerate(plan.fence, start=1):
        ring = Polygon([(lon, lat) for lat, lon in zone.outline()])
        props: dict[str, object] = {"kind": "fence", "index": i, "inclusion": zone.inclusion}
        if zone.radius_m is not None:
            props["radius_m"] = zone.radius_m  # a circle fence, drawn as a polygon
        features.append(_feature(ring, props))
    for i, r in enumerate(plan.rally, start=1):
        features.append(_feature(Point(r.lon_deg, r.lat_deg), {
            "kind": "rally", "index": i, "alt_m": r.alt_m,
        }))
    features.append(_feature(Point(plan.home_lon_deg, plan.home_lat_deg), {"kind": "home"}))
    return {"type": "FeatureCollection", "features": features}


def write_geojson(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write :func:`plan_to_geojson` to ``path`` (atomically, UTF-8)."""
    text = json.dumps(plan_to_geojson(plan), ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


def _feature(geom: BaseGeometry, properties: dict[str, Any]) -> dict[str, Any]:
    geom = shapely.orient_polygons(geom)  # exterior counter-clockwise, holes clockwise
    return {"type": "Feature", "geometry": _lists(mapping(geom)), "properties": properties}


def _lists(value: Any) -> Any:
    """Shapely's ``mapping`` uses tuples; GeoJSON readers expect arrays either way, tests too."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value
