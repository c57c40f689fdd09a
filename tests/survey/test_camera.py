"""The one camera model (survey.core.camera): intrinsics and the attitude convention that the
photo georeferencing and the virtual camera share."""

from __future__ import annotations

import math

import numpy as np
import pytest

from survey.core.camera import CATALOG, Camera, camera_rotation

EAST, NORTH, UP = np.eye(3)
RIGHT, DOWN, FORWARD = np.eye(3)  # camera axes (OpenCV): x right, y down, z forward


def _rows_right_down_forward(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """The virtual camera's former world → camera rotation, written out axis by axis (rows: the
    camera's right, down and forward axes in east/north/up), kept as an independent check."""
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    f0 = np.array([math.sin(y), math.cos(y), 0.0])
    fwd = math.cos(p) * f0 + math.sin(p) * UP
    right = np.array([math.cos(y), -math.sin(y), 0.0])
    down = np.cross(fwd, right)
    right, down = (math.cos(r) * right + math.sin(r) * down,
                   -math.sin(r) * right + math.cos(r) * down)
    return np.vstack([right, down, fwd])


def test_rotation_agrees_with_the_axis_by_axis_construction() -> None:
    rng = np.random.default_rng(12)
    angles = [(0, -90, 0), (37, -60, 5), (250, -10, -20), (90, 0, 30), (-179.5, 89, 179)]
    angles += [tuple(v) for v in rng.uniform([-360, -90, -180], [360, 90, 180], (200, 3))]
    for yaw, pitch, roll in angles:
        r = camera_rotation(yaw, pitch, roll)
        np.testing.assert_allclose(r, _rows_right_down_forward(yaw, pitch, roll).T, atol=1e-12)
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)


def test_roll_defaults_to_zero() -> None:
    np.testing.assert_array_equal(camera_rotation(30, -45), camera_rotation(30, -45, 0))


@pytest.mark.parametrize(("yaw", "top", "right"), [(0, NORTH, EAST), (90, EAST, -NORTH),
                                                    (180, -NORTH, -EAST), (-90, -EAST, NORTH)])
def test_nadir_image_top_is_the_heading(yaw: float, top: np.ndarray, right: np.ndarray) -> None:
    r = camera_rotation(yaw, -90, 0)
    np.testing.assert_allclose(r @ FORWARD, -UP, atol=1e-12)  # looking straight down
    np.testing.assert_allclose(r @ -DOWN, top, atol=1e-12)  # the image's top
    np.testing.assert_allclose(r @ RIGHT, right, atol=1e-12)


@pytest.mark.parametrize(("yaw", "heading"), [(0, NORTH), (90, EAST), (225, -(EAST + NORTH))])
def test_pitch_0_looks_level_along_the_heading(yaw: float, heading: np.ndarray) -> None:
    r = camera_rotation(yaw, 0, 0)
    np.testing.assert_allclose(r @ FORWARD, heading / np.linalg.norm(heading), atol=1e-12)
    np.testing.assert_allclose(r @ DOWN, -UP, atol=1e-12)  # image down is world down


def test_pitch_tilts_the_optical_axis_up() -> None:
    forward = camera_rotation(0, -30, 0) @ FORWARD
    np.testing.assert_allclose(forward, [0, math.cos(math.radians(30)), -0.5], atol=1e-12)


def test_positive_roll_tips_the_images_right_side_down() -> None:
    r = camera_rotation(0, 0, 10)
    np.testing.assert_allclose(r @ FORWARD, NORTH, atol=1e-12)  # about the optical axis
    assert (r @ RIGHT)[2] == pytest.approx(-math.sin(math.radians(10)))
    # at nadir a roll turns the picture as a yaw does (gimbal lock)
    np.testing.assert_allclose(camera_rotation(0, -90, 25), camera_rotation(25, -90, 0),
                               atol=1e-12)


def test_intrinsics() -> None:
    cam = Camera("test", 6.4, 4.8, 4.0, 640, 480)
    assert (cam.fx, cam.fy, cam.principal_point) == (400.0, 400.0, (320.0, 240.0))
    k = cam.matrix()
    np.testing.assert_array_equal(k, [[400, 0, 320], [0, 400, 240], [0, 0, 1]])
    u, v, w = k @ [1.0, -0.5, 10.0]  # 1 right, 0.5 up, 10 ahead
    assert (u / w, v / w) == (360.0, 220.0)
    assert cam.make == cam.exif_model == ""


def test_phantom3_intrinsics_as_the_virtual_camera_had_them() -> None:
    cam = CATALOG["phantom3-fc300s"]
    assert cam.fx == 3.61 / 6.17 * 4000 and cam.fy == 3.61 / 4.55 * 3000
    assert cam.focal_35mm == round(3.61 * math.hypot(36, 24) / math.hypot(6.17, 4.55)) == 20
    assert CATALOG["sony-a7r4-35mm"].focal_35mm == 35
