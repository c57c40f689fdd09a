"""A virtual drone camera: photographs a flat :class:`sitl.world.scene.Scene` from a pose.

Conventions: the camera model of :mod:`survey.core.camera` (the same as the photo
georeferencing in ``mapping.georef``); a :class:`~survey.core.camera.Camera` is the camera, its
``make`` and ``exif_model`` the EXIF ``Make``/``Model`` its photos carry (default
:data:`PHANTOM3`, an ideal pinhole). A camera with lens distortion is rendered with it (the
pinhole picture warped through :meth:`~survey.core.camera.Camera.normalised`), and every photo
carries its lens in DJI's XMP ``DewarpData``, as a real DJI camera does, so a reader takes that
calibration over the catalog's for the same EXIF model.

- Image pixels: ``u`` right, ``v`` down, continuous coordinates with ``(0, 0)`` at the top-left
  corner of the top-left pixel; the principal point is the image centre ``(W/2, H/2)`` plus the
  camera's ``centre_offset_px``.
- Pose: ``yaw`` is the heading, degrees clockwise from north; ``pitch`` −90 looks straight down
  (nadir), 0 at the horizon; ``roll`` turns the camera about its optical axis (positive: the
  image's right side tips down, i.e. the picture rotates anticlockwise).
- For nadir with yaw 0 the image top points north and its right side east; yaw 90 puts east at
  the top (and south on the right).
- World: east/north/up metres of the scene's local frame; the ground is flat at take-off height,
  so the camera is ``rel_alt_m`` above it.

With ``R = camera_rotation(yaw, pitch, roll)`` (camera → world), a world point ``P`` seen from
``C`` has camera coordinates ``Rᵀ (P − C)`` = (right, down, forward) and projects to
``K Rᵀ (P − C)`` (``K``: :meth:`~survey.core.camera.Camera.matrix`).
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from PIL.TiffImagePlugin import IFDRational

from sitl.world.scene import NEUTRAL_GROUND_BGR, Scene
from survey.core.camera import CATALOG, Camera, camera_rotation
from survey.core.errors import InputError
from survey.core.files import atomic_write_bytes, read_json
from survey.core.plan_folder import FlightFolder

SKY_BGR: tuple[int, int, int] = (225, 200, 170)

PHANTOM3 = replace(CATALOG["phantom3-fc300s"].pinhole(), make="DJI", exif_model="FC300S",
                   calibration="none")
"""The default virtual camera: a DJI Phantom 3's FC300S, 4000 × 3000, as its photos name it, with
an ideal (distortion-free) lens: its photos say so in their XMP ``DewarpData``, so readers do not
apply the catalog's FC300S distortion to them. Other sizes:
``dataclasses.replace(PHANTOM3, image_w_px=400, image_h_px=300)``."""
DISTORTION_GRID_PX = 8
"""Spacing of the grid on which a distorted camera's pixel → pinhole pixel map is computed
(through OpenCV) before it is interpolated to every pixel."""


def ground_to_image_homography(scene: Scene, camera: Camera, *, lat: float, lon: float,
                               rel_alt_m: float, yaw_deg: float, pitch_deg: float = -90.0,
                               roll_deg: float = 0.0) -> np.ndarray:
    """3×3 homography: scene pixel ``[col, row, 1]`` → image pixel ``[u, v, 1]`` (continuous)."""
    if not rel_alt_m > 0:
        raise InputError("rel_alt_m", f"camera must be above the ground, got {rel_alt_m} m")
    cx, cy = scene.frame.to_local(lon, lat)
    c = np.array([float(cx), float(cy), float(rel_alt_m)])
    r = camera_rotation(yaw_deg, pitch_deg, roll_deg).T  # world → camera
    m = np.column_stack([r[:, 0], r[:, 1], -r @ c])  # ground (x, y, 1) → camera
    return camera.matrix() @ m @ scene.affine_matrix()


def render_photo(scene: Scene, camera: Camera, *, lat: float, lon: float,
                 rel_alt_m: float, yaw_deg: float, pitch_deg: float = -90.0,
                 roll_deg: float = 0.0) -> np.ndarray:
    """What the camera sees of the flat scene, ``(H, W, 3)`` BGR ``uint8``.

    Ground outside the scene is :data:`sitl.world.scene.NEUTRAL_GROUND_BGR`; above the horizon, sky.
    When a photo pixel spans several scene pixels the scene is first reduced (image pyramid),
    so high shots do not alias. A camera with lens distortion sees the scene through it: a
    pinhole picture large enough for the distorted view is warped to the camera's pixels.
    """
    pose = {"lat": lat, "lon": lon, "rel_alt_m": rel_alt_m, "yaw_deg": yaw_deg,
            "pitch_deg": pitch_deg, "roll_deg": roll_deg}
    if not camera.distorted:
        return _render_pinhole(scene, camera, **pose)
    map_uv = _distortion_map(camera)  # (H, W, 2) continuous pinhole pixels of each pixel
    lo = np.floor(np.nanmin(map_uv, axis=(0, 1))) - 2
    hi = np.ceil(np.nanmax(map_uv, axis=(0, 1))) + 2
    size = np.maximum(hi - lo, 1).astype(int)
    (cx, cy), (w, h) = camera.principal_point, size
    canvas = replace(camera.pinhole(), image_w_px=int(w), image_h_px=int(h),
                     focal_px=(camera.fx, camera.fy),
                     centre_offset_px=(cx - lo[0] - w / 2, cy - lo[1] - h / 2))
    flat = _render_pinhole(scene, canvas, **pose)
    index = (map_uv - lo - 0.5).astype(np.float32)  # continuous → the canvas's pixel indices
    return cv2.remap(flat, index[..., 0], index[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=NEUTRAL_GROUND_BGR)


_MAX_CANVAS = 3.0
"""The pinhole canvas of a distorted camera spans at most this many times its image."""


@functools.lru_cache(maxsize=4)
def _distortion_map(camera: Camera) -> np.ndarray:
    """``(H, W, 2)``: where each pixel's ray meets the image of the same camera without its
    distortion (continuous pixels), from :meth:`Camera.normalised` on a coarse grid (pixel
    corners every :data:`DISTORTION_GRID_PX`, the image's border included), interpolated
    bilinearly to the pixel centres. Cached: a flight's photos share their camera (the array
    is read-only)."""
    w, h = camera.image_w_px, camera.image_h_px
    gu = np.linspace(0.0, w, max(2, round(w / DISTORTION_GRID_PX) + 1))
    gv = np.linspace(0.0, h, max(2, round(h / DISTORTION_GRID_PX) + 1))
    uu, vv = np.meshgrid(gu, gv)
    xy = camera.normalised(np.column_stack([uu.ravel(), vv.ravel()]))
    (cx, cy), fx, fy = camera.principal_point, camera.fx, camera.fy
    grid = np.column_stack([cx + fx * xy[:, 0], cy + fy * xy[:, 1]]).reshape(len(gv), len(gu), 2)
    reach = _MAX_CANVAS / 2 * np.array([w, h])
    grid = np.clip(grid, np.array([cx, cy]) - reach, np.array([cx, cy]) + reach)
    along_u = _interpolate(grid, gu, np.arange(w) + 0.5, axis=1)
    grid = _interpolate(along_u, gv, np.arange(h) + 0.5, axis=0)
    grid.setflags(write=False)
    return grid


def _interpolate(values: np.ndarray, at: np.ndarray, to: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``values`` sampled at ``at`` (increasing) along ``axis``."""
    i = np.clip(np.searchsorted(at, to) - 1, 0, len(at) - 2)
    t = ((to - at[i]) / (at[i + 1] - at[i])).astype(np.float32)
    a, b = np.take(values, i, axis=axis), np.take(values, i + 1, axis=axis)
    shape = [1] * values.ndim
    shape[axis] = len(to)
    t = t.reshape(shape)
    return (a * (1 - t) + b * t).astype(np.float32)


def _render_pinhole(scene: Scene, camera: Camera, *, lat: float, lon: float,
                    rel_alt_m: float, yaw_deg: float, pitch_deg: float,
                    roll_deg: float) -> np.ndarray:
    """:func:`render_photo` for a camera without distortion."""
    w, h = camera.image_w_px, camera.image_h_px
    hom = ground_to_image_homography(scene, camera, lat=lat, lon=lon, rel_alt_m=rel_alt_m,
                                     yaw_deg=yaw_deg, pitch_deg=pitch_deg, roll_deg=roll_deg)
    src = scene.image
    # Photo GSD at the centre vs the scene's: reduce the scene when much finer than the photo.
    r = camera_rotation(yaw_deg, pitch_deg, roll_deg).T  # world → camera
    down_cos = max(1e-3, -r[2, 2])
    photo_gsd = rel_alt_m / down_cos / camera.fx
    level = 0
    while photo_gsd > 2.0 * scene.gsd_m * 2**level and min(src.shape[:2]) > 64 and level < 6:
        src = cv2.pyrDown(src)
        level += 1
    if level:  # reduced-image pixel → scene pixel
        hom = hom @ np.diag([scene.width_px / src.shape[1], scene.height_px / src.shape[0], 1.0])
    # Index coordinates (pixel centres at integers) on both sides.
    to_cont = np.array([[1.0, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1.0]])
    from_cont = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1.0]])
    hom_idx = from_cont @ hom @ to_cont
    out = cv2.warpPerspective(src, hom_idx, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=NEUTRAL_GROUND_BGR)
    # Rays at or above the horizon never meet the ground: paint them as sky.
    ray_z = (r.T @ np.linalg.inv(camera.matrix()))[2]  # world up-component of the ray
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float)
    if (corners @ ray_z).max() >= -1e-9:
        uu = (ray_z[0] * (np.arange(w, dtype=np.float32) + 0.5))[None, :]
        vv = (ray_z[1] * (np.arange(h, dtype=np.float32) + 0.5) + ray_z[2])[:, None]
        sky = (uu + vv) >= -1e-3
        out[sky] = SKY_BGR
    return out


# ====================================================================== JPEG + metadata
def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60.0) * 3600.0
    return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(round(s * 1_000_000), 1_000_000))


def _rational(value: float, den: int = 1000) -> IFDRational:
    f = Fraction(round(value * den), den)
    return IFDRational(f.numerator, f.denominator)


def _sgn(v: float) -> str:
    return f"{v:+.2f}"


def _norm_yaw(v: float) -> float:
    v = (v + 180.0) % 360.0 - 180.0
    return 180.0 if v == -180.0 else v


def dji_xmp(camera: Camera, *, alt_msl_m: float, rel_alt_m: float, gimbal_roll: float,
            gimbal_yaw: float, gimbal_pitch: float, flight_roll: float, flight_yaw: float,
            flight_pitch: float, time: datetime) -> bytes:
    """A DJI-style XMP packet (the layout of a Phantom's photos), padded like DJI's.

    The camera's lens is in ``drone-dji:DewarpData`` as DJI writes it (``"DATE;fx,fy,cx,cy,k1,
    k2,p1,p2,k3"``: pixels at the image's size, the principal point's offset from the centre,
    OpenCV's distortion), with ``DewarpFlag`` 0 (the picture is not undistorted)."""
    date = time.strftime("%Y-%m-%d")
    lens = ",".join(f"{v:.9g}" for v in (camera.fx, camera.fy, *camera.centre_offset_px,
                                          *camera.distortion))
    body = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="DJI Meta Data"\n'
        '    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"\n'
        '    xmlns:exif="http://ns.adobe.com/exif/1.0/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"\n'
        '    xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"\n'
        f'   xmp:ModifyDate="{date}"\n'
        f'   xmp:CreateDate="{date}"\n'
        f'   tiff:Make="{camera.make}"\n'
        f'   tiff:Model="{camera.exif_model}"\n'
        '   dc:format="image/jpeg"\n'
        f'   drone-dji:AbsoluteAltitude="{_sgn(alt_msl_m)}"\n'
        f'   drone-dji:RelativeAltitude="{_sgn(rel_alt_m)}"\n'
        f'   drone-dji:GimbalRollDegree="{_sgn(gimbal_roll)}"\n'
        f'   drone-dji:GimbalYawDegree="{_sgn(gimbal_yaw)}"\n'
        f'   drone-dji:GimbalPitchDegree="{_sgn(gimbal_pitch)}"\n'
        f'   drone-dji:FlightRollDegree="{_sgn(flight_roll)}"\n'
        f'   drone-dji:FlightYawDegree="{_sgn(flight_yaw)}"\n'
        f'   drone-dji:FlightPitchDegree="{_sgn(flight_pitch)}"\n'
        f'   drone-dji:DewarpData="{date};{lens}"\n'
        '   drone-dji:DewarpFlag="0"\n'
        '   crs:Version="7.0"\n'
        '   crs:HasSettings="False"\n'
        '   crs:HasCrop="False"\n'
        '   crs:AlreadyApplied="False">\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
    )
    pad = (" " * 100 + "\n") * 20
    return (body + pad + '<?xpacket end="w"?>\n').encode("utf-8")


def write_photo_jpeg(path: str | os.PathLike[str], image: np.ndarray, camera: Camera, *,
                     lat: float, lon: float, alt_msl_m: float, rel_alt_m: float,
                     yaw_deg: float, pitch_deg: float = -90.0, roll_deg: float = 0.0,
                     flight_yaw_deg: float | None = None, flight_pitch_deg: float = 0.0,
                     flight_roll_deg: float = 0.0, time: datetime | None = None,
                     quality: int = 90) -> Path:
    """Write a BGR image as a JPEG with a DJI photo's EXIF (GPS: MSL altitude) and XMP.

    ``yaw_deg``/``pitch_deg``/``roll_deg`` are the gimbal's (the camera's) angles, written as
    ``drone-dji:Gimbal*Degree``; the vehicle's go into ``drone-dji:Flight*Degree``. Yaws are
    written in DJI's −180..180 range. ``time`` is local time (DJI writes no zone); default now.
    EXIF ``Make``/``Model`` are the camera's ``make``/``exif_model`` (left out when empty).
    The file appears atomically, with the usual permissions.
    """
    path = Path(path)
    h, w = image.shape[:2]
    if (w, h) != (camera.image_w_px, camera.image_h_px):
        raise InputError(path, f"image is {w}×{h}, the camera's "
                         f"{camera.image_w_px}×{camera.image_h_px}")
    time = time or datetime.now()
    stamp = time.strftime("%Y:%m:%d %H:%M:%S")
    exif = Image.Exif()
    for tag, name in ((Base.Make, camera.make), (Base.Model, camera.exif_model)):
        if name:  # a camera without EXIF names: read back by its focal length
            exif[tag] = name
    exif[Base.Orientation] = 1
    exif[Base.Software] = "sitl virtual camera"
    exif[Base.DateTime] = stamp
    ex = exif.get_ifd(IFD.Exif)
    ex[Base.ExifVersion] = b"0230"
    ex[Base.DateTimeOriginal] = stamp
    ex[Base.DateTimeDigitized] = stamp
    ex[Base.FNumber] = _rational(2.8, 10)
    ex[Base.ExposureTime] = IFDRational(1, 500)
    ex[Base.ISOSpeedRatings] = 100
    ex[Base.FocalLength] = _rational(camera.focal_mm, 100)
    ex[Base.FocalLengthIn35mmFilm] = camera.focal_35mm
    ex[Base.ExifImageWidth] = w
    ex[Base.ExifImageHeight] = h
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[GPS.GPSVersionID] = b"\x02\x03\x00\x00"
    gps[GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
    gps[GPS.GPSLatitude] = _dms(lat)
    gps[GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
    gps[GPS.GPSLongitude] = _dms(lon)
    gps[GPS.GPSAltitudeRef] = b"\x00" if alt_msl_m >= 0 else b"\x01"
    gps[GPS.GPSAltitude] = _rational(abs(alt_msl_m), 1000)
    gimbal_yaw = _norm_yaw(yaw_deg)
    flight_yaw = _norm_yaw(yaw_deg if flight_yaw_deg is None else flight_yaw_deg)
    xmp = dji_xmp(camera, alt_msl_m=alt_msl_m, rel_alt_m=rel_alt_m, gimbal_roll=roll_deg,
                  gimbal_yaw=gimbal_yaw, gimbal_pitch=pitch_deg, flight_roll=flight_roll_deg,
                  flight_yaw=flight_yaw, flight_pitch=flight_pitch_deg, time=time)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[..., ::-1])).save(
        buf, format="JPEG", quality=quality, exif=exif.tobytes(), xmp=xmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


# ====================================================================== a flight's photos
DEFAULT_START = datetime(2015, 9, 10, 13, 0, 0)
"""When a flight whose photo times are counted from boot is taken to start (the Jōsō flood)."""


def _photo_time(time_usec: int, start: datetime) -> datetime:
    if time_usec >= 10**15:  # microseconds since the UNIX epoch (after 2001)
        return datetime.fromtimestamp(time_usec / 1e6, UTC).replace(tzinfo=None)
    return start + timedelta(microseconds=int(time_usec))


def photograph_flight(scene: Scene, camera: Camera, flight_dir: str | os.PathLike[str],
                      out_dir: str | os.PathLike[str], *, takeoff_alt_msl_m: float | None = None,
                      start_time: datetime = DEFAULT_START,
                      progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Photograph every shot a flight reported (``sortie_NN_photos.json``) over ``scene``.

    Each photo ``{"index", "lat_deg", "lon_deg", "alt_amsl_m", "alt_rel_m", "time_usec",
    "roll_deg", "pitch_deg", "yaw_deg"}`` becomes ``out_dir/sNN_IIII.jpg``: the camera hangs on
    a stabilised gimbal looking straight down (pitch −90, roll 0) with the vehicle's yaw; the
    vehicle's roll/pitch/yaw go into the XMP's Flight angles. The ground is at take-off height,
    so the camera is ``alt_rel_m`` above it. EXIF GPS altitude is ``alt_amsl_m``, or
    ``takeoff_alt_msl_m + alt_rel_m`` when ``takeoff_alt_msl_m`` is given. Photo times are
    ``time_usec`` (since the epoch, or since boot counted from ``start_time``). Photos already
    there are skipped, so a run can be repeated or resumed.

    Returns
    -------
    list[Path]
        Every photo of the flight (written now or before), in sortie and index order.

    Raises
    ------
    InputError
        No photo lists in ``flight_dir``, or one that cannot be read.
    """
    flight_dir, out = Path(flight_dir), Path(out_dir)
    lists = FlightFolder(flight_dir).photo_lists()
    if not lists:
        raise InputError(flight_dir, "no sortie_NN_photos.json in this folder")
    jobs: list[tuple[Path, int, dict]] = []
    for lp in lists:
        doc = read_json(lp, what="a photo list")
        try:
            sortie = int(doc["sortie"])
            photos = list(doc["photos"])
            for ph in photos:
                jobs.append((out / f"s{sortie:02d}_{int(ph['index']):04d}.jpg", sortie, ph))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(lp, f"not a photo list ({exc})") from exc
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for done, (path, _sortie, ph) in enumerate(jobs, start=1):
        paths.append(path)
        if not path.exists():
            try:
                lat, lon = float(ph["lat_deg"]), float(ph["lon_deg"])
                rel = float(ph["alt_rel_m"])
                msl = (float(ph["alt_amsl_m"]) if takeoff_alt_msl_m is None
                       else takeoff_alt_msl_m + rel)
                yaw = float(ph.get("yaw_deg", 0.0))
                roll, pitch = float(ph.get("roll_deg", 0.0)), float(ph.get("pitch_deg", 0.0))
                t = _photo_time(int(ph.get("time_usec", 0)), start_time)
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(flight_dir, f"photo {path.stem}: bad field ({exc})") from exc
            img = render_photo(scene, camera, lat=lat, lon=lon, rel_alt_m=rel, yaw_deg=yaw)
            write_photo_jpeg(path, img, camera, lat=lat, lon=lon, alt_msl_m=msl,
                             rel_alt_m=rel, yaw_deg=yaw, pitch_deg=-90.0, roll_deg=0.0,
                             flight_yaw_deg=yaw, flight_pitch_deg=pitch, flight_roll_deg=roll,
                             time=t)
        if progress is not None:
            progress(done, len(jobs))
    return paths
