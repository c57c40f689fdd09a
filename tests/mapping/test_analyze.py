"""`survey.pipelines.analyze` in-process with fake detectors: poses, footprints, ground positions,
merging across photos, re-runs, DEMs; on the real DJI photos when they are there."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely import wkt

from detection.photos import find_photos
from mapping.share import survey_facts
from mapping.store import open_store
from survey.core.errors import InputError
from survey.core.frame import LocalFrame
from survey.pipelines.analyze import AnalyzeConfig, analyze
from tests.mapping.conftest import (
    DJI,
    LAT0,
    LON0,
    CentreModel,
    ColourModel,
    SyntheticSurvey,
    store_content,
)

needs_dji = pytest.mark.skipif(not DJI.is_dir(), reason=f"no real DJI photos in {DJI}")


def _config(photos: list[Path], out: Path, model: object, **kw: object) -> AnalyzeConfig:
    return AnalyzeConfig(photos=photos, out_dir=out, model=model,  # type: ignore[arg-type]
                         weights="fake.pt", **kw)  # type: ignore[arg-type]


# --- the real DJI photos ------------------------------------------------------------------------

@pytest.mark.slow
@needs_dji
def test_real_dji_photos(tmp_path: Path) -> None:
    photos = find_photos([DJI])
    assert len(photos) == 18
    out = tmp_path / "survey"
    model = CentreModel()  # one box in the middle of each photo (one tile per photo)
    # as recorded: refining the attitudes from tie points is tested in test_refine
    summary = analyze(_config(photos, out, model, refine=False))
    assert (summary.photos, summary.analysed, summary.skipped, summary.without_pose,
            summary.failed, summary.problems) == (18, 18, 0, 0, 0, ())
    assert summary.detections == 18

    with open_store(out) as store:
        rows = store.photos()
        assert [r["name"] for r in rows] == [p.name for p in photos]
        assert {r["status"] for r in rows} == {"ok"}
        assert {r["pose_source"] for r in rows} == {"exif+dji-xmp"}
        for r in rows:
            assert 46.80 < r["lat"] < 46.88 and -92.05 < r["lon"] < -91.95
            assert 39.5 < r["rel_alt"] < 40.5 and r["gsd_cm"] == pytest.approx(1.7, abs=0.05)
            assert (r["width"], r["height"]) == (4000, 2250)
            assert r["thumbnail"] and r["overlay"] and r["overlay_bounds"]
        feet = [wkt.loads(r["footprint"]) for r in rows]
        frame = LocalFrame.around(shapely.union_all(feet))
        local = [frame.geom_to_local(f) for f in feet]
        for f in local:  # 40 m up, 94° lens: about 68 m × 38 m
            assert 2300 < f.area < 2900, f.area
        for a, b in itertools.pairwise(local):  # photos along the line overlap
            assert a.intersection(b).area > 0.3 * a.area
        facts = survey_facts(store)
        union = shapely.union_all(local).area
        assert facts.area_surveyed_m2 == pytest.approx(union, rel=1e-3)
        assert 3 * local[0].area < facts.area_surveyed_m2 < sum(f.area for f in local) * 0.7
        assert (facts.photos_ok, facts.first_photo, facts.last_photo) == (
            18, rows[0]["taken"], rows[-1]["taken"])
        # A nadir photo's centre box lies under the camera (pitch -89.9: 7 cm off at 40 m).
        objects = store.objects()
        assert len(objects) == 18
        by_photo = {o.photos: o for o in objects}
        for r in rows:
            o = by_photo[(r["name"],)]
            x, y = LocalFrame(r["lat"], r["lon"]).to_local(o.lon, o.lat)
            assert math.hypot(x, y) < 0.5
            assert 60 < o.area_m2 < 120  # a 800 × 450 px box at 1.7 cm/px: 13.6 m × 7.7 m

    before = store_content(out)
    again = analyze(_config(photos, out, CentreModel(), refine=False))
    assert (again.analysed, again.skipped, again.detections) == (0, 18, 0)
    assert store_content(out) == before


# --- synthetic photos: known buildings ----------------------------------------------------------

def _local_xy(survey: SyntheticSurvey, lon: float, lat: float) -> tuple[float, float]:
    x, y = survey.frame.to_local(lon, lat)  # type: ignore[attr-defined]
    return float(x), float(y)


def test_one_object_per_building_seen_in_several_photos(survey_photos: SyntheticSurvey,
                                                         tmp_path: Path) -> None:
    s = survey_photos
    summary = analyze(_config(s.photos, tmp_path / "survey", ColourModel()))
    seen = {b.name: s.photos_seeing(b) for b in s.buildings}
    assert sorted(len(v) for v in seen.values()) == [1, 3, 3, 3]  # the layout is as meant
    assert summary.analysed == 5 and summary.detections == sum(len(v) for v in seen.values())
    assert summary.objects == {"destroyed": 1, "major": 1, "minor": 1, "intact": 1}
    with open_store(tmp_path / "survey") as store:
        objects = store.objects()
        detections = {d.id: d for d in store.detections()}
    assert len(objects) == len(s.buildings)
    for b in s.buildings:
        matches = [o for o in objects
                   if math.dist(_local_xy(s, o.lon, o.lat), (b.x_m, b.y_m)) < 2.0]
        assert len(matches) == 1, (b, objects)
        o = matches[0]
        assert o.damage.label == b.damage
        assert sorted(o.photos) == sorted(seen[b.name])
        assert len(o.detections) == len(seen[b.name])
        assert {detections[i].photo_name for i in o.detections} == set(seen[b.name])
        assert math.dist(_local_xy(s, o.lon, o.lat), (b.x_m, b.y_m)) < 0.5
        assert o.area_m2 == pytest.approx(b.size_m**2, rel=0.15)
        truth = b.local()
        shape = s.frame.geom_to_local(o.ground)  # type: ignore[attr-defined]
        assert shape.intersection(truth).area / shape.union(truth).area > 0.8


def test_rerun_adds_only_new_photos_and_remerges(survey_photos: SyntheticSurvey,
                                                 tmp_path: Path) -> None:
    s = survey_photos
    out = tmp_path / "survey"
    first = analyze(_config(s.photos[:2], out, ColourModel()))
    assert first.analysed == 2
    model = ColourModel()
    rest = analyze(_config(s.photos, out, model))
    assert (rest.analysed, rest.skipped) == (3, 2)
    assert model.tiles == 3  # the done photos were not detected again
    assert rest.objects == {"destroyed": 1, "major": 1, "minor": 1, "intact": 1}
    whole = tmp_path / "whole"
    analyze(_config(s.photos, whole, ColourModel()))
    mixed, straight = store_content(out), store_content(whole)
    assert mixed["objects"] == straight["objects"] and mixed["detections"] == straight[
        "detections"]


def test_photos_processed_in_another_order_give_the_same_objects(
        survey_photos: SyntheticSurvey, tmp_path: Path) -> None:
    s = survey_photos
    analyze(_config(s.photos, tmp_path / "a", ColourModel()))
    analyze(_config(s.photos[::-1], tmp_path / "b", ColourModel()))
    with open_store(tmp_path / "a") as a, open_store(tmp_path / "b") as b:
        key = lambda o: (round(o.lon, 6), round(o.lat, 6))  # noqa: E731
        oa, ob = sorted(a.objects(), key=key), sorted(b.objects(), key=key)
    assert [(o.damage, sorted(o.photos)) for o in oa] == [(o.damage, sorted(o.photos))
                                                          for o in ob]


def _dem(path: Path, height: float) -> Path:
    import rasterio
    from rasterio.transform import Affine

    n, size = 40, 0.004
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(size / n, 0, LON0 - size / 2, 0,
                                                         -size / n, LAT0 + size / 2)) as dst:
        dst.write(np.full((n, n), height, np.float32), 1)
    return path


def test_dem_places_detections_on_the_terrain(survey_photos: SyntheticSurvey,
                                              tmp_path: Path) -> None:
    s = survey_photos
    # The photos say 52 m above sea level, 40 m above take-off: a DEM at 12 m is the same ground.
    analyze(_config(s.photos, tmp_path / "dem", ColourModel(), dem=_dem(tmp_path / "d.tif", 12)))
    # Ground 10 m higher: the camera is 30 m above it, everything seen shrinks by 3/4.
    analyze(_config(s.photos, tmp_path / "high", ColourModel(),
                    dem=_dem(tmp_path / "h.tif", 22)))
    areas = {}
    for name in ("dem", "high"):
        with open_store(tmp_path / name) as store:
            feet = [wkt.loads(r["footprint"]) for r in store.photos()]
            areas[name] = [s.frame.geom_to_local(f).area for f in feet]  # type: ignore
            if name != "high":
                for o in store.objects():
                    x, y = _local_xy(s, o.lon, o.lat)
                    assert min(math.dist((x, y), (b.x_m, b.y_m)) for b in s.buildings) < 0.5
    flat = 4 * s.footprint_half_m[0] * s.footprint_half_m[1]
    np.testing.assert_allclose(areas["dem"], flat, rtol=0.01)
    np.testing.assert_allclose(areas["high"], flat * (30 / 40) ** 2, rtol=0.02)


def test_survey_folder_analysed_with_other_weights_is_refused(survey_photos: SyntheticSurvey,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "survey"
    analyze(_config(survey_photos.photos[:1], out, ColourModel()))
    before = store_content(out)
    config = AnalyzeConfig(photos=survey_photos.photos, out_dir=out,
                           model=ColourModel(),  # type: ignore[arg-type]
                           weights="other.pt")
    with pytest.raises(InputError, match="analysed with other weights"):
        analyze(config)
    assert store_content(out) == before


def test_a_photo_looking_near_the_horizon_is_analysed_but_its_footprint_not_mapped(
        survey_photos: SyntheticSurvey, tmp_path: Path) -> None:
    from sitl.world.camera import PHANTOM3, write_photo_jpeg

    cam = PHANTOM3.__class__(**{**PHANTOM3.__dict__, "image_w_px": 400, "image_h_px": 300})
    oblique = write_photo_jpeg(tmp_path / "oblique.jpg", np.full((300, 400, 3), 90, np.uint8),
                               cam, lat=LAT0, lon=LON0, alt_msl_m=70.0, rel_alt_m=40.0,
                               yaw_deg=0.0, pitch_deg=-25.0)  # the top rows see past 10 heights
    photos = [*survey_photos.photos[:2], oblique]
    summary = analyze(_config(photos, tmp_path / "s", CentreModel(), refine=False))
    assert summary.analysed == 3 and len(summary.unmapped_footprints) == 1
    assert summary.unmapped_footprints[0].endswith("oblique.jpg")
    with open_store(tmp_path / "s") as store:
        mapped = {r["name"] for r, _ in store.photo_footprints()}
    assert {Path(m).name for m in mapped} == {p.name for p in survey_photos.photos[:2]}
