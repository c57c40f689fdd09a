"""Survey cameras: a built-in catalog of real ones, and the photogrammetry that follows from them.

Convention (as QGroundControl's survey): the image's long side (``image_w_px``) lies across the
flight line, so the across-track footprint sets the line spacing and the along-track footprint
sets the trigger distance.
"""

from __future__ import annotations

from dataclasses import dataclass

from survey.core.errors import ParamError


@dataclass(frozen=True)
class Camera:
    """A frame camera: sensor size, focal length and image size.

    >>> cam = CATALOG["phantom3-fc300s"]
    >>> round(cam.gsd_cm(40.0), 2)        # the Brighton Beach photos: ~1.7 cm/px at 40 m
    1.71
    >>> round(cam.altitude_for_gsd_m(1.71), 1)
    40.0
    """

    name: str
    sensor_w_mm: float
    sensor_h_mm: float
    focal_mm: float
    image_w_px: int
    image_h_px: int

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
