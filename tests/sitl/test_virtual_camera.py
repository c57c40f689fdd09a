"""The virtual camera: geometry against an independent pinhole projection, DJI metadata,
and photographing a flight."""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sitl.world.camera import photograph_flight, render_photo, write_photo_jpeg
from sitl.world.scene import NEUTRAL_GROUND_BGR, Scene
from survey.core.camera import Camera
from survey.core.errors import InputError
from survey.core.frame import LocalFrame

CAM = Camera("test", 6.4, 4.8, 4.0, 800, 600, make="DJI", exif_model="TEST1")
FRAME = LocalFrame(36.0712, 139.9933)
GSD = 0.5
HALF = 200.0  # the scene spans ±200 m
# Marker squares (2 m) at local east/north metres, each its own colour (BGR).
MARKERS = {
    (255, 0, 0): (10.0, 20.0),
    (0, 255, 0): (-15.0, 5.0),
    (0, 0, 255): (5.0, -12.0),
    (0, 255, 255): (12.0, 60.0),
    (255, 0, 255): (-20.0, 45.0),
    (255, 255, 0): (18.0, 100.0),
}
CAM_XY = (3.0, -4.0)
ALT = 60.0


@pytest.fixture(scope="module")
def scene() -> Scene:
    n = int(2 * HALF / GSD)
    img = np.full((n, n, 3), 128, np.uint8)
    for colour, (x, y) in MARKERS.items():
        c, r = round((x + HALF) / GSD), round((HALF - y) / GSD)
        img[r - 2:r + 2, c - 2:c + 2] = colour
    return Scene(img, FRAME, (GSD, 0.0, -HALF, 0.0, -GSD, HALF))


def _cam_lonlat() -> tuple[float, float]:
    lon, lat = FRAME.to_geo(*CAM_XY)
    return float(lon), float(lat)


def expected_pixel(xy: tuple[float, float], yaw: float, pitch: float) -> tuple[float, float]:
    """Independent pinhole projection: ENU offset → camera axes (right, image-down, optical
    axis) written out for each case, then divide by depth."""
    d = np.array([xy[0] - CAM_XY[0], xy[1] - CAM_XY[1], -ALT])
    y, p = math.radians(yaw), math.radians(pitch)
    if pitch == -90.0:
        right = np.array([math.cos(y), -math.sin(y), 0.0])
        down = np.array([-math.sin(y), -math.cos(y), 0.0])  # image down = away from heading
        axis = np.array([0.0, 0.0, -1.0])
    else:  # yaw 0 oblique: looking north and down
        assert yaw == 0.0
        right = np.array([1.0, 0.0, 0.0])
        axis = np.array([0.0, math.cos(p), math.sin(p)])
        down = np.array([0.0, math.sin(p), -math.cos(p)])
    xc, yc, zc = right @ d, down @ d, axis @ d
    assert zc > 0
    fx = CAM.focal_mm / CAM.sensor_w_mm * CAM.image_w_px
    fy = CAM.focal_mm / CAM.sensor_h_mm * CAM.image_h_px
    return fx * xc / zc + CAM.image_w_px / 2, fy * yc / zc + CAM.image_h_px / 2


def found_pixel(img: np.ndarray, colour: tuple[int, int, int]) -> tuple[float, float] | None:
    diff = np.abs(img.astype(int) - np.array(colour)).sum(axis=2)
    vv, uu = np.nonzero(diff < 120)
    if len(uu) < 4:
        return None
    return float(uu.mean() + 0.5), float(vv.mean() + 0.5)


@pytest.mark.parametrize(("yaw", "pitch"), [(0.0, -90.0), (90.0, -90.0), (-35.0, -90.0),
                                            (0.0, -45.0)])
def test_markers_where_a_pinhole_puts_them(scene: Scene, yaw: float, pitch: float) -> None:
    lon, lat = _cam_lonlat()
    img = render_photo(scene, CAM, lat=lat, lon=lon, rel_alt_m=ALT, yaw_deg=yaw,
                       pitch_deg=pitch)
    assert img.shape == (600, 800, 3) and img.dtype == np.uint8
    checked = 0
    for colour, xy in MARKERS.items():
        u, v = expected_pixel(xy, yaw, pitch)
        got = found_pixel(img, colour)
        if not (20 < u < CAM.image_w_px - 20 and 20 < v < CAM.image_h_px - 20):
            assert got is None or not (0 < got[0] < CAM.image_w_px)
            continue
        assert got is not None, f"marker {colour} missing"
        assert got == pytest.approx((u, v), abs=1.0)
        checked += 1
    assert checked >= 2


def test_image_top_is_north_for_yaw_0(scene: Scene) -> None:
    lon, lat = _cam_lonlat()
    img = render_photo(scene, CAM, lat=lat, lon=lon, rel_alt_m=ALT, yaw_deg=0.0)
    u, v = found_pixel(img, (255, 0, 0))  # 24 m north, 7 m east of the camera
    assert v < 300 - 100 and u > 400
    img = render_photo(scene, CAM, lat=lat, lon=lon, rel_alt_m=ALT, yaw_deg=90.0)
    u, v = found_pixel(img, (255, 0, 0))  # heading east: north is on the left
    assert u < 400 - 100 and v < 300


def test_outside_the_scene_is_neutral_and_horizon_is_sky(scene: Scene) -> None:
    lon, lat = FRAME.to_geo(0.0, HALF + 80.0)
    img = render_photo(scene, CAM, lat=float(lat), lon=float(lon), rel_alt_m=ALT, yaw_deg=0.0)
    assert (img[:100] == NEUTRAL_GROUND_BGR).all()
    lon, lat = _cam_lonlat()
    img = render_photo(scene, CAM, lat=lat, lon=lon, rel_alt_m=ALT, yaw_deg=0.0,
                       pitch_deg=-10.0)
    assert not (img[0] == 128).all(axis=-1).any()  # the top row is above the horizon
    assert (img[-1] == 128).all()
    with pytest.raises(InputError):
        render_photo(scene, CAM, lat=lat, lon=lon, rel_alt_m=0.0, yaw_deg=0.0)


def _xmp(path: Path) -> dict[str, str]:
    with Image.open(path) as im:
        xmp = im.info["xmp"]
    xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert 'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"' in xmp
    return dict(re.findall(r'drone-dji:(\w+)="([^"]*)"', xmp))


def _deg(dms, ref: str) -> float:
    v = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
    return -v if ref in "SW" else v


def test_jpeg_metadata_like_a_dji_photo(tmp_path: Path) -> None:
    img = np.full((600, 800, 3), 90, np.uint8)
    path = write_photo_jpeg(tmp_path / "p.jpg", img, CAM, lat=-36.0712345, lon=139.9933217,
                            alt_msl_m=72.4, rel_alt_m=40.2, yaw_deg=-135.5, pitch_deg=-90.0,
                            roll_deg=0.0, flight_yaw_deg=224.0, flight_pitch_deg=2.5,
                            flight_roll_deg=-1.25, time=datetime(2015, 9, 10, 13, 14, 15))
    assert [p.name for p in tmp_path.iterdir()] == ["p.jpg"]
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.size == (800, 600)
        exif = im.getexif()
    assert exif[0x010F] == "DJI" and exif[0x0110] == "TEST1"
    sub = exif.get_ifd(0x8769)
    assert sub[0x9003] == "2015:09:10 13:14:15"
    assert float(sub[0x920A]) == pytest.approx(4.0)
    assert sub[0xA405] == round(4.0 * math.hypot(36, 24) / math.hypot(6.4, 4.8))
    assert (sub[0xA002], sub[0xA003]) == (800, 600)
    gps = exif.get_ifd(0x8825)
    assert _deg(gps[2], gps[1]) == pytest.approx(-36.0712345, abs=1e-6)
    assert _deg(gps[4], gps[3]) == pytest.approx(139.9933217, abs=1e-6)
    assert gps[5] in (b"\x00", 0) and float(gps[6]) == pytest.approx(72.4, abs=1e-3)
    xmp = _xmp(path)
    assert xmp["RelativeAltitude"] == "+40.20" and xmp["AbsoluteAltitude"] == "+72.40"
    assert xmp["GimbalPitchDegree"] == "-90.00" and xmp["GimbalYawDegree"] == "-135.50"
    assert xmp["GimbalRollDegree"] == "+0.00"
    assert xmp["FlightYawDegree"] == "-136.00" and xmp["FlightPitchDegree"] == "+2.50"
    assert xmp["FlightRollDegree"] == "-1.25"


def test_real_dji_photo_reads_the_same_way() -> None:
    """Our reader helpers agree with a real DJI photo's layout (skipped without the data)."""
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "dji_brighton_beach"
    photos = sorted(data.glob("*.JPG")) if data.exists() else []
    if not photos:
        pytest.skip("no real DJI photos")
    xmp = _xmp(photos[0])
    assert set(xmp) >= {"RelativeAltitude", "GimbalYawDegree", "GimbalPitchDegree"}
    assert re.fullmatch(r"[+-]\d+\.\d\d", xmp["RelativeAltitude"])


def _flight(folder: Path) -> Path:
    folder.mkdir()
    photos = []
    for i, (x, y) in enumerate([(0.0, 0.0), (10.0, 15.0)], start=1):
        lon, lat = FRAME.to_geo(x, y)
        photos.append({"index": i, "lat_deg": lat, "lon_deg": lon, "alt_amsl_m": 80.0 + i,
                       "alt_rel_m": 50.0, "time_usec": 1_000_000 * i, "roll_deg": 0.5,
                       "pitch_deg": -1.0, "yaw_deg": 270.0})
    (folder / "sortie_02_photos.json").write_text(json.dumps({"sortie": 2, "photos": photos}))
    return folder


def test_photograph_flight(scene: Scene, tmp_path: Path) -> None:
    flight = _flight(tmp_path / "flight")
    seen: list[tuple[int, int]] = []
    out = photograph_flight(scene, CAM, flight, tmp_path / "photos",
                            progress=lambda d, t: seen.append((d, t)))
    assert [p.name for p in out] == ["s02_0001.jpg", "s02_0002.jpg"]
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [p.name for p in out]
    assert seen == [(1, 2), (2, 2)]
    xmp = _xmp(out[1])
    assert xmp["GimbalYawDegree"] == "-90.00" and xmp["GimbalPitchDegree"] == "-90.00"
    assert xmp["RelativeAltitude"] == "+50.00" and xmp["FlightRollDegree"] == "+0.50"
    with Image.open(out[1]) as im:
        exif = im.getexif()
        assert float(exif.get_ifd(0x8825)[6]) == pytest.approx(82.0)
        assert exif.get_ifd(0x8769)[0x9003] == "2015:09:10 13:00:02"
    mtimes = [p.stat().st_mtime_ns for p in out]
    again = photograph_flight(scene, CAM, flight, tmp_path / "photos")
    assert again == out and [p.stat().st_mtime_ns for p in out] == mtimes
    assert len(list((tmp_path / "photos").iterdir())) == 2
    # With the take-off altitude given, EXIF altitude is take-off + relative.
    out3 = photograph_flight(scene, CAM, flight, tmp_path / "p3", takeoff_alt_msl_m=20.0)
    with Image.open(out3[0]) as im:
        assert float(im.getexif().get_ifd(0x8825)[6]) == pytest.approx(70.0)


def test_photograph_flight_without_photo_lists(scene: Scene, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="sortie_NN_photos"):
        photograph_flight(scene, CAM, tmp_path, tmp_path / "out")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_photos_get_the_usual_permissions(scene: Scene, tmp_path: Path) -> None:
    """Photos are shared outputs: 0666 less the umask, not a temporary file's 0600."""
    path = write_photo_jpeg(tmp_path / "p.jpg", np.zeros((600, 800, 3), np.uint8), CAM,
                            lat=36.0, lon=140.0, alt_msl_m=80.0, rel_alt_m=60.0, yaw_deg=0.0)
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    out = photograph_flight(scene, CAM, _flight(tmp_path / "flight"), tmp_path / "photos")
    assert {p.stat().st_mode & 0o777 for p in out} == {0o666 & ~_umask()}
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [p.name for p in out]


def test_the_image_must_have_the_cameras_size(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="image is 400×300, the camera's 800×600"):
        write_photo_jpeg(tmp_path / "p.jpg", np.zeros((300, 400, 3), np.uint8), CAM, lat=36.0,
                         lon=140.0, alt_msl_m=80.0, rel_alt_m=60.0, yaw_deg=0.0)
    assert not list(tmp_path.iterdir())


def test_a_camera_without_exif_names_writes_none(tmp_path: Path) -> None:
    cam = Camera("plain", 6.4, 4.8, 4.0, 80, 60)
    path = write_photo_jpeg(tmp_path / "p.jpg", np.zeros((60, 80, 3), np.uint8), cam, lat=36.0,
                            lon=140.0, alt_msl_m=80.0, rel_alt_m=60.0, yaw_deg=0.0)
    with Image.open(path) as im:
        exif = im.getexif()
    assert 0x010F not in exif and 0x0110 not in exif
    assert float(exif.get_ifd(0x8769)[0x920A]) == pytest.approx(4.0)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", r"sortie_01_photos\.json: not a readable JSON file \("),
    ("[1, 2]", r"sortie_01_photos\.json: not a photo list \(top level is not an object\)"),
    ('{"sortie": 1}', r"sortie_01_photos\.json: not a photo list \('photos'\)"),
    ('{"sortie": 1, "photos": [{"lat_deg": 1}]}', r"not a photo list \('index'\)"),
])
def test_unreadable_photo_lists(scene: Scene, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "sortie_01_photos.json").write_text(text)
    with pytest.raises(InputError, match=message) as info:
        photograph_flight(scene, CAM, tmp_path, tmp_path / "out")
    assert "\n" not in str(info.value)
