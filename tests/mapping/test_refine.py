"""Attitude refined from tie points between overlapping photos (mapping.refine), checked on
photos the virtual camera took with known attitudes and recorded with wrong ones."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from mapping.georef import FlatGround, pixels_to_ground
from mapping.pose import PhotoPose
from mapping.refine import corrected_pose, refine_poses, rotation_vector
from sitl.world.camera import render_photo
from sitl.world.scene import Scene
from survey.core.camera import Camera, attitude_from_rotation, camera_rotation
from survey.core.frame import LocalFrame

CAM = Camera("test", 6.4, 4.8, 4.0, 1000, 750)  # f = 625 px: 80 × 60 m at 50 m up
FRAME = LocalFrame(36.0712, 139.9933)
ALT = 50.0
GSD = 0.1
HALF = 150.0


@pytest.fixture(scope="module")
def scene() -> Scene:
    """Textured ground: blurred noise at several scales (plenty of SIFT features)."""
    rng = np.random.default_rng(7)
    n = int(2 * HALF / GSD)
    img = np.zeros((n, n), np.float32)
    for cell in (4, 16, 64):
        small = rng.random((n // cell + 1, n // cell + 1)).astype(np.float32)
        img += cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC)[:n, :n]
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return Scene(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), FRAME,
                 (GSD, 0.0, -HALF, 0.0, -GSD, HALF))


def _flight() -> list[tuple[float, float, float]]:
    """Two lines of five photos 15 m apart, 45 m between lines: (east, north, heading)."""
    shots = [(-20.0, -30.0 + 15.0 * k, 0.0) for k in range(5)]
    shots += [(25.0, 30.0 - 15.0 * k, 180.0) for k in range(5)]
    return shots


def _photos(tmp: Path, scene: Scene, errors: np.ndarray, flip_line: bool = False,
            blank: int | None = None) -> tuple[list[PhotoPose], list[PhotoPose]]:
    """True poses (what the camera did) and recorded ones (true ones with ``errors``: rotation
    vectors in degrees and a height error per photo), photos written to ``tmp``."""
    truth, recorded = [], []
    for k, (x, y, heading) in enumerate(_flight()):
        lon, lat = FRAME.to_geo(x, y)
        true_pose = PhotoPose(tmp / f"p{k:02d}.png", float(lat), float(lon), None, ALT,
                              heading, -90.0, 0.0, CAM, "test")
        tilt = rotation_vector(errors[k, :3])
        wrong = attitude_from_rotation(tilt.T @ camera_rotation(heading, -90.0, 0.0))
        yaw, pitch, roll = wrong
        if flip_line and heading == 180.0:
            yaw = (yaw + 180.0) % 360.0
        # the truth is what the recorded pose says, corrected by the error
        image = render_photo(scene, CAM, lat=float(lat), lon=float(lon), rel_alt_m=ALT,
                             yaw_deg=heading, pitch_deg=-90.0, roll_deg=0.0)
        if k == blank:
            image[:] = 128
        cv2.imwrite(str(true_pose.path), image)
        truth.append(true_pose)
        recorded.append(dataclasses.replace(true_pose, yaw_deg=yaw, pitch_deg=pitch,
                                            roll_deg=roll, rel_alt_m=ALT - errors[k, 3]))
    return truth, recorded


def _centre_error_m(pose: PhotoPose, truth: PhotoPose) -> float:
    """How far apart the image corners land on the ground (the worst of the four), metres."""
    uv = np.array([[0, 0], [CAM.image_w_px, 0], [0, CAM.image_h_px],
                   [CAM.image_w_px, CAM.image_h_px]], float)
    a = pixels_to_ground(pose, uv, FlatGround())
    b = pixels_to_ground(truth, uv, FlatGround())
    xa, ya = FRAME.to_local(a[:, 0], a[:, 1])
    xb, yb = FRAME.to_local(b[:, 0], b[:, 1])
    return float(np.hypot(xa - xb, ya - yb).max())


def _errors(seed: int) -> np.ndarray:
    """Per photo: tilts of up to ~2° (no tilt common to all: tie points cannot see one),
    turns of up to ~3°, height errors of up to ~2 m."""
    rng = np.random.default_rng(seed)
    err = np.column_stack([rng.normal(0, 1.0, (10, 2)), rng.normal(0, 1.5, 10),
                           rng.normal(0, 1.0, 10)])
    err[:, :2] -= err[:, :2].mean(axis=0)
    return err


def test_refinement_recovers_the_attitudes_the_photos_were_taken_with(tmp_path, scene):
    truth, recorded = _photos(tmp_path, scene, _errors(1))
    result = refine_poses(recorded, lambda p: FlatGround())
    assert result.pairs >= 9 and result.ties > 500
    assert result.before_m > 1.0
    assert result.after_m < 0.15
    assert all(c.applied for c in result.corrections)
    before = [_centre_error_m(r, t) for r, t in zip(recorded, truth, strict=True)]
    after = [_centre_error_m(result.poses[r.path], t) for r, t in zip(recorded, truth,
                                                                       strict=True)]
    assert np.median(before) > 1.5
    assert max(after) < 0.5, after


def test_a_line_recorded_180_degrees_off_is_turned_back(tmp_path, scene):
    truth, recorded = _photos(tmp_path, scene, _errors(2) * 0.3, flip_line=True)
    result = refine_poses(recorded, lambda p: FlatGround())
    flipped = [c.flipped for c in result.corrections]
    assert flipped == [False] * 5 + [True] * 5
    assert result.before_m > 20.0 and result.after_m < 0.15
    for r, t in zip(recorded, truth, strict=True):
        assert _centre_error_m(result.poses[r.path], t) < 0.5


def test_a_photo_without_tie_points_keeps_its_recorded_pose(tmp_path, scene):
    _, recorded = _photos(tmp_path, scene, _errors(3), blank=2)
    result = refine_poses(recorded, lambda p: FlatGround())
    blank = result.corrections[2]
    assert not blank.applied and "tie points" in blank.reason
    assert result.poses[recorded[2].path] == recorded[2]
    assert sum(c.applied for c in result.corrections) == 9


def test_correct_poses_get_no_correction_they_do_not_need(tmp_path, scene):
    truth, recorded = _photos(tmp_path, scene, np.zeros((10, 4)))
    result = refine_poses(recorded, lambda p: FlatGround())
    assert result.before_m < 0.15
    for c in result.corrections:
        assert c.tilt_deg < 0.1 and abs(c.turn_deg) < 0.1 and abs(c.d_height_m) < 0.2
    for r, t in zip(recorded, truth, strict=True):
        assert _centre_error_m(result.poses[r.path], t) < 0.3


def test_corrected_pose_turns_from_the_world_side():
    pose = PhotoPose(Path("x.png"), 36.0, 140.0, 100.0, 50.0, 30.0, -90.0, 0.0, CAM, "test")
    turned = corrected_pose(pose, [0.0, 0.0, 10.0, 1.5])  # 10° about the vertical (anticlockwise)
    assert turned.pitch_deg == pytest.approx(-90.0)
    assert (turned.yaw_deg + turned.roll_deg) % 360 == pytest.approx(20.0)
    assert turned.rel_alt_m == 51.5 and turned.alt_msl_m == 101.5
    assert turned.source == "test+refined"


DJI = Path(os.environ.get("SURVEY_DATA_DIR",
                          Path(__file__).resolve().parents[3] / "shared" / "data")) \
    / "dji_brighton_beach"


@pytest.mark.skipif(not DJI.is_dir(), reason=f"no real DJI photos in {DJI}")
def test_brighton_beach_tie_points_agree_to_half_a_metre_after_refinement():
    from mapping.pose import read_pose

    poses = [read_pose(p) for p in sorted(DJI.glob("*.JPG"))]
    result = refine_poses(poses, lambda p: FlatGround())
    assert result.before_m > 5.0  # the middle line's recorded yaw is 180° off
    assert [c.flipped for c in result.corrections] == [False] * 6 + [True] * 6 + [False] * 6
    assert result.after_m <= 0.5
    assert all(c.applied for c in result.corrections)


# --- survey analyze: --refine ----------------------------------------------------------------


def _dji_photos(folder: Path, scene: Scene) -> list[Path]:
    """The two-line flight as DJI JPEGs whose XMP records the second line's yaw 180° off."""
    from sitl.world.camera import write_photo_jpeg

    folder.mkdir()
    paths = []
    for k, (x, y, heading) in enumerate(_flight()):
        lon, lat = FRAME.to_geo(x, y)
        image = render_photo(scene, CAM, lat=float(lat), lon=float(lon), rel_alt_m=ALT,
                             yaw_deg=heading)
        recorded = 0.0 if heading == 180.0 else heading
        paths.append(write_photo_jpeg(folder / f"DJI_{k + 1:04d}.JPG", image, CAM,
                                      lat=float(lat), lon=float(lon), alt_msl_m=ALT + 20,
                                      rel_alt_m=ALT, yaw_deg=recorded, quality=95))
    return paths


def test_analyze_refines_poses_and_writes_the_report(tmp_path, scene, monkeypatch):
    import csv

    from mapping.store import open_store
    from survey.cli import analyze as analyze_cmd
    from tests.cli.test_analyze_cli import run
    from tests.mapping.conftest import ColourModel

    monkeypatch.setattr(analyze_cmd, "load_model", lambda weights, **_: ColourModel())
    folder = tmp_path / "photos"
    _dji_photos(folder, scene)
    code, stdout, err = run("analyze", folder, "-o", tmp_path / "s", "--weights", "w.pt",
                            "--no-assessor")
    assert code == 0, err
    line = " ".join(stdout.split())
    assert "Refinement:" in line and "corrected 10 of 10 photos, 5 yaw flips" in line
    with open(tmp_path / "s" / "refinement.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["yaw_flipped"] for r in rows] == ["0"] * 5 + ["1"] * 5
    assert all(r["applied"] == "1" and float(r["held_out_after_m"]) < 0.15 for r in rows)
    with open_store(tmp_path / "s") as store:
        photos = store.photos()
    tops = []  # where the image top points: at nadir yaw and roll turn the image alike
    for p in photos:
        up = -camera_rotation(p["yaw"], p["pitch"], p["roll"])[:, 1]
        tops.append(round(float(np.degrees(np.arctan2(up[0], up[1])))) % 360)
    assert sorted(tops) == [0] * 5 + [180] * 5  # the second line turned back to what it flew
    assert all(p["pose_source"].endswith("+refined") for p in photos)

    code, stdout, err = run("analyze", folder, "-o", tmp_path / "n", "--weights", "w.pt",
                            "--no-assessor", "--no-refine")
    assert code == 0, err
    assert "Refinement" not in stdout and not (tmp_path / "n" / "refinement.csv").exists()
