"""The one xBD label reader (survey/core/xbd_labels.py): buildings, pairing, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from survey.core.damage import DamageClass
from survey.core.errors import InputError
from survey.core.xbd_labels import parse_xbd_labels, read_xbd_labels

XBD = Path(__file__).resolve().parents[3] / "shared" / "data" / "xbd"
SQUARE = "POLYGON ((8 8, 24 8, 24 20, 8 20, 8 8))"
SQUARE_LL = "POLYGON ((140 36, 140.001 36, 140.001 35.999, 140 35.999, 140 36))"


def _ft(wkt: str, subtype: str | None = "destroyed", uid: str | None = "a") -> dict:
    props: dict[str, str] = {"feature_type": "building"}
    if subtype is not None:
        props["subtype"] = subtype
    if uid is not None:
        props["uid"] = uid
    return {"properties": props, "wkt": wkt}


def test_buildings_in_file_order_with_their_twins(tmp_path: Path) -> None:
    doc = {"metadata": {"img_name": "t.png"}, "features": {
        "xy": [_ft(SQUARE, "no-damage", "a"), _ft(SQUARE, "un-classified", "b"),
               _ft(SQUARE, "major-damage", "c")],
        "lng_lat": [_ft(SQUARE_LL, uid="c"), _ft(SQUARE_LL, uid="a")]}}
    path = tmp_path / "t_post_disaster.json"
    path.write_text(json.dumps(doc))
    labels = read_xbd_labels(path)
    assert labels.source == str(path) and labels.metadata == {"img_name": "t.png"}
    assert [(b.uid, b.damage) for b in labels.buildings] == [
        ("a", DamageClass.INTACT), ("b", None), ("c", DamageClass.MAJOR)]
    assert labels.unclassified == 1
    assert [b.polygon_lonlat is not None for b in labels.buildings] == [True, False, True]
    assert labels.buildings[0].polygon_px.bounds == (8.0, 8.0, 24.0, 20.0)


def test_multipolygon_keeps_its_largest_part_and_uid_defaults_to_the_index() -> None:
    multi = "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 9 5, 9 9, 5 9, 5 5)))"
    labels = parse_xbd_labels({"features": {"xy": [_ft(multi, uid=None)]}}, source="m")
    (b,) = labels.buildings
    assert b.uid == "0" and b.polygon_px.bounds == (5.0, 5.0, 9.0, 9.0)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not a readable JSON file"),
        ("[1, 2]", "top level is not an object"),
        ('{"metadata": 3, "features": {"xy": []}}', "metadata is not an object"),
        ('{"metadata": {}}', r"no features\.xy list"),
        ('{"features": {"xy": [], "lng_lat": 1}}', r"features\.lng_lat is not a list"),
        ('{"features": {"xy": [{"wkt": "POINT (1 1)"}]}}', r"features\.xy\[0\] has no properties"),
        (json.dumps({"features": {"xy": [_ft(SQUARE, "burnt")]}}),
         "unknown xBD damage subtype 'burnt'; expected one of: no-damage"),
        (json.dumps({"features": {"xy": [_ft(SQUARE, None)]}}), "unknown xBD damage subtype"),
        (json.dumps({"features": {"xy": [_ft("POLYGON ((1 2, 3", "destroyed")]}}),
         r"features\.xy\[0\]: bad WKT polygon"),
        (json.dumps({"features": {"xy": [{"properties": {"subtype": "destroyed"}}]}}),
         "bad WKT polygon"),
        (json.dumps({"features": {"xy": [_ft("POLYGON EMPTY")]}}), "empty polygon"),
        (json.dumps({"features": {"xy": [_ft("POINT (1 1)")]}}), "a Point, expected a polygon"),
        (json.dumps({"features": {"xy": [], "lng_lat": [_ft("LINESTRING (0 0, 1 1)")]}}),
         r"features\.lng_lat\[0\]: a LineString"),
    ],
)
def test_malformed_files_are_one_line_input_errors(tmp_path: Path, content: str,
                                                   problem: str) -> None:
    path = tmp_path / "t_post_disaster.json"
    path.write_text(content)
    with pytest.raises(InputError, match=problem) as info:
        read_xbd_labels(path)
    assert info.value.source == str(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_xbd_labels(tmp_path / "nowhere.json")


def test_real_labels() -> None:
    files = sorted((XBD / "labels").glob("*_post_disaster.json")) if XBD.is_dir() else []
    if not files:
        pytest.skip(f"{XBD} not present")
    read = [read_xbd_labels(p) for p in files]
    assert sum(r.unclassified for r in read) == 7
    assert all(b.polygon_lonlat is not None for r in read for b in r.buildings)
