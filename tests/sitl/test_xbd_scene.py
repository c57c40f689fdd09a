"""A scene from a real xBD tile: georeferencing fit and building truth."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import shapely.wkt

from sitl.world.camera import PHANTOM3, render_photo
from sitl.world.xbd_scene import xbd_scene
from survey.core.damage import DamageClass
from survey.core.errors import InputError

XBD = Path(__file__).resolve().parents[3] / "shared" / "data" / "xbd"
TILE = "santa-rosa-wildfire_00000273_post_disaster"  # 9 destroyed, 1 un-classified

pytestmark = pytest.mark.skipif(not (XBD / "labels" / f"{TILE}.json").exists(),
                                reason="xBD sample data not present")


@pytest.fixture(scope="module")
def paths() -> tuple[Path, Path]:
    return XBD / "labels" / f"{TILE}.json", XBD / "images" / f"{TILE}.png"


def test_fit_and_buildings(paths: tuple[Path, Path]) -> None:
    label, image = paths
    scene = xbd_scene(label, image)
    doc = json.loads(label.read_text())
    feats = doc["features"]["xy"]
    kept = [f for f in feats if f["properties"]["subtype"] != "un-classified"]
    assert len(kept) < len(feats)
    assert len(scene.buildings) == len(kept)
    assert scene.georef_residual_m is not None and scene.georef_residual_m < 3.0
    assert scene.image.shape == (1024, 1024, 3)
    assert 0.2 < scene.gsd_m < 2.5
    mapping = {"no-damage": DamageClass.INTACT, "minor-damage": DamageClass.MINOR,
               "major-damage": DamageClass.MAJOR, "destroyed": DamageClass.DESTROYED}
    assert [b.damage for b in scene.buildings] == [mapping[f["properties"]["subtype"]]
                                                   for f in kept]
    assert sum(b.damage is DamageClass.DESTROYED for b in scene.buildings) >= 5
    # The fitted affine puts each lon/lat polygon back onto its pixel polygon.
    for b, f in zip(scene.buildings, kept, strict=True):
        want = np.asarray(shapely.wkt.loads(f["wkt"]).exterior.coords)
        got = np.asarray(scene.building_pixels(b).exterior.coords)
        assert np.abs(got - want).max() < 1.0  # pixels
    # Nearly north-up: the top edge is north of the bottom edge, the right edge east.
    west, south, east, north = scene.bounds_lonlat()
    lon_tl, lat_tl = scene.pixel_to_lonlat(0, 0)
    lon_br, lat_br = scene.pixel_to_lonlat(1024, 1024)
    assert lat_tl > lat_br and lon_br > lon_tl
    assert south <= lat_br and lat_tl <= north and west <= lon_tl and lon_br <= east


def test_virtual_camera_over_a_tile(paths: tuple[Path, Path]) -> None:
    scene = xbd_scene(*paths)
    lon, lat = scene.pixel_to_lonlat(512, 512)
    cam = replace(PHANTOM3, image_w_px=400, image_h_px=300)
    img = render_photo(scene, cam, lat=float(lat), lon=float(lon), rel_alt_m=200.0,
                       yaw_deg=0.0)
    assert img.shape == (300, 400, 3) and img.std() > 5


def test_bad_label_file(tmp_path: Path, paths: tuple[Path, Path]) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(InputError):
        xbd_scene(bad, paths[1])
    empty = tmp_path / "e.json"
    empty.write_text(json.dumps({"features": {"xy": [], "lng_lat": []}}))
    with pytest.raises(InputError, match="georeference"):
        xbd_scene(empty, paths[1])
