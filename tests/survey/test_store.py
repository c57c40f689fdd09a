"""The survey store: whole photos or nothing, and a version check."""

from __future__ import annotations

import sqlite3

import pytest

from survey.errors import InputError
from survey.store import SCHEMA_VERSION, DetectionRow, ObjectRow, create_store, open_store


def _photo(name: str) -> dict:
    return {"name": name, "path": f"/p/{name}", "sha256": name * 4, "status": "ok"}


def test_photo_and_detections_are_written_together(tmp_path):
    with create_store(tmp_path / "s", {"weights": "w.pt"}) as store:
        pid = store.add_photo(_photo("a"), [DetectionRow((1, 2, 3, 4), "destroyed", 0.9)])
        assert store.done_hashes() == {"aaaa"}
        assert [r["photo_id"] for r in store.detections()] == [pid]
        with pytest.raises(sqlite3.IntegrityError):  # same hash twice: nothing of it lands
            store.add_photo(_photo("a"), [DetectionRow((1, 2, 3, 4), "minor", 0.5)])
        assert len(store.detections()) == 1
    with open_store(tmp_path / "s") as again:
        assert again.meta()["weights"] == "w.pt"


def test_objects_are_replaced_as_a_whole(tmp_path):
    row = ObjectRow("major", 0.5, "POLYGON ((0 0, 1 0, 1 1, 0 0))", 1.0, 0.5, 0.5, ("a",), (1,))
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
