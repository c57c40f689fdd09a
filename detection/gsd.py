"""Ground sample distance: bring a photo to the scale a model was trained at, and back.

A model trained at one GSD (cm of ground per pixel) must see photos resampled to that GSD
(DESIGN.md, detection facts). Boxes found on the resampled image are mapped back to the
original photo's pixels before anything geographic happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


def photo_gsd_cm(
    altitude_m: float, *, sensor_width_mm: float, focal_length_mm: float, image_width_px: int
) -> float:
    """Ground sample distance of a nadir photo, cm per pixel.

    ``GSD = altitude × sensor width / (focal length × image width)``.

    Parameters
    ----------
    altitude_m
        Height of the camera above the ground, metres.
    sensor_width_mm, focal_length_mm
        Physical sensor width and (true, not 35 mm equivalent) focal length, millimetres.
    image_width_px
        Photo width, pixels.

    Raises
    ------
    ValueError
        For a non-positive argument.

    Examples
    --------
    DJI Phantom 3 (FC300S: 6.17 mm sensor, 3.61 mm lens, 4000 px) at 40 m:

    >>> gsd = photo_gsd_cm(40.0, sensor_width_mm=6.17, focal_length_mm=3.61, image_width_px=4000)
    >>> round(gsd, 3)
    1.709
    """
    values = {
        "altitude_m": altitude_m, "sensor_width_mm": sensor_width_mm,
        "focal_length_mm": focal_length_mm, "image_width_px": image_width_px,
    }
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    return 100.0 * altitude_m * sensor_width_mm / (focal_length_mm * image_width_px)


def resample_factor(photo_gsd_cm: float, model_gsd_cm: float) -> float:
    """Factor to multiply the photo's size by so that its GSD becomes the model's.

    Below 1 the photo shrinks (finer than the model), above 1 it grows.

    Examples
    --------
    >>> resample_factor(1.7, 3.4)
    0.5
    >>> resample_factor(30.0, 15.0)
    2.0
    """
    if not (photo_gsd_cm > 0 and model_gsd_cm > 0):
        raise ValueError(f"GSDs must be positive, got {photo_gsd_cm} and {model_gsd_cm}")
    return photo_gsd_cm / model_gsd_cm


@dataclass(frozen=True, eq=False, slots=True)
class Resampled:
    """An image resampled by :func:`resample`, with the exact factors used per axis.

    ``scale_x = new width / old width`` (likewise ``scale_y``); they differ slightly from the
    requested factor because sizes are whole pixels.
    """

    image: np.ndarray
    scale_x: float
    scale_y: float


def resample(image: np.ndarray, factor: float) -> Resampled:
    """Resize an image by ``factor`` (``cv2.INTER_AREA`` to shrink, ``INTER_LINEAR`` to grow).

    INTER_AREA averages the pixels that fall into each output pixel, so small details do not
    alias when a fine drone photo is brought down to a coarse model GSD.

    Raises
    ------
    ValueError
        For a non-positive factor.

    Examples
    --------
    >>> r = resample(np.zeros((2250, 4000, 3), np.uint8), 0.25)
    >>> r.image.shape, r.scale_x, r.scale_y
    ((562, 1000, 3), 0.25, 0.24977777777777777)
    """
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor}")
    height, width = image.shape[:2]
    new_w = max(1, round(width * factor))
    new_h = max(1, round(height * factor))
    if (new_w, new_h) == (width, height):
        return Resampled(image, 1.0, 1.0)
    shrinking = new_w * new_h < width * height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    return Resampled(out, new_w / width, new_h / height)


def boxes_to_original(
    boxes: npt.ArrayLike, *, scale_x: float, scale_y: float
) -> np.ndarray:
    """Map ``(n, 4)`` xyxy boxes found on a resampled image back to original pixels.

    Pixel edges scale linearly (OpenCV aligns pixel centres, so edge ``x`` on the original is
    edge ``x × scale_x`` on the resampled image).

    Examples
    --------
    >>> boxes_to_original([[10, 20, 30, 40]], scale_x=0.5, scale_y=0.25).tolist()
    [[20.0, 80.0, 60.0, 160.0]]
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return b / np.asarray([scale_x, scale_y, scale_x, scale_y])
