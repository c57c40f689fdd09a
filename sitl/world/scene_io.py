"""Scene files: ``scene.tif`` (GeoTIFF), ``truth.geojson`` and ``context.geojson`` written and read
back, or any image beside a ``*.bounds.json`` (see :mod:`sitl.world.scene`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import mapping, shape

from sitl.world.scene import (
    CONTEXT_GEOJSON,
    SCENE_TIF,
    TRUTH_GEOJSON,
    Building,
    Scene,
    fit_affine,
)
from survey.core.damage import DamageClass
from survey.core.errors import ImageError, InputError
from survey.core.files import atomic_write_bytes, atomic_write_text, read_json
from survey.core.frame import LocalFrame


def _feature(geom, props: dict) -> dict:
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def write_scene(scene: Scene, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``scene.tif``, ``truth.geojson`` and ``context.geojson`` into ``out_dir``.

    The GeoTIFF is EPSG:4326 (RGB, deflate); its transform is the least-squares pixel → lon/lat
    affine (a rotated one for a rotated scene). Tags ``LOCAL_LAT0``, ``LOCAL_LON0`` and
    ``LOCAL_AFFINE`` keep the local frame exactly. Each file is written atomically.

    Returns
    -------
    Path
        The GeoTIFF's path.
    """
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (a, b, c, d, e, f), _ = scene.geotransform_lonlat()
    tif = out / SCENE_TIF
    rgb = scene.image[..., ::-1].transpose(2, 0, 1)
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=scene.width_px, height=scene.height_px, count=3,
                      dtype="uint8", crs="EPSG:4326", transform=Affine(a, b, c, d, e, f),
                      compress="deflate", photometric="RGB", tiled=True) as ds:
            ds.write(rgb)
            ds.update_tags(LOCAL_LAT0=repr(scene.frame.lat0_deg),
                           LOCAL_LON0=repr(scene.frame.lon0_deg),
                           LOCAL_AFFINE=json.dumps(list(scene.affine)))
        atomic_write_bytes(tif, bytes(mem.getbuffer()))
    truth = {"type": "FeatureCollection", "features": [
        _feature(bd.polygon_lonlat, {"id": bd.id, "damage": bd.damage.label})
        for bd in scene.buildings]}
    atomic_write_text(out / TRUTH_GEOJSON, json.dumps(truth))
    context = {"type": "FeatureCollection", "features": (
        [_feature(p, {"kind": "road"}) for p in scene.roads]
        + [_feature(p, {"kind": "water"}) for p in scene.water])}
    atomic_write_text(out / CONTEXT_GEOJSON, json.dumps(context))
    return tif


def _read_geojson(path: Path) -> list[dict]:
    doc = read_json(path, what="a GeoJSON feature collection")
    try:
        return list(doc["features"])
    except (KeyError, TypeError) as exc:
        raise InputError(path, f"not a GeoJSON feature collection ({exc})") from exc


def read_scene(path: str | os.PathLike[str]) -> Scene:
    """Read a scene: a folder written by :func:`write_scene`, a GeoTIFF, or an image + bounds.

    Parameters
    ----------
    path
        A folder (holding ``scene.tif``, or one image with a ``*.bounds.json``), a GeoTIFF
        (any CRS), or an image (PNG/JPEG/...) beside ``<stem>.bounds.json`` with ``south``,
        ``west``, ``north``, ``east`` (degrees; the image is taken as north-up in lon/lat).
        ``truth.geojson`` and ``context.geojson`` beside it are read when present.

    Raises
    ------
    InputError
        Missing or unreadable files.
    """
    p = Path(path)
    if p.is_dir():
        folder = p
        bounds = sorted(q for q in folder.iterdir() if q.name.endswith(".bounds.json"))
        cands = [folder / SCENE_TIF, *sorted(folder.glob("*.tif")), *bounds]
        found = next((q for q in cands if q.exists()), None)
        if found is None:
            raise InputError(p, "no scene.tif, GeoTIFF or *.bounds.json in this folder")
        if found.name.endswith(".bounds.json"):
            stem = found.name[: -len(".bounds.json")]
            imgs = [q for q in folder.glob(stem + ".*") if not q.name.endswith(".json")]
            if not imgs:
                raise InputError(found, f"no image named {stem}.* beside it")
            found = imgs[0]
        p = found
    else:
        folder = p.parent
    if not p.exists():
        raise InputError(p, "no such file")
    bounds_json = p.with_name(p.stem + ".bounds.json")
    if p.suffix.lower() in (".tif", ".tiff") and not bounds_json.exists():
        scene = _read_geotiff(p)
    else:
        scene = _read_image_bounds(p, bounds_json)
    truth = folder / TRUTH_GEOJSON
    if truth.exists():
        for i, ft in enumerate(_read_geojson(truth)):
            props = ft.get("properties") or {}
            try:
                damage = DamageClass.from_label(props.get("damage"))
            except ValueError as exc:
                raise InputError(truth, f"feature {i}: {exc}") from None
            scene.buildings.append(Building(int(props.get("id", i + 1)),
                                            shape(ft["geometry"]), damage))
    ctx = folder / CONTEXT_GEOJSON
    if ctx.exists():
        for ft in _read_geojson(ctx):
            kind = (ft.get("properties") or {}).get("kind")
            geom = shape(ft["geometry"])
            (scene.roads if kind == "road" else scene.water).append(geom)
    return scene


def _read_geotiff(p: Path) -> Scene:
    import rasterio
    from pyproj import Transformer

    try:
        with rasterio.open(p) as ds:
            data = ds.read()
            tags = ds.tags()
            tr, crs = ds.transform, ds.crs
    except rasterio.errors.RasterioError as exc:
        raise ImageError(p, f"cannot read GeoTIFF ({exc})") from exc
    if data.shape[0] < 3:
        data = np.repeat(data[:1], 3, axis=0)
    img = np.ascontiguousarray(data[:3].transpose(1, 2, 0)[..., ::-1])
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if "LOCAL_AFFINE" in tags:
        frame = LocalFrame(float(tags["LOCAL_LAT0"]), float(tags["LOCAL_LON0"]))
        try:
            a, b, c, d, e, f = (float(v) for v in json.loads(tags["LOCAL_AFFINE"]))
        except (ValueError, TypeError) as exc:
            raise InputError(p, f"LOCAL_AFFINE tag is not six numbers ({exc})") from None
        return Scene(img, frame, (a, b, c, d, e, f))
    if crs is None:
        raise InputError(p, "GeoTIFF has no CRS")
    h, w = img.shape[:2]
    cols, rows = np.meshgrid(np.linspace(0, w, 7), np.linspace(0, h, 7))
    xs, ys = tr @ (cols.ravel(), rows.ravel())
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(xs, ys)
    return _scene_from_lonlat(img, np.column_stack([cols.ravel(), rows.ravel()]),
                              np.column_stack([lon, lat]))


def _scene_from_lonlat(img: np.ndarray, pix: np.ndarray, lonlat: np.ndarray) -> Scene:
    h, w = img.shape[:2]
    coef, _ = fit_affine(pix, lonlat)
    lon_c = coef[0] * w / 2 + coef[1] * h / 2 + coef[2]
    lat_c = coef[3] * w / 2 + coef[4] * h / 2 + coef[5]
    frame = LocalFrame(float(lat_c), float(lon_c))
    x, y = frame.to_local(lonlat[:, 0], lonlat[:, 1])
    aff, rms = fit_affine(pix, np.column_stack([x, y]))
    return Scene(img, frame, aff, georef_residual_m=rms)


def _read_image_bounds(p: Path, bounds_json: Path) -> Scene:
    if not bounds_json.exists():
        raise InputError(p, f"no georeferencing: expected {bounds_json.name} beside it")
    bd = read_json(bounds_json)
    try:
        s, w_, n, e = (float(bd[k]) for k in ("south", "west", "north", "east"))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(bounds_json, f"needs numbers south, west, north, east ({exc})") from exc
    if not (s < n and w_ < e):
        raise InputError(bounds_json, "south must be below north and west left of east")
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(p, "cannot read the image")
    h, w = img.shape[:2]
    cols, rows = np.meshgrid(np.linspace(0, w, 7), np.linspace(0, h, 7))
    lon = w_ + (e - w_) * cols.ravel() / w
    lat = n - (n - s) * rows.ravel() / h
    return _scene_from_lonlat(img, np.column_stack([cols.ravel(), rows.ravel()]),
                              np.column_stack([lon, lat]))
