"""Lens calibrations from a file: OpenDroneMap/OpenSfM ``cameras.json`` or an OpenCV calibration.

``survey analyze --calibration FILE`` gives every photo a lens solved elsewhere. An explicit file
wins over the photo's own DJI XMP calibration and over the catalog: it is usually what
OpenDroneMap solved from this very flight (``opensfm/cameras.json`` or ``cameras.json`` in an
ODM project), which fits these photos better than the camera's factory calibration.

Formats
-------
* OpenSfM / ODM ``cameras.json``: ``{"v2 dji fc6310 5472 3648 brown 0.6666": {"projection_type":
  "brown", "width": 5472, "height": 3648, "focal_x": …, "focal_y": …, "c_x": …, "c_y": …, "k1",
  "k2", "p1", "p2", "k3"}}``. Focal lengths and ``c_x``/``c_y`` are normalised by
  ``max(width, height)``; ``c_x``/``c_y`` are the principal point's offset from the image centre.
  ``perspective`` has ``focal``, ``k1``, ``k2`` only (principal point at the centre);
  ``simple_radial`` and ``radial`` are read too. Fisheye, spherical and the other projections
  are refused (this pipeline's lens model is Brown–Conrady).
* OpenCV (``cv2.FileStorage`` YAML, XML or JSON, as ``calibrateCamera`` samples write it):
  ``camera_matrix`` (3×3), ``distortion_coefficients`` (k1 k2 p1 p2 [k3]), ``image_width``,
  ``image_height``. Its principal point is in OpenCV's index coordinates (pixel centres at
  integers), half a pixel from this pipeline's continuous ones.

Which camera for which photo: a file with several cameras is matched by the make and model in
its keys (OpenSfM writes them, lower case), then by image size; a file with one camera applies
to every photo of its aspect (resized photos scale it). A photo no camera fits keeps its own
calibration.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from survey.core.errors import InputError

_PROJECTIONS = ("brown", "perspective", "simple_radial", "radial")


@dataclass(frozen=True)
class FileLens:
    """One calibrated camera of a file, in pixels at ``width`` × ``height``."""

    key: str
    width: int
    height: int
    focal_px: tuple[float, float]
    centre_offset_px: tuple[float, float]
    distortion: tuple[float, float, float, float, float]
    make_model: str = ""
    """``"make model"`` in lower case when the file names it (OpenSfM keys), else ``""``."""

    def fits(self, width: int, height: int) -> bool:
        """Whether a photo of ``width`` × ``height`` has this camera's aspect (either way up)."""
        a, b = sorted((self.width, self.height)), sorted((width, height))
        return abs(a[1] / a[0] - b[1] / b[0]) <= 0.01 * b[1] / b[0]


@dataclass(frozen=True)
class CalibrationFile:
    """The cameras of a calibration file (see the module)."""

    path: Path
    lenses: tuple[FileLens, ...]

    def for_photo(self, make: str, model: str, width: int, height: int) -> FileLens | None:
        """The file's camera for a photo, or ``None`` when none fits its aspect.

        >>> lens = FileLens("v2 dji fc6310 5472 3648 brown 0.6666", 5472, 3648, (3648.0, 3648.0),
        ...                 (0.0, 0.0), (0.0,) * 5, "dji fc6310")
        >>> CalibrationFile(Path("c.json"), (lens,)).for_photo("DJI", "FC6310", 2736, 1824).key
        'v2 dji fc6310 5472 3648 brown 0.6666'
        >>> CalibrationFile(Path("c.json"), (lens,)).for_photo("DJI", "FC6310", 4000, 3000)
        """
        fitting = [lens for lens in self.lenses if lens.fits(width, height)]
        if len(self.lenses) > 1:
            name = _norm(f"{make} {model}")
            named = [lens for lens in fitting if lens.make_model and (
                _norm(lens.make_model) == name or (model and _norm(model) in
                                                   _norm(lens.make_model).split()))]
            fitting = named or fitting
        exact = [lens for lens in fitting
                 if sorted((lens.width, lens.height)) == sorted((width, height))]
        return (exact or fitting)[0] if fitting else None


def _norm(text: str) -> str:
    return " ".join(text.replace("\x00", " ").lower().split())


def read_calibration(path: str | PathLike[str]) -> CalibrationFile:
    """Read an OpenSfM/ODM ``cameras.json`` or an OpenCV calibration file.

    Raises
    ------
    InputError
        Missing or unreadable file, not one of the formats, an unsupported projection
        (fisheye, spherical), or a camera with missing or impossible values.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(file, "no such calibration file" if not file.exists() else "not a file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(file, f"calibration file cannot be read ({exc})") from None
    try:
        doc: Any = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "camera_matrix" not in doc:
        lenses = _opensfm(file, doc)
    else:
        lenses = (_opencv(file),)
    return CalibrationFile(file, lenses)


def _opensfm(file: Path, doc: dict[str, Any]) -> tuple[FileLens, ...]:
    if not doc or not all(isinstance(v, dict) for v in doc.values()):
        raise InputError(file, "not an OpenSfM/ODM cameras.json (expected {camera id: {...}}) "
                         "nor an OpenCV calibration (camera_matrix)")
    return tuple(_opensfm_camera(file, key, cam) for key, cam in doc.items())


def _opensfm_camera(file: Path, key: str, cam: dict[str, Any]) -> FileLens:
    projection = str(cam.get("projection_type", "")).lower()
    if projection not in _PROJECTIONS:
        raise InputError(file, f"camera {key!r}: projection {projection or 'none'!r} is not "
                         f"supported (only {', '.join(_PROJECTIONS)})")

    def number(name: str, default: float | None = None) -> float:
        value = cam.get(name, default)
        try:
            out = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(file, f"camera {key!r}: {name} missing or not a number") from None
        if not math.isfinite(out):
            raise InputError(file, f"camera {key!r}: {name} is not finite")
        return out

    width, height = int(number("width")), int(number("height"))
    if width <= 0 or height <= 0:
        raise InputError(file, f"camera {key!r}: width and height must be positive")
    scale = max(width, height)
    if projection == "perspective":
        fx = fy = number("focal")
        cx = cy = 0.0
    else:
        fx = number("focal_x", cam.get("focal"))
        fy = number("focal_y", cam.get("focal", fx))
        cx, cy = number("c_x", 0.0), number("c_y", 0.0)
    if fx <= 0 or fy <= 0:
        raise InputError(file, f"camera {key!r}: focal length must be positive")
    k1 = number("k1", 0.0)
    k2 = 0.0 if projection == "simple_radial" else number("k2", 0.0)
    p1, p2, k3 = ((number("p1", 0.0), number("p2", 0.0), number("k3", 0.0))
                  if projection == "brown" else (0.0, 0.0, 0.0))
    return FileLens(key, width, height, (fx * scale, fy * scale), (cx * scale, cy * scale),
                    (k1, k2, p1, p2, k3), _opensfm_make_model(key))


def _opensfm_make_model(key: str) -> str:
    """``"make model"`` of an OpenSfM camera id ``v2 MAKE MODEL W H PROJECTION FOCAL``."""
    words = key.split()
    if len(words) >= 6 and words[0] == "v2" and words[-4].isdigit() and words[-3].isdigit():
        name = " ".join(words[1:-4])
        return "" if name in ("unknown unknown", "unknown") else name.lower()
    return ""


def _opencv(file: Path) -> FileLens:
    import cv2

    try:
        storage = cv2.FileStorage(str(file), cv2.FILE_STORAGE_READ) if file.stat().st_size \
            else None
    except (cv2.error, SystemError, OSError):  # SystemError: OpenCV's wrapper on a parse error
        storage = None
    if storage is None or not storage.isOpened():
        raise InputError(file, "not an OpenSfM/ODM cameras.json nor an OpenCV calibration file "
                         "(YAML/XML/JSON with camera_matrix)")
    try:
        matrix = storage.getNode("camera_matrix").mat()
        dist = storage.getNode("distortion_coefficients").mat()
        width = storage.getNode("image_width").real()
        height = storage.getNode("image_height").real()
    except cv2.error as exc:
        raise InputError(file, f"bad OpenCV calibration ({str(exc).strip().splitlines()[-1]})"
                         ) from None
    finally:
        storage.release()
    if matrix is None or matrix.shape != (3, 3):
        raise InputError(file, "OpenCV calibration without a 3×3 camera_matrix")
    if not width or not height or width <= 0 or height <= 0:
        raise InputError(file, "OpenCV calibration without image_width and image_height")
    coeffs = np.zeros(5) if dist is None else np.asarray(dist, dtype=float).ravel()
    if len(coeffs) > 5 and np.any(coeffs[5:]):
        raise InputError(file, f"{len(coeffs)} distortion coefficients: only k1 k2 p1 p2 k3 "
                         "(OpenCV's default model) are supported")
    coeffs = np.concatenate([coeffs[:5], np.zeros(max(0, 5 - len(coeffs)))])
    m = np.asarray(matrix, dtype=float)
    if not (np.isfinite(m).all() and np.isfinite(coeffs).all()) or m[0, 0] <= 0 or m[1, 1] <= 0:
        raise InputError(file, "OpenCV calibration with a non-finite or non-positive focal length")
    w, h = int(width), int(height)
    k1, k2, p1, p2, k3 = (float(c) for c in coeffs)
    # OpenCV's principal point is in index coordinates (pixel centres at integers)
    offset = (float(m[0, 2]) + 0.5 - w / 2, float(m[1, 2]) + 0.5 - h / 2)
    return FileLens(file.name, w, h, (float(m[0, 0]), float(m[1, 1])), offset,
                    (k1, k2, p1, p2, k3))
