"""Pre-disaster imagery for a pre+post assessor: the municipality's orthophoto (``--pre``).

Each footprint's pre crop is cut from the GeoTIFF through its own transform and CRS
(:func:`mapping.ortho.footprint_crop`, window by window, never the whole raster) with the
same recipe as the post crops, once per building however many photos see it. A footprint
outside the orthophoto has no pre crop (``None``), and the assessor then grades it from
the post crop alone, as it learnt to do for tiles with no pre image.
"""

from __future__ import annotations

from collections import OrderedDict
from os import PathLike
from typing import Any

import numpy as np

from mapping.ortho import Ortho, footprint_crop, open_ortho

CACHE_BUILDINGS = 4096
"""Pre crops kept in memory (64 × 64 × 3 bytes each); older ones are cut again if needed."""


class PreImagery:
    """Pre-disaster crops of footprints by index, from one orthophoto; use as a context
    manager (it keeps the raster open)."""

    def __init__(self, path: str | PathLike[str], footprints: Any, spec: Any) -> None:
        self.ortho: Ortho = open_ortho(path)
        self._footprints = footprints
        self._spec = spec
        self._cache: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self._src: Any = None

    def __enter__(self) -> PreImagery:
        self._src = self.ortho._dataset()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._src is not None:
            self._src.close()
            self._src = None

    def covers(self, polygon: Any) -> bool:
        """Whether the orthophoto's extent meets a lon/lat geometry."""
        return bool(self.ortho.footprint.intersects(polygon))

    def __call__(self, index: int) -> np.ndarray | None:
        """The pre crop of footprint ``index``, or ``None`` outside the orthophoto."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if self._src is None:
            raise RuntimeError("PreImagery is used outside its with-block")
        polygon = self._footprints[index].polygon
        crop = None
        if self.covers(polygon):
            cut = footprint_crop(self.ortho, self._src, polygon, self._spec)
            crop = None if cut is None else cut[0]
        self._cache[index] = crop
        if len(self._cache) > CACHE_BUILDINGS:
            self._cache.popitem(last=False)
        return crop
