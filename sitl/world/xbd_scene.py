"""A scene from real imagery: an xBD post-disaster tile and its building labels.

xBD labels carry every building twice: ``features.xy`` (pixel WKT) and ``features.lng_lat``
(WGS84 WKT). Fitting an affine pixel → local metres over all polygon vertices georeferences the
tile. The tile is *not* resampled: :class:`sitl.world.scene.Scene` holds any affine (a satellite
tile is close to north-up but not exactly), and the virtual camera warps through it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import shapely.wkt
from shapely.errors import ShapelyError
from shapely.geometry import Polygon

from sitl.world.scene import Building, Scene, fit_affine
from survey.core.errors import ImageError, InputError
from survey.core.frame import LocalFrame

XBD_DAMAGE: dict[str, str] = {
    "no-damage": "intact",
    "minor-damage": "minor",
    "major-damage": "major",
    "destroyed": "destroyed",
}
"""xBD ``subtype`` → our damage level; ``un-classified`` buildings are dropped."""


def _polygon(wkt: str, source: Path, i: int) -> Polygon:
    try:
        geom = shapely.wkt.loads(wkt)
    except (ShapelyError, TypeError, ValueError) as exc:
        raise InputError(source, f"feature {i}: bad WKT ({exc})") from exc
    if geom.geom_type == "MultiPolygon":
        geom = max(geom.geoms, key=lambda g: g.area)
    if geom.geom_type != "Polygon":
        raise InputError(source, f"feature {i}: {geom.geom_type}, expected a polygon")
    return geom


def _uid(ft: dict, i: int) -> str:
    return str((ft.get("properties") or {}).get("uid", i))


def xbd_scene(label_json_path: str | os.PathLike[str],
              image_path: str | os.PathLike[str]) -> Scene:
    """Build a :class:`Scene` from an xBD post-disaster label file and its image.

    The pixel → local-metre affine is fitted by least squares over all vertex pairs (all
    buildings, un-classified included); its RMS residual in metres is
    ``Scene.georef_residual_m``. The local frame is centred on the tile's centre.

    Parameters
    ----------
    label_json_path
        ``*_post_disaster.json`` (xBD format).
    image_path
        The matching PNG tile.

    Raises
    ------
    InputError
        Unreadable labels, polygons that do not pair up, or too few to georeference.
    ImageError
        The image cannot be read.
    """
    lp, ip = Path(label_json_path), Path(image_path)
    try:
        doc = json.loads(lp.read_text(encoding="utf-8"))
        xy_feats = list(doc["features"]["xy"])
        ll_feats = list(doc["features"]["lng_lat"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(lp, f"not an xBD label file ({exc})") from exc
    img = cv2.imread(str(ip), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(ip, "cannot read the image")
    ll_by_uid = {_uid(ft, i): ft for i, ft in enumerate(ll_feats)}
    pix_pts: list[np.ndarray] = []
    geo_pts: list[np.ndarray] = []
    labelled: list[tuple[Polygon, str]] = []
    for i, ft in enumerate(xy_feats):
        ll = ll_by_uid.get(_uid(ft, i))
        if ll is None:
            raise InputError(lp, f"feature {i}: no lng_lat polygon with uid {_uid(ft, i)}")
        pp, gp = _polygon(ft["wkt"], lp, i), _polygon(ll["wkt"], lp, i)
        a = np.asarray(pp.exterior.coords)[:-1]
        b = np.asarray(gp.exterior.coords)[:-1]
        if len(a) != len(b):
            raise InputError(lp, f"feature {i}: xy and lng_lat polygons differ in vertices")
        pix_pts.append(a)
        geo_pts.append(b)
        subtype = (ft.get("properties") or {}).get("subtype", "")
        if subtype in XBD_DAMAGE:
            labelled.append((gp, XBD_DAMAGE[subtype]))
    if not pix_pts:
        raise InputError(lp, "no building polygons: cannot georeference the tile")
    pix = np.vstack(pix_pts)
    geo = np.vstack(geo_pts)
    centred = pix - pix.mean(axis=0)
    if len(pix) < 3 or np.linalg.matrix_rank(centred, tol=1.0) < 2:
        raise InputError(lp, "building vertices all on one line: cannot georeference the tile")
    # First fit pixel → lon/lat to find the tile centre, then fit in metres around it.
    h, w = img.shape[:2]
    (a, b, c, d, e, f), _ = fit_affine(pix, geo)
    frame = LocalFrame(float(d * w / 2 + e * h / 2 + f), float(a * w / 2 + b * h / 2 + c))
    x, y = frame.to_local(geo[:, 0], geo[:, 1])
    affine, rms = fit_affine(pix, np.column_stack([x, y]))
    buildings = [Building(k + 1, poly, dmg) for k, (poly, dmg) in enumerate(labelled)]
    return Scene(image=img, frame=frame, affine=affine,  # type: ignore[arg-type]
                 buildings=buildings, georef_residual_m=rms)
