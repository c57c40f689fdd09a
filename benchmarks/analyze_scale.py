"""Photos per second of ``survey analyze``: in-process against a private Ray with 1 and 2
workers, on the same photos in one run, and the driver's peak memory.

    .venv/bin/survey demo -o out/demo                  # 63 virtual-camera photos
    python benchmarks/analyze_scale.py out/demo/photos [--workers 1 2] [--detector W]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--detector", type=Path,
                        default=ROOT / "detection" / "weights" / "model.safetensors")
    args = parser.parse_args()

    from detection.model import load_model
    from detection.photos import find_photos
    from survey.pipelines.analyze import AnalyzeConfig, analyze

    photos = find_photos([args.photos])
    print(f"{len(photos)} photos from {args.photos}; detector {args.detector}")
    model = load_model(args.detector)
    runs: list[tuple[str, str | None]] = [("in-process", None)]
    runs += [(f"--cluster local:{n}", f"local:{n}") for n in args.workers]
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for label, cluster in runs:
            started = time.perf_counter()
            summary = analyze(AnalyzeConfig(
                photos=photos, out_dir=Path(tmp) / label.replace(" ", "_").replace(":", "_"),
                model=model if cluster is None else None, weights=str(args.detector),
                refine=False, cluster=cluster))
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{label:<22} {summary.analysed:>4} photos {seconds:7.1f} s "
                  f"{summary.analysed / seconds:6.2f} photos/s  driver peak {peak:6.0f} MB "
                  "(so far)")


if __name__ == "__main__":
    main()
