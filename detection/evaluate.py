"""Score a detector on a YOLO dataset split: per class, and damaged versus intact.

Each image of the split goes through the same tiled path as a drone photo
(:func:`detection.detector.detect_photo`, at the model's image size, no resampling: dataset
images are at the training GSD), and is matched against its YOLO label file by
:func:`detection.metrics.evaluate` at IoU ≥ 0.3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detection.dataset import DatasetSpec, label_path_for
from detection.detector import detect_photo
from detection.images import load_image
from detection.merge import Detections
from detection.metrics import DEFAULT_MATCH_IOU, Evaluation, GroundTruth, evaluate
from detection.model import TileModel
from survey.core.damage import class_names
from survey.core.errors import InputError


@dataclass(frozen=True, slots=True)
class DatasetEvaluation:
    """Scores of one split and how many images and labelled boxes they came from."""

    split: str
    images: int
    boxes: int
    evaluation: Evaluation


def read_yolo_labels(label_path: Path, width_px: int, height_px: int) -> GroundTruth:
    """A YOLO label file (``class cx cy w h`` normalised) as pixel xyxy boxes.

    A missing file means no objects (as ultralytics reads it).

    Raises
    ------
    InputError
        A line that is not five numbers.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = f.write_text("3 0.5 0.5 0.2 0.1\\n")
    >>> read_yolo_labels(f, 100, 200).boxes.round(6).tolist()
    [[40.0, 90.0, 60.0, 110.0]]
    """
    if not label_path.exists():
        return GroundTruth(np.zeros((0, 4)), np.zeros(0, np.int64))
    boxes, classes = [], []
    for number, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cls, cx, cy, w, h = line.split()
            c, x, y, bw, bh = int(cls), float(cx), float(cy), float(w), float(h)
        except ValueError:
            raise InputError(label_path, f"line {number}: expected 'class cx cy w h'") from None
        boxes.append([(x - bw / 2) * width_px, (y - bh / 2) * height_px,
                      (x + bw / 2) * width_px, (y + bh / 2) * height_px])
        classes.append(c)
    return GroundTruth(np.reshape(boxes, (-1, 4)), classes)


def evaluate_dataset(
    model: TileModel,
    spec: DatasetSpec,
    *,
    split: str = "test",
    conf: float = 0.25,
    iou: float = DEFAULT_MATCH_IOU,
    on_image: Callable[[Path], None] | None = None,
) -> DatasetEvaluation:
    """Detect in every image of ``split`` and score against its labels.

    Raises
    ------
    InputError
        The split is missing or empty, the model's or dataset's classes are not the damage
        classes, or an image or label cannot be read.
    """
    damage = class_names()
    model_names = dict(sorted(model.class_names.items()))
    if model_names != damage:
        raise InputError("model", f"classes {list(model_names.values())} are not the damage "
                                  f"classes {list(damage.values())}")
    if dict(sorted(spec.names.items())) != damage:
        raise InputError(spec.yaml_path, f"classes {list(spec.names.values())} are not the "
                                         f"damage classes {list(damage.values())}")
    images = spec.images(split)
    if not images:
        raise InputError(spec.yaml_path, f"the {split!r} split has no images")
    predictions: list[Detections] = []
    truths: list[GroundTruth] = []
    for path in images:
        image = load_image(path)
        predictions.append(detect_photo(image, model, conf=conf))
        truths.append(read_yolo_labels(label_path_for(path), image.shape[1], image.shape[0]))
        if on_image is not None:
            on_image(path)
    try:
        result = evaluate(predictions, truths, iou=iou)
    except ValueError as exc:
        raise InputError(spec.yaml_path, str(exc)) from None
    return DatasetEvaluation(split, len(images), sum(len(t) for t in truths), result)
