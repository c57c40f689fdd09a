"""A scene from real imagery: an xBD post-disaster tile and its building labels.

xBD labels carry every building twice: ``features.xy`` (pixel WKT) and ``features.lng_lat``
(WGS84 WKT); :func:`survey.core.xbd_labels.read_xbd_labels` reads them. Fitting an affine
pixel → local metres over all polygon vertices georeferences the tile. The tile is *not*
resampled: :class:`sitl.world.scene.Scene` holds any affine (a satellite tile is close to
north-up but not exactly), and the virtual camera warps through it.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import Polygon

from sitl.world.scene import Building, Scene, fit_affine
from survey.core.damage import DamageClass
from survey.core.errors import ImageError, InputError
from survey.core.frame import LocalFrame
from survey.core.xbd_labels import read_xbd_labels


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
    labels = read_xbd_labels(lp)
    img = cv2.imread(str(ip), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(ip, "cannot read the image")
    pix_pts: list[np.ndarray] = []
    geo_pts: list[np.ndarray] = []
    labelled: list[tuple[Polygon, DamageClass]] = []
    for i, label in enumerate(labels.buildings):
        where = f"features.xy[{i}]"
        lonlat = label.polygon_lonlat
        if lonlat is None:
            raise InputError(lp, f"{where}: no lng_lat polygon with uid {label.uid}")
        px = np.asarray(label.polygon_px.exterior.coords)[:-1]
        ll = np.asarray(lonlat.exterior.coords)[:-1]
        if len(px) != len(ll):
            raise InputError(lp, f"{where}: xy and lng_lat polygons differ in vertices")
        pix_pts.append(px)
        geo_pts.append(ll)
        if label.damage is not None:
            labelled.append((lonlat, label.damage))
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
    buildings = [Building(k + 1, poly, damage)
                 for k, (poly, damage) in enumerate(labelled)]
    return Scene(image=img, frame=frame, affine=affine, buildings=buildings,
                 georef_residual_m=rms)
