"""Where each photo's lens comes from: a calibration file, DJI XMP, the catalog, EXIF."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from PIL.TiffImagePlugin import IFDRational

from mapping.calibration import read_calibration
from mapping.georef import FlatGround, ground_to_pixel
from mapping.pose import pose_for_photo, read_pose
from survey.core.camera import CATALOG, EXIF_MODELS, camera_from_exif_model
from survey.core.errors import InputError
from tests.mapping.conftest import DJI, CentreModel

needs_dji = pytest.mark.skipif(not DJI.is_dir(), reason=f"no real DJI photos in {DJI}")

# a Phantom 4 RTK's DewarpData (pixels at 5472 × 3648)
DEWARP = ("2018-06-08;3678.87,3671.84,10.11,-24.19,-0.26829,0.11439,0.0001676,0.0000983,"
          "-0.03743")
M3E_DISTORTION = (-0.111398, 0.0122439, -0.000204996, -0.000119487, -0.0269388)  # catalog
BARREL = (-0.132438, 0.111056, 0.00011023, 0.000114239, -0.0158256)  # a 94° lens's barrel


def _xmp(**fields: str) -> str:
    extra = " ".join(f'drone-dji:{k}="{v}"' for k, v in fields.items())
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
            'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
            'drone-dji:AbsoluteAltitude="+250.50" drone-dji:RelativeAltitude="+40.20" '
            'drone-dji:GimbalRollDegree="+0.00" drone-dji:GimbalYawDegree="+10.00" '
            f'drone-dji:GimbalPitchDegree="-90.00" {extra} /></rdf:RDF></x:xmpmeta>')


def _exif(model: str, focal: float | None, make: str = "DJI", focal35: int | None = None,
          full: tuple[int, int] | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[Base.Make] = make
    exif[Base.Model] = model
    gps = exif.get_ifd(IFD.GPSInfo)
    gps.update({GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: (46.0, 50.0, 33.0),
                GPS.GPSLongitudeRef: "W", GPS.GPSLongitude: (91.0, 59.0, 40.0),
                GPS.GPSAltitudeRef: b"\x00", GPS.GPSAltitude: IFDRational(198309, 1000)})
    details = exif.get_ifd(IFD.Exif)
    if focal is not None:
        details[Base.FocalLength] = IFDRational(round(focal * 100), 100)
    if focal35 is not None:
        details[Base.FocalLengthIn35mmFilm] = focal35
    if full is not None:  # the size the camera wrote (this copy is resized)
        details[Base.ExifImageWidth], details[Base.ExifImageHeight] = full
    return exif


def _photo(path: Path, *, model: str = "FC6310R", focal: float | None = 8.8,
           size: tuple[int, int] = (96, 64), xmp: str | None = None, make: str = "DJI",
           focal35: int | None = None, full: tuple[int, int] | None = None) -> Path:
    exif = _exif(model, focal, make, focal35, full)
    Image.new("RGB", size, (90, 120, 80)).save(path, exif=exif.tobytes(),
                                              xmp=(xmp or _xmp()).encode())
    return path


# --- DJI XMP ----------------------------------------------------------------------------------


def test_dewarp_data_gives_focal_centre_and_distortion(tmp_path):
    pose = read_pose(_photo(tmp_path / "a.jpg", xmp=_xmp(DewarpData=DEWARP, DewarpFlag="0"),
                            full=(5472, 3648)))
    cam, s = pose.camera, 96 / 5472
    assert cam.calibration == "dji-xmp"
    assert cam.fx == pytest.approx(3678.87 * s) and cam.fy == pytest.approx(3671.84 * s)
    assert cam.centre_offset_px == pytest.approx((10.11 * s, -24.19 * s))
    assert cam.distortion == pytest.approx((-0.26829, 0.11439, 0.0001676, 0.0000983, -0.03743))
    assert (cam.image_w_px, cam.image_h_px, cam.sensor_w_mm) == (96, 64, 13.2)  # catalog's mm


def test_dewarp_data_without_the_written_size_is_in_the_photos_pixels(tmp_path):
    pose = read_pose(_photo(tmp_path / "a.jpg", size=(5472 // 16, 3648 // 16),
                            xmp=_xmp(DewarpData=DEWARP)))
    assert pose.camera.fx == pytest.approx(3678.87)  # no ExifImageWidth: the file's own size


def test_dewarp_flag_means_no_distortion(tmp_path):
    pose = read_pose(_photo(tmp_path / "a.jpg", xmp=_xmp(DewarpData=DEWARP, DewarpFlag="1"),
                            full=(5472, 3648)))
    assert pose.camera.calibration == "dji-xmp (dewarped)"
    assert not pose.camera.distorted and pose.camera.fx == pytest.approx(3678.87 * 96 / 5472)
    # dewarped in camera without DewarpData: the catalog's distortion does not apply either
    pose = read_pose(_photo(tmp_path / "b.jpg", model="M3E", focal=12.29, size=(80, 60),
                            xmp=_xmp(DewarpFlag="1")))
    assert (pose.camera.calibration, pose.camera.distorted) == ("dewarped", False)


@pytest.mark.parametrize("bad", ["garbage", "2018-06-08;1,2,3", "2018-06-08;0,0,0,0,0,0,0,0,0",
                                 "2018-06-08;nan,1,2,3,4,5,6,7,8", ""])
def test_malformed_dewarp_data_falls_back_and_says_so(tmp_path, bad):
    pose = read_pose(_photo(tmp_path / "a.jpg", model="M3E", focal=12.29, size=(80, 60),
                            xmp=_xmp(DewarpData=bad)))
    assert pose.camera.calibration == "catalog (bad DewarpData)"
    assert pose.camera.distortion == M3E_DISTORTION


def test_calibrated_focal_length_and_optical_centre(tmp_path):
    xmp = _xmp(CalibratedFocalLength="2300.5", CalibratedOpticalCenterX="2010.0",
               CalibratedOpticalCenterY="1490.0")
    pose = read_pose(_photo(tmp_path / "a.jpg", model="M3E", focal=12.29, size=(400, 300),
                            xmp=xmp, full=(4000, 3000)))
    cam = pose.camera
    assert cam.calibration == "dji-xmp-focal+catalog"  # focal from XMP, distortion from catalog
    assert (cam.fx, cam.fy) == pytest.approx((230.05, 230.05))
    assert cam.centre_offset_px == pytest.approx((1.0, -1.0))
    assert cam.distortion == M3E_DISTORTION
    unknown = read_pose(_photo(tmp_path / "b.jpg", model="Mystery", focal=None, size=(400, 300),
                               xmp=xmp))
    assert unknown.camera.calibration == "dji-xmp-focal" and not unknown.camera.distorted
    assert unknown.camera.fx == pytest.approx(2300.5)  # no EXIF intrinsics needed


# --- the catalog --------------------------------------------------------------------------------


def test_catalog_camera_with_distortion(tmp_path):
    pose = read_pose(_photo(tmp_path / "a.jpg", model="M3E", focal=12.29, size=(80, 45)))
    assert pose.camera.name == "mavic3e"
    assert pose.camera.calibration == "catalog"
    assert pose.camera.distortion == M3E_DISTORTION  # the crop keeps the sensor's lens
    without = read_pose(_photo(tmp_path / "b.jpg", model="FC7303", focal=4.49, size=(80, 60)))
    assert (without.camera.name, without.camera.calibration) == ("mini2-fc7303", "none")


@pytest.mark.parametrize("model", ["FC6310", "FC6310R", "FC6310S", "FC220", "FC330", "FC3411",
                                   "FC7303", "L1D-20c", "M3E", "M3T", "M30", "M4E", "ZenmuseP1",
                                   "ZH20", "ZenmuseL1", "FC300S", "FC300X", "FC8482"])
def test_survey_cameras_are_known_by_their_exif_model(model):
    cam = camera_from_exif_model(model)
    assert cam is not None and cam.name == EXIF_MODELS[model.upper()]
    assert 0 < cam.focal_mm < 40 and cam.sensor_w_mm > cam.sensor_h_mm > 0
    assert cam.calibration == ("catalog" if cam.distorted else "none")


def test_catalog_names_are_unique_and_models_point_into_it():
    assert set(EXIF_MODELS.values()) <= set(CATALOG)
    assert all(name == cam.name for name, cam in CATALOG.items())
    assert {"mavic3e", "phantom4pro", "mini4pro", "phantom3-fc300s", "matrice4e",
            "sony-a7r4-35mm"} <= set(CATALOG)  # the names used before stay


# --- a calibration file -------------------------------------------------------------------------

BROWN = {"projection_type": "brown", "width": 4000, "height": 3000, "focal_x": 0.58,
         "focal_y": 0.581, "c_x": 0.002, "c_y": -0.001, "k1": -0.12, "k2": 0.1, "p1": 0.0002,
         "p2": -0.0001, "k3": -0.02}


def _cameras_json(path: Path, cameras: dict) -> Path:
    path.write_text(json.dumps(cameras))
    return path


def test_opensfm_brown_camera_wins_over_xmp(tmp_path):
    cal = read_calibration(_cameras_json(tmp_path / "cameras.json",
                                         {"v2 dji fc300s 4000 3000 brown 0.58": BROWN}))
    photo = _photo(tmp_path / "a.jpg", model="FC300S", focal=3.61, size=(400, 300),
                   xmp=_xmp(DewarpData="2020-01-01;2000,2000,0,0,0.1,0,0,0,0"))
    cam = read_pose(photo, calibration=cal).camera
    assert cam.calibration == "file"
    assert (cam.fx, cam.fy) == pytest.approx((0.58 * 400, 0.581 * 400))
    assert cam.centre_offset_px == pytest.approx((0.002 * 400, -0.001 * 400))
    assert cam.distortion == pytest.approx((-0.12, 0.1, 0.0002, -0.0001, -0.02))
    assert read_pose(photo).camera.calibration == "dji-xmp"  # without the file


def test_opensfm_perspective_and_matching_by_model_then_size(tmp_path):
    cameras = {
        "v2 dji fc300s 4000 3000 brown 0.58": BROWN,
        "v2 dji fc6310r 5472 3648 perspective 0.67": {
            "projection_type": "perspective", "width": 5472, "height": 3648, "focal": 0.67,
            "k1": -0.26, "k2": 0.11},
        "v2 unknown unknown 400 300 brown 0.5": {**BROWN, "width": 400, "height": 300,
                                                 "focal_x": 0.5, "focal_y": 0.5},
    }
    cal = read_calibration(_cameras_json(tmp_path / "cameras.json", cameras))
    p4 = read_pose(_photo(tmp_path / "a.jpg", size=(5472 // 8, 3648 // 8)), calibration=cal)
    assert p4.camera.fx == pytest.approx(0.67 * 5472 / 8)
    assert p4.camera.distortion == (-0.26, 0.11, 0.0, 0.0, 0.0)
    assert p4.camera.centre_offset_px == (0.0, 0.0)
    # another model with the 4:3 aspect: the exact size wins among the 4:3 cameras
    other = read_pose(_photo(tmp_path / "b.jpg", model="Mystery", focal=4.0, focal35=24,
                             size=(400, 300)), calibration=cal)
    assert other.camera.calibration == "file" and other.camera.fx == pytest.approx(200.0)


def test_single_file_camera_applies_to_its_aspect_only(tmp_path):
    cal = read_calibration(_cameras_json(tmp_path / "cameras.json",
                                         {"v2 dji fc300s 4000 3000 brown 0.58": BROWN}))
    portrait = read_pose(_photo(tmp_path / "p.jpg", model="Mystery", focal=4.0, focal35=24,
                                size=(300, 400)), calibration=cal).camera
    assert portrait.calibration == "file" and portrait.fy == pytest.approx(0.58 * 400)
    wide = read_pose(_photo(tmp_path / "w.jpg", model="FC6310R", size=(96, 64)),
                     calibration=cal).camera
    assert wide.calibration == "none"  # 3:2 photo, 4:3 calibration: not this camera


@pytest.mark.parametrize("ext", ["yml", "json"])
def test_opencv_calibration_file(tmp_path, ext):
    path = tmp_path / f"calib.{ext}"
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", 4000)
    fs.write("image_height", 3000)
    fs.write("camera_matrix", np.array([[2300.0, 0, 2009.5], [0, 2310.0, 1489.5], [0, 0, 1]]))
    fs.write("distortion_coefficients", np.array([[-0.1, 0.05, 0.001, -0.002, 0.01]]))
    fs.release()
    cal = read_calibration(path)
    cam = read_pose(_photo(tmp_path / "a.jpg", model="FC300S", focal=3.61, size=(4000 // 10,
                                                                                 3000 // 10)),
                    calibration=cal).camera
    assert cam.calibration == "file"
    assert (cam.fx, cam.fy) == pytest.approx((230.0, 231.0))
    assert cam.centre_offset_px == pytest.approx((1.0, -1.0))  # index → continuous pixels
    assert cam.distortion == pytest.approx((-0.1, 0.05, 0.001, -0.002, 0.01))


@pytest.mark.parametrize(("content", "message"), [
    ("", "not an OpenSfM/ODM cameras.json nor an OpenCV calibration"),
    ("{}", "not an OpenSfM/ODM cameras.json"),
    ('{"v2 gopro hero 4000 3000 fisheye 0.5": {"projection_type": "fisheye", "width": 4000, '
     '"height": 3000, "focal": 0.5}}', "projection 'fisheye' is not supported"),
    ('{"v2 x y 4000 3000 spherical 0": {"projection_type": "spherical", "width": 4000, '
     '"height": 3000}}', "projection 'spherical' is not supported"),
    ('{"c": {"projection_type": "brown", "width": 4000, "height": 3000}}', "focal_x missing"),
    ('{"c": {"projection_type": "perspective", "width": 0, "height": 3000, "focal": 0.5}}',
     "width and height must be positive"),
    ("%YAML:1.0\nfoo: 1\n", "without a 3×3 camera_matrix"),
])
def test_bad_calibration_files(tmp_path, content, message):
    path = tmp_path / "cal.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_calibration(path)
    assert "\n" not in str(info.value) and "cal.json" in str(info.value)


def test_missing_calibration_file(tmp_path):
    with pytest.raises(InputError, match="no such calibration file"):
        read_calibration(tmp_path / "absent.json")


def test_flight_record_pose_gets_the_file_lens(tmp_path):
    from mapping.pose import flight_poses

    flight = tmp_path / "flight"
    flight.mkdir()
    (flight / "sortie_01_photos.json").write_text(json.dumps({"sortie": 1, "photos": [
        {"index": 7, "lat_deg": 35.1, "lon_deg": 139.2, "alt_amsl_m": 150.0, "alt_rel_m": 60.0,
         "yaw_deg": 0.0}]}))
    photo = tmp_path / "s01_0007.jpg"
    Image.new("RGB", (400, 300)).save(photo)
    cal = read_calibration(_cameras_json(tmp_path / "cameras.json", {"c": BROWN}))
    pose = pose_for_photo(photo, flight_poses(flight, CATALOG["phantom3-fc300s"]), None, cal)
    assert pose.source == "flight-log" and pose.camera.calibration == "file"


# --- no calibration -----------------------------------------------------------------------------


def test_unknown_camera_falls_back_to_exif(tmp_path):
    pose = read_pose(_photo(tmp_path / "a.jpg", model="Mystery", focal=4.0, focal35=24,
                            size=(400, 300)))
    assert pose.camera.calibration == "exif" and not pose.camera.distorted


# --- TIFF frames --------------------------------------------------------------------------------


def test_tiff_frame_with_exif_and_xmp(tmp_path):
    path = tmp_path / "frame.tif"
    exif = _exif("FC300S", 3.61)
    exif[700] = _xmp(DewarpData="2020-01-01;230,231,0,0,-0.1,0,0,0,0").encode()
    Image.new("RGB", (400, 300)).save(path, exif=exif.tobytes())
    pose = read_pose(path)
    assert pose.rel_alt_m == 40.2 and pose.lat_deg == pytest.approx(46 + 50 / 60 + 33 / 3600)
    assert pose.camera.calibration == "dji-xmp" and pose.camera.fx == 230.0


def test_geotiff_frame_with_gdal_exif_metadata(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    path = tmp_path / "gdal.tif"
    with rasterio.open(path, "w", driver="GTiff", width=400, height=300, count=3,
                       dtype="uint8") as dst:
        dst.write(np.zeros((3, 300, 400), np.uint8))
        dst.update_tags(EXIF_Model="M3E", EXIF_Make="DJI", EXIF_FocalLength="(12.29)",
                        EXIF_GPSLatitudeRef="S", EXIF_GPSLatitude="(10) (30) (0)",
                        EXIF_GPSLongitudeRef="E", EXIF_GPSLongitude="(20) (15) (0)",
                        EXIF_GPSAltitudeRef="0x01", EXIF_GPSAltitude="(12.5)")
        dst.update_tags(ns="xml:XMP", **{"xml:XMP": _xmp()})
    pose = read_pose(path)
    assert (pose.lat_deg, pose.lon_deg, pose.alt_msl_m) == (-10.5, 20.25, -12.5)
    assert pose.rel_alt_m == 40.2 and pose.yaw_deg == 10.0
    assert pose.camera.name == "mavic3e" and pose.camera.calibration == "catalog"


# --- the virtual camera -------------------------------------------------------------------------


def test_virtual_photos_carry_their_pinhole_lens(tmp_path):
    from sitl.world.camera import PHANTOM3, write_photo_jpeg

    cam = dataclasses.replace(PHANTOM3, image_w_px=400, image_h_px=300)
    path = write_photo_jpeg(tmp_path / "p.jpg", np.zeros((300, 400, 3), np.uint8), cam,
                            lat=36.0, lon=140.0, alt_msl_m=100.0, rel_alt_m=60.0, yaw_deg=0.0)
    read = read_pose(path).camera
    assert read.calibration == "dji-xmp" and not read.distorted  # not the catalog's FC300S lens
    assert (read.fx, read.fy) == pytest.approx((cam.fx, cam.fy))


def test_a_distorted_virtual_camera_renders_its_distortion(tmp_path):
    from sitl.world.camera import PHANTOM3, render_photo, write_photo_jpeg
    from sitl.world.scene import Scene
    from survey.core.frame import LocalFrame

    frame, gsd, half = LocalFrame(36.0, 140.0), 0.1, 60.0
    n = int(2 * half / gsd)
    image = np.full((n, n, 3), 128, np.uint8)
    marks = [(-30.0, 20.0), (28.0, -18.0), (0.0, 0.0), (-25.0, -19.0)]  # local metres
    for x, y in marks:
        c, r = round((x + half) / gsd), round((half - y) / gsd)
        image[r - 3:r + 3, c - 3:c + 3] = (0, 0, 255)
    scene = Scene(image, frame, (gsd, 0.0, -half, 0.0, -gsd, half))
    cam = dataclasses.replace(PHANTOM3, image_w_px=800, image_h_px=600,
                              distortion=BARREL, centre_offset_px=(6.0, -4.0),
                              calibration="test")
    img = render_photo(scene, cam, lat=36.0, lon=140.0, rel_alt_m=40.0, yaw_deg=0.0)
    path = write_photo_jpeg(tmp_path / "d.jpg", img, cam, lat=36.0, lon=140.0,
                            alt_msl_m=40.0, rel_alt_m=40.0, yaw_deg=0.0)
    pose = read_pose(path)
    assert pose.camera.calibration == "dji-xmp"
    assert pose.camera.distortion == pytest.approx(BARREL)
    ideal = dataclasses.replace(pose, camera=pose.camera.pinhole())
    red = (np.abs(img.astype(int) - (0, 0, 255)).sum(axis=2) < 150).astype(np.uint8)
    count, _, _, centres = cv2.connectedComponentsWithStats(red)
    found = centres[1:] + 0.5  # continuous pixels
    assert count - 1 == len(marks)
    for x, y in marks:
        lonlat = np.array([frame.to_geo(x, y)], dtype=float)
        want = ground_to_pixel(pose, lonlat, FlatGround())[0]
        pinhole = ground_to_pixel(ideal, lonlat, FlatGround())[0]
        nearest = found[np.argmin(np.hypot(*(found - want).T))]
        assert np.hypot(*(nearest - want)) < 0.6, (x, y, nearest, want)
        if abs(x) > 20:  # near the corners the lens moves a mark by pixels
            assert np.hypot(*(pinhole - want)) > 5.0


# --- the run's report ---------------------------------------------------------------------------


def test_analyze_counts_the_lens_sources(tmp_path, survey_photos):
    from survey.pipelines.analyze import AnalyzeConfig, analyze

    extra = _photo(tmp_path / "exif.jpg", model="Mystery", focal=3.61, focal35=20,
                   size=(400, 300), xmp=_xmp())
    config = AnalyzeConfig(photos=[*survey_photos.photos[:2], extra], out_dir=tmp_path / "s",
                           model=CentreModel(), weights="fake.pt")  # type: ignore[arg-type]
    summary = analyze(config)
    assert summary.calibrations == {"dji-xmp": 2, "exif": 1} and summary.uncalibrated == 1
    from mapping.store import open_store

    with open_store(tmp_path / "s") as store:
        cameras = [json.loads(r["camera"]) for r in store.photos()]
    assert [c["calibration"] for c in cameras] == ["dji-xmp", "dji-xmp", "exif"]


# --- real photos --------------------------------------------------------------------------------


@needs_dji
def test_brighton_beach_fc300s_photos_are_read_without_a_catalog_lens():
    """The catalog's FC300S has no distortion: the DroneModels coefficients made the tie points
    of these very photos agree worse (0.196 m against 0.075 m, benchmarks/georef.py)."""
    pose = read_pose(DJI / "DJI_0018.JPG")
    assert (pose.camera.calibration, pose.camera.distorted) == ("none", False)
    assert "FC300S" not in {m for m, name in EXIF_MODELS.items() if CATALOG[name].distorted}


# --- survey analyze --calibration ---------------------------------------------------------------


def test_cli_calibration_option_and_lens_report(tmp_path, monkeypatch):
    from survey.cli import analyze as analyze_cmd
    from tests.cli.test_analyze_cli import run
    from tests.mapping.conftest import ColourAssessor, ColourModel, synthetic_survey

    monkeypatch.setattr(analyze_cmd, "load_model", lambda weights, **_: ColourModel())
    monkeypatch.setattr(analyze_cmd, "load_assessor", lambda weights, **_: ColourAssessor())
    monkeypatch.setattr(analyze_cmd, "assessor_path", lambda weights, required=True: weights)
    survey = synthetic_survey(tmp_path / "photos")
    code, stdout, err = run("analyze", survey.folder, "-o", tmp_path / "a", "--weights", "w.pt")
    assert code == 0, err
    assert "lens: dji-xmp 5" in " ".join(stdout.split()) and "warning" not in err
    cameras = _cameras_json(tmp_path / "cameras.json",
                            {"v2 dji fc300s 400 300 brown 0.58": {**BROWN, "width": 400,
                                                                  "height": 300}})
    code, stdout, err = run("analyze", survey.folder, "-o", tmp_path / "b", "--weights", "w.pt",
                            "--calibration", cameras)
    assert code == 0, err
    assert "lens: file 5" in " ".join(stdout.split())
    _photo(survey.folder / "zz_exif.jpg", model="Mystery", focal=3.61, focal35=20,
           size=(400, 300))
    code, stdout, err = run("analyze", survey.folder, "-o", tmp_path / "c", "--weights", "w.pt")
    assert code == 0, err
    assert "lens: exif 1" in " ".join(stdout.split())
    assert "1 photo(s) had no lens calibration" in " ".join(err.split())
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": {"projection_type": "fisheye", "width": 4, "height": 3}}')
    code, stdout, err = run("analyze", survey.folder, "-o", tmp_path / "d", "--weights", "w.pt",
                            "--calibration", bad)
    assert code == 2 and "projection 'fisheye' is not supported" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "d").exists()
    code, stdout, _ = run("analyze", "--help")
    assert "--calibration" in stdout
