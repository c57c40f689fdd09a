"""Safe image loading: a photo that cannot be used raises :class:`survey.core.errors.ImageError`.

OpenCV's ``imread`` returns ``None`` for a bad file and decodes a truncated JPEG into a
half-grey picture with only a warning; here both are typed errors, checked before decoding.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from os import PathLike
from pathlib import Path

import cv2
import numpy as np

from survey.core.errors import ImageError

REDUCTIONS: tuple[int, ...] = (1, 2, 4, 8)
"""Decode-time size reductions OpenCV's JPEG decoder does cheaply (``IMREAD_REDUCED_*``)."""

_READ_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


class ImageFormat(Enum):
    """Image file formats :func:`load_image` accepts, told by their first bytes."""

    JPEG = "jpeg"
    PNG = "png"
    TIFF = "tiff"


_MAGIC: tuple[tuple[bytes, ImageFormat], ...] = (
    (b"\xff\xd8\xff", ImageFormat.JPEG),
    (b"\x89PNG\r\n\x1a\n", ImageFormat.PNG),
    (b"II*\x00", ImageFormat.TIFF),
    (b"MM\x00*", ImageFormat.TIFF),
)
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


def sniff_format(data: bytes) -> ImageFormat | None:
    """The format whose signature starts ``data``, or ``None`` for anything else.

    Examples
    --------
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n....")
    <ImageFormat.PNG: 'png'>
    >>> sniff_format(b"hello") is None
    True
    """
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    return None


def _is_truncated(data: bytes, fmt: ImageFormat) -> bool:
    """Whether a JPEG lacks its end-of-image marker or a PNG its IEND chunk.

    Entropy-coded JPEG data never holds ``FF D9`` (``FF`` is stuffed as ``FF 00``), so an end
    marker in the file's tail means the scan was written completely. A few trailing bytes
    (padding, some cameras' extra data) are tolerated.
    """
    tail = data[-4096:]
    if fmt is ImageFormat.JPEG:
        return _JPEG_END not in tail
    if fmt is ImageFormat.PNG:
        return _PNG_END not in tail
    return False


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ImageError(path, "no such file")
    if not path.is_file():
        raise ImageError(path, "not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(path, f"cannot be read ({exc.strerror or exc})") from exc


def reduction_for_scale(scale: float) -> int:
    """The largest decode reduction (1, 2, 4 or 8) that still leaves at least ``scale``.

    Decode with it, then resample the rest of the way (e.g. with
    :func:`detection.gsd.resample`): a reduced decode is faster than a full one.

    Raises
    ------
    ValueError
        For a non-positive scale.

    Examples
    --------
    >>> [reduction_for_scale(s) for s in (1.0, 0.6, 0.5, 0.3, 0.25, 0.1, 2.0)]
    [1, 1, 2, 2, 4, 8, 1]
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return max((r for r in REDUCTIONS if 1.0 / r >= scale - 1e-12), default=1)


def load_image(path: str | PathLike[str], *, reduce: int = 1) -> np.ndarray:
    """Decode a JPEG, PNG or TIFF file into an ``(H, W, 3)`` BGR uint8 array.

    Pixels stay in the order stored in the file: EXIF orientation is ignored, because boxes
    are georeferenced in the camera sensor's pixel frame. Grey images are expanded to three
    channels, alpha is dropped, 16-bit images are scaled to 8 bits.

    Parameters
    ----------
    path
        The image file.
    reduce
        Decode at ``1/reduce`` of the size (1, 2, 4 or 8; see :func:`reduction_for_scale`).
        The result is about ``W / reduce`` wide, rounded up for JPEG and down for PNG: take the
        exact factor from the returned shape.

    Raises
    ------
    ImageError
        The file is missing, empty, not a JPEG/PNG/TIFF, truncated or cannot be decoded.
    ValueError
        For a ``reduce`` not in 1, 2, 4, 8.
    """
    if reduce not in _READ_FLAGS:
        valid = ", ".join(map(str, REDUCTIONS))
        raise ValueError(f"reduce must be one of {valid}, got {reduce!r}")
    file = Path(path)
    data = _read_bytes(file)
    if not data:
        raise ImageError(file, "empty file")
    fmt = sniff_format(data)
    if fmt is None:
        valid = ", ".join(f.name for f in ImageFormat)
        raise ImageError(file, f"not an image (expected one of: {valid})")
    if _is_truncated(data, fmt):
        raise ImageError(file, f"truncated {fmt.name} (no end marker)")
    flags = _READ_FLAGS[reduce] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:
        raise ImageError(file, f"corrupt {fmt.name} ({exc.msg or 'decoder error'})") from exc
    if image is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageError(file, f"corrupt {fmt.name} (cannot be decoded)")
    return image


def content_sha256(path: str | PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes: a photo's identity whatever its name or folder.

    Raises
    ------
    ImageError
        The file is missing or cannot be read.
    """
    file = Path(path)
    if not file.is_file():
        raise ImageError(file, "no such file")
    digest = hashlib.sha256()
    try:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ImageError(file, f"cannot be read ({exc.strerror or exc})") from exc
    return digest.hexdigest()
