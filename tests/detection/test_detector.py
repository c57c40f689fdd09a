"""detect_photo with a fake model that 'finds' painted rectangles in each tile: tiling, merging
and GSD resampling are tested without torch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import pytest

from detection.detector import detect_photo, detect_photo_full
from detection.merge import Detections

# Pure colours (BGR) the fake model recognises, and their class ids.
COLOURS = {3: (0, 0, 255), 0: (0, 255, 0)}


class FakeModel:
    """Finds solid rectangles of the class colours in each tile, records the tile shapes."""

    def __init__(self, imgsz: int = 64, gsd_cm: float | None = None) -> None:
        self._imgsz, self._gsd = imgsz, gsd_cm
        self.tile_shapes: list[tuple[int, ...]] = []

    @property
    def imgsz(self) -> int:
        return self._imgsz

    @property
    def gsd_cm(self) -> float | None:
        return self._gsd

    @property
    def class_names(self) -> Mapping[int, str]:
        return {0: "intact", 1: "minor", 2: "major", 3: "destroyed"}

    def predict(self, tiles: Sequence[np.ndarray], *, conf: float) -> list[Detections]:
        out = []
        for tile in tiles:
            self.tile_shapes.append(tile.shape)
            boxes, classes = [], []
            for cls, colour in COLOURS.items():
                mask = np.all(np.abs(tile.astype(int) - colour) < 60, axis=2).astype(np.uint8)
                n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
                for x, y, w, h, area in stats[1:n]:
                    if area >= 4:
                        boxes.append([x, y, x + w, y + h])
                        classes.append(cls)
            out.append(Detections(np.reshape(boxes, (-1, 4)), [0.9] * len(boxes), classes))
        return out


def photo(width: int, height: int, rects: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    image = np.full((height, width, 3), 100, np.uint8)
    for x0, y0, x1, y1, cls in rects:
        image[y0:y1, x0:x1] = COLOURS[cls]
    return image


def test_object_across_a_tile_border_comes_back_once_in_place() -> None:
    # 64-px tiles at 0.2 overlap on 160 px: windows start at 0, 51, 96 — the house at x 40..80
    # is cut by the border at x = 64 (and seen whole by the middle tile).
    image = photo(160, 64, [(40, 10, 80, 40, 3), (120, 20, 150, 50, 0)])
    model = FakeModel()
    found = detect_photo(image, model)
    assert len(found) == 2
    order = np.argsort(found.boxes[:, 0])
    assert found.boxes[order].tolist() == [[40, 10, 80, 40], [120, 20, 150, 50]]
    assert found.classes[order].tolist() == [3, 0]


def test_no_overlap_fragments_are_united() -> None:
    image = photo(128, 64, [(40, 10, 90, 40, 3)])
    found = detect_photo(image, FakeModel(), overlap=0.0)
    assert found.boxes.tolist() == [[40, 10, 90, 40]]


@pytest.mark.parametrize(("photo_gsd", "model_gsd"), [(1.0, 2.0), (2.0, 1.0), (1.5, 3.7)])
def test_gsd_resampling_maps_boxes_back_to_original_pixels(photo_gsd: float,
                                                           model_gsd: float) -> None:
    image = photo(256, 128, [(60, 20, 140, 80, 3)])
    model = FakeModel(imgsz=64, gsd_cm=model_gsd)
    result = detect_photo_full(image, model, photo_gsd_cm=photo_gsd)
    factor = photo_gsd / model_gsd
    assert result.scale == pytest.approx(factor, rel=0.02)
    assert result.gsd_cm == model_gsd
    # The model saw the resampled photo: fewer tiles when it shrank, more when it grew.
    assert len(result.detections) == 1
    np.testing.assert_allclose(result.detections.boxes[0], [60, 20, 140, 80],
                               atol=2.0 / factor + 1)


def test_unknown_gsd_means_no_resampling() -> None:
    image = photo(100, 100, [(10, 10, 30, 30, 0)])
    result = detect_photo_full(image, FakeModel(gsd_cm=5.0))
    assert result.scale == 1.0 and result.gsd_cm is None
    assert result.detections.boxes.tolist() == [[10, 10, 30, 30]]


def test_photo_smaller_than_a_tile_is_one_tile() -> None:
    model = FakeModel(imgsz=64)
    result = detect_photo_full(photo(40, 30, [(5, 5, 15, 15, 3)]), model)
    assert result.tiles == 1 and model.tile_shapes == [(30, 40, 3)]
    assert result.detections.boxes.tolist() == [[5, 5, 15, 15]]


def test_empty_photo_gives_empty_detections() -> None:
    found = detect_photo(photo(200, 150, []), FakeModel())
    assert len(found) == 0 and found.boxes.shape == (0, 4)


@pytest.mark.parametrize("kwargs", [{"tile_px": 65}, {"tile_px": 0}, {"overlap": 1.0}])
def test_bad_settings_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        detect_photo(photo(100, 100, []), FakeModel(imgsz=64), **kwargs)


def test_a_model_returning_the_wrong_count_is_an_error() -> None:
    class Broken(FakeModel):
        def predict(self, tiles, *, conf):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(RuntimeError, match="0 results for"):
        detect_photo(photo(100, 100, []), Broken())
