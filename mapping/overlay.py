"""Drone photos for the HQ map: north-up overlays and thumbnails with the detection boxes.

Geometry note: :func:`north_up_overlay` maps lon/lat *linearly* onto the output raster, while
Leaflet stretches an ``ImageOverlay`` linearly in Web Mercator. Mercator's y grows like
``ln tan(π/4 + φ/2)``, whose slope changes by ``Δφ·tan φ`` relative across the image: over a
photo a few hundred metres tall (Δφ ≈ 0.003°) at 60° latitude that is ~0.009 %, i.e. well under
a centimetre. Photos kilometres across would need a Mercator-spaced raster.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mapping.webmap import SEVERITY_COLOURS, Overlay
from survey.core.damage import DamageClass
from survey.core.errors import InputError

_UNKNOWN_BGR = (160, 160, 160)


def _bgr(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


_SEVERITY_BGR = {c: _bgr(SEVERITY_COLOURS[c]) for c in DamageClass}


def _as_bgr(image: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise InputError(what, "image is empty")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise InputError(what, f"image shape {image.shape} is not H×W, H×W×3 or H×W×4")
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and float(np.nanmax(image)) <= 1.0:
            image = image * 255.0
        image = np.clip(np.nan_to_num(image), 0, 255).astype(np.uint8)
    return image


def north_up_overlay(image_bgr: np.ndarray, corners_lonlat: np.ndarray, *,
                     max_px: int = 1024, webp_quality: int | None = None) -> Overlay:
    """Warp a photo north-up onto its ground bounding box, transparent outside the photo.

    Parameters
    ----------
    image_bgr
        The photo, H×W×3 BGR (grey and BGRA are accepted).
    corners_lonlat
        (4, 2) ground lon/lat of the image corners: top-left, top-right, bottom-right,
        bottom-left.
    max_px
        Cap on the long side of the output raster, pixels.
    webp_quality
        Encode as WebP (with alpha) at this quality, 1–100, instead of PNG: 5–10× smaller,
        which matters when a map carries hundreds of photos.

    Returns
    -------
    Overlay
        PNG (or WebP) with an alpha channel (0 outside the photo) and its
        ``(south, west, north, east)``.

    Raises
    ------
    InputError
        If the image or the corners are unusable (empty, not finite, degenerate footprint).
    """
    img = _as_bgr(image_bgr, "overlay photo")
    corners = np.asarray(corners_lonlat, dtype=np.float64)
    if corners.shape != (4, 2) or not np.isfinite(corners).all():
        raise InputError("overlay corners", "need 4 finite lon/lat pairs")
    if max_px < 8:
        raise InputError("max_px", f"{max_px} is too small")
    west, south = corners.min(axis=0)
    east, north = corners.max(axis=0)
    if not (-90 <= south and north <= 90):
        raise InputError("overlay corners", "latitude beyond ±90: are lon/lat swapped?")
    x, y = corners[:, 0], corners[:, 1]
    shoelace = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    if east - west <= 0 or north - south <= 0 or shoelace <= 1e-6 * (east - west) * (north - south):
        raise InputError("overlay corners", "the footprint is degenerate (zero area)")

    # Output grid: square pixels on the ground (lon degrees shrink by cos(lat)).
    width_g = (east - west) * math.cos(math.radians((south + north) / 2))
    height_g = north - south
    h_in, w_in = img.shape[:2]
    long_px = min(max_px, max(h_in, w_in))
    if width_g >= height_g:
        w_out, h_out = long_px, max(1, round(long_px * height_g / width_g))
    else:
        w_out, h_out = max(1, round(long_px * width_g / height_g)), long_px

    dst = np.column_stack([(x - west) / (east - west) * w_out,
                           (north - y) / (north - south) * h_out])
    # Shrink big photos first so the warp does not alias (warpPerspective has no area filter).
    side = max(np.linalg.norm(dst[1] - dst[0]), np.linalg.norm(dst[3] - dst[0]))
    scale = min(1.0, 1.5 * side / max(h_in, w_in))
    if scale < 1.0:
        img = cv2.resize(img, (max(1, round(w_in * scale)), max(1, round(h_in * scale))),
                         interpolation=cv2.INTER_AREA)
    h_s, w_s = img.shape[:2]
    src = np.array([[0, 0], [w_s, 0], [w_s, h_s], [0, h_s]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    bgra[:, :, 3] = 255
    warped = cv2.warpPerspective(bgra, matrix, (w_out, h_out), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    if webp_quality is not None:
        ok, png = cv2.imencode(".webp", warped, [cv2.IMWRITE_WEBP_QUALITY, int(webp_quality)])
    else:
        ok, png = cv2.imencode(".png", warped, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 BGRA
        raise InputError("overlay photo", "image encoding failed")
    return Overlay(image=png.tobytes(), bounds=(float(south), float(west), float(north),
                                                float(east)))


def _severity_of(label: str) -> DamageClass | None:
    """The damage class a box's caption starts with (``"major 0.91"``), if any."""
    word = label.strip().split(maxsplit=1)[0].strip(":,;").lower() if label.strip() else ""
    try:
        return DamageClass.from_label(word)
    except ValueError:
        return None


def thumbnail_with_boxes(image_bgr: np.ndarray, boxes_xyxy: np.ndarray, labels: list[str], *,
                         max_px: int = 480) -> bytes:
    """A small JPEG of the photo with the detection boxes drawn, coloured by severity.

    Parameters
    ----------
    image_bgr
        The full-size photo, H×W×3 BGR.
    boxes_xyxy
        (N, 4) boxes in the photo's pixels: x1, y1, x2, y2.
    labels
        N labels; each starts with the severity (``"major 0.91"``). Unknown severities are grey.
        Drawn into the pixels (ASCII only; other characters become ``?``), never into markup.
    max_px
        Cap on the long side of the thumbnail, pixels.

    Returns
    -------
    bytes
        JPEG.
    """
    img = _as_bgr(image_bgr, "thumbnail photo")
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(labels) != len(boxes):
        raise InputError("thumbnail boxes", f"{len(boxes)} boxes but {len(labels)} labels")
    if not np.isfinite(boxes).all():
        raise InputError("thumbnail boxes", "a box has a non-finite coordinate")
    h, w = img.shape[:2]
    scale = min(1.0, max_px / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    else:
        img = img.copy()
    thick = max(1, round(max(img.shape[:2]) / 240))
    for (x1, y1, x2, y2), label in zip(boxes * scale, labels, strict=True):
        sev = _severity_of(label)
        colour = _SEVERITY_BGR[sev] if sev is not None else _UNKNOWN_BGR
        p1, p2 = (round(x1), round(y1)), (round(x2), round(y2))
        cv2.rectangle(img, p1, p2, colour, thick)
        text = label.encode("ascii", "replace").decode("ascii")[:40]
        if text:
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            ty = max(th + base, p1[1])
            cv2.rectangle(img, (p1[0], ty - th - base), (p1[0] + tw, ty), colour, -1)
            cv2.putText(img, text, (p1[0], ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (0, 0, 0), 1, cv2.LINE_AA)
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 82])
    if not ok:  # pragma: no cover
        raise InputError("thumbnail photo", "JPEG encoding failed")
    return jpg.tobytes()
