"""Pixels to ground and back: a camera (lens and all) at a :class:`~mapping.pose.PhotoPose`.

Conventions
-----------
* The camera: the model of :mod:`survey.core.camera` (pixels ``u`` right, ``v`` down from the
  image's top-left corner, principal point and Brown–Conrady lens distortion as calibrated,
  pixels ↔ rays through OpenCV; camera axes as OpenCV's; attitude as DJI's gimbal
  yaw/pitch/roll through
  :func:`~survey.core.camera.camera_rotation`), the same as the virtual camera
  :mod:`sitl.world.camera`.
* World: the photo's :class:`~survey.core.frame.LocalFrame` (AEQD centred on the camera), metres
  east, north, up. Flat ground heights are relative to take-off, so the camera sits
  ``rel_alt_m`` up; DEM heights are in the DEM's datum, so the camera sits at its absolute
  altitude. The Earth's curvature is ignored (8 cm at 1 km).
* Reach: a pixel's ray is placed on the ground only where it meets it within
  :data:`MAX_REACH_PER_HEIGHT` times the camera's height above the ground under it
  (horizontally); a ray at or above the horizon, or one that meets the ground farther, has no
  ground point (NaN). A photo whose centre ray has none is refused (:func:`check_placeable`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import shapely
from shapely.geometry import Polygon

from mapping.dem import Dem
from mapping.pose import PhotoPose
from survey.core.camera import camera_rotation
from survey.core.errors import InputError
from survey.core.frame import LocalFrame

DEFAULT_MAX_RANGE_M = 1000.0
"""How far (horizontally) a footprint reaches where its rays miss the ground or hit farther."""

MAX_REACH_PER_HEIGHT = 10.0
"""Farthest ground point, horizontally, in camera heights above the ground under the camera:
on flat ground a ray at least 5.7° below the horizon. Nearer the horizon a point means little:
at depression θ an attitude error δ moves it by h·δ/sin²θ and a terrain height error Δz by
Δz/tanθ. At 10 heights a 1° attitude error already moves it 1.8 heights (70 m at 40 m up),
and 1 m of unmodelled ground moves it 10 m. An oblique survey photo (gimbal -30° to -60°)
keeps all of its image within 10 heights but for its top rows."""


class UnplaceablePose(InputError):
    """A pose whose photo cannot be placed on the ground (see :func:`check_placeable`)."""


# --- the photo's frame and rays -------------------------------------------------------------


def photo_frame(pose: PhotoPose) -> LocalFrame:
    """The local metric frame centred on the camera, in which this module works."""
    return _frame_at(pose.lat_deg, pose.lon_deg)


@functools.lru_cache(maxsize=64)
def _frame_at(lat_deg: float, lon_deg: float) -> LocalFrame:
    # building the pyproj transformers takes ~40 ms: once per photo, not once per box
    return LocalFrame(lat_deg, lon_deg)


def pixel_rays(pose: PhotoPose, uv: np.ndarray) -> np.ndarray:
    """Unit view directions (N, 3), east/north/up, through pixels ``uv`` (N, 2)."""
    xy = pose.camera.normalised(uv)
    rays = np.column_stack([xy, np.ones(len(xy))])
    world = rays @ camera_rotation(pose.yaw_deg, pose.pitch_deg, pose.roll_deg).T
    return world / np.linalg.norm(world, axis=1, keepdims=True)


# --- ground models --------------------------------------------------------------------------


class Ground(Protocol):
    """Where rays stop: :class:`FlatGround` or :class:`DemGround`."""

    def camera_height(self, pose: PhotoPose) -> float:
        """Camera height in this ground's vertical datum."""
        ...

    def height_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Ground height (this datum) at lon/lat points."""
        ...

    def intersect(self, pose: PhotoPose, frame: LocalFrame, dirs: np.ndarray, *,
                  strict: bool = False) -> np.ndarray:
        """Hit points (N, 3) of unit rays ``dirs`` from the camera in ``frame``; NaN: no hit.
        ``strict``: raise :class:`InputError` when a ray leaves the model's coverage."""
        ...


@dataclass(frozen=True)
class FlatGround:
    """A horizontal plane ``height_m`` above take-off (0: the take-off height)."""

    height_m: float = 0.0

    def camera_height(self, pose: PhotoPose) -> float:
        """The camera's height above take-off."""
        return pose.rel_alt_m

    def height_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The plane's height everywhere."""
        return np.full(np.shape(lon), self.height_m, dtype=float)

    def intersect(self, pose: PhotoPose, frame: LocalFrame, dirs: np.ndarray, *,
                  strict: bool = False) -> np.ndarray:
        """Ray-plane intersection; rays level or upward (or a camera below the plane) miss."""
        z0 = self.camera_height(pose)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.height_m - z0) / dirs[:, 2]
        t = np.where((dirs[:, 2] < 0) & (t >= 0), t, np.nan)
        return dirs * t[:, None] + [0.0, 0.0, z0]


@dataclass(frozen=True)
class DemGround:
    """Terrain from a :class:`~mapping.dem.Dem`.

    The camera is at ``takeoff_alt_msl_m + rel_alt_m`` when the take-off altitude is given
    (in the DEM's vertical datum), else at the photo's EXIF altitude above sea level. Rays are
    marched in ``step_m`` steps up to ``max_range_m``, then the crossing is bisected.
    """

    dem: Dem
    takeoff_alt_msl_m: float | None = None
    step_m: float = 1.0
    max_range_m: float = 3000.0

    @classmethod
    def for_pose(cls, dem: Dem, pose: PhotoPose,
                 takeoff_alt_msl_m: float | None = None) -> DemGround:
        """Terrain for one photo: the take-off altitude when known, else the photo's altitude
        above sea level, else (no altitude at all) take-off assumed at the DEM height under
        the camera.

        Raises
        ------
        InputError
            No altitude and the DEM does not cover the camera position.
        """
        if takeoff_alt_msl_m is None and pose.alt_msl_m is None:
            takeoff_alt_msl_m = float(dem.height_at(pose.lon_deg, pose.lat_deg))
            if np.isnan(takeoff_alt_msl_m):
                raise InputError(dem.source, f"DEM does not cover photo {pose.path.name}")
        return cls(dem, takeoff_alt_msl_m)

    def camera_height(self, pose: PhotoPose) -> float:
        """The camera's altitude in the DEM's datum."""
        if self.takeoff_alt_msl_m is not None:
            return self.takeoff_alt_msl_m + pose.rel_alt_m
        if pose.alt_msl_m is None:
            raise InputError(pose.path, "no altitude above sea level: give the take-off altitude")
        return pose.alt_msl_m

    def height_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """DEM heights (NaN outside)."""
        return self.dem.height_at(lon, lat)

    def intersect(self, pose: PhotoPose, frame: LocalFrame, dirs: np.ndarray, *,
                  strict: bool = False) -> np.ndarray:
        """First crossing of each ray with the terrain; NaN for rays that leave the DEM first.

        Raises
        ------
        InputError
            The DEM does not cover the camera position, the camera is below its surface, or
            (``strict``) a ray leaves the DEM before reaching the ground.
        """
        origin = np.array([0.0, 0.0, self.camera_height(pose)])
        clearance = self._clearance(frame, origin, dirs[:1], np.zeros((1, 1)))[0, 0]
        if np.isnan(clearance):
            raise InputError(self.dem.source, f"DEM does not cover photo {pose.path.name}")
        if clearance < 0:
            raise InputError(pose.path, f"camera {-clearance:.1f} m below the DEM surface "
                             "(check the take-off altitude)")
        lo, hi, left = self._march(frame, origin, dirs)
        if strict and left.any():
            raise InputError(self.dem.source,
                             f"DEM does not cover the ground seen by photo {pose.path.name}")
        t = self._bisect(frame, origin, dirs, lo, hi)
        return origin + dirs * t[:, None]

    def _clearance(self, frame: LocalFrame, origin: np.ndarray, dirs: np.ndarray,
                   t: np.ndarray) -> np.ndarray:
        """Height of ray points above the terrain, shape of ``t`` (rays × samples)."""
        points = origin + dirs[:, None, :] * t[..., None]
        lon, lat = frame.to_geo(points[..., 0].ravel(), points[..., 1].ravel())
        ground = self.dem.height_at(lon, lat).reshape(t.shape)
        return points[..., 2] - ground

    def _march(self, frame: LocalFrame, origin: np.ndarray,
               dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bracket ``[lo, hi]`` of each ray's first crossing (NaN: none) and rays that left."""
        n = len(dirs)
        lo, hi = np.full(n, np.nan), np.full(n, np.nan)
        left = np.zeros(n, dtype=bool)
        open_ = np.arange(n)
        chunk = 256
        start = 0.0
        while open_.size and start < self.max_range_m:
            t = start + self.step_m * np.arange(chunk + 1)
            g = self._clearance(frame, origin, dirs[open_], np.broadcast_to(t, (open_.size,
                                                                                  t.size)))
            below, gone = g <= 0, np.isnan(g)
            k_below = np.where(below.any(1), below.argmax(1), chunk + 1)
            k_gone = np.where(gone.any(1), gone.argmax(1), chunk + 1)
            hit = k_below < k_gone
            rays, k = open_[hit], k_below[hit]
            lo[rays], hi[rays] = t[np.maximum(k - 1, 0)], t[k]
            left[open_[~hit & (k_gone <= chunk)]] = True
            open_ = open_[~hit & (k_gone > chunk)]
            start += self.step_m * chunk
        return lo, hi, left

    def _bisect(self, frame: LocalFrame, origin: np.ndarray, dirs: np.ndarray,
                lo: np.ndarray, hi: np.ndarray, iterations: int = 30) -> np.ndarray:
        """Ray parameter of the crossing inside each bracket (NaN brackets stay NaN)."""
        ok = np.isfinite(lo)
        lo, hi, d = lo[ok], hi[ok], dirs[ok]
        for _ in range(iterations):
            mid = (lo + hi) / 2
            above = self._clearance(frame, origin, d, mid[:, None])[:, 0] > 0
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        t = np.full(len(dirs), np.nan)
        t[ok] = (lo + hi) / 2
        return t


# --- pixels to ground and back --------------------------------------------------------------


def reach_m(pose: PhotoPose, ground: Ground) -> float:
    """How far (horizontally) the photo's rays may meet ``ground``: :data:`MAX_REACH_PER_HEIGHT`
    times the camera's height above the ground under it (0 or NaN: nowhere)."""
    under = ground.height_at(np.array([pose.lon_deg]), np.array([pose.lat_deg]))[0]
    return MAX_REACH_PER_HEIGHT * max(0.0, ground.camera_height(pose) - float(under))


def _ground_hits(pose: PhotoPose, dirs: np.ndarray, ground: Ground, *,
                 strict: bool = False) -> np.ndarray:
    """Where rays ``dirs`` from the camera meet ``ground`` within :func:`reach_m`, in
    :func:`photo_frame` metres; NaN rows for rays that miss it or meet it farther."""
    points = ground.intersect(pose, photo_frame(pose), dirs, strict=strict)
    with np.errstate(invalid="ignore"):
        far = ~(np.hypot(points[:, 0], points[:, 1]) <= reach_m(pose, ground))
    points[far] = np.nan
    return points


def pixels_to_local(pose: PhotoPose, uv: np.ndarray, ground: Ground) -> np.ndarray:
    """Ground points (N, 3) seen at pixels ``uv`` (N, 2), in :func:`photo_frame` metres
    (east, north, height in the ground's datum); NaN rows where the ray misses the ground or
    meets it beyond :func:`reach_m`."""
    return _ground_hits(pose, pixel_rays(pose, uv), ground)


def check_placeable(pose: PhotoPose) -> PhotoPose:
    """``pose``, if its photo can be placed on the ground: the camera above take-off and its
    centre ray meeting the ground (flat, at take-off height) within :func:`reach_m`.

    Raises
    ------
    UnplaceablePose
        Naming the photo: the camera at or below take-off height, pointing at or above the
        horizon, or so near it that its centre lies implausibly far.
    """
    height = pose.rel_alt_m
    if not height > 0:
        raise UnplaceablePose(pose.path, f"height above take-off {height:g} m: the camera is "
                              "not above the ground, the photo cannot be placed on it")
    cam = pose.camera
    centre = np.array([[cam.image_w_px / 2, cam.image_h_px / 2]])
    ray = pixel_rays(pose, centre)[0]
    if ray[2] >= 0:
        raise UnplaceablePose(pose.path, f"gimbal pitch {pose.pitch_deg:+g}° looks at or above "
                              "the horizon: the photo's centre does not meet the ground")
    if np.isnan(pixels_to_local(pose, centre, FlatGround())).any():
        far = height * np.hypot(ray[0], ray[1]) / -ray[2]
        raise UnplaceablePose(pose.path, f"gimbal pitch {pose.pitch_deg:+g}° looks too near "
                              f"the horizon: the photo's centre meets the ground {far:.0f} m "
                              f"away, beyond {MAX_REACH_PER_HEIGHT:g} × its {height:g} m height")
    return pose


def pixels_to_ground(pose: PhotoPose, uv: np.ndarray, ground: Ground) -> np.ndarray:
    """Lon/lat (N, 2) of the ground seen at pixels ``uv`` (N, 2); NaN where the ray misses
    (above the horizon, or out of the DEM)."""
    points = pixels_to_local(pose, uv, ground)
    lon, lat = photo_frame(pose).to_geo(points[:, 0], points[:, 1])
    return np.column_stack([lon, lat])


def ground_to_pixel(pose: PhotoPose, lonlat: np.ndarray, ground: Ground,
                    height_m: np.ndarray | float | None = None) -> np.ndarray:
    """Pixels (N, 2) where ground points (N, 2 lon/lat) appear; NaN behind the camera.

    ``height_m`` is in the ground's datum (above take-off for :class:`FlatGround`); by default
    the ground's own height there. Points outside the image get pixels outside ``[0, W]``.
    """
    lonlat = np.asarray(lonlat, dtype=float).reshape(-1, 2)
    if height_m is None:
        height_m = ground.height_at(lonlat[:, 0], lonlat[:, 1])
    x, y = photo_frame(pose).to_local(lonlat[:, 0], lonlat[:, 1])
    offset = np.column_stack([x, y, np.broadcast_to(height_m, x.shape) -
                              ground.camera_height(pose)])
    return pose.camera.project(offset @ camera_rotation(pose.yaw_deg, pose.pitch_deg,
                                                        pose.roll_deg))


# --- outlines: footprints and boxes ---------------------------------------------------------


def _outline(x0: float, y0: float, x1: float, y1: float, samples: int) -> np.ndarray:
    """Points along a rectangle's edges, clockwise from the top-left (image coordinates)."""
    s = np.linspace(0.0, 1.0, samples, endpoint=False)
    top = np.column_stack([x0 + (x1 - x0) * s, np.full_like(s, y0)])
    right = np.column_stack([np.full_like(s, x1), y0 + (y1 - y0) * s])
    bottom = np.column_stack([x1 - (x1 - x0) * s, np.full_like(s, y1)])
    left = np.column_stack([np.full_like(s, x0), y1 - (y1 - y0) * s])
    return np.vstack([top, right, bottom, left])


def _outline_to_local(pose: PhotoPose, uv: np.ndarray, ground: Ground,
                      max_range_m: float, *, cut: bool) -> Polygon:
    """Project an image outline. Rays without a ground point (:func:`pixels_to_local`) or
    past ``max_range_m``: with ``cut`` they stop at the nearer of the two ranges, else the
    outline has no ground polygon (empty)."""
    dirs = pixel_rays(pose, uv)
    xy = _ground_hits(pose, dirs, ground, strict=True)[:, :2]
    with np.errstate(invalid="ignore"):
        far = ~(np.linalg.norm(xy, axis=1) <= max_range_m)
    if far.any() and not cut:
        return Polygon()
    horizontal = np.linalg.norm(dirs[:, :2], axis=1)
    clip = far & (horizontal > 1e-9)
    xy[clip] = dirs[clip, :2] / horizontal[clip, None] * min(max_range_m, reach_m(pose, ground))
    xy = xy[~far | clip]
    if len(xy) < 3:
        return Polygon()
    polygon = Polygon(xy)
    if not polygon.is_valid:
        parts = shapely.get_parts(shapely.make_valid(polygon))
        parts = [p for p in parts if isinstance(p, Polygon)]
        polygon = max(parts, key=lambda p: p.area, default=Polygon())
    return polygon


def footprint(pose: PhotoPose, ground: Ground, *, max_range_m: float = DEFAULT_MAX_RANGE_M,
              samples_per_edge: int = 16) -> Polygon:
    """The ground the photo sees, as a lon/lat polygon.

    The image outline is sampled ``samples_per_edge`` times per edge, so an oblique photo's
    footprint keeps its shape; rays above the horizon, or meeting the ground beyond
    :func:`reach_m` or ``max_range_m`` horizontally, are cut at the nearer of the two.

    Raises
    ------
    InputError
        A DEM that does not cover what the photo sees.
    """
    cam = pose.camera
    uv = _outline(0.0, 0.0, cam.image_w_px, cam.image_h_px, samples_per_edge)
    local = _outline_to_local(pose, uv, ground, max_range_m, cut=True)
    return photo_frame(pose).geom_to_geo(local)


def box_to_ground(pose: PhotoPose, box_xyxy: tuple[float, float, float, float] | np.ndarray,
                  ground: Ground, *, samples_per_edge: int = 8,
                  max_range_m: float = DEFAULT_MAX_RANGE_M) -> tuple[Polygon, float]:
    """A pixel box ``(x0, y0, x1, y1)`` on the ground: lon/lat polygon and its area in m².

    The area is measured in the photo's local metric frame. Edges are sampled as in
    :func:`footprint`. A box with a ray that has no ground point (at or above the horizon,
    beyond :func:`reach_m` or ``max_range_m``) is not placed: an empty polygon, area 0.
    """
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    local = _outline_to_local(pose, _outline(x0, y0, x1, y1, samples_per_edge), ground,
                              max_range_m, cut=False)
    return photo_frame(pose).geom_to_geo(local), float(local.area)
