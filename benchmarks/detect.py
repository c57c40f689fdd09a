"""Photos per second on real drone photos: this project's tiled path vs SAHI, same model.

Both decode each JPEG and run the same checkpoint on 640-px tiles (the model's image size) at
0.2 overlap with no full-image pass, at the same confidence. Ours is ``load_image`` +
``detect_photo`` (one merge, torch threads set back to the cores); SAHI is
``get_sliced_prediction`` with its ultralytics wrapper (GREEDYNMM merge). SAHI runs first:
ultralytics lowers torch's thread count when it sets up, and ours sets it back.

Without ``--weights`` an untrained yolo11n (4 damage classes, imgsz 640) is used: the speed
is the same as a trained one's, the boxes are not meaningful. Needs the ``bench`` extra
(``pip install -e '.[bench]'``) and ``../shared/data/dji_brighton_beach`` (skips cleanly
without them).

    python benchmarks/detect.py [--photos 3] [--weights W.safetensors] [--conf 0.25] [--fair]
                                [--at-model-gsd]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "dji_brighton_beach"


def untrained_checkpoint(folder: Path, imgsz: int = 640) -> Path:
    """An untrained yolo11n with the damage classes, written as survey train writes one."""
    from ultralytics.nn.tasks import DetectionModel

    from detection.card import MODEL_CARD_NAME, ModelCard, write_model_card
    from detection.weights_file import WEIGHTS_NAME, save_weights
    from survey.core.damage import class_names

    net = DetectionModel("yolo11n.yaml", nc=4, verbose=False)
    hashes = save_weights(net, folder)
    write_model_card(folder / MODEL_CARD_NAME, ModelCard(
        classes=tuple(class_names().values()), imgsz=imgsz, **hashes))
    return folder / WEIGHTS_NAME


def photo_gsd(path: Path) -> float:
    """The photo's nadir GSD, cm/px, from its EXIF/XMP (as survey analyze reads it)."""
    from mapping.pose import photo_gsd_cm, read_pose

    return photo_gsd_cm(read_pose(path))


def ours(photos: list[Path], weights: Path, conf: float, *, at_gsd: bool
         ) -> tuple[float, int, int]:
    import torch

    from detection.detector import detect_photo
    from detection.images import load_image
    from detection.model import load_model

    model = load_model(weights)
    model.predict([load_image(photos[0])[:640, :640]], conf=conf)  # warm-up
    boxes = 0
    t0 = time.perf_counter()
    for path in photos:
        gsd = photo_gsd(path) if at_gsd else None
        boxes += len(detect_photo(load_image(path), model, overlap=0.2, conf=conf,
                                  photo_gsd_cm=gsd))
    return time.perf_counter() - t0, boxes, torch.get_num_threads()


def sahi(photos: list[Path], weights: Path, conf: float, imgsz: int, *, fair: bool,
         model_gsd: float | None) -> tuple[float, int, int]:
    import cv2
    import torch
    from sahi.models.ultralytics import UltralyticsDetectionModel
    from sahi.predict import get_sliced_prediction

    from detection.weights_file import open_checkpoint

    yolo, _ = open_checkpoint(weights, task="detect")  # no pickle: SAHI gets the loaded model
    model = UltralyticsDetectionModel(model=yolo, device="cpu",
                                      confidence_threshold=conf, image_size=imgsz)

    def run(path: Path) -> int:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        if model_gsd is not None:  # the same resampling to the model's GSD as ours
            f = photo_gsd(path) / model_gsd
            image = cv2.resize(image, (max(1, round(image.shape[1] * f)),
                                       max(1, round(image.shape[0] * f))),
                               interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        result = get_sliced_prediction(
            image, model, slice_height=imgsz, slice_width=imgsz, overlap_height_ratio=0.2,
            overlap_width_ratio=0.2, perform_standard_pred=False, verbose=0)
        return len(result.object_prediction_list)

    model.perform_inference(cv2.imread(str(photos[0]))[:imgsz, :imgsz, ::-1])  # warm-up
    if fair:  # give SAHI the threads ours restores, to compare the tiling paths alone
        from detection.model import available_cores

        torch.set_num_threads(available_cores())
    t0 = time.perf_counter()
    boxes = sum(run(p) for p in photos)
    return time.perf_counter() - t0, boxes, torch.get_num_threads()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=3, help="how many photos (of 18)")
    parser.add_argument("--weights", type=Path, help="checkpoint (default: untrained yolo11n)")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--fair", action="store_true",
                        help="set torch's threads back to the cores for SAHI too")
    parser.add_argument("--at-model-gsd", action="store_true",
                        help="resample each photo to the model card's GSD first (the "
                        "photo's GSD from its EXIF/XMP), as survey analyze does")
    args = parser.parse_args()
    photos = sorted(PHOTOS.glob("*.JPG"))[: args.photos] if PHOTOS.is_dir() else []
    if not photos:
        print(f"skipped: no photos in {PHOTOS}")
        return 0
    if importlib.util.find_spec("sahi") is None:
        print("skipped: sahi is not installed (pip install -e '.[bench]')")
        return 0
    sys.path.insert(0, str(ROOT))
    from detection.offline import ultralytics_api

    ultralytics_api()  # before sahi imports ultralytics
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or untrained_checkpoint(Path(tmp))
        from detection.model import load_model

        loaded = load_model(weights)
        imgsz = loaded.imgsz
        model_gsd = loaded.gsd_cm if args.at_model_gsd else None
        if args.at_model_gsd and model_gsd is None:
            print("skipped: --at-model-gsd needs a model card with a GSD")
            return 0
        t_sahi, n_sahi, th_sahi = sahi(photos, weights, args.conf, imgsz, fair=args.fair,
                                       model_gsd=model_gsd)
        t_ours, n_ours, th_ours = ours(photos, weights, args.conf, at_gsd=args.at_model_gsd)
    n = len(photos)
    scale = f", photos resampled to {model_gsd:.1f} cm/px" if model_gsd else ""
    print(f"{n} photos, tiles {imgsz} px at 0.2 overlap, conf {args.conf}{scale}")
    print(f"  SAHI : {n / t_sahi:.3f} photos/s ({n_sahi} boxes, torch threads {th_sahi})")
    print(f"  ours : {n / t_ours:.3f} photos/s ({n_ours} boxes, torch threads {th_ours})")
    print(f"  ours / SAHI speed: {t_sahi / t_ours:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
