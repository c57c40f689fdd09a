import math

import numpy as np
import pytest

from detection.gsd import boxes_to_original, photo_gsd_cm, resample, resample_factor

# Original-pixel boxes (x0, y0, x1, y1) of white rectangles on black, far apart.
BOXES = np.array(
    [
        [40, 50, 140, 110],
        [333, 71, 397, 250],
        [610, 420, 900, 470],
        [101, 530, 163, 777],
        [700, 600, 955, 765],
    ],
    dtype=np.float64,
)
WIDTH, HEIGHT = 1000, 800


def _scene() -> np.ndarray:
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for x0, y0, x1, y1 in BOXES.astype(int):
        image[y0:y1, x0:x1] = 255
    return image


def _measure(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Sub-pixel xyxy box of the one bright rectangle inside ``region`` (resampled pixels).

    Resampling keeps each row's and column's mass, so the centroid and the width (mass of the
    column profile over its peak) survive it to a fraction of a pixel.
    """
    x0, y0 = np.floor(region[:2]).astype(int).clip(0)
    x1, y1 = np.ceil(region[2:]).astype(int)
    crop = image[y0:y1, x0:x1, 0].astype(np.float64) / 255.0
    columns, rows = crop.sum(axis=0), crop.sum(axis=1)
    cx = x0 + (columns * (np.arange(len(columns)) + 0.5)).sum() / columns.sum()
    cy = y0 + (rows * (np.arange(len(rows)) + 0.5)).sum() / rows.sum()
    w, h = columns.sum() / columns.max(), rows.sum() / rows.max()
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@pytest.mark.parametrize("factor", [0.5, 0.37, 0.23, 1.0, 1.6])
def test_boxes_resampled_and_mapped_back_land_in_place(factor: float) -> None:
    r = resample(_scene(), factor)
    assert r.image.shape == (round(HEIGHT * factor), round(WIDTH * factor), 3)
    margin = 8.0
    found = []
    for box in BOXES:
        pad = np.array([-margin, -margin, margin, margin])
        region = (box + pad) * np.array([r.scale_x, r.scale_y] * 2)
        found.append(_measure(r.image, region))
    back = boxes_to_original(np.array(found), scale_x=r.scale_x, scale_y=r.scale_y)
    np.testing.assert_allclose(back, BOXES, atol=1.0)


def test_shrinking_averages_instead_of_aliasing() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = np.dstack([checker] * 3)
    small = resample(image, 0.25).image
    assert small.shape == (16, 16, 3)
    assert np.abs(small.astype(int) - 127.5).max() <= 1


def test_factor_one_returns_same_image() -> None:
    image = _scene()
    r = resample(image, 1.0)
    assert r.image is image and (r.scale_x, r.scale_y) == (1.0, 1.0)


def test_tiny_factor_keeps_one_pixel() -> None:
    r = resample(np.zeros((10, 20, 3), np.uint8), 0.001)
    assert r.image.shape[:2] == (1, 1)


def test_gsd_formula_and_factor() -> None:
    # 100 m, 13.2 mm sensor, 8.8 mm lens, 5472 px (a 1-inch drone camera): ~2.74 cm/px
    gsd = photo_gsd_cm(100.0, sensor_width_mm=13.2, focal_length_mm=8.8, image_width_px=5472)
    assert math.isclose(gsd, 100 * 100 * 13.2 / (8.8 * 5472))
    assert math.isclose(resample_factor(gsd, 2 * gsd), 0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"altitude_m": 0.0},
        {"sensor_width_mm": -1.0},
        {"focal_length_mm": 0.0},
        {"image_width_px": 0},
        {"altitude_m": math.nan},
    ],
)
def test_gsd_rejects_non_positive(kwargs: dict) -> None:
    args = {"altitude_m": 40.0, "sensor_width_mm": 6.17, "focal_length_mm": 3.61,
            "image_width_px": 4000} | kwargs
    with pytest.raises(ValueError):
        photo_gsd_cm(args.pop("altitude_m"), **args)


@pytest.mark.parametrize(("photo", "model"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 2.0)])
def test_factor_rejects_non_positive(photo: float, model: float) -> None:
    with pytest.raises(ValueError):
        resample_factor(photo, model)


def test_resample_rejects_bad_factor() -> None:
    with pytest.raises(ValueError):
        resample(np.zeros((4, 4, 3), np.uint8), 0.0)
