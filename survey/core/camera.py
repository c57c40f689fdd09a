"""Survey cameras: a built-in catalog of real ones, the pinhole model and the photogrammetry that
follows from them. One camera model for the planner, the photo georeferencing
(:mod:`mapping.georef`) and the virtual camera (:mod:`sitl.world.camera`).

Convention (as QGroundControl's survey): the image's long side (``image_w_px``) lies across the
flight line, so the across-track footprint sets the line spacing and the along-track footprint
sets the trigger distance.

Pinhole model
-------------
* Image: pixel ``(u, v)``, ``u`` to the right, ``v`` down, origin at the top-left corner of the
  image (pixel ``(i, j)`` covers ``[i, i+1) × [j, j+1)``); principal point at the centre
  ``(W/2, H/2)``; ``fx = focal_mm / sensor_w_mm × W``, ``fy = focal_mm / sensor_h_mm × H``.
  No lens distortion.
* Camera axes (as OpenCV): ``x`` right, ``y`` down, ``z`` forward along the optical axis.
* World: metres east, north, up (ENU).
* Attitude: camera-to-world rotation ``R = Rz(-yaw) · Rx(pitch) · B · Rz_cam(roll)``
  (:func:`camera_rotation`), where ``B`` points a level camera north (``x`` east, ``y`` down,
  ``z`` north); ``Rz_cam(roll)`` turns it about its optical axis (positive roll: the image's
  right side goes down, the picture turns anticlockwise); ``Rx(pitch)`` tilts the optical axis
  up about the east axis (pitch -90 looks straight down, image top to the north; 0 looks at the
  horizon); ``Rz(-yaw)`` turns everything clockwise seen from above (yaw: the heading, degrees
  clockwise from north; yaw 90: a nadir image's top points east; an oblique camera looks
  east). This is the yaw-pitch-roll (Z-Y'-X'') order of DJI's gimbal angles. At pitch -90,
  roll and yaw turn the image the same way. The columns of ``R`` are the camera's right, down
  and forward axes in the world; its transpose takes world offsets to camera coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from survey.core.errors import ParamError


@dataclass(frozen=True)
class Camera:
    """A frame camera: sensor size, focal length and image size; a pinhole (see the module).

    ``make`` and ``exif_model`` are the EXIF ``Make``/``Model`` strings a photo from it carries
    (what the virtual camera writes); empty when not known.

    >>> cam = CATALOG["phantom3-fc300s"]
    >>> round(cam.gsd_cm(40.0), 2)        # the Brighton Beach photos: ~1.7 cm/px at 40 m
    1.71
    >>> round(cam.altitude_for_gsd_m(1.71), 1)
    40.0
    >>> round(cam.fx, 1), cam.principal_point, cam.focal_35mm
    (2340.4, (2000.0, 1500.0), 20)
    """

    name: str
    sensor_w_mm: float
    sensor_h_mm: float
    focal_mm: float
    image_w_px: int
    image_h_px: int
    make: str = ""
    exif_model: str = ""

    @property
    def fx(self) -> float:
        """Horizontal focal length, pixels."""
        return self.focal_mm / self.sensor_w_mm * self.image_w_px

    @property
    def fy(self) -> float:
        """Vertical focal length, pixels."""
        return self.focal_mm / self.sensor_h_mm * self.image_h_px

    @property
    def principal_point(self) -> tuple[float, float]:
        """``(cx, cy)``: the image centre, continuous pixel coordinates."""
        return self.image_w_px / 2, self.image_h_px / 2

    @property
    def focal_35mm(self) -> int:
        """35 mm equivalent focal length (by the diagonal), as EXIF FocalLengthIn35mmFilm."""
        return round(self.focal_mm * math.hypot(36.0, 24.0)
                     / math.hypot(self.sensor_w_mm, self.sensor_h_mm))

    def matrix(self) -> np.ndarray:
        """The 3×3 camera matrix ``K``: camera coordinates → homogeneous (continuous) pixels."""
        cx, cy = self.principal_point
        return np.array([[self.fx, 0.0, cx], [0.0, self.fy, cy], [0.0, 0.0, 1.0]])

    def gsd_cm(self, altitude_m: float) -> float:
        """Ground sample distance (cm per pixel) at ``altitude_m`` above ground, nadir."""
        return 100.0 * altitude_m * self.sensor_w_mm / (self.focal_mm * self.image_w_px)

    def altitude_for_gsd_m(self, gsd_cm: float) -> float:
        """Altitude above ground (m) that gives ``gsd_cm`` at nadir."""
        return gsd_cm / 100.0 * self.focal_mm * self.image_w_px / self.sensor_w_mm

    def footprint_m(self, altitude_m: float) -> tuple[float, float]:
        """Nadir ground footprint (across track, along track) in metres."""
        return (
            altitude_m * self.sensor_w_mm / self.focal_mm,
            altitude_m * self.sensor_h_mm / self.focal_mm,
        )


# A level camera looking north: columns are the camera's x (right), y (down), z (forward).
_LEVEL_NORTH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _rot_x(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def camera_rotation(yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """Camera-to-world (east, north, up) rotation matrix; see the module's conventions.

    >>> r = camera_rotation(0.0, -90.0, 0.0)          # nadir, image top north
    >>> [(r @ v).round(9).tolist() for v in ([0, 0, 1], [0, -1, 0])]  # optical axis, image up
    [[0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    """
    return _rot_z(-yaw_deg) @ _rot_x(pitch_deg) @ _LEVEL_NORTH @ _rot_z(roll_deg)


# Sensor sizes and focal lengths from the makers' specifications (and the EXIF of real photos).
CATALOG: dict[str, Camera] = {
    c.name: c
    for c in (
        Camera("mavic3e", 17.3, 13.0, 12.29, 5280, 3956),  # DJI Mavic 3 Enterprise, 4/3" 20 MP
        Camera("phantom4pro", 13.2, 8.8, 8.8, 5472, 3648),  # DJI Phantom 4 Pro, 1" 20 MP
        Camera("mini4pro", 9.6, 7.2, 6.72, 8064, 6048),  # DJI Mini 4 Pro, 1/1.3" 48 MP
        Camera("phantom3-fc300s", 6.17, 4.55, 3.61, 4000, 3000),  # DJI Phantom 3 (FC300S)
        Camera("matrice4e", 17.3, 13.0, 12.29, 5280, 3956),  # DJI Matrice 4E wide, 4/3" 20 MP
        Camera("sony-a7r4-35mm", 35.7, 23.8, 35.0, 9504, 6336),  # Sony α7R IV with a 35 mm lens
    )
}

DEFAULT_CAMERA = "mavic3e"

# EXIF ``Model`` strings of the catalog cameras (DJI writes the camera's model, not the drone's).
EXIF_MODELS: dict[str, str] = {
    "M3E": "mavic3e",
    "FC6310": "phantom4pro",
    "FC6310S": "phantom4pro",
    "FC8482": "mini4pro",
    "FC300S": "phantom3-fc300s",
    "FC300X": "phantom3-fc300s",
    "M4E": "matrice4e",
    "ILCE-7RM4": "sony-a7r4-35mm",
    "ILCE-7RM4A": "sony-a7r4-35mm",
}


def camera_from_exif_model(model: str) -> Camera | None:
    """The catalog camera whose EXIF ``Model`` is ``model`` (NULs and spaces ignored), or ``None``.

    >>> camera_from_exif_model("FC300S\\x00\\x00").name
    'phantom3-fc300s'
    >>> camera_from_exif_model("Unknown") is None
    True
    """
    name = EXIF_MODELS.get(model.replace("\x00", "").strip().upper())
    return CATALOG[name] if name else None


def camera_from_name(name: str) -> Camera:
    """The catalog camera called ``name``, or a custom one written as
    ``custom:SENSOR_W_MM x SENSOR_H_MM:FOCAL_MM:WIDTH_PX x HEIGHT_PX``.

    >>> camera_from_name("custom:13.2x8.8:8.8:5472x3648").focal_mm
    8.8

    Raises
    ------
    InputError
        Unknown name or a malformed custom description; the message lists the catalog.
    """
    if name in CATALOG:
        return CATALOG[name]
    if name.startswith("custom:"):
        try:
            _, sensor, focal, pixels = name.split(":")
            sw, sh = (float(v) for v in sensor.lower().split("x"))
            pw, ph = (int(v) for v in pixels.lower().split("x"))
            cam = Camera(name, sw, sh, float(focal), pw, ph)
        except ValueError:
            raise ParamError(
                "camera", f"bad custom camera {name!r}: expected custom:WxH:FOCAL:PXxPY "
                "(mm, mm, px), e.g. custom:13.2x8.8:8.8:5472x3648"
            ) from None
        if min(cam.sensor_w_mm, cam.sensor_h_mm, cam.focal_mm, cam.image_w_px, cam.image_h_px) <= 0:
            raise ParamError("camera", f"bad custom camera {name!r}: sizes must be positive")
        return cam
    raise ParamError(
        "camera", f"unknown camera {name!r}; known: {', '.join(CATALOG)} or custom:WxH:F:PXxPY"
    )
