"""detection.photos without a model: finding photos, and the resumable results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from detection.merge import Detections
from detection.photos import (
    DetectSettings,
    PhotoStatus,
    detect_photos,
    done_hashes,
    find_photos,
)
from survey.core.errors import InputError


class NoBoxes:
    imgsz = 32
    gsd_cm = None
    class_names: ClassVar[dict[int, str]] = {0: "intact"}

    def predict(self, tiles, *, conf):  # type: ignore[no-untyped-def]
        return [Detections.empty() for _ in tiles]


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_find_photos_recurses_matches_suffixes_in_any_case_and_dedupes(tmp_path: Path) -> None:
    a = touch(tmp_path / "f" / "A.JPG")
    b = touch(tmp_path / "f" / "sub" / "b.tiff")
    touch(tmp_path / "f" / "readme.md")
    c = touch(tmp_path / "c.dat")  # named directly: taken, judged when read
    assert find_photos([tmp_path / "f", a, c]) == [a, b, c]


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_find_photos_errors_name_the_path(tmp_path: Path, make: str) -> None:
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
        touch(target / "notes.txt")
    with pytest.raises(InputError) as err:
        find_photos([target])
    assert err.value.source == str(target)


def test_done_hashes_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert done_hashes(tmp_path / "none.jsonl") == set()


def test_done_hashes_drops_a_cut_last_line(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"sha256": "aa"}) + "\n" + '{"sha256": "b')
    assert done_hashes(f) == {"aa"}
    assert f.read_text().endswith("}\n")


def test_done_hashes_refuses_a_foreign_file(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text("hello\n")
    with pytest.raises(InputError, match="line 1 is not a detection record"):
        done_hashes(f)


def test_detect_photos_reports_each_outcome_in_order(tmp_path: Path) -> None:
    import cv2

    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((20, 30, 3), np.uint8))
    bad = touch(tmp_path / "bad.png", b"nope")
    seen = []
    summary = detect_photos([good, bad, good], NoBoxes(), tmp_path / "o" / "d.jsonl",
                            settings=DetectSettings(conf=0.5), on_photo=seen.append)
    assert [o.status for o in summary.outcomes] == [PhotoStatus.DONE, PhotoStatus.FAILED,
                                                    PhotoStatus.SKIPPED]
    assert seen == list(summary.outcomes)
    assert "bad.png: not an image" in summary.outcomes[1].problem
    (line,) = (tmp_path / "o" / "d.jsonl").read_text().splitlines()
    assert json.loads(line)["detections"] == []


def test_a_run_where_no_photo_finishes_writes_nothing(tmp_path: Path) -> None:
    import cv2

    bad = [touch(tmp_path / "bad.png", b"nope"), touch(tmp_path / "cut.jpg", b"\xff\xd8\xff")]
    results = tmp_path / "o" / "d.jsonl"
    summary = detect_photos(bad, NoBoxes(), results)
    assert [o.status for o in summary.outcomes] == [PhotoStatus.FAILED] * 2
    assert not (tmp_path / "o").exists()  # no folder, no empty results file
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((20, 30, 3), np.uint8))
    summary = detect_photos([*bad, good], NoBoxes(), results)
    assert summary.count(PhotoStatus.DONE) == 1
    assert len(results.read_text().splitlines()) == 1


def test_a_results_folder_that_cannot_be_made_is_an_input_error(tmp_path: Path) -> None:
    import cv2

    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((20, 30, 3), np.uint8))
    touch(tmp_path / "a_file")
    with pytest.raises(InputError, match=r"cannot write d\.jsonl there") as err:
        detect_photos([good], NoBoxes(), tmp_path / "a_file" / "o" / "d.jsonl")
    assert err.value.source == str(tmp_path / "a_file" / "o")
