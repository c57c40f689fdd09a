import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.tiling import Window, tile_windows


def _coverage(width: int, height: int, windows: list[Window]) -> np.ndarray:
    hits = np.zeros((height, width), dtype=np.int32)
    for w in windows:
        hits[w.y0 : w.y1, w.x0 : w.x1] += 1
    return hits


CASES = [
    # (width, height, tile, overlap)
    (300, 200, 640, 0.2),  # smaller than one tile
    (640, 640, 640, 0.2),  # exactly one tile
    (641, 640, 640, 0.0),  # 1-px remainder
    (1281, 1, 640, 0.0),  # 1-px remainder, 1-px high
    (1280, 1280, 640, 0.0),  # exact multiple, no overlap
    (1280, 1280, 640, 0.5),  # exact multiple, half overlap
    (4000, 2250, 640, 0.2),  # DJI photo
    (1024, 1024, 512, 0.25),
    (1, 1, 1, 0.0),
    (10, 7, 3, 0.5),
]


@pytest.mark.parametrize(("width", "height", "tile", "overlap"), CASES)
def test_windows_cover_image_and_stay_inside(
    width: int, height: int, tile: int, overlap: float
) -> None:
    windows = tile_windows(width, height, tile_px=tile, overlap=overlap)
    assert (_coverage(width, height, windows) >= 1).all()
    for w in windows:
        assert 0 <= w.x0 < w.x1 <= width and 0 <= w.y0 < w.y1 <= height
        assert w.width_px == min(tile, width) and w.height_px == min(tile, height)
    assert len(set(windows)) == len(windows)


@pytest.mark.parametrize(("width", "height", "tile", "overlap"), CASES)
def test_neighbours_overlap_at_least_as_asked(
    width: int, height: int, tile: int, overlap: float
) -> None:
    windows = tile_windows(width, height, tile_px=tile, overlap=overlap)
    xs = sorted({w.x0 for w in windows})
    for a, b in itertools.pairwise(xs):
        assert a + tile - b >= round(tile * overlap)


def test_order_is_row_major_and_deterministic() -> None:
    first = tile_windows(4000, 2250, tile_px=640, overlap=0.2)
    assert first == tile_windows(4000, 2250, tile_px=640, overlap=0.2)
    assert [(w.y0, w.x0) for w in first] == sorted((w.y0, w.x0) for w in first)
    assert len(first) == 8 * 5


@pytest.mark.parametrize(
    ("width", "tile", "overlap", "starts"),
    [
        (641, 640, 0.0, [0, 1]),
        (1280, 640, 0.0, [0, 640]),
        (1280, 640, 0.5, [0, 320, 640]),
        (1281, 640, 0.0, [0, 640, 641]),
        (1000, 640, 0.2, [0, 360]),
        (640, 640, 0.5, [0]),
        (100, 640, 0.0, [0]),
    ],
)
def test_last_column_shifted_back_inside(
    width: int, tile: int, overlap: float, starts: list[int]
) -> None:
    windows = tile_windows(width, 10, tile_px=tile, overlap=overlap)
    assert [w.x0 for w in windows] == starts


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width_px": 0, "height_px": 10, "tile_px": 640},
        {"width_px": 10, "height_px": -1, "tile_px": 640},
        {"width_px": 10, "height_px": 10, "tile_px": 0},
        {"width_px": 10, "height_px": 10, "tile_px": 640, "overlap": 1.0},
        {"width_px": 10, "height_px": 10, "tile_px": 640, "overlap": -0.1},
    ],
)
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        tile_windows(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 600),
    height=st.integers(1, 600),
    tile=st.integers(16, 400),
    overlap=st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.9]),
)
def test_property_exact_cover(width: int, height: int, tile: int, overlap: float) -> None:
    windows = tile_windows(width, height, tile_px=tile, overlap=overlap)
    hits = _coverage(width, height, windows)
    assert hits.min() >= 1
    assert all(w.x1 <= width and w.y1 <= height for w in windows)
