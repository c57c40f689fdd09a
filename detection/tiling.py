"""Tile windows for sliced (SAHI-style) inference: the pure first of three parts.

1. :func:`tile_windows` (here): which pixel windows of a photo to run the model on;
2. the model adapter predicts on each window's crop;
3. :func:`detection.merge.merge_tiles` shifts the boxes back and merges them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """A rectangle of image pixels, half-open: columns ``x0 <= x < x1``, rows ``y0 <= y < y1``.

    A window smaller than the tile size (an image smaller than one tile) is padded by the model
    adapter, never here: the window always lies inside the image.
    """

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width_px(self) -> int:
        return self.x1 - self.x0

    @property
    def height_px(self) -> int:
        return self.y1 - self.y0


def _starts(length_px: int, tile_px: int, step_px: int) -> list[int]:
    """Start offsets along one axis; the last tile is shifted back to end at the image edge."""
    if length_px <= tile_px:
        return [0]
    starts = [0]
    while starts[-1] + tile_px < length_px:
        starts.append(min(starts[-1] + step_px, length_px - tile_px))
    return starts


def tile_windows(
    width_px: int, height_px: int, *, tile_px: int, overlap: float = 0.2
) -> list[Window]:
    """Windows of ``tile_px`` × ``tile_px`` that cover an image exactly, row by row.

    Neighbouring windows overlap by at least ``round(tile_px * overlap)`` pixels; the last row
    and column are shifted back inside the image (so they may overlap more) instead of running
    past the edge. An image side shorter than ``tile_px`` gets a single, shorter window on that
    axis (padded later by the model adapter). The order is deterministic: top row first, left
    to right.

    Parameters
    ----------
    width_px, height_px
        Image size, pixels (≥ 1).
    tile_px
        Tile side, pixels (≥ 1).
    overlap
        Fraction of ``tile_px`` shared by neighbouring tiles, ``0 <= overlap < 1``.

    Returns
    -------
    list[Window]
        The windows, each inside the image, together covering every pixel.

    Raises
    ------
    ValueError
        For a size or tile below 1 px, or an overlap outside ``[0, 1)``.

    Examples
    --------
    >>> [(w.x0, w.x1) for w in tile_windows(1000, 600, tile_px=640, overlap=0.2)]
    [(0, 640), (360, 1000)]
    >>> tile_windows(1000, 600, tile_px=640, overlap=0.2)[0]
    Window(x0=0, y0=0, x1=640, y1=600)
    >>> [(w.x0, w.y0) for w in tile_windows(1280, 1280, tile_px=640, overlap=0.0)]
    [(0, 0), (640, 0), (0, 640), (640, 640)]
    >>> tile_windows(300, 200, tile_px=640)
    [Window(x0=0, y0=0, x1=300, y1=200)]
    """
    if width_px < 1 or height_px < 1:
        raise ValueError(f"image size must be at least 1×1 px, got {width_px}×{height_px}")
    if tile_px < 1:
        raise ValueError(f"tile_px must be at least 1, got {tile_px}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    step_px = max(1, tile_px - round(tile_px * overlap))
    xs = _starts(width_px, tile_px, step_px)
    ys = _starts(height_px, tile_px, step_px)
    return [
        Window(x, y, min(x + tile_px, width_px), min(y + tile_px, height_px))
        for y in ys
        for x in xs
    ]
