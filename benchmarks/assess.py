"""Per-building grades on xBD tiles no choice looked at: the assessor vs the detector, and
false damage on the 18 undamaged real DJI photos.

1. **Same buildings, two ways.** For every labelled building of the crop dataset's split
   (default ``test``; its tiles are listed in the dataset card):
   - the assessor grades the building's crop (``survey analyze --buildings``'s path), with
     the same window of the tile's pre-disaster image for a pre+post assessor (``--no-pre``:
     without, as for a survey with no pre imagery);
   - the detector runs over the whole tile as ``survey evaluate`` runs it, and the building
     takes the class of the best box at IoU ≥ 0.3 (no box: ``background``, i.e. missed);
   - the same boxes regraded by the assessor (``survey analyze`` without footprints).
   Both are scored with :func:`detection.assessor.score_predictions` (per grade,
   damaged = major | destroyed vs intact = intact | minor).
2. **Throughput**: buildings/s of crop + assessor on this machine (torch threads = cores).
3. **False damage on real photos** (``--dji``): objects graded major or destroyed by
   ``survey analyze`` on the 18 Brighton Beach photos (no damage in them), detector alone and
   detector + assessor.

    python benchmarks/assess.py --crops out/crops --xbd ../shared/data/xbd \
        ../shared/data/xbd_extra [--split test] [--assessor A.safetensors] \
        [--detector D.safetensors] [--dji] [--no-pre]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WEIGHTS = ROOT / "detection" / "weights"
DJI = ROOT.parent / "shared" / "data" / "dji_brighton_beach"


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def compare(crops: Path, roots: list[Path], split: str, assessor_path: Path,
            detector_path: Path, use_pre: bool = True) -> None:
    import cv2

    from detection.assessor import GRADES, load_assessor, regrade, score_predictions
    from detection.card import read_dataset_card
    from detection.crops import BACKGROUND, cut_crop, pre_tile_image, tile_image
    from detection.detector import detect_photo
    from detection.model import load_model
    from detection.xbd import find_post_labels, read_label

    card = read_dataset_card(crops / "dataset_card.json")
    wanted = set(card.split_tiles[split])
    where, tiles = {}, []
    for root in roots:
        for label in find_post_labels(root):
            tile = read_label(label)
            if tile.tile_id in wanted:
                where[tile.tile_id] = root
                tiles.append(tile)
    assessor = load_assessor(assessor_path)
    detector = load_model(detector_path)
    names = detector.class_names
    truth: list[str] = []
    by_assessor: list[str] = []
    by_detector: list[str] = []
    by_both: list[str] = []
    crop_s = 0.0
    n_crops = 0
    for tile in tiles:
        image = cv2.imread(str(tile_image(where[tile.tile_id], "images",
                                          Path(tile.image_name).stem)), cv2.IMREAD_COLOR)
        boxes = np.array([b.box_px for b in tile.buildings], dtype=float).reshape(-1, 4)
        truth += [b.damage.label for b in tile.buildings]
        t = time.perf_counter()
        batch = [cut_crop(image, b, tile.gsd_m * 100, assessor.spec) for b in boxes]
        before = pre_tile_image(where[tile.tile_id], tile.tile_id, image.shape) \
            if assessor.takes_pre and use_pre else None
        befores = [None if before is None else cut_crop(before, b, tile.gsd_m * 100,
                                                        assessor.spec) for b in boxes]
        probs = assessor.predict(batch, befores)
        crop_s += time.perf_counter() - t
        n_crops += len(batch)
        damage = [g for g in GRADES if g != BACKGROUND]
        by_assessor += [damage[int(np.argmax(p[:4]))] for p in probs]
        found = detect_photo(image, detector, conf=0.1)
        # the detector path of survey analyze: its boxes regraded by the assessor
        keep, regraded, _ = regrade(image, found.boxes, tile.gsd_m * 100, assessor)
        box_grade = dict(zip(keep, regraded, strict=True))
        if len(boxes) and len(found.boxes):
            iou = _iou(boxes, found.boxes)
            best = iou.argmax(1)
            for i in range(len(boxes)):
                ok = iou[i, best[i]] >= 0.3
                by_detector.append(names[int(found.classes[best[i]])] if ok else BACKGROUND)
                by_both.append(box_grade.get(int(best[i]), BACKGROUND) if ok else BACKGROUND)
        else:
            by_detector += [BACKGROUND] * len(boxes)
            by_both += [BACKGROUND] * len(boxes)
    print(f"{split} split: {len(tiles)} tiles never used for any choice, {len(truth)} buildings"
          + (f"; pre-disaster crops {'used' if use_pre else 'withheld (--no-pre)'}"
             if assessor.takes_pre else ""))
    for name, pred in (("assessor (footprint crops)", by_assessor),
                       ("detector (whole tile, IoU 0.3)", by_detector),
                       ("detector boxes regraded by the assessor", by_both)):
        e = score_predictions(truth, pred, split)
        print(f"\n{name}")
        print(f"  {'grade':<10} {'P':>6} {'R':>6} {'F1':>6}  (n)")
        for g in [g for g in GRADES if g != BACKGROUND]:
            s = e.per_grade[g]
            print(f"  {g:<10} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f}  "
                  f"({s.tp + s.fn})")
        for label, s in (("damaged", e.damaged), ("intact", e.intact)):
            print(f"  {label:<10} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f}  "
                  f"({s.tp + s.fn})")
        missed = sum(p == BACKGROUND for p in pred)
        print(f"  buildings without a grade (missed / called background): {missed}")
    print(f"\nassessor throughput: {n_crops / crop_s:.0f} buildings/s (crop + classify, "
          f"{n_crops} buildings, CPU)")


def dji_false_damage(detector_path: Path, assessor_path: Path) -> None:
    from detection.assessor import load_assessor
    from detection.model import load_model
    from detection.photos import find_photos
    from survey.pipelines.analyze import AnalyzeConfig, analyze

    photos = find_photos([DJI])
    detector = load_model(detector_path)
    for label, grader in (("detector alone", None),
                          ("detector + assessor", load_assessor(assessor_path))):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            s = analyze(AnalyzeConfig(photos=photos, out_dir=Path(tmp) / "s", model=detector,
                                      weights=str(detector_path), assessor=grader))
            dt = time.perf_counter() - t
        damaged = s.objects.get("major", 0) + s.objects.get("destroyed", 0)
        print(f"DJI 18 photos, {label}: {damaged} objects graded major/destroyed; objects "
              f"{dict(sorted(s.objects.items()))}; {len(photos) / dt:.2f} photos/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=Path, default=ROOT / "out" / "crops")
    ap.add_argument("--xbd", type=Path, nargs="+",
                    default=[ROOT.parent / "shared" / "data" / "xbd",
                             ROOT.parent / "shared" / "data" / "xbd_extra"])
    ap.add_argument("--split", default="test")
    ap.add_argument("--assessor", type=Path, default=WEIGHTS / "assessor" / "model.safetensors")
    ap.add_argument("--detector", type=Path, default=WEIGHTS / "model.safetensors")
    ap.add_argument("--dji", action="store_true", help="also the 18 DJI photos")
    ap.add_argument("--no-pre", action="store_true",
                    help="a pre+post assessor graded without the tiles' pre images")
    args = ap.parse_args()
    if not (args.crops / "dataset_card.json").is_file():
        sys.exit(f"{args.crops}: no crop dataset (survey dataset xbd --crops first)")
    compare(args.crops, args.xbd, args.split, args.assessor, args.detector, not args.no_pre)
    if args.dji:
        if not DJI.is_dir():
            sys.exit(f"{DJI}: not here")
        dji_false_damage(args.detector, args.assessor)


if __name__ == "__main__":
    main()
