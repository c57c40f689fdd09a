"""Detections and the shift-and-merge of tiled predictions (pure NumPy).

The third of the three tiling parts (see :mod:`detection.tiling`): each tile's boxes are shifted
from tile to image pixels, then :func:`merge_tiles` reports an object that several tiles saw,
or that a tile border cut in pieces, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detection.tiling import Window


def readonly_array(array: npt.ArrayLike, dtype: type) -> np.ndarray:
    """A read-only copy of ``array`` as ``dtype`` (what frozen result objects hold)."""
    out: np.ndarray = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False, slots=True)
class Detections:
    """Boxes found in one image (or one tile), in pixels.

    Attributes
    ----------
    boxes
        ``(n, 4)`` float64, ``x0, y0, x1, y1`` in pixels (edges, so a box covering pixel
        column 0 only has ``x0 = 0, x1 = 1``).
    scores
        ``(n,)`` float64 confidences in ``[0, 1]``.
    classes
        ``(n,)`` int64 class ids (see :class:`survey.core.damage.DamageClass`).

    The arrays are copied and made read-only; helpers return new objects.

    Examples
    --------
    >>> d = Detections([[0, 0, 10, 10]], [0.9], [3])
    >>> d.shift(100, 50).boxes.tolist()
    [[100.0, 50.0, 110.0, 60.0]]
    >>> len(Detections.concat([d, d.scale(2.0, 2.0)]))
    2
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __init__(
        self, boxes: npt.ArrayLike, scores: npt.ArrayLike, classes: npt.ArrayLike
    ) -> None:
        b = readonly_array(boxes, np.float64)
        if b.size == 0:
            b = readonly_array(np.zeros((0, 4)), np.float64)
        s = readonly_array(scores, np.float64).reshape(-1)
        c = readonly_array(classes, np.int64).reshape(-1)
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"boxes must have shape (n, 4), got {b.shape}")
        if not len(b) == len(s) == len(c):
            raise ValueError(f"lengths differ: {len(b)} boxes, {len(s)} scores, {len(c)} classes")
        object.__setattr__(self, "boxes", b)
        object.__setattr__(self, "scores", s)
        object.__setattr__(self, "classes", c)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        """All detections of ``parts``, in order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.classes for p in parts]),
        )

    def select(self, index: npt.ArrayLike) -> Detections:
        """The detections at ``index`` (integer indices or a boolean mask), in that order."""
        idx = np.asarray(index)
        return Detections(self.boxes[idx].reshape(-1, 4), self.scores[idx], self.classes[idx])

    def shift(self, dx_px: float, dy_px: float) -> Detections:
        """Boxes moved by ``(dx_px, dy_px)`` pixels."""
        offset = np.array([dx_px, dy_px, dx_px, dy_px])
        return Detections(self.boxes + offset, self.scores, self.classes)

    def scale(self, sx: float, sy: float) -> Detections:
        """Box coordinates multiplied by ``sx`` (x) and ``sy`` (y), e.g. to undo a resample."""
        return Detections(self.boxes * np.array([sx, sy, sx, sy]), self.scores, self.classes)

    def clip(self, width_px: float, height_px: float) -> Detections:
        """Boxes clipped to ``[0, width_px] × [0, height_px]``."""
        b = self.boxes.copy()
        b[:, [0, 2]] = b[:, [0, 2]].clip(0.0, width_px)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0.0, height_px)
        return Detections(b, self.scores, self.classes)


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """Pairwise intersection over union of ``(n, 4)`` and ``(m, 4)`` xyxy boxes → ``(n, m)``.

    Examples
    --------
    >>> box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]).round(3).tolist()
    [[0.333, 0.0]]
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = iw.clip(0) * ih.clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def nms(dets: Detections, *, iou: float = 0.5) -> np.ndarray:
    """Class-aware greedy non-maximum suppression.

    Returns the indices kept, best score first (ties keep input order). A box is dropped when
    a better-scored box of the same class overlaps it with IoU ≥ ``iou``.

    Examples
    --------
    >>> d = Detections([[0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10]], [0.8, 0.9, 0.5], [0, 0, 1])
    >>> nms(d, iou=0.5).tolist()
    [1, 2]
    """
    order = np.argsort(-dets.scores, kind="stable")
    if len(order) == 0:
        return order
    overlaps = box_iou(dets.boxes, dets.boxes)
    same = dets.classes[:, None] == dets.classes[None, :]
    suppress = (overlaps >= iou) & same
    alive = np.ones(len(dets), dtype=bool)
    keep: list[int] = []
    for i in order:
        if alive[i]:
            keep.append(int(i))
            alive &= ~suppress[i]
    return np.asarray(keep, dtype=np.int64)


def shift_to_image(dets: Detections, window: Window) -> Detections:
    """A tile's detections in image pixels.

    Boxes are first clipped to the window (a model run on a padded tile may box into the
    padding, which is not image), then shifted by the window's origin.

    Examples
    --------
    >>> d = Detections([[600, 10, 700, 50]], [0.9], [0])
    >>> shift_to_image(d, Window(360, 0, 1000, 600)).boxes.tolist()
    [[960.0, 10.0, 1000.0, 50.0]]
    """
    return dets.clip(window.width_px, window.height_px).shift(window.x0, window.y0)


def _interval_overlap(
    lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray
) -> np.ndarray:
    """Pairwise (rows a, columns b) 1-D overlap divided by the shorter interval."""
    inter = np.minimum(hi_a[:, None], hi_b[None, :]) - np.maximum(lo_a[:, None], lo_b[None, :])
    shorter = np.minimum((hi_a - lo_a)[:, None], (hi_b - lo_b)[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shorter > 0, inter.clip(0) / shorter, 0.0)


def _fragment_pairs(
    boxes: np.ndarray,
    classes: np.ndarray,
    tile_of: np.ndarray,
    windows: np.ndarray,
    *,
    tol_px: float,
    min_parallel: float,
) -> np.ndarray:
    """``(k, 2)`` index pairs of boxes that are pieces of one object cut by a tile border."""
    x0, y0, x1, y1 = boxes.T
    wx0, wy0, wx1, wy1 = windows[tile_of].T
    ex0, ey0 = windows[:, 0].min(), windows[:, 1].min()
    ex1, ey1 = windows[:, 2].max(), windows[:, 3].max()
    # (is the box cut by this border of its tile?, the border's coordinate, the axis it crosses)
    sides = (
        ((wx0 > ex0) & (x0 <= wx0 + tol_px), wx0, "x"),
        ((wx1 < ex1) & (x1 >= wx1 - tol_px), wx1, "x"),
        ((wy0 > ey0) & (y0 <= wy0 + tol_px), wy0, "y"),
        ((wy1 < ey1) & (y1 >= wy1 - tol_px), wy1, "y"),
    )
    rows = np.flatnonzero(np.logical_or.reduce([cut for cut, _, _ in sides]))
    n = len(boxes)
    if len(rows) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # Only boxes cut by a border can start a pair: rows are those, columns all boxes.
    candidates = (classes[rows, None] == classes[None, :]) & (tile_of[rows, None] != tile_of)
    along_y = _interval_overlap(y0[rows], y1[rows], y0, y1) >= min_parallel
    along_x = _interval_overlap(x0[rows], x1[rows], x0, x1) >= min_parallel
    linked = np.zeros((len(rows), n), dtype=bool)
    for cut, line, axis in sides:
        lo, hi, parallel = (x0, x1, along_y) if axis == "x" else (y0, y1, along_x)
        at = line[rows, None]
        reaches = (lo[None, :] - tol_px <= at) & (at <= hi[None, :] + tol_px)
        linked |= cut[rows, None] & reaches & parallel & candidates
    row, col = np.nonzero(linked)
    pairs = np.sort(np.stack([rows[row], col], axis=1), axis=1)
    return np.unique(pairs, axis=0).reshape(-1, 2)


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` items linked by ``pairs`` (union-find)."""
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.asarray([root(i) for i in range(n)])


def merge_tiles(
    tiles: Sequence[tuple[Window, Detections]],
    *,
    iou: float = 0.5,
    border_tol_px: float = 4.0,
    min_parallel_overlap: float = 0.5,
) -> Detections:
    """One set of image detections from per-tile detections (in tile pixels).

    Two steps, so that an object is reported once:

    1. **Fragments across a border are united.** A box *a* is *cut* by a border of its tile
       when that border is inside the image (not the image edge) and *a* reaches it within
       ``border_tol_px``. *a* and a box *b* from another tile are pieces of one object when
       they have the same class, *b* spans the border line of *a* (within ``border_tol_px``:
       with no tile overlap, *b* starts right at the line; with overlap, *b* crosses it), and
       along the border they overlap by at least ``min_parallel_overlap`` of the shorter
       extent (a building cut by a vertical border has the same top and bottom in both
       pieces). Such boxes, and chains of them across several tiles, become their union box
       with the best score. Two separate buildings cannot both span the same border line and
       share most of their extent along it without overlapping, so neighbours stay apart.
    2. **Duplicates are suppressed**: class-aware NMS at IoU ≥ ``iou`` removes the second
       copy of an object seen whole by two overlapping tiles.

    Parameters
    ----------
    tiles
        ``(window, detections in window pixels)`` for each tile; the windows together cover
        the image (as :func:`detection.tiling.tile_windows` gives them).
    iou
        NMS threshold of step 2.
    border_tol_px
        How close to a border a box edge counts as touching it, pixels.
    min_parallel_overlap
        Share of the shorter border-parallel extent two pieces must have in common.

    Returns
    -------
    Detections
        In image pixels, best score first.

    Examples
    --------
    A 100-px-wide house cut by the border at x = 640 of two tiles with no overlap:

    >>> left = (Window(0, 0, 640, 640), Detections([[590, 100, 640, 160]], [0.7], [3]))
    >>> right = (Window(640, 0, 1280, 640), Detections([[0, 98, 50, 161]], [0.9], [3]))
    >>> merged = merge_tiles([left, right])
    >>> merged.boxes.tolist(), merged.scores.tolist()
    ([[590.0, 98.0, 690.0, 161.0]], [0.9])
    """
    if not tiles:
        return Detections.empty()
    shifted = [shift_to_image(dets, window) for window, dets in tiles]
    dets = Detections.concat(shifted)
    if len(dets) == 0:
        return dets
    tile_of = np.repeat(np.arange(len(tiles)), [len(d) for d in shifted])
    windows = np.asarray([[w.x0, w.y0, w.x1, w.y1] for w, _ in tiles], dtype=np.float64)
    pairs = _fragment_pairs(
        dets.boxes, dets.classes, tile_of, windows,
        tol_px=border_tol_px, min_parallel=min_parallel_overlap,
    )
    if len(pairs):
        _, group = np.unique(_components(len(dets), pairs), return_inverse=True)
        count = group.max() + 1
        boxes = np.empty((count, 4))
        boxes[:, :2], boxes[:, 2:] = np.inf, -np.inf
        np.minimum.at(boxes[:, 0], group, dets.boxes[:, 0])
        np.minimum.at(boxes[:, 1], group, dets.boxes[:, 1])
        np.maximum.at(boxes[:, 2], group, dets.boxes[:, 2])
        np.maximum.at(boxes[:, 3], group, dets.boxes[:, 3])
        scores = np.full(count, -np.inf)
        np.maximum.at(scores, group, dets.scores)
        classes = np.empty(count, dtype=np.int64)
        classes[group] = dets.classes  # one class per group: pairs are same-class
        dets = Detections(boxes, scores, classes)
    return dets.select(nms(dets, iou=iou))
