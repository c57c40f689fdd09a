"""The survey store: whole photos or nothing, and a version check."""

from __future__ import annotations

import sqlite3

import pytest
from shapely.geometry import Polygon, box

from mapping.store import (
    SCHEMA_VERSION,
    DetectionRow,
    ObjectRow,
    create_store,
    open_store,
    survey_store,
)
from survey.core.damage import DamageClass
from survey.core.errors import InputError

DESTROYED = DamageClass.DESTROYED


def _photo(name: str) -> dict:
    return {"name": name, "path": f"/p/{name}", "sha256": name * 4, "status": "ok"}


def test_photo_and_detections_are_written_together(tmp_path):
    with create_store(tmp_path / "s", {"weights": "w.pt"}) as store:
        pid = store.add_photo(_photo("a"), [DetectionRow((1, 2, 3, 4), DESTROYED, 0.9)])
        assert store.done_hashes() == {"aaaa"}
        assert [d.photo_id for d in store.detections()] == [pid]
        with pytest.raises(sqlite3.IntegrityError):  # same hash twice: nothing of it lands
            store.add_photo(_photo("a"), [DetectionRow((1, 2, 3, 4), DamageClass.MINOR, 0.5)])
        assert len(store.detections()) == 1
    with open_store(tmp_path / "s") as again:
        assert again.meta()["weights"] == "w.pt"


def test_rows_come_back_typed_as_they_went_in(tmp_path):
    """Damage as DamageClass and places as shapely geometry, in and out: text (labels, WKT)
    exists only in the SQLite file."""
    ground = Polygon([(139.99, 36.07), (139.9901, 36.07), (139.9901, 36.0701)])
    foot = box(139.98, 36.06, 140.0, 36.08)
    with create_store(tmp_path / "s") as store:
        store.add_photo({**_photo("a"), "footprint": foot},
                        [DetectionRow((1, 2, 3, 4), DESTROYED, 0.9, ground, 12.0, 139.99, 36.07,
                                      0.5),
                         DetectionRow((5, 6, 7, 8), DamageClass.INTACT, 0.4)])
        store.add_buildings([("B1", {"use": "house"}, ground, 12.0, 139.99, 36.07),
                             ("B2", {}, foot, 5.0, 139.99, 36.07)])
        store.set_grades({1: (DamageClass.MAJOR, "assessed", 0.7, {"major": 0.7}, ("a",))})
    with open_store(tmp_path / "s") as again:
        placed, unplaced = again.detections()
        assert (placed.damage, placed.ground, placed.centrality) == (DESTROYED, ground, 0.5)
        assert (unplaced.damage, unplaced.ground) == (DamageClass.INTACT, None)
        (row, footprint), = again.photo_footprints()
        assert row["name"] == "a" and footprint == foot
        graded, unseen = again.buildings()
        assert (graded.grade, graded.ground, graded.attrs) == (DamageClass.MAJOR, ground,
                                                               {"use": "house"})
        assert (unseen.grade, unseen.status, unseen.ground) == (None, "not_seen", foot)
        stored = again.db.execute("SELECT damage, ground FROM detections ORDER BY id").fetchall()
        assert tuple(stored[0]) == ("destroyed", ground.wkt)


def test_objects_are_replaced_as_a_whole(tmp_path):
    row = ObjectRow(DamageClass.MAJOR, 0.5, Polygon([(0, 0), (1, 0), (1, 1)]), 1.0, 0.5, 0.5,
                    ("a",), (1,))
    with create_store(tmp_path / "s") as store:
        store.replace_objects([row, row])
        store.replace_objects([row])
        assert store.objects() == [row]


def test_a_folder_from_another_version_is_refused(tmp_path):
    create_store(tmp_path / "s").close()
    db = sqlite3.connect(tmp_path / "s" / "survey.sqlite")
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                   (str(SCHEMA_VERSION + 1),))
    db.close()
    with pytest.raises(InputError, match="another version"):
        open_store(tmp_path / "s")


def test_not_a_survey_folder(tmp_path):
    with pytest.raises(InputError, match="not a survey folder"):
        open_store(tmp_path)
    (tmp_path / "survey.sqlite").write_text("junk")
    with pytest.raises(InputError, match="not a survey store"):
        open_store(tmp_path)


def test_a_failed_body_removes_the_store_and_folders_it_created(tmp_path):
    folder = tmp_path / "a" / "b" / "survey"
    with pytest.raises(InputError, match="nothing to do"), survey_store(folder) as store:
        store.add_photo(_photo("a.jpg"), [])
        raise InputError("PHOTOS", "nothing to do")
    assert list(tmp_path.iterdir()) == []
    # a folder that was there stays (only the store goes), and so does what else is in it
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("x")
    with pytest.raises(InputError), survey_store(tmp_path / "kept" / "s" / "t"):
        (tmp_path / "kept" / "s" / "other").write_text("not ours to remove")
        raise InputError("x", "y")
    assert sorted(p.name for p in (tmp_path / "kept").rglob("*")) == ["notes.txt", "other", "s"]


def test_a_failed_body_keeps_a_store_that_was_there(tmp_path):
    with survey_store(tmp_path / "s") as store:
        store.add_photo(_photo("a.jpg"), [])
    with pytest.raises(InputError), survey_store(tmp_path / "s") as store:
        store.add_photo(_photo("b.jpg"), [])
        raise InputError("x", "y")
    with open_store(tmp_path / "s") as store:
        assert [r["name"] for r in store.photos()] == ["a.jpg", "b.jpg"]


def test_an_interrupted_body_keeps_the_new_store_for_a_rerun(tmp_path):
    with pytest.raises(KeyboardInterrupt), survey_store(tmp_path / "s") as store:
        store.add_photo(_photo("a.jpg"), [])
        raise KeyboardInterrupt
    with open_store(tmp_path / "s") as store:
        assert [r["name"] for r in store.photos()] == ["a.jpg"]


def test_a_store_that_cannot_be_created_leaves_no_folder(tmp_path, monkeypatch):
    import mapping.store as store_mod

    def refuse(folder, meta=None):
        folder.mkdir(parents=True, exist_ok=True)
        raise InputError(folder, "cannot write the survey store")

    monkeypatch.setattr(store_mod, "create_store", refuse)
    with pytest.raises(InputError), survey_store(tmp_path / "a" / "s"):
        pass
    assert list(tmp_path.iterdir()) == []
