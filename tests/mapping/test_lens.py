"""The Brown–Conrady lens model in every pixel ↔ ray step (OpenCV underneath)."""

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from mapping.georef import FlatGround, ground_to_pixel, pixel_rays, pixels_to_ground
from mapping.pose import PhotoPose, scale_camera
from survey.core.camera import CATALOG

# a Phantom 4 RTK-like calibration: strong barrel distortion, off-centre principal point
P4RTK = dataclasses.replace(CATALOG["phantom4pro"], focal_px=(3666.7, 3661.2),
                            centre_offset_px=(10.1, -24.2),
                            distortion=(-0.268, 0.115, 0.0001, 0.0001, -0.038),
                            calibration="test")


def _pose(camera, pitch=-90.0, yaw=30.0, roll=1.0):
    return PhotoPose(Path("x.jpg"), 36.0, 140.0, 100.0, 60.0, yaw, pitch, roll, camera, "t")


def _grid(camera, n=41, reach=0.97):
    """Pixels over the image out to ``reach`` of the way to its border: with these coefficients
    the polynomial folds over (stops growing with the radius) right at the very corners, where
    a calibration fitted inside the picture says nothing."""
    w, h = camera.image_w_px, camera.image_h_px
    u, v = np.meshgrid(w / 2 + reach * np.linspace(-w / 2, w / 2, n),
                       h / 2 + reach * np.linspace(-h / 2, h / 2, n))
    return np.column_stack([u.ravel(), v.ravel()])


@pytest.mark.parametrize("pitch", [-90.0, -60.0, -45.0])
def test_distorted_camera_round_trips_pixel_ground_pixel(pitch):
    pose = _pose(P4RTK, pitch=pitch)
    uv = _grid(P4RTK)
    ground = pixels_to_ground(pose, uv, FlatGround())
    seen = np.isfinite(ground).all(axis=1)
    assert seen.mean() > 0.9
    back = ground_to_pixel(pose, ground[seen], FlatGround())
    assert np.abs(back - uv[seen]).max() < 0.1


def test_rays_follow_opencv_projection():
    """A ray through a pixel, projected by OpenCV's own projectPoints, lands on that pixel."""
    pose = _pose(P4RTK, pitch=-90.0, yaw=0.0, roll=0.0)
    uv = _grid(P4RTK, 9)
    rays = pixel_rays(pose, uv)
    cam = rays @ np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # nadir, top north: x E, y S
    projected, _ = cv2.projectPoints(cam[:, None, :], np.zeros(3), np.zeros(3), P4RTK.matrix(),
                                     np.array(P4RTK.distortion))
    assert np.abs(projected.reshape(-1, 2) - uv).max() < 1e-3


def test_distortion_moves_the_corners_not_the_centre():
    pose, ideal = _pose(P4RTK), _pose(P4RTK.pinhole())
    centre = np.array([P4RTK.principal_point])
    corner = np.array([[0.0, 0.0]])
    flat = FlatGround()
    assert np.allclose(pixels_to_ground(pose, centre, flat), pixels_to_ground(ideal, centre, flat))
    moved = pixels_to_ground(pose, corner, flat) - pixels_to_ground(ideal, corner, flat)
    # barrel distortion: the corner pixel sees farther out than a pinhole says, by metres at 60 m
    metres = np.abs(moved[0]) * [111_320 * np.cos(np.radians(36.0)), 110_574]
    assert np.hypot(*metres) > 5.0


def test_points_outside_the_view_do_not_fold_back_into_the_image():
    pose = _pose(P4RTK, pitch=-90.0)
    far = np.array([[140.0 + 0.01, 36.0], [140.0, 36.0 - 0.01]])  # ~900 m away at 60 m up
    uv = ground_to_pixel(pose, far, FlatGround())
    inside = ((uv >= 0) & (uv <= [P4RTK.image_w_px, P4RTK.image_h_px])).all(axis=1)
    assert not inside.any()


def test_scaling_a_calibrated_camera_scales_its_pixels():
    half = scale_camera(P4RTK, 2736, 1824)
    assert half.fx == pytest.approx(P4RTK.fx / 2)
    assert half.principal_point == pytest.approx((1368 + 5.05, 912 - 12.1))
    assert half.distortion == P4RTK.distortion
    wide = scale_camera(P4RTK, 5472, 3078)  # 16:9 crop of the 3:2 sensor keeps the centre
    assert wide.fx == pytest.approx(P4RTK.fx)
    assert wide.principal_point == pytest.approx((2736 + 10.1, 1539 - 24.2))
