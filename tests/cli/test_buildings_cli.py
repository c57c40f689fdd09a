"""`survey analyze --buildings`: one grade per footprint, from every photo that sees it, and
orthomosaics; carried into the map and the HQ bundle."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping

import survey.cli.analyze as analyze_cmd
from mapping.store import open_store
from survey.core.damage import DamageClass
from survey.pipelines.analyze import AnalyzeConfig, analyze
from tests.cli.test_analyze_cli import leftovers, one_error_line, run
from tests.mapping.conftest import (
    GROUND_BGR,
    PAINT,
    ColourAssessor,
    SyntheticBuilding,
    synthetic_survey,
)


def _label(grade: DamageClass | None) -> str | None:
    """A store grade as the scene writes its truth (the class label)."""
    return None if grade is None else grade.label

OUTSIDE = SyntheticBuilding("E", "intact", 100.0, 0.0)  # east of every photo


@pytest.fixture
def fake_assessor(monkeypatch: pytest.MonkeyPatch) -> ColourAssessor:
    grader = ColourAssessor()
    monkeypatch.setattr(analyze_cmd, "load_assessor", lambda weights, **_: grader)
    monkeypatch.setattr(analyze_cmd, "assessor_path",
                        lambda weights, required=True: weights or Path("colour-assessor.pt"))

    def no_detector(*_a: object, **_k: object) -> None:
        raise AssertionError("the detector is not needed with --buildings")

    monkeypatch.setattr(analyze_cmd, "load_model", no_detector)
    return grader


def footprints_file(survey: object, path: Path, extra: list[SyntheticBuilding] = ()) -> Path:
    """The survey's buildings as municipal footprints: own ids, address and district."""
    feats = []
    for i, b in enumerate([*survey.buildings, *extra]):  # type: ignore[attr-defined]
        ring = [survey.lonlat(x, y) for x, y in b.local().exterior.coords]  # type: ignore
        feats.append({"type": "Feature", "geometry": mapping(shapely.Polygon(ring)),
                      "properties": {"id": f"JOSO-{b.name}", "address": f"{i + 1}-3 Mitsukaido",
                                     "district": "east" if b.x_m > 0 else "west"}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
                    encoding="utf-8")
    return path


def test_every_footprint_graded_once_from_the_photos_that_see_it(
        fake_assessor: ColourAssessor, tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "buildings.geojson", [OUTSIDE])
    out = tmp_path / "survey"
    code, stdout, err = run("analyze", survey.folder, "--buildings", feet, "-o", out)
    assert code == 0, err
    text = " ".join(stdout.split())
    for label in ("destroyed", "major", "minor", "intact", "not_seen"):
        assert f"buildings {label} 1" in text, text
    with open_store(out) as store:
        rows = {b.key: b for b in store.buildings()}
    assert len(rows) == 5  # one record per footprint, never two
    for b in survey.buildings:
        row = rows[f"JOSO-{b.name}"]
        assert _label(row.grade) == b.damage and row.status == "assessed"
        assert set(row.views) == set(survey.photos_seeing(b)), b  # every photo that sees it
        assert row.attrs["address"].endswith("Mitsukaido")
        assert sum(row.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert rows["JOSO-E"].status == "not_seen" and rows["JOSO-E"].grade is None
    # the map draws footprints by grade, the unseen one grey, attributes in the popups
    code, _, err = run("map", out, "-o", tmp_path / "map.html")
    assert code == 0, err
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "Not seen (1)" in page and "dmg-not-seen" in page and "1-3 Mitsukaido" in page
    code, _, err = run("share", out, "-o", tmp_path / "hq.zip")
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "hq.zip") as z:
        names = set(z.namelist())
        assert {"buildings.geojson", "buildings.kml", "buildings.csv",
                "buildings_summary.csv"} <= names
        gj = json.loads(z.read("buildings.geojson"))
        summary = z.read("buildings_summary.csv").decode()
        table = list(csv.DictReader(io.StringIO(z.read("buildings.csv").decode())))
        z.extract("survey.gpkg", tmp_path)
    by_id = {f["id"]: f["properties"] for f in gj["features"]}
    assert by_id["JOSO-A"]["grade"] == "destroyed" and by_id["JOSO-A"]["district"] == "west"
    assert by_id["JOSO-E"]["grade"] == "not_seen"
    assert {r["building_id"] for r in table} == set(by_id)
    assert "district,destroyed,major,minor,intact,not_seen,total" in summary
    assert "east,0,1,0,0,1,2" in summary  # B (major) and E (not seen) are east
    from pyogrio.raw import read

    meta, _, _, values = read(tmp_path / "survey.gpkg", layer="buildings")
    fields = list(meta["fields"])
    assert sorted(values[fields.index("building_id")]) == sorted(by_id)
    assert leftovers(tmp_path) == []


def test_rerun_resumes_and_refuses_other_footprints(fake_assessor: ColourAssessor,
                                                    tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "b.geojson")
    out = tmp_path / "survey"
    assert run("analyze", survey.folder, "--buildings", feet, "-o", out)[0] == 0
    crops = fake_assessor.crops
    code, stdout, err = run("analyze", survey.folder, "--buildings", feet, "-o", out)
    assert code == 0 and "already done 5" in " ".join(stdout.split()), err
    assert fake_assessor.crops == crops  # nothing graded twice
    other = footprints_file(survey, tmp_path / "c.geojson", [OUTSIDE])
    code, _, err = run("analyze", survey.folder, "--buildings", other, "-o", out)
    assert code == 2
    one_error_line(err, "other footprints")


def test_bad_footprints_file_is_refused_before_anything_is_written(
        fake_assessor: ColourAssessor, tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    bad = tmp_path / "b.geojson"
    bad.write_text("{ not json")
    code, _, err = run("analyze", survey.folder, "--buildings", bad, "-o", tmp_path / "s")
    assert code == 2
    one_error_line(err, "b.geojson")
    assert not (tmp_path / "s").exists()


def _ortho(path: Path, survey: object, gsd_m: float = 0.1,
           origin_m: tuple[float, float] = (-80.0, 30.0), size_m: float = 160.0) -> Path:
    """A north-up GeoTIFF in UTM 54N of the survey's painted buildings (``size_m`` × 60 m
    from the survey's local ``origin_m``, its north-west corner)."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    tf = Transformer.from_crs(4326, 32654, always_xy=True)
    lon0, lat0 = survey.lonlat(*origin_m)  # type: ignore[attr-defined]
    x0, y0 = tf.transform(lon0, lat0)
    width, height = round(size_m / gsd_m), round(60 / gsd_m)
    image = np.zeros((3, height, width), np.uint8)
    image[:] = np.array(GROUND_BGR[::-1], np.uint8)[:, None, None]
    for b in survey.buildings:  # type: ignore[attr-defined]
        ring = np.array([tf.transform(*survey.lonlat(x, y))  # type: ignore[attr-defined]
                         for x, y in b.local().exterior.coords])
        c0, c1 = sorted(((ring[:, 0] - x0) / gsd_m).astype(int)[[0, 2]])
        r0, r1 = sorted(((y0 - ring[:, 1]) / gsd_m).astype(int)[[0, 2]])
        if c1 <= 0 or r1 <= 0 or c0 >= width or r0 >= height:
            continue
        image[:, max(r0, 0):r1, max(c0, 0):c1] = np.array(PAINT[b.damage][::-1],
                                                          np.uint8)[:, None, None]
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3,
                       dtype="uint8", crs="EPSG:32654",
                       transform=from_origin(x0, y0, gsd_m, gsd_m), tiled=True,
                       blockxsize=256, blockysize=256) as dst:
        dst.write(image)
    return path


def test_orthomosaic_footprints_cut_window_by_window(
        fake_assessor: ColourAssessor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    ortho = _ortho(tmp_path / "odm_orthophoto.tif", survey, gsd_m=0.05)  # 3200 × 1200 px
    feet = footprints_file(survey, tmp_path / "b.geojson", [OUTSIDE])
    import rasterio.io

    reads: list[tuple[int, int]] = []
    real_read = rasterio.io.DatasetReader.read

    def spy(self: object, *args: object, **kwargs: object) -> np.ndarray:
        data = real_read(self, *args, **kwargs)
        reads.append(data.shape[-2:])
        return data

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    out = tmp_path / "survey"
    code, _, err = run("analyze", ortho, "--buildings", feet, "-o", out)
    assert code == 0, err
    with open_store(out) as store:
        rows = {b.key: b for b in store.buildings()}
        photo = store.photos()[0]
    for b in survey.buildings:
        assert _label(rows[f"JOSO-{b.name}"].grade) == b.damage, b
        assert rows[f"JOSO-{b.name}"].views == ("odm_orthophoto.tif",)
    assert rows["JOSO-E"].status == "not_seen"  # outside the ortho
    assert photo["pose_source"] == "orthomosaic" and photo["gsd_cm"] == pytest.approx(5.0)
    # footprint windows, and the map's overlay decimated: never the whole raster
    assert reads and all(h * w <= 3200 * 1200 / 4 for h, w in reads), reads
    assert run("map", out, "-o", tmp_path / "m.html")[0] == 0


def test_orthomosaic_without_footprints_runs_the_detector(tmp_path: Path) -> None:
    from tests.mapping.conftest import ColourModel

    survey = synthetic_survey(tmp_path / "photos")
    ortho = _ortho(tmp_path / "ortho.tif", survey)
    summary = analyze(AnalyzeConfig(photos=[ortho], out_dir=tmp_path / "s", model=ColourModel(),
                                    weights="colour", assessor=ColourAssessor()))
    assert summary.analysed == 1
    assert sorted(summary.objects) == ["destroyed", "intact", "major", "minor"]
    with open_store(tmp_path / "s") as store:
        objects = store.objects()
    for b in survey.buildings:
        lon, lat = survey.lonlat(b.x_m, b.y_m)
        near = [o for o in objects if abs(o.lon - lon) < 3e-5 and abs(o.lat - lat) < 3e-5]
        assert [o.damage.label for o in near] == [b.damage], b


def test_footprints_projected_onto_a_dem(tmp_path: Path) -> None:
    """Views go through the same ground model as georeferencing: a DEM at the take-off height
    (photos 52 m above sea level, 40 m above take-off) grades as flat ground does; a DEM 10 m
    higher puts the camera 30 m, not 40 m, above the roofs, so each view's GSD is 3/4."""
    from tests.mapping.test_analyze import _dem

    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "b.geojson")
    gsd = {}
    for name, height in (("same", 12.0), ("higher", 22.0)):
        analyze(AnalyzeConfig(photos=survey.photos, out_dir=tmp_path / name, model=None,
                              weights="", assessor=ColourAssessor(), buildings=feet,
                              dem=_dem(tmp_path / f"{name}.tif", height)))
        with open_store(tmp_path / name) as store:
            if name == "same":
                assert {b.key: _label(b.grade) for b in store.buildings()} == {
                    f"JOSO-{b.name}": b.damage for b in survey.buildings}
            gsd[name] = {(r["building_id"], r["photo_name"]): r["gsd_cm"]
                         for r in store.building_views()}
    common = sorted(set(gsd["same"]) & set(gsd["higher"]))
    assert len(common) >= 5
    np.testing.assert_allclose([gsd["higher"][k] for k in common],
                               [gsd["same"][k] * 30 / 40 for k in common], rtol=0.02)


def test_orthomosaic_in_lonlat_measures_its_gsd_in_metres(tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from mapping.ortho import is_orthomosaic, open_ortho

    deg = 0.1 / 111_320.0  # ~10 cm of longitude at the equator
    path = tmp_path / "ll.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=100, count=3,
                       dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(139.99, 36.07, deg, deg)) as dst:
        dst.write(np.zeros((3, 100, 200), np.uint8))
    ortho = open_ortho(path)
    # east-west pixels shrink with cos(latitude); north-south ones do not
    expected = 100 * np.sqrt(0.1 * np.cos(np.radians(36.07)) * 0.1 * 110_540 / 111_320)
    assert ortho.gsd_cm == pytest.approx(expected, rel=0.01)
    assert is_orthomosaic(path) and not is_orthomosaic(tmp_path / "none.tif")
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=8, height=8, count=3,
                       dtype="uint8") as dst:
        dst.write(np.zeros((3, 8, 8), np.uint8))
    assert not is_orthomosaic(plain)  # a TIFF photo, not an orthomosaic


def test_share_and_map_never_replace_a_fifo(fake_assessor: ColourAssessor, tmp_path: Path
                                            ) -> None:
    import os
    import stat

    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "b.geojson")
    out = tmp_path / "survey"
    assert run("analyze", survey.folder, "--buildings", feet, "-o", out)[0] == 0
    for command in ("share", "map"):
        fifo = tmp_path / f"{command}.fifo"
        os.mkfifo(fifo)
        code, _, err = run(command, out, "-o", fifo)
        assert code == 2
        one_error_line(err, "a FIFO")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


# --- pre-disaster imagery (--pre) --------------------------------------------------------

BEFORE = {"destroyed": "intact", "major": "minor", "intact": "major", "minor": "destroyed"}
"""How the pre-disaster orthophoto paints each building (not as the photos do), so that the
fake pre+post assessor's grades show which window of which raster reached it."""


@pytest.fixture
def pre_assessor(monkeypatch: pytest.MonkeyPatch) -> object:
    from tests.mapping.conftest import PreColourAssessor

    grader = PreColourAssessor()
    monkeypatch.setattr(analyze_cmd, "load_assessor", lambda weights, **_: grader)
    monkeypatch.setattr(analyze_cmd, "assessor_path",
                        lambda weights, required=True: weights or Path("pre-assessor.pt"))
    return grader


def _pre_ortho(path: Path, survey: object) -> Path:
    """The municipality's pre-disaster orthophoto: 20 cm/px, east of x = -40 m only (so
    building C, at x = -70 m, has no pre crop), every building painted as :data:`BEFORE`."""
    import dataclasses
    import types

    before = types.SimpleNamespace(
        lonlat=survey.lonlat,  # type: ignore[attr-defined]
        buildings=[dataclasses.replace(b, damage=BEFORE[b.damage])
                   for b in survey.buildings])  # type: ignore[attr-defined]
    return _ortho(path, before, gsd_m=0.2, origin_m=(-40.0, 30.0), size_m=100.0)


def test_pre_orthophoto_crops_each_footprint_for_a_pre_post_assessor(
        pre_assessor: object, tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "b.geojson")
    pre = _pre_ortho(tmp_path / "pre.tif", survey)
    out = tmp_path / "survey"
    code, _, err = run("analyze", *survey.photos, "--buildings", feet, "--pre", pre, "-o", out)
    assert code == 0, err
    with open_store(out) as store:
        grades = {b.key: _label(b.grade) for b in store.buildings()}
        meta = store.meta()
    for b in survey.buildings:
        seen_before = b.x_m > -40.0
        assert grades[f"JOSO-{b.name}"] == (BEFORE[b.damage] if seen_before else b.damage), b
    assert pre_assessor.pre_seen > 0 and pre_assessor.pre_missing > 0  # type: ignore
    assert meta["pre"]  # a re-run with another orthophoto is refused
    other = _ortho(tmp_path / "other.tif", survey)
    code, _, err = run("analyze", *survey.photos, "--buildings", feet, "--pre", other,
                       "-o", out)
    assert code == 2 and "other pre-disaster imagery" in one_error_line(err, "survey")


def test_pre_orthophoto_with_an_orthomosaic(pre_assessor: object, tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "b.geojson")
    post = _ortho(tmp_path / "post.tif", survey)
    pre = _pre_ortho(tmp_path / "pre.tif", survey)
    code, _, err = run("analyze", post, "--buildings", feet, "--pre", pre, "-o",
                       tmp_path / "s")
    assert code == 0, err
    with open_store(tmp_path / "s") as store:
        grades = {b.key: _label(b.grade) for b in store.buildings()}
    for b in survey.buildings:
        assert grades[f"JOSO-{b.name}"] == (BEFORE[b.damage] if b.x_m > -40 else b.damage)


def test_pre_orthophoto_refusals(fake_assessor: ColourAssessor, tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "b.geojson")
    pre = _pre_ortho(tmp_path / "pre.tif", survey)
    out = tmp_path / "survey"
    cases = [
        (("--pre", pre), "give --buildings too"),  # no footprints
        (("--buildings", feet, "--pre", pre), "post-disaster crops only"),  # post-only
        (("--buildings", feet, "--pre", feet), "not a georeferenced GeoTIFF"),
    ]
    for extra, expect in cases:
        if expect == "not a georeferenced GeoTIFF":
            fake_assessor.takes_pre = True  # type: ignore[misc]
        code, _, err = run("analyze", *survey.photos, *extra, "-o", out)
        assert code == 2, (extra, err)
        one_error_line(err, expect)
        assert not out.exists()  # refused before a survey folder is written
    far = _ortho(tmp_path / "far.tif", survey, origin_m=(2000.0, 30.0))
    code, _, err = run("analyze", *survey.photos, "--buildings", feet, "--pre", far, "-o", out)
    assert code == 2 and "covers none of the footprints" in one_error_line(err, "far.tif")
