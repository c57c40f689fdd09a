"""Where a photo was taken and where its camera looked: pose from EXIF/XMP or from a flight log.

A :class:`PhotoPose` holds the camera position (EXIF GPS latitude/longitude, GPS altitude above
sea level, height above take-off) and the camera attitude as DJI writes it:

* ``yaw_deg``: heading of the image top for a nadir photo / of the optical axis for an oblique
  one, degrees clockwise from north (the gimbal yaw when known, else the flight yaw);
* ``pitch_deg``: -90 looks straight down (nadir), 0 at the horizon;
* ``roll_deg``: rotation about the optical axis (positive: the image's right side goes down).

:func:`read_pose` reads them from a JPEG or TIFF without decoding its pixels: EXIF GPS through
Pillow (or the ``EXIF_*`` items GDAL writes in a GeoTIFF's GDAL_METADATA tag) and DJI's XMP packet
(``drone-dji:RelativeAltitude``, ``Gimbal*Degree``, ``Flight*Degree``, and
``GPSLatitude``/``GPSLongtitude`` as a fallback position). The height above take-off is never
guessed from the sea-level altitude: without ``RelativeAltitude`` the photo is refused.

The lens (``PhotoPose.camera``; its ``calibration`` says where it came from), first found wins:

1. ``calibration``: a calibration file (:mod:`mapping.calibration`, ``"file"``), usually solved
   from this very flight by OpenDroneMap;
2. ``camera``: the camera the caller names (its own calibration);
3. the photo's DJI XMP: ``DewarpData`` (``"dji-xmp"``; ``"dji-xmp (dewarped)"`` with
   ``DewarpFlag`` 1: the JPEG was undistorted in camera, so no distortion), else
   ``CalibratedFocalLength`` and ``CalibratedOpticalCenterX/Y`` (``"dji-xmp-focal"``, with the
   catalog's distortion: ``"dji-xmp-focal+catalog"``);
4. the catalog camera of the EXIF model (``"catalog"`` when it has a distortion, else
   ``"none"``);
5. EXIF focal length and sensor size (``"exif"``: no lens calibration).

A DewarpData that cannot be read is ignored, and the fallback says so (``"catalog (bad
DewarpData)"``).

:func:`flight_poses` reads the camera shots ``survey fly`` recorded (CAMERA_FEEDBACK), and
:func:`pose_for_photo` prefers the photo's own metadata, falling back to the flight record named
by a ``sNN_IIII...`` file name.
"""

from __future__ import annotations

import math
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base

from mapping.calibration import CalibrationFile, FileLens
from survey.core.camera import Camera, camera_from_exif_model
from survey.core.errors import ImageError, InputError
from survey.core.files import read_json
from survey.core.plan_folder import FlightFolder

_FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
# EXIF FocalPlaneResolutionUnit: 2 inch, 3 cm (4 mm and 5 um as some DNG writers use them).
_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
_PHOTO_NAME = re.compile(r"^s(\d+)_(\d+)", re.IGNORECASE)
_GDAL_METADATA = 42112  # TIFF tag: GDAL's metadata XML (<GDALMetadata><Item name=...>)
_XMP_FIELD = re.compile(r'drone-dji:(\w+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')'
                        r'|<drone-dji:(\w+)>\s*([^<]*?)\s*<')


@dataclass(frozen=True)
class PhotoPose:
    """Camera position, attitude and intrinsics of one photo.

    ``path`` is the photo; for a pose from :func:`flight_poses` it is the flight record file
    (``sortie_NN_photos.json``) until :func:`pose_for_photo` pairs it with a photo.
    ``camera`` has the photo's actual pixel size. ``source`` says where the pose came from
    (``"exif+dji-xmp"``, ``"dji-xmp"``, ``"flight-log"``).
    """

    path: Path
    lat_deg: float
    lon_deg: float
    alt_msl_m: float | None
    rel_alt_m: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    camera: Camera
    source: str
    time: str | None = None


class NoPoseMetadata(InputError):
    """A readable photo that lacks its position or its height above take-off."""


def photo_gsd_cm(pose: PhotoPose) -> float:
    """Nadir ground sample distance (cm per pixel) at the photo's height above take-off."""
    return pose.camera.gsd_cm(pose.rel_alt_m)


# --- reading the file -----------------------------------------------------------------------


def read_pose(path: str | PathLike[str], *, camera: Camera | None = None,
              calibration: CalibrationFile | None = None) -> PhotoPose:
    """The pose of a photo from its EXIF GPS and DJI XMP metadata (pixels are not decoded).

    Parameters
    ----------
    path
        A JPEG or TIFF (or any image Pillow opens) with EXIF GPS and DJI XMP.
    camera
        Camera to use instead of the photo's own (XMP, catalog, EXIF); scaled to its pixel size.
    calibration
        A calibration file's cameras: the one that fits the photo gives its lens, over
        ``camera``, the XMP calibration and the catalog (see the module).

    Raises
    ------
    ImageError
        Missing, unreadable, truncated or not an image.
    NoPoseMetadata
        No GPS position, or no ``RelativeAltitude`` (height above take-off) in the XMP.
    InputError
        Camera intrinsics unknown (EXIF model not in the catalog, no usable focal length).
    """
    file = Path(path)
    meta = _read_metadata(file)
    xmp = _numbers(meta.xmp)
    position = _exif_position(meta.gps)
    source = "exif+dji-xmp"
    if position is None:
        position = _xmp_position(xmp)
        source = "dji-xmp"
    if position is None:
        raise NoPoseMetadata(file, "no GPS position in EXIF or DJI XMP")
    rel_alt = _first(xmp, "RelativeAltitude")
    if rel_alt is None:
        raise NoPoseMetadata(file, "no height above take-off (no drone-dji:RelativeAltitude)")
    alt_msl = _exif_altitude(meta.gps)
    if alt_msl is None:
        alt_msl = _first(xmp, "AbsoluteAltitude")
    yaw = _first(xmp, "GimbalYawDegree", "FlightYawDegree")
    pitch = _first(xmp, "GimbalPitchDegree")
    if yaw is None or pitch is None:
        source += "+no-gimbal"  # a nadir camera heading north is assumed for what is missing
    return PhotoPose(
        path=file,
        lat_deg=position[0],
        lon_deg=position[1],
        alt_msl_m=alt_msl,
        rel_alt_m=rel_alt,
        yaw_deg=(yaw or 0.0) % 360.0,
        pitch_deg=-90.0 if pitch is None else pitch,
        roll_deg=_first(xmp, "GimbalRollDegree") or 0.0,
        camera=_photo_camera(file, meta, camera, calibration),
        source=source,
        time=_exif_time(meta.details),
    )


@dataclass(frozen=True)
class _Metadata:
    """What a photo's header says: pixel size, EXIF IFD0 / Exif / GPS tags (by tag number) and
    the ``drone-dji:`` XMP fields as text (by lower-case name)."""

    size: tuple[int, int]
    tags: dict[int, Any]
    details: dict[int, Any]
    gps: dict[int, Any]
    xmp: dict[str, str]


def _read_metadata(file: Path) -> _Metadata:
    with _open_image(file) as image:
        try:
            size = image.size
            exif = image.getexif()
            tags, gps = dict(exif), dict(exif.get_ifd(IFD.GPSInfo))
            details = dict(exif.get_ifd(IFD.Exif))
            packet = _xmp_packet(image, file)
            gdal_tags, gdal_gps, gdal_xmp = _gdal_metadata(image)
        except (OSError, SyntaxError, ValueError, struct.error) as exc:
            raise ImageError(file, f"corrupt metadata ({exc})") from None
    for target, extra in ((tags, gdal_tags), (details, gdal_tags), (gps, gdal_gps)):
        for key, value in extra.items():
            target.setdefault(key, value)
    xmp = _xmp_strings(packet)
    for name, text in _xmp_strings(gdal_xmp).items():
        xmp.setdefault(name, text)
    return _Metadata(size, tags, details, gps, xmp)


def _gdal_metadata(image: Image.Image) -> tuple[dict[int, Any], dict[int, Any], str]:
    """EXIF tags (IFD0 and Exif together; GPS) and an XMP packet from a GeoTIFF's GDAL_METADATA
    tag, where GDAL keeps what it read from EXIF as ``EXIF_<TagName>`` items (``EXIF_Model``,
    ``EXIF_FocalLength`` ``(3.61)``, ``EXIF_GPSLatitude`` ``(46) (50) (33.3855)``) and an XMP
    packet in the ``xml:XMP`` domain. Empty when there is none or it is not XML."""
    tags: dict[int, Any] = {}
    gps: dict[int, Any] = {}
    text = getattr(image, "tag_v2", {}).get(_GDAL_METADATA) if hasattr(image, "tag_v2") else None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str) or "<GDALMetadata" not in text:
        return tags, gps, ""
    try:
        root = ET.fromstring(text.strip("\x00 \n"))
    except ET.ParseError:
        return tags, gps, ""
    packets = []
    for item in root.iter("Item"):
        name, domain, value = item.get("name", ""), item.get("domain", ""), item.text or ""
        if domain.lower() == "xml:xmp":
            packets.append(value)
        elif name.startswith("EXIF_") and domain in ("", "EXIF"):
            tag = name[5:]
            if tag in GPS.__members__:
                gps[GPS[tag].value] = _gdal_value(value)
            elif tag in Base.__members__:
                tags[Base[tag].value] = _gdal_value(value)
    return tags, gps, "\n".join(packets)


def _gdal_value(text: str) -> Any:
    """A GDAL EXIF item's value: ``(3.61)`` → 3.61, ``(46) (50) (33.3855)`` → a tuple,
    ``0x01`` → bytes, anything else the text.

    >>> _gdal_value("(46) (50) (33.3855)"), _gdal_value("(3.61)"), _gdal_value("0x01")
    ((46.0, 50.0, 33.3855), 3.61, b'\\x01')
    """
    text = text.strip()
    if re.fullmatch(r"(\(\s*[^()]*\s*\)\s*)+", text):
        try:
            numbers = tuple(float(v) for v in re.findall(r"\(([^()]*)\)", text))
        except ValueError:
            return text
        return numbers[0] if len(numbers) == 1 else numbers
    words = text.split()
    if words and all(re.fullmatch(r"0x[0-9a-fA-F]{1,2}", w) for w in words):
        return bytes(int(w, 16) for w in words)
    return text


def _open_image(file: Path) -> Image.Image:
    """Pillow's lazy image (header and metadata only), after checking the JPEG is complete."""
    if not file.is_file():
        raise ImageError(file, "no such file" if not file.exists() else "not a file")
    try:
        with open(file, "rb") as fh:
            head = fh.read(3)
            fh.seek(max(0, file.stat().st_size - 4096))
            tail = fh.read()
        if head == b"\xff\xd8\xff" and b"\xff\xd9" not in tail:
            raise ImageError(file, "truncated JPEG (no end marker)")
        return Image.open(file)
    except (UnidentifiedImageError, ImportError):
        # ImportError: once ultralytics is imported, its patched Image.open reacts to an
        # unidentified file by importing an optional HEIF plugin that is not installed
        raise ImageError(file, "not an image") from None
    except OSError as exc:
        raise ImageError(file, f"cannot be read ({exc})") from None


def _xmp_packet(image: Image.Image, file: Path) -> str:
    """The XMP packet as text: Pillow's JPEG/PNG/TIFF reading, else a scan of the file head."""
    data = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    if not data:
        with open(file, "rb") as fh:
            head = fh.read(1 << 18)
        start, end = head.find(b"<x:xmpmeta"), head.find(b"</x:xmpmeta>")
        data = head[start:end] if 0 <= start < end else b""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _xmp_strings(packet: str) -> dict[str, str]:
    """The ``drone-dji:`` fields of an XMP packet (attributes or elements) as text, by
    lower-case name (DJI spells ``GPSLatitude`` or ``GpsLatitude`` depending on the model);
    the first of a name wins.

    >>> _xmp_strings('drone-dji:DewarpData="2018-06-08;3678.87,3671.84" <drone-dji:DewarpFlag>0<')
    {'dewarpdata': '2018-06-08;3678.87,3671.84', 'dewarpflag': '0'}
    """
    fields: dict[str, str] = {}
    for match in _XMP_FIELD.finditer(packet):
        name = (match.group(1) or match.group(4)).lower()
        text = next(g for g in (match.group(2), match.group(3), match.group(5)) if g is not None)
        fields.setdefault(name, text.strip())
    return fields


def _numbers(fields: dict[str, str]) -> dict[str, float]:
    """The fields that are finite numbers."""
    out: dict[str, float] = {}
    for name, text in fields.items():
        try:
            value = float(text)
        except ValueError:
            continue
        if math.isfinite(value):
            out[name] = value
    return out


def _xmp_fields(packet: str) -> dict[str, float]:
    """Numeric ``drone-dji:`` fields of an XMP packet (attributes or elements), by lower-case
    name.

    >>> _xmp_fields('drone-dji:RelativeAltitude="+40.20" <drone-dji:GimbalYawDegree>-3.5<')
    {'relativealtitude': 40.2, 'gimbalyawdegree': -3.5}
    """
    return _numbers(_xmp_strings(packet))


def _first(fields: dict[str, float], *names: str) -> float | None:
    """The first of ``names`` (any case) present in ``fields``."""
    return next((fields[n.lower()] for n in names if n.lower() in fields), None)


def _xmp_position(xmp: dict[str, float]) -> tuple[float, float] | None:
    """DJI's XMP position (``GPSLongtitude`` is DJI's spelling on some models)."""
    lat = _first(xmp, "GPSLatitude")
    lon = _first(xmp, "GPSLongitude", "GPSLongtitude")
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None
    return lat, lon


def _dms(value: Any) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60.0 + s / 3600.0
    return degrees if math.isfinite(degrees) else None


def _ref(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ").upper()


def _exif_position(gps: dict[int, Any]) -> tuple[float, float] | None:
    """EXIF GPS latitude/longitude in degrees (S and W negative); ``None`` when absent or 0, 0."""
    lat, lon = _dms(gps.get(GPS.GPSLatitude)), _dms(gps.get(GPS.GPSLongitude))
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None
    if _ref(gps.get(GPS.GPSLatitudeRef, "N")) == "S":
        lat = -lat
    if _ref(gps.get(GPS.GPSLongitudeRef, "E")) == "W":
        lon = -lon
    return lat, lon


def _exif_altitude(gps: dict[int, Any]) -> float | None:
    """EXIF GPS altitude (above sea level; ref 1 means below)."""
    try:
        altitude = float(gps[GPS.GPSAltitude])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    ref = gps.get(GPS.GPSAltitudeRef, 0)
    if isinstance(ref, bytes):
        below = ref[:1] == b"\x01"
    else:
        below = str(ref).strip("\x00 ") in ("1", "1.0")
    return (-altitude if below else altitude) if math.isfinite(altitude) else None


def _exif_time(details: dict[int, Any]) -> str | None:
    """``DateTimeOriginal`` as ISO 8601 (camera local time, no zone), or ``None``."""
    text = str(details.get(Base.DateTimeOriginal, "")).strip("\x00 ")
    try:
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


# --- camera intrinsics ----------------------------------------------------------------------


def scale_camera(camera: Camera, width_px: int, height_px: int) -> Camera:
    """``camera`` for a photo of ``width_px`` × ``height_px``.

    A photo with the sensor's aspect uses the whole sensor (resized images too); one with
    another aspect (e.g. 16:9 from a 4:3 sensor) is taken as a crop of the full sensor width.
    A portrait photo from a landscape camera swaps the sensor sides. Pixels are square.

    >>> from survey.core.camera import CATALOG
    >>> c = scale_camera(CATALOG["phantom3-fc300s"], 4000, 2250)
    >>> round(c.sensor_w_mm, 2), round(c.sensor_h_mm, 3), c.image_h_px
    (6.17, 3.471, 2250)
    """
    sw, sh = camera.sensor_w_mm, camera.sensor_h_mm
    cw, ch = camera.image_w_px, camera.image_h_px
    focal, offset, (k1, k2, p1, p2, k3) = camera.focal_px, camera.centre_offset_px, \
        camera.distortion
    if (width_px < height_px) != (cw < ch):  # portrait: the sensor's axes swap
        sw, sh, cw, ch = sh, sw, ch, cw
        focal = focal[::-1] if focal else None
        offset, p1, p2 = offset[::-1], p2, p1
    aspect = width_px / height_px
    if abs(aspect - cw / ch) > 0.01 * aspect:
        sh = sw / aspect
    scale = width_px / cw  # calibrations in pixels follow the width (a crop keeps the centre)
    return replace(camera, sensor_w_mm=sw, sensor_h_mm=sh, image_w_px=width_px,
                   image_h_px=height_px,
                   focal_px=(focal[0] * scale, focal[1] * scale) if focal else None,
                   centre_offset_px=(offset[0] * scale, offset[1] * scale),
                   distortion=(k1, k2, p1, p2, k3))


def _photo_camera(file: Path, meta: _Metadata, camera: Camera | None,
                  calibration: CalibrationFile | None) -> Camera:
    """The photo's intrinsics and lens, in the order of the module's list."""
    width, height = meta.size
    make, model = _text(meta.tags.get(Base.Make)), _text(meta.tags.get(Base.Model))
    focal = _positive(meta.details.get(Base.FocalLength))
    if camera is None:
        catalog = camera_from_exif_model(model)
        if catalog is not None and (focal is None or abs(focal / catalog.focal_mm - 1) < 0.05):
            camera = catalog
        base = (scale_camera(camera, width, height) if camera is not None
                else _exif_camera(f"exif:{model or file.name}", focal, meta.details, width,
                                  height))
        own = True
    else:
        base, own = scale_camera(camera, width, height), False
    lens = calibration.for_photo(make, model, width, height) if calibration else None
    if lens is not None:
        return with_file_lens(base, lens, width, height, focal_mm=focal,
                              name=f"file:{model or file.name}")
    if own:
        base = _xmp_lens(base, meta, focal, f"xmp:{model or file.name}")
    if base is None:
        raise InputError(file, f"unknown camera intrinsics (model {model or '?'!r} not in the "
                         "catalog, no FocalLength with FocalLengthIn35mmFilm or "
                         "FocalPlaneXResolution)")
    return base


def _exif_camera(name: str, focal: float | None, details: dict[int, Any], width: int,
                 height: int) -> Camera | None:
    """A pinhole from EXIF focal length and sensor size (``calibration="exif"``), or ``None``."""
    focal35 = _positive(details.get(Base.FocalLengthIn35mmFilm))
    if focal and focal35:
        diagonal_mm = _FULL_FRAME_DIAGONAL_MM * focal / focal35
        sensor_w = diagonal_mm * width / math.hypot(width, height)
        return Camera(name, sensor_w, sensor_w * height / width, focal, width, height,
                      calibration="exif")
    xres = _positive(details.get(Base.FocalPlaneXResolution))
    unit_mm = _UNIT_MM.get(int(_positive(details.get(Base.FocalPlaneResolutionUnit)) or 2))
    if focal and xres and unit_mm:
        sensor_w = width / xres * unit_mm
        return Camera(name, sensor_w, sensor_w * height / width, focal, width, height,
                      calibration="exif")
    return None


def _with_lens(base: Camera | None, focal_px: tuple[float, float],
               offset_px: tuple[float, float], distortion: tuple[float, ...], ref: tuple[int, int],
               size: tuple[int, int], calibration: str, *, focal_mm: float | None,
               name: str) -> Camera:
    """``base`` (or, without one, a camera made from the calibration alone) with a lens given
    in pixels of a ``ref`` sized image, for a photo of ``size``."""
    ref_w, ref_h = ref
    if base is None:  # no sensor size known: any pixel pitch that keeps the focal length
        pitch_mm = focal_mm / focal_px[0] if focal_mm else 0.001
        base = Camera(name, ref_w * pitch_mm, ref_h * pitch_mm, focal_px[0] * pitch_mm,
                      ref_w, ref_h)
    k1, k2, p1, p2, k3 = (float(v) for v in distortion)
    at_ref = replace(scale_camera(base, ref_w, ref_h), focal_px=focal_px,
                     centre_offset_px=offset_px, distortion=(k1, k2, p1, p2, k3),
                     calibration=calibration)
    return scale_camera(at_ref, *size)


def with_file_lens(base: Camera | None, lens: FileLens, width: int, height: int, *,
                   focal_mm: float | None = None, name: str = "file") -> Camera:
    """``base`` with a calibration file's lens (``calibration="file"``) for a photo of
    ``width`` × ``height`` (the lens is scaled from its file's image size)."""
    ref = (lens.width, lens.height)  # a portrait photo: scale_camera turns the lens too
    return _with_lens(base, lens.focal_px, lens.centre_offset_px, lens.distortion, ref,
                      (width, height), "file", focal_mm=focal_mm, name=name)


def _xmp_lens(base: Camera | None, meta: _Metadata, focal_mm: float | None,
              name: str) -> Camera | None:
    """``base`` with the DJI XMP calibration when the photo has one (see the module)."""
    xmp = meta.xmp
    size = meta.size
    ref = _reference_size(meta)
    dewarped = _first(_numbers(xmp), "DewarpFlag") == 1
    note = ""
    if "dewarpdata" in xmp:
        values = _dewarp_data(xmp["dewarpdata"])
        if values is not None:
            fx, fy, dx, dy = values[:4]
            return _with_lens(base, (fx, fy), (dx, dy), (0.0,) * 5 if dewarped else values[4:],
                              ref,
                              size, "dji-xmp (dewarped)" if dewarped else "dji-xmp",
                              focal_mm=focal_mm, name=name)
        note = " (bad DewarpData)"
    numbers = _numbers(xmp)
    focal_px = _first(numbers, "CalibratedFocalLength")
    if focal_px is not None and focal_px > 0:
        cx = _first(numbers, "CalibratedOpticalCenterX")
        cy = _first(numbers, "CalibratedOpticalCenterY")
        offset = (0.0 if cx is None else cx - ref[0] / 2, 0.0 if cy is None else cy - ref[1] / 2)
        distortion: tuple[float, ...] = (0.0,) * 5
        label = "dji-xmp-focal"
        if dewarped:
            label += " (dewarped)"
        elif base is not None and base.calibration == "catalog" and base.distorted:
            distortion, label = base.distortion, "dji-xmp-focal+catalog"
        return _with_lens(base, (focal_px, focal_px), offset, distortion, ref, size,
                          label + note, focal_mm=focal_mm, name=name)
    if base is None:
        return None
    if dewarped:  # undistorted in camera: the catalog's lens distortion no longer applies
        return replace(base.pinhole(), calibration="dewarped" + note)
    return replace(base, calibration=base.calibration + note) if note else base


def _dewarp_data(text: str) -> tuple[float, ...] | None:
    """``fx, fy, cx_off, cy_off, k1, k2, p1, p2, k3`` of DJI's ``DewarpData``
    (``"YYYY-MM-DD;fx,fy,cx,cy,k1,k2,p1,p2,k3"``), or ``None`` when it is not that.

    >>> _dewarp_data("2018-06-08;3678.87,3671.84,10.11,-24.19,-0.26829,0.11439,0.0001676,"
    ...              "0.0000983,-0.03743")[:4]
    (3678.87, 3671.84, 10.11, -24.19)
    >>> _dewarp_data("2018-06-08;3678.87,nan") is None
    True
    """
    try:
        values = tuple(float(v) for v in text.rsplit(";", 1)[-1].split(","))
    except ValueError:
        return None
    if len(values) != 9 or not all(math.isfinite(v) for v in values):
        return None
    if values[0] <= 0 or values[1] <= 0:
        return None
    return values


def _reference_size(meta: _Metadata) -> tuple[int, int]:
    """The image size DJI's calibration pixels refer to: EXIF's ``ExifImageWidth/Height`` (the
    size the camera wrote, kept by most resizing tools) when it has the photo's aspect, else
    the photo's own size."""
    width, height = meta.size
    try:
        w = int(meta.details.get(Base.ExifImageWidth) or 0)
        h = int(meta.details.get(Base.ExifImageHeight) or 0)
    except (TypeError, ValueError):
        return width, height
    if w > 0 and h > 0 and abs(w / h - width / height) <= 0.01 * width / height:
        return w, h
    return width, height


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value or "").strip("\x00 ")


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


# --- flight records -------------------------------------------------------------------------

_RECORD_KEYS = ("index", "lat_deg", "lon_deg", "alt_amsl_m", "alt_rel_m", "yaw_deg")


def flight_poses(flight_dir: str | PathLike[str], camera: Camera) -> dict[tuple[int, int],
                                                                          PhotoPose]:
    """Poses of the camera shots ``survey fly`` recorded, keyed by (sortie, image index).

    Reads every ``flight/sortie_NN_photos.json``. The camera hangs on a gimbal looking
    straight down, so pitch is -90, roll 0 and yaw the vehicle's yaw. Each pose's ``path`` is
    its record file; ``source`` is ``"flight-log"``; ``time`` is UTC ISO 8601 when
    ``time_usec`` is a Unix time (GPS-synchronised), else ``None``.

    Raises
    ------
    InputError
        No such folder, no record files, or a record that is not valid JSON / lacks a field.
    """
    folder = Path(flight_dir)
    files = FlightFolder(folder).photo_lists() if folder.is_dir() else []
    if not files:
        raise InputError(folder, "no flight photo records (sortie_NN_photos.json)")
    poses: dict[tuple[int, int], PhotoPose] = {}
    for file in files:
        for pose_key, pose in _sortie_poses(file, camera):
            poses[pose_key] = pose
    return poses


def _sortie_poses(file: Path, camera: Camera) -> list[tuple[tuple[int, int], PhotoPose]]:
    doc = read_json(file)
    try:
        sortie = int(doc["sortie"])
        photos = list(doc["photos"])
    except (KeyError, TypeError, ValueError):
        raise InputError(file, "not a flight photo record (needs 'sortie' and 'photos')") from None
    out = []
    for n, photo in enumerate(photos):
        missing = [k for k in _RECORD_KEYS if not isinstance(photo, dict) or k not in photo]
        if missing:
            raise InputError(file, f"photo record {n} lacks {', '.join(missing)}")
        out.append(((sortie, int(photo["index"])), _record_pose(file, photo, camera)))
    return out


def _record_pose(file: Path, photo: dict[str, Any], camera: Camera) -> PhotoPose:
    usec = int(photo.get("time_usec") or 0)
    time = (datetime.fromtimestamp(usec / 1e6, UTC).isoformat() if usec > 10**15 else None)
    return PhotoPose(
        path=file,
        lat_deg=float(photo["lat_deg"]),
        lon_deg=float(photo["lon_deg"]),
        alt_msl_m=float(photo["alt_amsl_m"]),
        rel_alt_m=float(photo["alt_rel_m"]),
        yaw_deg=float(photo["yaw_deg"]) % 360.0,
        pitch_deg=-90.0,
        roll_deg=0.0,
        camera=camera,
        source="flight-log",
        time=time,
    )


def photo_key(path: str | PathLike[str]) -> tuple[int, int] | None:
    """(sortie, image index) from a ``sNN_IIII...`` photo name, else ``None``.

    >>> photo_key("out/s01_0042.jpg")
    (1, 42)
    >>> photo_key("DJI_0018.JPG") is None
    True
    """
    match = _PHOTO_NAME.match(Path(path).name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def pose_for_photo(path: str | PathLike[str], flight: dict[tuple[int, int], PhotoPose] | None,
                   camera: Camera | None, calibration: CalibrationFile | None = None
                   ) -> PhotoPose:
    """The photo's own pose when its metadata has one, else its flight record.

    The flight record is found by the file name (``s01_0042.jpg``: sortie 1, image index 42);
    it gets ``path`` set to the photo and ``camera`` scaled to the photo's pixel size, with the
    lens of ``calibration`` when one of its cameras fits the photo.

    Raises
    ------
    ImageError
        The photo is unreadable.
    NoPoseMetadata
        No pose in the photo and no matching flight record.
    InputError
        Unknown intrinsics (pass ``camera``).
    """
    file = Path(path)
    try:
        return read_pose(file, camera=camera, calibration=calibration)
    except NoPoseMetadata as exc:
        key = photo_key(file)
        record = flight.get(key) if (flight and key) else None
        if record is None:
            raise NoPoseMetadata(file, f"{exc.problem}, and no flight record for it") from None
    meta = _read_metadata(file)
    cam = scale_camera(camera or record.camera, *meta.size)
    lens = calibration.for_photo(_text(meta.tags.get(Base.Make)),
                                 _text(meta.tags.get(Base.Model)), *meta.size) if calibration \
        else None
    if lens is not None:
        cam = with_file_lens(cam, lens, *meta.size)
    return replace(record, path=file, camera=cam)
