"""North-up photo overlays and thumbnails with boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mapping.overlay import north_up_overlay, thumbnail_with_boxes
from mapping.webmap import SEVERITY_COLOURS
from survey.core.damage import DamageClass
from survey.core.errors import InputError

LON0, LAT0 = 26.1, 44.43
RED, BLUE = (0, 0, 255), (255, 0, 0)  # BGR


def halves(h: int = 300, w: int = 400) -> np.ndarray:
    """Left half red, right half blue."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = RED
    img[:, w // 2:] = BLUE
    return img


def decode(png: bytes) -> np.ndarray:
    out = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out is not None
    return out


def test_axis_aligned_photo_fills_its_box() -> None:
    d = 0.001
    corners = np.array([[LON0, LAT0 + d], [LON0 + d, LAT0 + d], [LON0 + d, LAT0], [LON0, LAT0]])
    ov = north_up_overlay(halves(), corners)
    assert ov.image.startswith(b"\x89PNG")
    assert ov.bounds == pytest.approx((LAT0, LON0, LAT0 + d, LON0 + d))
    img = decode(ov.image)
    h, w = img.shape[:2]
    assert img.shape[2] == 4 and max(h, w) <= 400
    # lon degrees are shorter by cos(lat): square pixels on the ground
    assert w / h == pytest.approx(np.cos(np.radians(LAT0)), rel=0.02)
    assert (img[2:-2, 2:-2, 3] == 255).all()
    assert tuple(img[h // 2, w // 4, :3]) == RED and tuple(img[h // 2, 3 * w // 4, :3]) == BLUE


def test_photo_turned_90_degrees_is_warped_north_up() -> None:
    # The photo's top edge faces east: top-left corner is north-east, top-right south-east.
    d = 0.001
    corners = np.array([[LON0 + d, LAT0 + d], [LON0 + d, LAT0], [LON0, LAT0], [LON0, LAT0 + d]])
    img = decode(north_up_overlay(halves(), corners).image)
    h, w = img.shape[:2]
    # left half of the photo (red) is now the northern half of the raster
    assert tuple(img[h // 4, w // 2, :3]) == RED
    assert tuple(img[3 * h // 4, w // 2, :3]) == BLUE


def test_rotated_photo_is_transparent_outside() -> None:
    c = np.array([[LON0, LAT0 + 0.001], [LON0 + 0.001, LAT0 + 0.002],
                  [LON0 + 0.002, LAT0 + 0.001], [LON0 + 0.001, LAT0]])  # a diamond
    img = decode(north_up_overlay(halves(), c).image)
    h, w = img.shape[:2]
    assert img[0, 0, 3] == 0 and img[h - 1, w - 1, 3] == 0 and img[0, w - 1, 3] == 0
    assert img[h // 2, w // 2, 3] == 255


def test_big_photo_is_capped() -> None:
    big = np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    d = 0.003
    corners = np.array([[LON0, LAT0 + d], [LON0 + d, LAT0 + d], [LON0 + d, LAT0], [LON0, LAT0]])
    img = decode(north_up_overlay(big, corners, max_px=512).image)
    assert max(img.shape[:2]) == 512


@pytest.mark.parametrize(
    ("corners", "problem"),
    [
        (np.zeros((3, 2)), "4 finite"),
        (np.full((4, 2), np.nan), "4 finite"),
        (np.array([[LON0, LAT0]] * 4), "degenerate"),
        (np.array([[LON0, LAT0], [LON0 + 1e-3, LAT0 + 1e-3], [LON0 + 2e-3, LAT0 + 2e-3],
                   [LON0 + 3e-3, LAT0 + 3e-3]]), "degenerate"),
        (np.array([[LAT0, 100.0], [LAT0 + 1e-3, 100.0], [LAT0 + 1e-3, 99.9], [LAT0, 99.9]]),
         "swapped"),
    ],
)
def test_bad_corners(corners: np.ndarray, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        north_up_overlay(halves(), corners)


def test_empty_image_is_input_error() -> None:
    with pytest.raises(InputError, match="empty"):
        north_up_overlay(np.zeros((0, 0, 3), np.uint8), np.zeros((4, 2)))


def test_thumbnail_has_boxes_coloured_by_severity() -> None:
    img = np.full((960, 1280, 3), 255, np.uint8)
    jpg = thumbnail_with_boxes(img, np.array([[100, 400, 600, 900], [700, 100, 1200, 500]]),
                               ["destroyed 0.93", "<script>alert(1)</script> ünïcode"],
                               max_px=480)
    assert jpg.startswith(b"\xff\xd8\xff")
    thumb = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape[:2] == (360, 480)
    s = 480 / 1280
    # left edge of the first box, half-way down: the "destroyed" red
    b, g, r = (int(v) for v in thumb[round(650 * s), round(100 * s)])
    er, eg, eb = (int(SEVERITY_COLOURS[DamageClass.DESTROYED][i:i + 2], 16) for i in (1, 3, 5))
    assert abs(r - er) < 40 and abs(g - eg) < 40 and abs(b - eb) < 40
    # unknown severity: grey box
    b, g, r = (int(v) for v in thumb[round(300 * s), round(1200 * s)])
    assert max(b, g, r) - min(b, g, r) < 30 and 120 < r < 200


def test_thumbnail_label_count_must_match() -> None:
    with pytest.raises(InputError, match="2 boxes but 1 labels"):
        thumbnail_with_boxes(halves(), np.zeros((2, 4)), ["minor"])
