"""Georeferencing agreement between overlapping photos, before and after attitude refinement.

For a folder of survey photos (default: the 18 real Brighton Beach photos, DJI FC300S), the
tie points :mod:`mapping.refine` matches between overlapping photos are placed on the ground
from each of their two photos; the distance between the two places is the disagreement. The
numbers printed are medians over the *held-out* tie points (every other tie point of each
pair, which the solve did not use), split into pairs on the same flight line and pairs on
different lines, with the recorded poses ("before") and the refined ones ("after"), and the
time per photo (feature matching and solve, this machine's cores).

    python benchmarks/georef.py [PHOTOS_DIR] [--pinhole] [--workers 2]

``--pinhole`` ignores the lens calibration (shows what the lens model is worth).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="?", type=Path, default=DJI)
    parser.add_argument("--pinhole", action="store_true", help="ignore the lens calibration")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
