"""The generated disaster scene: determinism, truth, files and YOLO tiles."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
import shapely

from sitl.world.painter import generate_scene
from sitl.world.scene import Scene
from sitl.world.scene_io import read_scene, write_scene
from survey.core.damage import DamageClass
from survey.core.errors import InputError
from survey.pipelines.scene_dataset import scene_tiles_to_yolo

JOSO = {"center_lon": 139.9933, "center_lat": 36.0712}
COUNTS = {DamageClass.INTACT: 6, DamageClass.MINOR: 3, DamageClass.MAJOR: 3,
          DamageClass.DESTROYED: 3}


@pytest.fixture(scope="module")
def scene() -> Scene:
    return generate_scene(**JOSO, size_m=(240.0, 180.0), gsd_m=0.25, seed=3, counts=COUNTS)


def _mask(scene: Scene, poly_px: shapely.Polygon) -> np.ndarray:
    m = np.zeros(scene.image.shape[:2], np.uint8)
    if poly_px.is_empty:
        return m.astype(bool)
    polys = getattr(poly_px, "geoms", [poly_px])
    for p in polys:
        pts = np.round((np.asarray(p.exterior.coords) - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(m, [pts], 1, cv2.LINE_8, 4)
    return m.astype(bool)


def test_deterministic_per_seed(scene: Scene) -> None:
    again = generate_scene(**JOSO, size_m=(240.0, 180.0), gsd_m=0.25, seed=3, counts=COUNTS)
    assert np.array_equal(again.image, scene.image)
    assert [(b.damage, b.polygon_lonlat.wkt) for b in again.buildings] == \
        [(b.damage, b.polygon_lonlat.wkt) for b in scene.buildings]
    other = generate_scene(**JOSO, size_m=(240.0, 180.0), gsd_m=0.25, seed=4, counts=COUNTS)
    assert not np.array_equal(other.image, scene.image)


def test_shape_counts_and_every_class(scene: Scene) -> None:
    assert scene.image.shape == (720, 960, 3) and scene.image.dtype == np.uint8
    assert scene.gsd_m == pytest.approx(0.25)
    got = {d: sum(b.damage is d for b in scene.buildings) for d in DamageClass}
    assert got == COUNTS
    assert len({b.id for b in scene.buildings}) == len(scene.buildings)
    assert scene.water and scene.roads


def test_default_counts_have_every_class() -> None:
    s = generate_scene(**JOSO, size_m=(200.0, 200.0), gsd_m=0.5, seed=0)
    got = {d: sum(b.damage is d for b in s.buildings) for d in DamageClass}
    assert all(v > 0 for v in got.values())
    assert got[DamageClass.INTACT] >= got[DamageClass.DESTROYED]


def test_nothing_overlaps(scene: Scene) -> None:
    local = [scene.building_local(b) for b in scene.buildings]
    for a, b in itertools.combinations(local, 2):
        assert not a.intersects(b)
    for poly in local:
        assert 8.0 <= max(poly.bounds[2] - poly.bounds[0], poly.bounds[3] - poly.bounds[1])
        for other in scene.roads + scene.water:
            assert not poly.intersects(scene.frame.geom_to_local(other))
        w, h = 240.0 / 2, 180.0 / 2
        assert shapely.box(-w, -h, w, h).contains(poly)


def test_pixel_lonlat_round_trip(scene: Scene) -> None:
    cols = np.array([0.0, 10.5, 480.0, 959.0])
    rows = np.array([0.0, 700.25, 360.0, 3.0])
    lon, lat = scene.pixel_to_lonlat(cols, rows)
    c2, r2 = scene.lonlat_to_pixel(lon, lat)
    assert np.allclose(c2, cols, atol=1e-6) and np.allclose(r2, rows, atol=1e-6)
    # North-up: the centre pixel is the frame's centre, the top edge is north of it.
    lon_c, lat_c = scene.pixel_to_lonlat(480.0, 360.0)
    assert lon_c == pytest.approx(JOSO["center_lon"], abs=1e-9)
    assert lat_c == pytest.approx(JOSO["center_lat"], abs=1e-9)
    x, y = scene.pixel_to_local(0.0, 0.0)
    assert (float(x), float(y)) == pytest.approx((-120.0, 90.0))
    west, south, east, north = scene.bounds_lonlat()
    assert west < JOSO["center_lon"] < east and south < JOSO["center_lat"] < north


def test_truth_lies_where_buildings_are_drawn(scene: Scene) -> None:
    """Roofs contrast with their surroundings and rubble is rougher than roofs, at the truth
    polygons, but not at the same polygons moved 30 m away."""
    gray = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    rough = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    img = scene.image.astype(np.float32)
    all_px = shapely.unary_union([scene.building_pixels(b) for b in scene.buildings])

    def stats(shift_px: float) -> tuple[float, float, float]:
        contrast, rough_d, rough_i = [], [], []
        for b in scene.buildings:
            p = shapely.affinity.translate(scene.building_pixels(b), shift_px, 0.0)
            inner = _mask(scene, p.buffer(-3))
            ring = _mask(scene, p.buffer(16).difference(p.buffer(10)).difference(
                all_px.buffer(8)))
            if inner.sum() < 20 or ring.sum() < 20:
                continue
            contrast.append(np.abs(img[inner].mean(0) - img[ring].mean(0)).sum())
            if b.damage is DamageClass.DESTROYED:
                rough_d.append(rough[inner].mean())
            elif b.damage is DamageClass.INTACT:
                rough_i.append(rough[inner].mean())
        return float(np.median(contrast)), float(np.mean(rough_d)), float(np.mean(rough_i))

    contrast, rough_destroyed, rough_intact = stats(0.0)
    moved_contrast, moved_d, moved_i = stats(120.0)
    assert rough_destroyed > 2.0 * rough_intact
    assert moved_d < 1.5 * moved_i
    assert contrast > 2.0 * moved_contrast


def test_geotiff_round_trip(scene: Scene, tmp_path: Path) -> None:
    tif = write_scene(scene, tmp_path / "out")
    assert tif.name == "scene.tif" and (tmp_path / "out" / "truth.geojson").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.count == 3
        lon, lat = ds.transform @ (100.5, 200.5)
    exp_lon, exp_lat = scene.pixel_to_lonlat(100.5, 200.5)
    x, y = scene.frame.to_local(lon, lat)
    ex, ey = scene.frame.to_local(exp_lon, exp_lat)
    assert np.hypot(x - ex, y - ey) < 0.01
    back = read_scene(tmp_path / "out")
    assert np.array_equal(back.image, scene.image)
    assert back.bounds_lonlat() == pytest.approx(scene.bounds_lonlat(), abs=1e-9)
    assert [(b.id, b.damage) for b in back.buildings] == [(b.id, b.damage)
                                                          for b in scene.buildings]
    for a, b in zip(back.buildings, scene.buildings, strict=True):
        assert a.polygon_lonlat.equals_exact(b.polygon_lonlat, 1e-9)
    assert len(back.roads) == len(scene.roads) and len(back.water) == len(scene.water)
    truth = json.loads((tmp_path / "out" / "truth.geojson").read_text())
    assert {f["properties"]["damage"] for f in truth["features"]} == {c.label for c in DamageClass}


def test_read_image_with_bounds_json(scene: Scene, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "area.png"), scene.image)
    w, s, e, n = scene.bounds_lonlat()
    (tmp_path / "area.bounds.json").write_text(json.dumps(
        {"south": s, "west": w, "north": n, "east": e}))
    back = read_scene(tmp_path / "area.png")
    assert np.array_equal(back.image, scene.image)
    for c, r in [(0, 0), (960, 720), (300, 500)]:
        lon, lat = back.pixel_to_lonlat(c, r)
        x, y = scene.frame.to_local(lon, lat)
        ex, ey = scene.pixel_to_local(c, r)
        assert np.hypot(x - ex, y - ey) < 0.05
    assert read_scene(tmp_path).image.shape == scene.image.shape


def test_read_scene_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_scene(tmp_path)
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match=r"bounds\.json"):
        read_scene(tmp_path / "x.png")


@pytest.mark.slow
def test_bad_arguments() -> None:
    with pytest.raises(InputError, match=r"DamageClass\.INTACT"):
        generate_scene(**JOSO, counts={"intact": 3})  # type: ignore[dict-item]
    with pytest.raises(InputError, match=">= 0"):
        generate_scene(**JOSO, counts={DamageClass.MINOR: -1})
    with pytest.raises(InputError, match="fit"):
        generate_scene(**JOSO, size_m=(60.0, 60.0), counts={DamageClass.INTACT: 200})


def _labels(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted((folder / "labels").glob("*.txt")):
        rows = [list(map(float, line.split())) for line in p.read_text().splitlines()]
        out[p.stem] = np.array(rows).reshape(-1, 5)
    return out


def test_yolo_single_tile(scene: Scene, tmp_path: Path) -> None:
    imgs = scene_tiles_to_yolo(scene, tmp_path, target_gsd_m=1.0, tile_px=1024, seed=1)
    assert len(imgs) == 1 and imgs[0].exists()
    tile = cv2.imread(str(imgs[0]))
    assert tile.shape[:2] == (180, 240)
    lab = _labels(tmp_path)[imgs[0].stem]
    assert len(lab) == len(scene.buildings)
    assert lab[:, 1:].min() >= 0 and lab[:, 1:].max() <= 1
    assert sorted(lab[:, 0].astype(int)) == sorted(int(b.damage) for b in scene.buildings)
    # Boxes are the buildings' bounding boxes at the new scale.
    for b in scene.buildings:
        x0, y0, x1, y1 = (v * 0.25 for v in scene.building_pixels(b).bounds)
        cx, cy = (x0 + x1) / 2 / 240, (y0 + y1) / 2 / 180
        d = np.hypot(lab[:, 1] - cx, lab[:, 2] - cy)
        k = int(d.argmin())
        assert d[k] < 1e-3
        assert lab[k, 3] == pytest.approx((x1 - x0) / 240, abs=1e-3)


def test_yolo_several_tiles(scene: Scene, tmp_path: Path) -> None:
    imgs = scene_tiles_to_yolo(scene, tmp_path, target_gsd_m=0.5, tile_px=256, seed=2)
    assert len(imgs) == 4  # 480×360 px in 256 px tiles, overlapping evenly
    labels = _labels(tmp_path)
    starts = {0: (0, 0), 1: (224, 0), 2: (0, 104), 3: (224, 104)}
    total = 0
    for i, img in enumerate(imgs):
        lab = labels[img.stem]
        total += len(lab)
        assert cv2.imread(str(img)).shape[:2] == (256, 256)
        if len(lab):
            assert lab[:, 1:].min() >= 0 and lab[:, 1:].max() <= 1
        tx, ty = starts[i]
        tile = shapely.box(tx, ty, tx + 256, ty + 256)
        boxes = [shapely.box(*(v * 0.5 for v in scene.building_pixels(b).bounds))
                 for b in scene.buildings]
        inside = sum(tile.contains(bx) for bx in boxes)
        touching = sum(tile.intersects(bx) for bx in boxes)
        assert inside <= len(lab) <= touching
    assert total >= len(scene.buildings)


def test_read_a_utm_geotiff(tmp_path: Path) -> None:
    """A GeoTIFF from elsewhere (UTM 54N, no local-frame tags) is georeferenced through its CRS."""
    from pyproj import Transformer
    from rasterio.transform import from_origin

    e0, n0 = Transformer.from_crs(4326, 32654, always_xy=True).transform(139.9933, 36.0712)
    img = np.random.default_rng(0).integers(0, 255, (3, 80, 100), dtype=np.uint8)
    path = tmp_path / "utm.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=80, count=3, dtype="uint8",
                       crs="EPSG:32654", transform=from_origin(e0, n0, 0.5, 0.5)) as ds:
        ds.write(img)
    s = read_scene(path)
    assert np.array_equal(s.image, img.transpose(1, 2, 0)[..., ::-1])
    assert s.gsd_m == pytest.approx(0.5, rel=1e-3)
    lon, lat = s.pixel_to_lonlat(0.0, 0.0)
    assert (float(lon), float(lat)) == pytest.approx((139.9933, 36.0712), abs=2e-7)
    lon, lat = s.pixel_to_lonlat(100.0, 80.0)
    e, n = Transformer.from_crs(4326, 32654, always_xy=True).transform(lon, lat)
    assert (e - e0, n0 - n) == pytest.approx((50.0, 40.0), abs=0.02)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_scene_files_get_the_usual_permissions(scene: Scene, tmp_path: Path) -> None:
    """Scene files are shared outputs: 0666 less the umask, not a temporary file's 0600."""
    write_scene(scene, tmp_path / "out")
    files = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in files] == ["context.geojson", "scene.tif", "truth.geojson"]
    assert {p.stat().st_mode & 0o777 for p in files} == {0o666 & ~_umask()}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("truth.geojson", "{oops", r"truth\.geojson: not a readable JSON file \("),
    ("truth.geojson", "[]", r"truth\.geojson: not a GeoJSON feature collection \(top level"),
    ("truth.geojson", '{"features": [{"properties": {"damage": "wrecked"}}]}',
     r"truth\.geojson: feature 0: damage 'wrecked' is not one of intact, minor, major"),
    ("context.geojson", '{"type": "FeatureCollection"}',
     r"context\.geojson: not a GeoJSON feature collection \('features'\)"),
    ("area.bounds.json", "nope", r"area\.bounds\.json: not a readable JSON file \("),
    ("area.bounds.json", '{"south": 1, "west": 2}',
     r"area\.bounds\.json: needs numbers south, west, north, east \('north'\)"),
    ("area.bounds.json", '["south"]', r"area\.bounds\.json: needs numbers south, west"),
])
def test_unreadable_scene_json(tmp_path: Path, name: str, text: str, message: str) -> None:
    cv2.imwrite(str(tmp_path / "area.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "area.bounds.json").write_text(
        json.dumps({"south": 36.0, "west": 140.0, "north": 36.001, "east": 140.001}))
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_scene(tmp_path / "area.png")
    assert "\n" not in str(info.value)
