"""Georeferencing agreement between overlapping photos, before and after attitude refinement.

For a folder of survey photos (default: the 18 real Brighton Beach photos, DJI FC300S), the
tie points :mod:`mapping.refine` matches between overlapping photos are placed on the ground
from each of their two photos; the distance between the two places is the disagreement. The
numbers printed are medians over the *held-out* tie points (every other tie point of each
pair, which the solve did not use), split into pairs on the same flight line and pairs on
different lines, with the recorded poses ("before") and the refined ones ("after"), and the
time per photo (feature matching and solve, this machine's cores).

    python benchmarks/georef.py [PHOTOS_DIR] [--pinhole] [--workers 2]
    python benchmarks/georef.py --synthetic [--workers 2]

``--pinhole`` ignores the lens calibration (shows what the lens model is worth).
``--synthetic`` photographs a textured virtual scene instead: 3 lines of 6 photos at
4000 × 3000 (the issue's speed target), recorded with known errors (tilts and turns of ~1–1.5°,
heights ~1 m, the middle line's yaw 180° off), and also prints how far the image corners land
from where the true poses put them.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DJI = ROOT.parent / "shared" / "data" / "dji_brighton_beach"


def _lines(poses: list) -> list[int]:
    """Flight line of each photo (in file order): a new line wherever the direction of travel
    turns by more than 60°."""
    from survey.core.frame import LocalFrame

    frame = LocalFrame(poses[0].lat_deg, poses[0].lon_deg)
    xy = np.array([frame.to_local(p.lon_deg, p.lat_deg) for p in poses], dtype=float)
    line, out, heading = 0, [0], None
    for k in range(1, len(poses)):
        dx, dy = xy[k] - xy[k - 1]
        h = math.degrees(math.atan2(dx, dy))
        if heading is not None and abs((h - heading + 180) % 360 - 180) > 60:
            line += 1
        heading = h
        out.append(line)
    return out


def _synthetic(folder: Path) -> dict[str, object]:
    """Write the synthetic flight's photos to ``folder``; their true poses by file name."""
    import cv2

    from mapping.pose import read_pose
    from mapping.refine import rotation_vector
    from sitl.world.camera import PHANTOM3, render_photo, write_photo_jpeg
    from sitl.world.scene import Scene
    from survey.core.camera import attitude_from_rotation, camera_rotation
    from survey.core.frame import LocalFrame

    rng = np.random.default_rng(3)
    frame, gsd, half, alt = LocalFrame(36.07, 139.99), 0.05, 100.0, 40.0
    n = int(2 * half / gsd)
    texture = np.zeros((n, n), np.float32)
    for cell in (4, 16, 64, 256):
        small = rng.random((n // cell + 1, n // cell + 1)).astype(np.float32)
        texture += cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC)[:n, :n]
    grey = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    scene = Scene(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), frame, (gsd, 0.0, -half, 0.0, -gsd, half))
    truth = {}
    for line, x in enumerate((-40.0, 0.0, 40.0)):
        heading = 180.0 if line == 1 else 0.0
        for k in range(6):
            y = -40.0 + 16.0 * k if heading == 0.0 else 40.0 - 16.0 * k
            lon, lat = (float(v) for v in frame.to_geo(x, y))
            err = np.concatenate([rng.normal(0, 1.0, 2), rng.normal(0, 1.5, 1)])
            yaw, pitch, roll = attitude_from_rotation(
                rotation_vector(err).T @ camera_rotation(heading, -90.0, 0.0))
            image = render_photo(scene, PHANTOM3, lat=lat, lon=lon, rel_alt_m=alt,
                                 yaw_deg=heading)
            name = f"L{line}_{k}.jpg"
            write_photo_jpeg(folder / name, image, PHANTOM3, lat=lat, lon=lon,
                             alt_msl_m=alt + 30, rel_alt_m=alt - float(rng.normal(0, 1.0)),
                             yaw_deg=(yaw + (180.0 if line == 1 else 0.0)) % 360,
                             pitch_deg=pitch, roll_deg=roll, quality=92)
            truth[name] = dataclasses.replace(read_pose(folder / name), yaw_deg=heading,
                                              pitch_deg=-90.0, roll_deg=0.0, rel_alt_m=alt)
    return truth


def _corner_error_m(pose, truth) -> float:
    from mapping.georef import FlatGround, pixels_to_local

    w, h = pose.camera.image_w_px, pose.camera.image_h_px
    uv = np.array([[0, 0], [w, 0], [0, h], [w, h]], float)
    a = pixels_to_local(pose, uv, FlatGround())[:, :2]
    b = pixels_to_local(truth, uv, FlatGround())[:, :2]
    return float(np.hypot(*(a - b).T).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="?", type=Path, default=DJI)
    parser.add_argument("--pinhole", action="store_true", help="ignore the lens calibration")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--synthetic", action="store_true",
                        help="photograph a virtual scene with known pose errors")
    args = parser.parse_args()
    truth: dict = {}
    if args.synthetic:
        import tempfile

        args.photos = Path(tempfile.mkdtemp(prefix="georef-"))
        print(f"rendering the synthetic flight into {args.photos} …")
        truth = _synthetic(args.photos)

    from mapping.georef import FlatGround
    from mapping.pose import read_pose
    from mapping.refine import refine_poses

    files = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if len(files) < 2:
        sys.exit(f"{args.photos}: needs at least two photos")
    poses = [read_pose(p) for p in files]
    if args.pinhole:
        poses = [dataclasses.replace(p, camera=p.camera.pinhole()) for p in poses]
    cam = poses[0].camera
    print(f"{len(poses)} photos, {cam.image_w_px}×{cam.image_h_px}, camera {cam.name}, "
          f"lens calibration: {cam.calibration}"
          f"{' (ignored: --pinhole)' if args.pinhole else ''}")
    line = dict(zip(files, _lines(poses), strict=True))
    started = time.perf_counter()
    result = refine_poses(poses, lambda p: FlatGround(), workers=args.workers)
    elapsed = time.perf_counter() - started

    print(f"pairs {result.pairs}, tie points {result.ties} (half held out)")
    print(f"{'pairs':<14}{'n':>4}{'before m':>10}{'after m':>9}")
    for label, same in (("same line", True), ("across lines", False)):
        rows = [(b, a) for pa, pb, b, a in result.pair_residuals
                if (line[pa] == line[pb]) == same]
        if rows:
            before, after = np.array(rows).T
            print(f"{label:<14}{len(rows):>4}{np.nanmedian(before):>10.2f}"
                  f"{np.nanmedian(after):>9.3f}")
    print(f"{'all ties':<14}{'':>4}{result.before_m:>10.2f}{result.after_m:>9.3f}")
    print(f"time {elapsed:.1f} s, {elapsed / len(poses):.2f} s per photo "
          f"({args.workers} worker threads)")
    print(f"\n{'photo':<14}{'ties':>5}{'tilt°':>7}{'turn°':>8}{'Δyaw°':>8}{'Δpitch°':>8}"
          f"{'Δroll°':>8}{'Δh m':>6}{'flip':>5}{'before':>8}{'after':>7}  applied")
    for c in result.corrections:
        print(f"{c.photo.name:<14}{c.ties:>5}{c.tilt_deg:>7.2f}{c.turn_deg:>8.2f}"
              f"{c.d_yaw_deg:>8.2f}{c.d_pitch_deg:>8.2f}{c.d_roll_deg:>8.2f}"
              f"{c.d_height_m:>6.2f}{'yes' if c.flipped else '':>5}{c.before_m:>8.2f}"
              f"{c.after_m:>7.3f}  {'yes' if c.applied else 'no: ' + c.reason}")
    if truth:
        before = [_corner_error_m(p, truth[p.path.name]) for p in poses]
        after = [_corner_error_m(result.poses[p.path], truth[p.path.name]) for p in poses]
        print(f"\nimage corners vs the true poses (worst corner per photo): median "
              f"{np.median(before):.2f} m as recorded → {np.median(after):.2f} m refined; "
              f"worst {max(before):.2f} → {max(after):.2f} m")


if __name__ == "__main__":
    main()
