"""Camera triggering: by distance (DO_SET_CAM_TRIGG_DIST), by interval (IMAGE_START_CAPTURE) and
single shots, as ``AP_Camera_Backend`` does it.

Distance triggering measures the straight-line distance from the last shot (the first shot comes
one distance after the command unless param3 asks for one at once) and keeps firing, in any mode,
until a distance of 0 is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from .geo import distance_e7_m


@dataclass(frozen=True)
class Pose:
    """Where the camera is when a picture is taken."""

    time_s: float
    lat_e7: int
    lon_e7: int
    alt_amsl_m: float
    alt_rel_m: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float


@dataclass(frozen=True)
class CameraShot:
    """One picture: its 1-based image index and the pose it was taken at."""

    image_index: int
    pose: Pose


class Camera:
    """Trigger state of the vehicle's one camera."""

    def __init__(self) -> None:
        self.trigger_distance_m = 0.0
        self.image_count = 0
        self._last_latlon: tuple[int, int] | None = None
        self._interval_s = 0.0
        self._remaining: int | None = None
        self._next_s = 0.0
        self._capturing = False

    def set_trigger_distance(self, distance_m: float, pose: Pose,
                             trigger_now: bool = False) -> list[CameraShot]:
        """Start (distance > 0) or stop (0) distance triggering."""
        self.trigger_distance_m = max(distance_m, 0.0)
        if self.trigger_distance_m <= 0:
            self._last_latlon = None
        if trigger_now and self.trigger_distance_m > 0:
            return [self.take_picture(pose)]
        return []

    def start_capture(self, interval_s: float, total_images: int, pose: Pose) -> list[CameraShot]:
        """IMAGE_START_CAPTURE: one shot now, then one every ``interval_s`` until ``total_images``
        (0 = until IMAGE_STOP_CAPTURE); an interval of 0 takes ``max(total_images, 1)`` at once."""
        if interval_s <= 0:
            self._capturing = False
            return [self.take_picture(pose) for _ in range(max(total_images, 1))]
        self._capturing = True
        self._interval_s = interval_s
        self._remaining = total_images if total_images > 0 else None
        self._next_s = pose.time_s
        return self.update(pose)

    def stop_capture(self) -> None:
        """IMAGE_STOP_CAPTURE."""
        self._capturing = False

    def take_picture(self, pose: Pose) -> CameraShot:
        """Take one picture now."""
        self.image_count += 1
        self._last_latlon = (pose.lat_e7, pose.lon_e7)
        return CameraShot(self.image_count, pose)

    def update(self, pose: Pose) -> list[CameraShot]:
        """Pictures due at ``pose`` (called every simulation step)."""
        shots: list[CameraShot] = []
        if self._capturing and pose.time_s >= self._next_s:
            shots.append(self.take_picture(pose))
            self._next_s += self._interval_s
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining <= 0:
                    self._capturing = False
        if self.trigger_distance_m <= 0:
            return shots
        here = (pose.lat_e7, pose.lon_e7)
        if self._last_latlon is None:
            self._last_latlon = here
        elif here != self._last_latlon and distance_e7_m(
                *self._last_latlon, *here) >= self.trigger_distance_m:
            shots.append(self.take_picture(pose))
        return shots
