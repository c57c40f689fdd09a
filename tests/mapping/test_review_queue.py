"""HQ's review queue (mapping.review_queue) and panel (mapping.review_panel) on synthetic
surveys: order, needs_review, crops, size cap, escaping, stored reviews, `survey map --review`."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import mapping.review_queue as rq
from mapping.mapview import write_survey_map
from mapping.review_panel import panel_data, with_review_panel
from mapping.review_queue import (
    NEEDS_REVIEW_BELOW,
    ReviewItem,
    detection_probabilities,
    priority,
    review_items,
    survey_key,
)
from mapping.reviews import GRADES, building_target, object_target
from mapping.store import ReviewRow, open_store
from mapping.webmap import find_remote_references
from survey.pipelines.analyze import AnalyzeConfig, analyze
from tests.mapping.conftest import (
    ColourAssessor,
    ColourModel,
    SyntheticSurvey,
    synthetic_survey,
)
from tests.mapping.test_webmap import XSS_ATTR, XSS_SCRIPT


def _analyse(photos: SyntheticSurvey, out: Path, **kw: object) -> Path:
    analyze(AnalyzeConfig(photos=photos.photos, out_dir=out,  # type: ignore[arg-type]
                          model=kw.pop("model", ColourModel()), weights="fake.pt",  # type: ignore
                          refine=False, **kw))  # type: ignore[arg-type]
    return out


@pytest.fixture
def survey_dir(survey_photos: SyntheticSurvey, tmp_path: Path) -> Path:
    return _analyse(survey_photos, tmp_path / "survey")


def _crop_size(uri: str) -> tuple[int, int]:
    assert uri.startswith("data:image/jpeg;base64,")
    img = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8),
                       cv2.IMREAD_COLOR)
    assert img is not None
    return img.shape[1], img.shape[0]


def test_priority_puts_doubts_across_the_damaged_line_first() -> None:
    sure = {"destroyed": 0.95, "intact": 0.05}
    assert priority("destroyed", {"destroyed": 1.0}) == 0.0
    assert priority("destroyed", {"destroyed": 0.5, "intact": 0.5}) > priority("destroyed", sure)
    # a doubt that could change the damage map (minor or major?) comes before one that
    # cannot (major or destroyed: damaged either way; intact or minor: not damaged either way)
    across = priority("minor", {"minor": 0.5, "major": 0.5})
    assert across > priority("major", {"major": 0.5, "destroyed": 0.5})
    assert across > priority("minor", {"minor": 0.5, "intact": 0.5})
    # within a side, the larger change of severity first
    assert priority("major", {"major": 0.5, "destroyed": 0.5}) > priority(
        "minor", {"minor": 0.9, "intact": 0.1})
    # "not a building" takes a damaged building out of the counts, an intact one not
    assert priority("destroyed", {"destroyed": 0.6, "not_building": 0.4}) > priority(
        "intact", {"intact": 0.6, "not_building": 0.4})
    p = detection_probabilities([("minor", 0.9), ("destroyed", 0.5)])
    assert set(p) == set(GRADES) and sum(p.values()) == pytest.approx(1.0)
    assert p["minor"] > p["destroyed"] > p["intact"]


def test_queue_of_a_detector_survey(survey_dir: Path) -> None:
    with open_store(survey_dir) as store:
        objects = store.objects()
        items = review_items(store)
    assert sorted(i.target for i in items) == sorted(
        object_target(n) for n in range(1, len(objects) + 1))
    # all views agree: the order is by severity (more views' residual doubt on severe grades)
    assert [i.model_grade for i in items] == ["destroyed", "major", "minor", "intact"]
    assert [i.priority for i in items] == sorted((i.priority for i in items), reverse=True)
    for item in items:
        o = objects[int(item.target.split(":")[1]) - 1]
        assert item.kind == "object" and item.probability_source == "detections"
        assert (item.lon, item.lat, item.model_grade) == (o.lon, o.lat, o.damage.label)
        assert sum(item.probabilities.values()) == pytest.approx(1.0)
        assert [v.photo for v in item.views] and set(v.photo for v in item.views) <= set(
            o.photos)
        assert item.needs_review == (max(item.probabilities.values()) < NEEDS_REVIEW_BELOW)
        for v in item.views:
            assert v.crop is not None and v.grade == item.model_grade
            w, h = _crop_size(v.crop)
            assert max(w, h) <= rq.CROP_PX and min(w, h) >= 20


def test_disagreeing_or_uncertain_views_need_review_and_rise(survey_dir: Path) -> None:
    with open_store(survey_dir) as store:
        before = {i.target: i for i in review_items(store, crops=False)}
        intact = next(i for i in before.values() if i.model_grade == "intact")
        minor = next(i for i in before.values() if i.model_grade == "minor")
        n_minor = int(minor.target.split(":")[1])
        ids = store.objects()[n_minor - 1].detections
        assert len(ids) >= 2
        with store.transaction() as db:  # one view of the minor object now says destroyed
            db.execute("UPDATE detections SET damage = 'destroyed' WHERE id = ?", (ids[0],))
            ids = store.objects()[int(intact.target.split(":")[1]) - 1].detections
            db.execute("UPDATE detections SET confidence = 0.3 WHERE id = ?", (ids[0],))
        after = {i.target: i for i in review_items(store, crops=False)}
        order = [i.target for i in review_items(store, crops=False)]
    assert not before[minor.target].needs_review
    assert after[minor.target].needs_review and "views disagree" in after[minor.target].why
    assert after[intact.target].needs_review and "uncertain" in after[intact.target].why
    assert after[minor.target].priority > before[minor.target].priority
    assert after[intact.target].priority > before[intact.target].priority
    assert order.index(intact.target) < list(before).index(intact.target)  # moved up
    assert after[minor.target].priority > after[
        next(t for t, i in after.items() if i.model_grade == "major")].priority


def test_crops_fall_back_to_the_thumbnail_and_respect_the_caps(
        survey_photos: SyntheticSurvey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(survey_photos.folder, photos)
    copy = SyntheticSurvey(photos, sorted(photos.iterdir()), survey_photos.centres_m,
                           survey_photos.buildings, survey_photos.frame,
                           survey_photos.footprint_half_m)
    out = _analyse(copy, tmp_path / "survey")
    shutil.rmtree(photos)  # the photos are gone: the stored thumbnails are cut instead
    with open_store(out) as store:
        items = review_items(store)
        assert all(v.crop is not None for i in items for v in i.views)
        monkeypatch.setattr(rq, "MAX_VIEWS", 1)
        one = review_items(store)
        assert all(i.views[0].crop and not any(v.crop for v in i.views[1:]) for i in one)
        size = len(one[0].views[0].crop or "") * 3 // 4
        monkeypatch.setattr(rq, "MAX_CROP_BYTES", size + 10)
        capped = review_items(store)
    assert capped[0].views[0].crop is not None  # the budget goes to the top of the queue
    assert [v.crop for i in capped[1:] for v in i.views] == [None] * sum(
        len(i.views) for i in capped[1:])


def test_buildings_are_queued_with_the_assessor_probabilities(
        survey_photos: SyntheticSurvey, tmp_path: Path) -> None:
    from tests.cli.test_buildings_cli import footprints_file

    feet = footprints_file(survey_photos, tmp_path / "feet.geojson")
    out = _analyse(survey_photos, tmp_path / "survey", model=None, assessor=ColourAssessor(),
                   buildings=feet)
    with open_store(out) as store:
        items = review_items(store)
        keys = {b.key: b for b in store.buildings()}
    assert {i.target for i in items} == {building_target(k) for k in keys}
    for item in items:
        b = keys[item.target.split(":", 1)[1]]
        assert item.kind == "building" and item.probability_source == "assessor"
        assert b.grade is not None and item.model_grade == b.grade.label
        assert item.probabilities["not_building"] == pytest.approx(
            b.probabilities["background"] / sum(b.probabilities.values()), abs=1e-3)
        assert item.details["address"].endswith("Mitsukaido")
        assert set(v.photo for v in item.views) == set(b.views)
        assert all(v.crop is not None for v in item.views[:rq.MAX_VIEWS])
    assert items[0].model_grade == "destroyed"


def test_hostile_names_stay_text(tmp_path: Path) -> None:
    names = [f"{XSS_ATTR}{i}.JPG" for i in range(1, 6)]
    photos = synthetic_survey(tmp_path / "photos", names=names)
    out = _analyse(photos, tmp_path / "survey")
    with open_store(out) as store:
        store.put_reviews([ReviewRow(object_target(1), "major", "intact", XSS_SCRIPT,
                                     "2026-12-03T10:00:00+09:00", XSS_ATTR + "</script>",
                                     None, None, "review.geojson")])
        data = panel_data(store)
        page = with_review_panel("<html><body></body></html>", store)
    assert any(v["photo"].startswith(XSS_ATTR) for i in data["items"] for v in i["views"])
    body = page.split('id="survey-review-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in body and ">" not in body and "'" not in body  # inert inside its script
    assert page.count("</script>") == 2 and find_remote_references(page) == []
    blob = re.search(r'id="survey-review-data">(.*?)</script>', page, re.S)
    assert blob is not None
    back = json.loads(blob.group(1))
    stored = next(i["stored"] for i in back["items"] if i["target"] == object_target(1))
    assert stored == {"grade": "major", "reviewer": XSS_SCRIPT, "time":
                      "2026-12-03T10:00:00+09:00", "note": XSS_ATTR + "</script>"}
    js = (Path(rq.__file__).parent / "assets" / "review" / "review.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "fetch(" not in js


def test_stored_reviews_and_survey_key(survey_dir: Path) -> None:
    with open_store(survey_dir) as store:
        items = review_items(store, crops=False)
        key = survey_key(store, items)
        o = store.objects()[0]
        store.put_reviews([ReviewRow(object_target(1), "destroyed", o.damage.label, "Sato",
                                     "2026-12-03T10:00:00+09:00", "", o.lon, o.lat, "r.geojson")])
        again: list[ReviewItem] = review_items(store, crops=False)
        assert survey_key(store, again) == key  # a review does not lose the browser's ones
    reviewed = {i.target: i.review for i in again if i.review is not None}
    assert list(reviewed) == [object_target(1)]
    assert reviewed[object_target(1)].grade == "destroyed"  # type: ignore[union-attr]


def test_survey_map_review_option(survey_dir: Path, tmp_path: Path) -> None:
    from tests.cli.test_analyze_cli import run

    page = tmp_path / "review.html"
    code, out, err = run("map", survey_dir, "--review", "-o", page)
    assert code == 0, err
    assert "Review map" in out
    text = page.read_text(encoding="utf-8")
    assert 'id="survey-review-data"' in text and find_remote_references(text) == []
    plain = tmp_path / "plain.html"
    assert run("map", survey_dir, "-o", plain)[0] == 0
    assert "survey-review" not in plain.read_text(encoding="utf-8")
    code, out, _ = run("map", "--help")
    assert "--review" in " ".join(out.split())
    with open_store(survey_dir) as store:  # the API writes the same page
        write_survey_map(store, tmp_path / "api.html", title="t", review=True)
    assert (tmp_path / "api.html").stat().st_size > plain.stat().st_size
