import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.images import load_image
from detection.xbd import (
    DatasetImageFormat,
    XbdTile,
    find_post_labels,
    read_label,
    split_tiles,
    tile_gsd_m,
    write_yolo_dataset,
    yolo_label_lines,
)
from survey.core.damage import DamageClass
from survey.core.errors import InputError

XBD = Path(__file__).resolve().parents[3] / "shared" / "data" / "xbd"


def _feature(wkt: str, subtype: str, uid: str = "u") -> dict:
    return {"properties": {"feature_type": "building", "subtype": subtype, "uid": uid}, "wkt": wkt}


def _make_tile(
    root: Path, tile_id: str, features: list[dict], *, size: tuple[int, int] = (64, 48),
    gsd: object = 1.5, disaster: str | None = None,
) -> Path:
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(parents=True, exist_ok=True)
    width, height = size
    name = f"{tile_id}_post_disaster"
    label = {
        "features": {"lng_lat": [], "xy": features},
        "metadata": {
            "gsd": gsd, "width": width, "height": height, "img_name": f"{name}.png",
            "disaster": disaster or tile_id.rsplit("_", 1)[0],
        },
    }
    path = root / "labels" / f"{name}.json"
    path.write_text(json.dumps(label))
    image = np.full((height, width, 3), 90, np.uint8)
    cv2.imwrite(str(root / "images" / f"{name}.png"), image)
    return path


SQUARE = "POLYGON ((8 8, 24 8, 24 20, 8 20, 8 8))"
SPILL = "POLYGON ((56 40, 70 40, 70 52, 56 52, 56 40))"  # runs past the 64x48 image


@pytest.fixture
def small_xbd(tmp_path: Path) -> Path:
    root = tmp_path / "xbd"
    _make_tile(root, "fire_00000001", [
        _feature(SQUARE, "destroyed", "a"),
        _feature(SPILL, "no-damage", "b"),
        _feature("POLYGON ((0 0, 4 0, 4 4, 0 0))", "un-classified", "c"),
    ])
    for i in range(2, 11):
        _make_tile(root, f"fire_{i:08d}", [_feature(SQUARE, "major-damage")])
    for i in range(1, 5):
        _make_tile(root, f"flood_{i:08d}", [])
    return root


def test_gsd_is_measured_from_the_buildings_pixel_and_wgs84_polygons(tmp_path: Path) -> None:
    path = _make_tile(tmp_path, "fire_00000001", [_feature(SQUARE, "destroyed")])
    label = json.loads(path.read_text())
    # the same 16 px x 12 px building drawn 8 m x 6 m on the ground at 36 N: 0.5 m/px
    lon0, lat0, m_lon, m_lat = 140.0, 36.0, 1 / 90_163.0, 1 / 110_959.0
    ring = [(lon0, lat0), (lon0 + 8 * m_lon, lat0), (lon0 + 8 * m_lon, lat0 - 6 * m_lat),
            (lon0, lat0 - 6 * m_lat), (lon0, lat0)]
    wkt = "POLYGON ((" + ", ".join(f"{x:.9f} {y:.9f}" for x, y in ring) + "))"
    label["features"]["lng_lat"] = [_feature(wkt, "destroyed")]
    path.write_text(json.dumps(label))
    assert read_label(path).gsd_m == pytest.approx(0.5, rel=0.01)


def test_read_label(small_xbd: Path) -> None:
    tile = read_label(small_xbd / "labels" / "fire_00000001_post_disaster.json")
    assert tile.tile_id == "fire_00000001" and tile.disaster == "fire"
    assert (tile.width_px, tile.height_px, tile.gsd_m) == (64, 48, 1.5)
    assert [(b.box_px, b.damage, b.uid) for b in tile.buildings] == [
        ((8, 8, 24, 20), DamageClass.DESTROYED, "a"),
        ((56, 40, 70, 52), DamageClass.INTACT, "b"),
    ]
    assert tile.unclassified == 1
    assert tile_gsd_m(small_xbd / "labels" / "fire_00000001_post_disaster.json") == 1.5


def test_yolo_lines_by_hand(small_xbd: Path) -> None:
    tile = read_label(small_xbd / "labels" / "fire_00000001_post_disaster.json")
    # destroyed: centre (16, 14) of 64x48, size 16x12; intact: clipped to 56..64 x 40..48
    assert yolo_label_lines(tile) == [
        "3 0.250000 0.291667 0.250000 0.250000",
        "0 0.937500 0.916667 0.125000 0.166667",
    ]


def test_write_dataset(small_xbd: Path, tmp_path: Path) -> None:
    out = tmp_path / "yolo"
    ds = write_yolo_dataset(small_xbd, out, seed=3)
    all_ids = set(ds.split.train) | set(ds.split.val) | set(ds.split.test)
    assert len(all_ids) == 14
    assert len(ds.split.train) + len(ds.split.val) + len(ds.split.test) == 14
    # stratified: 10 fire tiles → 6/2/2 (val, test: round(1.5) = 2), 4 flood tiles → 2/1/1
    assert (len(ds.split.val), len(ds.split.test)) == (2 + 1, 2 + 1)
    assert dict(ds.boxes_per_class) == {
        DamageClass.INTACT: 1, DamageClass.MINOR: 0, DamageClass.MAJOR: 9, DamageClass.DESTROYED: 1,
    }
    assert ds.unclassified == 1
    for split in ("train", "val", "test"):
        for tile_id in ds.split.of(split):
            stem = f"{tile_id}_post_disaster"
            assert (out / "images" / split / f"{stem}.jpg").is_file()
            assert (out / "labels" / split / f"{stem}.txt").is_file()
    assert load_image(next((out / "images" / "train").glob("*.jpg"))).shape == (48, 64, 3)
    import yaml

    doc = yaml.safe_load(ds.yaml_path.read_text())
    assert doc == {"path": str(out.resolve()), "train": "images/train", "val": "images/val",
                   "test": "images/test",
                   "names": {0: "intact", 1: "minor", 2: "major", 3: "destroyed"}}


def test_png_copies_are_identical(small_xbd: Path, tmp_path: Path) -> None:
    ds = write_yolo_dataset(small_xbd, tmp_path / "yolo", image_format=DatasetImageFormat.PNG,
                            tile_ids={"fire_00000001"})
    assert ds.split.train == ("fire_00000001",)
    copy = tmp_path / "yolo" / "images" / "train" / "fire_00000001_post_disaster.png"
    original = small_xbd / "images" / "fire_00000001_post_disaster.png"
    assert copy.read_bytes() == original.read_bytes()


def test_split_deterministic_and_grouped() -> None:
    tiles = [XbdTile(f"d{k}_{i:08d}", f"d{k}", "", 8, 8, 1.0, (), 0)
             for k in range(3) for i in range(17)]
    a = split_tiles(tiles, seed=5)
    assert a == split_tiles(list(reversed(tiles)), seed=5)
    assert a != split_tiles(tiles, seed=6)
    sets = [set(a.train), set(a.val), set(a.test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set().union(*sets) == {t.tile_id for t in tiles}
    for k in range(3):  # every disaster in every split
        assert all(any(i.startswith(f"d{k}_") for i in s) for s in sets)


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_split_rejects_bad_fractions(fractions: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError):
        split_tiles([], fractions=fractions)


def test_split_rejects_duplicate_ids() -> None:
    tile = XbdTile("a_1", "a", "", 8, 8, 1.0, (), 0)
    with pytest.raises(ValueError, match="twice"):
        split_tiles([tile, tile])


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        find_post_labels(tmp_path / "nowhere")
    (tmp_path / "labels").mkdir()
    with pytest.raises(InputError, match=r"no \*_post_disaster\.json"):
        write_yolo_dataset(tmp_path, tmp_path / "out")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not a readable JSON"),
        ("[1, 2]", "top level"),
        ('{"features": {"xy": []}}', "no metadata"),
        ('{"metadata": {"gsd": 1, "width": 8, "height": 8}}', "no features.xy"),
        ('{"metadata": {"gsd": 0, "width": 8, "height": 8}, "features": {"xy": []}}',
         "metadata.gsd"),
        ('{"metadata": {"gsd": 1, "width": "x", "height": 8}, "features": {"xy": []}}',
         "width/height"),
    ],
)
def test_bad_label_files(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "t_post_disaster.json"
    path.write_text(content)
    with pytest.raises(InputError, match=problem) as info:
        read_label(path)
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    ("feature", "problem"),
    [
        (_feature(SQUARE, "burnt"), "unknown xBD damage subtype 'burnt'"),
        (_feature("POLYGON ((1 2, 3", "destroyed"), "bad WKT"),
        (_feature("POLYGON EMPTY", "destroyed"), "empty polygon"),
        ({"wkt": SQUARE}, "no properties"),
    ],
)
def test_bad_features(tmp_path: Path, feature: dict, problem: str) -> None:
    path = _make_tile(tmp_path, "t_00000001", [_feature(SQUARE, "destroyed"), feature])
    with pytest.raises(InputError, match=problem):
        read_label(path)


def test_missing_or_mismatched_image(tmp_path: Path) -> None:
    _make_tile(tmp_path, "t_00000001", [])
    (tmp_path / "images" / "t_00000001_post_disaster.png").unlink()
    with pytest.raises(InputError, match="no such file"):
        write_yolo_dataset(tmp_path, tmp_path / "out")
    _make_tile(tmp_path, "t_00000001", [], size=(64, 48))
    label = tmp_path / "labels" / "t_00000001_post_disaster.json"
    data = json.loads(label.read_text())
    data["metadata"]["width"] = 100
    label.write_text(json.dumps(data))
    with pytest.raises(InputError, match="64×48 px, its label says 100×48"):
        write_yolo_dataset(tmp_path, tmp_path / "out")
    with pytest.raises(InputError, match="no label for tile"):
        write_yolo_dataset(tmp_path, tmp_path / "out", tile_ids={"t_00000002"})


# --- real xBD tiles from ../shared/data/xbd -------------------------------------------------


@pytest.fixture(scope="module")
def real_xbd() -> Path:
    if not (XBD / "labels").is_dir():
        pytest.skip(f"{XBD} not present")
    return XBD


def test_real_labels_match_the_readme_counts(real_xbd: Path) -> None:
    tiles = [read_label(p) for p in find_post_labels(real_xbd)]
    assert len(tiles) == 53
    counts = {c: sum(b.damage is c for t in tiles for b in t.buildings) for c in DamageClass}
    assert counts == {DamageClass.INTACT: 2415, DamageClass.MINOR: 37, DamageClass.MAJOR: 7,
                      DamageClass.DESTROYED: 873}
    assert sum(t.unclassified for t in tiles) == 7
    # metadata.gsd says 1.3-2.1 m (the multispectral bands); the pan-sharpened tiles, measured
    # from each building's pixel and WGS84 polygons, are ~0.45 m/px
    assert all(1.3 <= json.loads(p.read_text())["metadata"]["gsd"] <= 2.1
               for p in find_post_labels(real_xbd))
    assert all(0.43 <= t.gsd_m <= 0.5 for t in tiles)


def test_real_tiles_to_yolo(real_xbd: Path, tmp_path: Path) -> None:
    ids = sorted(p.name.removesuffix("_post_disaster.json")
                 for p in find_post_labels(real_xbd) if p.name.startswith("santa-rosa"))[:3]
    ds = write_yolo_dataset(real_xbd, tmp_path, tile_ids=ids, fractions=(1 / 3, 1 / 3, 1 / 3))
    assert [len(ds.split.train), len(ds.split.val), len(ds.split.test)] == [1, 1, 1]
    written = 0
    for split in ("train", "val", "test"):
        (tile_id,) = ds.split.of(split)
        stem = f"{tile_id}_post_disaster"
        tile = read_label(real_xbd / "labels" / f"{stem}.json")
        rows = np.loadtxt(tmp_path / "labels" / split / f"{stem}.txt", ndmin=2)
        assert len(rows) == len(tile.buildings)
        if len(rows):
            assert set(rows[:, 0].astype(int)) <= {0, 1, 2, 3}
            assert ((rows[:, 1:] > 0) & (rows[:, 1:] <= 1)).all()
        written += len(rows)
        image = load_image(tmp_path / "images" / split / f"{stem}.jpg")
        assert image.shape == (1024, 1024, 3)
    assert written == sum(ds.boxes_per_class.values())
