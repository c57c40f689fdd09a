"""Photos per second of ``survey analyze``: in-process against a private Ray with 1 and 2
workers, on the same photos in one run, and the driver's peak memory.

    .venv/bin/survey demo -o out/demo                  # 63 virtual-camera photos
    python benchmarks/analyze_scale.py out/demo/photos [--workers 1 2] [--detector W]
    python benchmarks/analyze_scale.py --synthetic 2000 [--workers 2]   # 400 × 300 px photos
    python benchmarks/analyze_scale.py out/demo/photos --device 0 --gpus-per-worker 1 0.25

With ``--device`` the in-process run uses that GPU, and each ``--gpus-per-worker`` share adds
a run of GPU workers (as many as the machine's GPUs hold at that share).

Each run analyses every photo into a fresh survey folder with the bundled detector (no
footprints, no attitude refinement: the per-photo work is what scales). The driver's peak
resident memory is the process's high-water mark, so runs are in order of expected size.
Needs ``pip install -e '.[cluster]'``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _synthetic(folder: Path, n: int) -> None:
    """``n`` nadir DJI-style 400 × 300 JPEGs of a textured scene, 40 m up, in a grid."""
    import dataclasses

    import cv2
    import numpy as np

    from sitl.world.camera import PHANTOM3, render_photo, write_photo_jpeg
    from sitl.world.scene import Scene
    from survey.core.frame import LocalFrame

    rng = np.random.default_rng(0)
    frame, gsd, half = LocalFrame(36.07, 139.99), 0.5, 1000.0
    size = int(2 * half / gsd)
    texture = cv2.resize(rng.random((size // 16, size // 16)).astype(np.float32), (size, size))
    grey = (texture * 255).astype(np.uint8)
    scene = Scene(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), frame, (gsd, 0.0, -half, 0.0, -gsd, half))
    cam = dataclasses.replace(PHANTOM3, image_w_px=400, image_h_px=300)
    side = int(np.ceil(np.sqrt(n)))
    for k in range(n):
        x, y = -900.0 + 1800.0 * (k % side) / side, -900.0 + 1800.0 * (k // side) / side
        lon, lat = (float(v) for v in frame.to_geo(x, y))
        image = render_photo(scene, cam, lat=lat, lon=lon, rel_alt_m=40.0, yaw_deg=0.0)
        write_photo_jpeg(folder / f"P{k:05d}.jpg", image, cam, lat=lat, lon=lon,
                         alt_msl_m=60.0, rel_alt_m=40.0, yaw_deg=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, nargs="?")
    parser.add_argument("--synthetic", type=int, metavar="N",
                        help="photograph N small virtual photos of a textured scene instead")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--detector", type=Path,
                        default=ROOT / "detection" / "weights" / "model.safetensors")
    parser.add_argument("--device", default="cpu", help="the in-process run's device (0: GPU)")
    parser.add_argument("--gpus-per-worker", type=float, nargs="*", default=[],
                        help="also run GPU workers at each of these shares of a GPU")
    args = parser.parse_args()

    from detection.model import load_model
    from detection.photos import find_photos
    from survey.pipelines.analyze import AnalyzeConfig, analyze

    if args.synthetic:
        args.photos = Path(tempfile.mkdtemp(prefix="scale-photos-"))
        _synthetic(args.photos, args.synthetic)
    photos = find_photos([args.photos])
    print(f"{len(photos)} photos from {args.photos}; detector {args.detector}")
    model = load_model(args.detector, device=args.device)
    runs: list[tuple[str, str | None, float | None]] = [(f"in-process {args.device}", None,
                                                          None)]
    runs += [(f"--cluster local:{n}", f"local:{n}", 0.0) for n in args.workers]
    runs += [(f"--cluster local gpu×{g:g}", "local", g) for g in args.gpus_per_worker]
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for label, cluster, share in runs:
            started = time.perf_counter()
            summary = analyze(AnalyzeConfig(
                photos=photos, out_dir=Path(tmp) / label.replace(" ", "_").replace(":", "_"),
                model=model if cluster is None else None, weights=str(args.detector),
                refine=False, cluster=cluster, device=args.device, gpus_per_worker=share))
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{label:<24} {summary.analysed:>4} photos {seconds:7.1f} s "
                  f"{summary.analysed / seconds:6.2f} photos/s  driver peak {peak:6.0f} MB "
                  "(so far)")


if __name__ == "__main__":
    main()
