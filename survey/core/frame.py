"""The local metric frame every geometry step works in.

Lat/lon exists only at the edges (files, MAVLink, maps); inside, geometry is in metres in an
azimuthal equidistant projection centred on the area (pyproj), where distances and areas are
true to well under 0.1 % within tens of kilometres of the centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class LocalFrame:
    """A local east/north frame in metres centred on (``lat0_deg``, ``lon0_deg``).

    >>> f = LocalFrame(36.0, 140.0)
    >>> x, y = f.to_local(140.0, 36.001)
    >>> round(float(x), 3), round(float(y), 1)
    (0.0, 111.0)
    >>> lon, lat = f.to_geo(x, y)
    >>> round(float(lat), 9)
    36.001
    """

    lat0_deg: float
    lon0_deg: float
    _fwd: Transformer = field(init=False, repr=False, compare=False)
    _inv: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        crs = CRS.from_proj4(
            f"+proj=aeqd +lat_0={self.lat0_deg!r} +lon_0={self.lon0_deg!r} +ellps=WGS84 +units=m"
        )
        object.__setattr__(self, "_fwd", Transformer.from_crs(4326, crs, always_xy=True))
        object.__setattr__(self, "_inv", Transformer.from_crs(crs, 4326, always_xy=True))

    @classmethod
    def around(cls, geom_lonlat: BaseGeometry) -> LocalFrame:
        """Frame centred on the centre of the bounding box of a lon/lat geometry."""
        minx, miny, maxx, maxy = geom_lonlat.bounds
        return cls((miny + maxy) / 2.0, (minx + maxx) / 2.0)

    def to_local(self, lon_deg: np.ndarray | float, lat_deg: np.ndarray | float):
        """Lon/lat degrees to local x (east) / y (north) metres."""
        return self._fwd.transform(lon_deg, lat_deg)

    def to_geo(self, x_m: np.ndarray | float, y_m: np.ndarray | float):
        """Local x/y metres to lon/lat degrees."""
        return self._inv.transform(x_m, y_m)

    def geom_to_local(self, geom: BaseGeometry) -> BaseGeometry:
        """A lon/lat shapely geometry in local metres."""
        return shapely.transform(geom, self._fwd_xy)

    def geom_to_geo(self, geom: BaseGeometry) -> BaseGeometry:
        """A local-metre shapely geometry in lon/lat degrees."""
        return shapely.transform(geom, self._inv_xy)

    def _fwd_xy(self, coords: np.ndarray) -> np.ndarray:
        x, y = self._fwd.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def _inv_xy(self, coords: np.ndarray) -> np.ndarray:
        x, y = self._inv.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
