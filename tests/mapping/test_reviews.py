"""HQ's reviews (mapping.reviews, `survey review apply`): the file, applying it, and every
export showing the reviewed grade beside the model's."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from mapping.mapview import survey_map_html
from mapping.reviews import (
    apply_reviews,
    building_target,
    current_reviews,
    object_target,
    read_reviews,
)
from mapping.share import write_bundle
from mapping.store import open_store
from survey.core.errors import InputError
from survey.pipelines.analyze import AnalyzeConfig, analyze
from tests.mapping.conftest import ColourModel, synthetic_survey


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reviews")
    survey = synthetic_survey(root / "photos")
    analyze(AnalyzeConfig(photos=survey.photos, out_dir=root / "survey", model=ColourModel(),
                          weights="fake.pt", refine=False))  # type: ignore[arg-type]
    return root / "survey"


@pytest.fixture
def survey(analysed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "survey"
    shutil.copytree(analysed, copy)
    return copy


def _objects(survey: Path) -> list:
    with open_store(survey) as store:
        return store.objects()


def _write(path: Path, *reviews: dict) -> Path:
    features = []
    for r in reviews:
        props = {"reviewer": "Sato Hanako", "time": "2026-12-03T10:00:00+09:00", "note": "",
                 **{k: v for k, v in r.items() if k not in ("lon", "lat")}}
        geometry = ({"type": "Point", "coordinates": [r["lon"], r["lat"]]} if "lon" in r
                    else None)
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _at(survey: Path, n: int) -> dict:
    o = _objects(survey)[n - 1]
    return {"target": object_target(n), "lon": o.lon, "lat": o.lat}


def test_applying_records_the_review_beside_the_model(survey, tmp_path):
    model = _objects(survey)[0].damage.label
    file = _write(tmp_path / "review.geojson", {**_at(survey, 1), "grade": "destroyed",
                                                "note": "roof gone <b>"})
    with open_store(survey) as store:
        summary = apply_reviews(store, read_reviews(file))
        reviews = current_reviews(store)
    assert (summary.added, summary.updated, summary.unchanged, summary.unknown) == (1, 0, 0, [])
    r = reviews[object_target(1)]
    assert (r.grade, r.model_grade, r.reviewer, r.note) == ("destroyed", model, "Sato Hanako",
                                                            "roof gone <b>")
    with open_store(survey) as store:  # the same file again changes nothing
        again = apply_reviews(store, read_reviews(file))
        assert current_reviews(store) == reviews
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)


def test_a_later_review_wins_and_an_older_one_is_ignored(survey, tmp_path):
    first = _write(tmp_path / "a.geojson", {**_at(survey, 1), "grade": "major"})
    later = _write(tmp_path / "b.geojson", {**_at(survey, 1), "grade": "minor",
                                            "time": "2026-12-03T02:30:00+00:00"})
    older = _write(tmp_path / "c.geojson", {**_at(survey, 1), "grade": "intact",
                                            "time": "2026-12-02T23:00:00+00:00"})
    with open_store(survey) as store:
        apply_reviews(store, read_reviews(first))
        assert apply_reviews(store, read_reviews(later)).updated == 1  # 11:30 JST > 10:00 JST
        assert apply_reviews(store, read_reviews(older)).older == 1
        assert store.reviews()[object_target(1)].grade == "minor"


def test_reviews_of_what_is_not_in_the_survey_are_reported(survey, tmp_path):
    n = len(_objects(survey))
    moved = {**_at(survey, 1), "grade": "major"}
    moved["lat"] += 0.001  # ~110 m away: the survey was re-analysed and renumbered since
    file = _write(tmp_path / "r.geojson", {"target": object_target(n + 1), "grade": "major"},
                  {"target": building_target("nope"), "grade": "intact"}, moved)
    with open_store(survey) as store:
        summary = apply_reviews(store, read_reviews(file))
        assert store.reviews() == {}
    assert summary.added == 0 and len(summary.unknown) == 3
    assert "re-analysed" in summary.unknown[2]


@pytest.mark.parametrize(("change", "problem"), [
    ({"grade": "flattened"}, "grade 'flattened' is not one of"),
    ({"time": "2026-12-03T10:00:00"}, "not ISO 8601 with a time zone"),
    ({"reviewer": " "}, "no reviewer"),
    ({"target": "12"}, "target must be object:N or building:KEY"),
])
def test_a_bad_review_file_is_refused_with_one_line(tmp_path, change, problem):
    file = _write(tmp_path / "bad.geojson", {"target": "object:1", "grade": "major", **change})
    with pytest.raises(InputError) as err:
        read_reviews(file)
    assert problem in str(err.value) and "bad.geojson" in str(err.value)
    assert "review 1" in str(err.value)
    (tmp_path / "x.geojson").write_text('{"type": "Feature"}')
    with pytest.raises(InputError, match="not a review file"):
        read_reviews(tmp_path / "x.geojson")


def test_every_export_shows_the_reviewed_grade(survey, tmp_path):
    objects = _objects(survey)
    assert len(objects) >= 3
    file = _write(tmp_path / "r.geojson", {**_at(survey, 1), "grade": "destroyed"},
                  {**_at(survey, 2), "grade": "not_building", "note": "a car"})
    with open_store(survey) as store:
        apply_reviews(store, read_reviews(file))
        html = survey_map_html(store, offline=True, title="t")
        out = tmp_path / "hq.zip"
        write_bundle(store, out, map_html=html, title="t")
    assert "reviewed: destroyed by Sato Hanako" in html
    with zipfile.ZipFile(out) as z:
        geo = json.loads(z.read("objects.geojson"))
        rows = list(csv.DictReader(io.StringIO(z.read("objects.csv").decode())))
        summary = z.read("summary.csv").decode()
        kml = z.read("objects.kml").decode()
        z.extract("survey.gpkg", tmp_path)
    by_id = {f["properties"]["id"]: f["properties"] for f in geo["features"]}
    assert 2 not in by_id and len(by_id) == len(objects) - 1  # not a building: left out
    one = by_id[1]
    assert (one["damage"], one["model_grade"], one["reviewed_by"]) == (
        "destroyed", objects[0].damage.label, "Sato Hanako")
    assert by_id[3]["reviewed_by"] == "" and by_id[3]["damage"] == objects[2].damage.label
    assert {r["id"]: r["damage"] for r in rows}["1"] == "destroyed"
    assert "objects_reviewed,2" in summary and "objects_not_buildings_by_review,1" in summary
    assert "Sato Hanako" in kml
    from pyogrio.raw import read

    meta, _, _, columns = read(tmp_path / "survey.gpkg", layer="objects")
    fields = list(meta["fields"])
    ids, who = columns[fields.index("id")], columns[fields.index("reviewed_by")]
    assert [w for i, w in zip(ids, who, strict=True) if i == 1] == ["Sato Hanako"]


def run(*args: object) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from survey.cli.main import app
    from tests.cli.test_analyze_cli import ANSI, ENV

    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def test_cli_review_apply(survey, tmp_path):
    file = _write(tmp_path / "review.geojson", {**_at(survey, 1), "grade": "major"},
                  {"target": "object:999", "grade": "intact"})
    code, out, err = run("review", "apply", survey, file)
    assert code == 0, err
    assert "2 reviews in review.geojson: 1 added" in " ".join(out.split())
    assert "not applied: object:999" in err
    code, out, err = run("review", "apply", survey, file)
    assert "0 added, 0 updated, 1 unchanged" in " ".join(out.split())
    (tmp_path / "bad.geojson").write_text("{")
    code, out, err = run("review", "apply", survey, tmp_path / "bad.geojson")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bad.geojson" in err


def test_reviewed_footprints_in_the_building_exports(tmp_path):
    from tests.cli.test_buildings_cli import footprints_file
    from tests.mapping.conftest import ColourAssessor

    photos = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(photos, tmp_path / "b.geojson")
    analyze(AnalyzeConfig(photos=photos.photos, out_dir=tmp_path / "s", model=None,
                          weights="", assessor=ColourAssessor(),  # type: ignore[arg-type]
                          buildings=feet, refine=False))
    with open_store(tmp_path / "s") as store:
        first, second = store.buildings()[:2]
        file = _write(tmp_path / "r.geojson",
                      {"target": building_target(first.key), "grade": "major",
                       "lon": first.lon, "lat": first.lat},
                      {"target": building_target(second.key), "grade": "not_building",
                       "lon": second.lon, "lat": second.lat})
        assert apply_reviews(store, read_reviews(file)).added == 2
        html = survey_map_html(store, offline=True, title="t")
        write_bundle(store, tmp_path / "hq.zip", map_html=html, title="t")
    with zipfile.ZipFile(tmp_path / "hq.zip") as z:
        rows = {r["building_id"]: r for r in csv.DictReader(io.StringIO(
            z.read("buildings.csv").decode()))}
        summary = z.read("buildings_summary.csv").decode()
    assert (rows[first.key]["grade"], rows[first.key]["model_grade"],
            rows[first.key]["reviewed_by"]) == ("major", first.grade.label, "Sato Hanako")
    assert rows[second.key]["grade"] == "not_building"
    assert "not_building,,1," in summary  # its own row, after not_seen
    assert "reviewed: major by Sato Hanako" in html
