import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from PIL.TiffImagePlugin import IFDRational

from mapping.pose import (
    NoPoseMetadata,
    PhotoPose,
    flight_poses,
    photo_gsd_cm,
    photo_key,
    pose_for_photo,
    read_pose,
    scale_camera,
)
from survey.core.camera import CATALOG, Camera
from survey.core.errors import ImageError, InputError

DATA = Path(os.environ.get("SURVEY_DATA_DIR",
                           Path(__file__).resolve().parents[3] / "shared" / "data"))
DJI = DATA / "dji_brighton_beach"
needs_dji = pytest.mark.skipif(not DJI.is_dir(), reason=f"no real DJI photos in {DJI}")

XMP_ATTRS = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
    'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
    'drone-dji:AbsoluteAltitude="+250.50" drone-dji:RelativeAltitude="+40.20" '
    'drone-dji:GimbalRollDegree="+0.50" drone-dji:GimbalYawDegree="-30.00" '
    'drone-dji:GimbalPitchDegree="-45.00" drone-dji:FlightYawDegree="+10.00" '
    '/></rdf:RDF></x:xmpmeta>'
)


def _photo(path: Path, *, gps: bool = True, xmp: str | None = XMP_ATTRS, model: str = "FC300S",
           focal: float | None = 3.61, focal35: int | None = None,
           size: tuple[int, int] = (80, 45), **exif_extra) -> Path:
    """A small JPEG with EXIF GPS (46°50'33.3855"N 91°59'40.4156"W, 198.3 m) and DJI XMP."""
    exif = Image.Exif()
    exif[Base.Model] = model
    if gps:
        ifd = exif.get_ifd(IFD.GPSInfo)
        ifd.update({GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: (46.0, 50.0, 33.3855),
                    GPS.GPSLongitudeRef: "W", GPS.GPSLongitude: (91.0, 59.0, 40.4156),
                    GPS.GPSAltitudeRef: b"\x00", GPS.GPSAltitude: IFDRational(198309, 1000)})
    details = exif.get_ifd(IFD.Exif)
    details[Base.DateTimeOriginal] = "2016:06:23 16:31:59"
    if focal is not None:
        details[Base.FocalLength] = IFDRational(round(focal * 100), 100)
    if focal35 is not None:
        details[Base.FocalLengthIn35mmFilm] = focal35
    details.update(exif_extra.get("details", {}))
    extra = {"xmp": xmp.encode()} if xmp else {}
    Image.new("RGB", size, (90, 120, 80)).save(path, exif=exif, **extra)
    return path


# --- real DJI photos --------------------------------------------------------------------------


@needs_dji
def test_real_dji_photos_all_parse():
    photos = sorted(DJI.glob("*.JPG"))
    assert len(photos) == 18
    start = time.perf_counter()
    poses = [read_pose(p) for p in photos]
    assert time.perf_counter() - start < 3.0  # metadata only: no pixel decoding
    for pose in poses:
        assert 46.80 < pose.lat_deg < 46.88 and -92.05 < pose.lon_deg < -91.95
        assert 39.5 < pose.rel_alt_m < 40.5
        assert 195 < pose.alt_msl_m < 202
        assert pose.pitch_deg == pytest.approx(-90, abs=0.2)
        assert pose.roll_deg == 0.0
        assert pose.source == "exif+dji-xmp"
        assert pose.time.startswith("2016-06-23T16:3")
        cam = pose.camera
        assert cam.name == "phantom3-fc300s"
        assert (cam.focal_mm, cam.sensor_w_mm, cam.image_w_px, cam.image_h_px) == (
            3.61, 6.17, 4000, 2250)
        assert cam.sensor_h_mm == pytest.approx(6.17 * 2250 / 4000)
        assert photo_gsd_cm(pose) == pytest.approx(1.71, abs=0.02)
    first = poses[0]
    assert (first.lat_deg, first.lon_deg) == pytest.approx((46.842607, -91.994560), abs=2e-6)
    assert (first.rel_alt_m, first.alt_msl_m, first.yaw_deg) == (39.8, 198.309, 45.0)
    # The heading flips between flight lines: gimbal yaw -140 is read as 220.
    assert poses[6].yaw_deg == pytest.approx(220.0)
    lines = [round((p.yaw_deg - 45) / 180) % 2 for p in poses]  # 0: yaw ~45, 1: yaw ~225
    assert all(abs(p.yaw_deg - 45 - 180 * n) < 10 for p, n in zip(poses, lines, strict=True))
    assert lines == [0] * 6 + [1] * 6 + [0] * 6


@needs_dji
def test_real_photo_with_explicit_camera_is_scaled():
    pose = read_pose(DJI / "DJI_0018.JPG", camera=CATALOG["mavic3e"])
    assert pose.camera.name == "mavic3e"
    assert (pose.camera.image_w_px, pose.camera.image_h_px) == (4000, 2250)
    assert pose.camera.sensor_w_mm == 17.3


@needs_dji
def test_truncated_real_photo(tmp_path):
    data = (DJI / "DJI_0018.JPG").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: truncated JPEG"):
        read_pose(cut)


# --- synthetic photos -------------------------------------------------------------------------


def test_synthetic_photo_exif_and_xmp_attributes(tmp_path):
    pose = read_pose(_photo(tmp_path / "a.jpg"))
    assert (pose.lat_deg, pose.lon_deg) == pytest.approx((46.8426071, -91.9945599), abs=1e-7)
    assert pose.alt_msl_m == pytest.approx(198.309)
    assert pose.rel_alt_m == 40.2
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg) == (330.0, -45.0, 0.5)  # gimbal yaw
    assert pose.time == "2016-06-23T16:31:59"
    assert pose.camera == scale_camera(CATALOG["phantom3-fc300s"], 80, 45)
    assert pose.path == tmp_path / "a.jpg"


def test_xmp_elements_quotes_flight_yaw_and_dji_spellings(tmp_path):
    xmp = ("<x:xmpmeta><rdf:Description drone-dji:GimbalRollDegree='+1.5'>"
           '<drone-dji:GpsLatitude>-33.5</drone-dji:GpsLatitude>'
           '<drone-dji:GPSLongtitude>+151.25</drone-dji:GPSLongtitude>'
           '<drone-dji:RelativeAltitude>+60.0</drone-dji:RelativeAltitude>'
           '<drone-dji:AbsoluteAltitude>+90.0</drone-dji:AbsoluteAltitude>'
           '<drone-dji:FlightYawDegree>-90.0</drone-dji:FlightYawDegree>'
           '<drone-dji:GimbalPitchDegree>-90.0</drone-dji:GimbalPitchDegree>'
           '</rdf:Description></x:xmpmeta>')
    pose = read_pose(_photo(tmp_path / "b.jpg", gps=False, xmp=xmp))
    assert (pose.lat_deg, pose.lon_deg, pose.rel_alt_m, pose.alt_msl_m) == (-33.5, 151.25, 60, 90)
    assert pose.yaw_deg == 270.0  # flight yaw when no gimbal yaw
    assert pose.roll_deg == 1.5
    assert pose.source == "dji-xmp"


def test_southern_western_and_below_sea_level(tmp_path):
    path = tmp_path / "s.jpg"
    exif = Image.Exif()
    exif[Base.Model] = "FC300S"
    exif.get_ifd(IFD.GPSInfo).update({
        GPS.GPSLatitudeRef: "S", GPS.GPSLatitude: (10.0, 30.0, 0.0), GPS.GPSLongitudeRef: "W",
        GPS.GPSLongitude: (20.0, 15.0, 0.0), GPS.GPSAltitudeRef: b"\x01", GPS.GPSAltitude: 12.5})
    Image.new("RGB", (40, 30)).save(path, exif=exif, xmp=XMP_ATTRS.encode())
    pose = read_pose(path)
    assert (pose.lat_deg, pose.lon_deg, pose.alt_msl_m) == (-10.5, -20.25, -12.5)
    assert pose.camera.sensor_h_mm == 4.55  # 4:3 photo: the whole catalog sensor


def test_intrinsics_from_35mm_equivalent(tmp_path):
    pose = read_pose(_photo(tmp_path / "c.jpg", model="NoSuchCam", focal=4.0, focal35=24,
                            size=(400, 300)))
    diagonal = (36**2 + 24**2) ** 0.5 * 4.0 / 24
    assert pose.camera.name == "exif:NoSuchCam"
    assert pose.camera.sensor_w_mm == pytest.approx(diagonal * 0.8)
    assert pose.camera.sensor_h_mm == pytest.approx(diagonal * 0.6)
    assert pose.camera.focal_mm == 4.0


def test_intrinsics_from_focal_plane_resolution(tmp_path):
    details = {Base.FocalPlaneXResolution: IFDRational(500),
               Base.FocalPlaneResolutionUnit: 4}  # 500 px per mm
    pose = read_pose(_photo(tmp_path / "d.jpg", model="X", focal=8.0, size=(4000, 3000),
                            details=details))
    assert pose.camera.sensor_w_mm == pytest.approx(8.0)
    assert pose.camera.sensor_h_mm == pytest.approx(6.0)


def test_catalog_model_with_another_focal_length_is_not_trusted(tmp_path):
    pose = read_pose(_photo(tmp_path / "z.jpg", model="ILCE-7RM4", focal=85.0, focal35=85))
    assert pose.camera.name == "exif:ILCE-7RM4"
    assert pose.camera.focal_mm == 85.0


def test_unknown_intrinsics(tmp_path):
    with pytest.raises(InputError, match=r"e\.jpg: unknown camera intrinsics"):
        read_pose(_photo(tmp_path / "e.jpg", model="Mystery", focal=None))
    camera = Camera("mine", 13.2, 8.8, 8.8, 5472, 3648)
    pose = read_pose(tmp_path / "e.jpg", camera=camera)
    assert (pose.camera.name, pose.camera.image_w_px, pose.camera.image_h_px) == ("mine", 80, 45)
    assert pose.camera.sensor_h_mm == pytest.approx(13.2 * 45 / 80)  # 16:9 crop of a 3:2 sensor


def test_no_gps(tmp_path):
    with pytest.raises(NoPoseMetadata, match=r"nogps\.jpg: no GPS position"):
        read_pose(_photo(tmp_path / "nogps.jpg", gps=False))


def test_no_relative_altitude_is_not_guessed(tmp_path):
    xmp = XMP_ATTRS.replace('drone-dji:RelativeAltitude="+40.20" ', "")
    with pytest.raises(InputError, match=r"norel\.jpg: no height above take-off"):
        read_pose(_photo(tmp_path / "norel.jpg", xmp=xmp))
    with pytest.raises(InputError, match="no height above take-off"):
        read_pose(_photo(tmp_path / "noxmp.jpg", xmp=None))


def test_not_an_image_truncated_and_missing(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo\n")
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image"):
        read_pose(text)
    data = _photo(tmp_path / "whole.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:-200])
    with pytest.raises(ImageError, match=r"cut\.jpg: truncated JPEG"):
        read_pose(cut)
    head = tmp_path / "head.jpg"
    head.write_bytes(data[:40])
    with pytest.raises(ImageError, match=r"head\.jpg"):
        read_pose(head)
    with pytest.raises(ImageError, match=r"absent\.jpg: no such file"):
        read_pose(tmp_path / "absent.jpg")


def test_scale_camera():
    cam = CATALOG["phantom3-fc300s"]
    half = scale_camera(cam, 2000, 1500)  # resized: same sensor, same field of view
    assert (half.sensor_w_mm, half.sensor_h_mm) == (6.17, 4.55)
    assert half.gsd_cm(40) == pytest.approx(2 * cam.gsd_cm(40))
    portrait = scale_camera(cam, 3000, 4000)
    assert (portrait.sensor_w_mm, portrait.sensor_h_mm) == (4.55, 6.17)


# --- flight records ---------------------------------------------------------------------------


def _records(flight: Path) -> Path:
    flight.mkdir()
    record = {"sortie": 1, "photos": [
        {"index": 42, "lat_deg": 35.1, "lon_deg": 139.2, "alt_amsl_m": 150.0, "alt_rel_m": 60.0,
         "time_usec": 1_700_000_000_000_000, "roll_deg": 2.0, "pitch_deg": -3.0,
         "yaw_deg": -90.0},
        {"index": 43, "lat_deg": 35.2, "lon_deg": 139.3, "alt_amsl_m": 151.0, "alt_rel_m": 61.0,
         "time_usec": 123, "roll_deg": 0.0, "pitch_deg": 0.0, "yaw_deg": 10.0},
    ]}
    path = flight / "sortie_01_photos.json"
    path.write_text(json.dumps(record))
    (flight / "sortie_02_photos.json").write_text(json.dumps({"sortie": 2, "photos": []}))
    return path


def test_flight_poses(tmp_path):
    record = _records(tmp_path / "flight")
    cam = CATALOG["mavic3e"]
    poses = flight_poses(tmp_path / "flight", cam)
    assert set(poses) == {(1, 42), (1, 43)}
    pose = poses[(1, 42)]
    assert isinstance(pose, PhotoPose)
    assert (pose.lat_deg, pose.lon_deg, pose.alt_msl_m, pose.rel_alt_m) == (35.1, 139.2, 150, 60)
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg) == (270.0, -90.0, 0.0)  # gimbal: nadir
    assert pose.camera == cam and pose.source == "flight-log" and pose.path == record
    assert pose.time == "2023-11-14T22:13:20+00:00"
    assert poses[(1, 43)].time is None  # not a Unix time (no GPS sync)


def test_flight_poses_errors(tmp_path):
    with pytest.raises(InputError, match="no flight photo records"):
        flight_poses(tmp_path, CATALOG["mavic3e"])
    (tmp_path / "sortie_01_photos.json").write_text("{broken")
    with pytest.raises(InputError, match=r"sortie_01_photos\.json: not a readable"):
        flight_poses(tmp_path, CATALOG["mavic3e"])
    (tmp_path / "sortie_01_photos.json").write_text('{"sortie": 1, "photos": [{"index": 1}]}')
    with pytest.raises(InputError, match=r"photo record 0 lacks lat_deg"):
        flight_poses(tmp_path, CATALOG["mavic3e"])


def test_pose_for_photo_prefers_metadata_then_flight_record(tmp_path):
    _records(tmp_path / "flight")
    cam = CATALOG["mavic3e"]
    flight = flight_poses(tmp_path / "flight", cam)
    bare = tmp_path / "s01_0042.jpg"
    Image.new("RGB", (528, 396)).save(bare)
    pose = pose_for_photo(bare, flight, cam)
    assert pose.source == "flight-log" and pose.path == bare
    assert (pose.lat_deg, pose.camera.image_w_px, pose.camera.image_h_px) == (35.1, 528, 396)
    own = _photo(tmp_path / "s01_0043.jpg")
    assert pose_for_photo(own, flight, None).source == "exif+dji-xmp"
    unknown = tmp_path / "s01_0044.jpg"
    Image.new("RGB", (8, 8)).save(unknown)
    with pytest.raises(NoPoseMetadata, match=r"s01_0044\.jpg: no GPS.*no flight record"):
        pose_for_photo(unknown, flight, cam)
    with pytest.raises(NoPoseMetadata, match="no flight record"):
        pose_for_photo(bare, None, cam)
    assert photo_key("s02_0007_x.jpg") == (2, 7)


def test_not_an_image_after_ultralytics_patched_pillow(tmp_path):
    """ultralytics replaces Image.open with one that imports an absent HEIF plugin on an
    unidentified file: still a one-line ImageError, not a ModuleNotFoundError."""
    from detection.offline import ultralytics_api
    from survey.core.errors import ImageError

    ultralytics_api()
    import ultralytics.utils.patches  # noqa: F401  (the patch is installed on import)

    junk = tmp_path / "notes.jpg"
    junk.write_text("not a photo")
    with pytest.raises(ImageError, match="not an image"):
        read_pose(junk)
