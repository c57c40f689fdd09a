"""Model and dataset cards: what a checkpoint needs beside its weights to be used right.

A model card (``model_card.json`` next to the weights) records the class list, the image size
and the ground sample distance the model was trained at (photos are resampled to it before
detection), the training data and its licence, and the scores. A dataset card
(``dataset_card.json`` next to a dataset yaml) records the data's GSD and licence, so that
training can copy them into the model card.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path

from survey.core.errors import InputError
from survey.core.files import atomic_write_text, read_json

MODEL_CARD_NAME = "model_card.json"
DATASET_CARD_NAME = "dataset_card.json"
CODE_LICENSE = "AGPL-3.0-or-later"


@dataclass(frozen=True, slots=True)
class ModelCard:
    """Metadata of a trained detector.

    Attributes
    ----------
    classes
        Class names in class-id order.
    imgsz
        Training image size, pixels: predict at this size.
    gsd_cm
        Ground sample distance of the training images, cm per pixel, or ``None`` if unknown
        (then photos are not resampled).
    base_weights
        What training started from (a ``.pt`` path or a ``.yaml`` architecture).
    data
        The dataset it was trained on (yaml path or a name).
    data_license
        Licence of the training data (e.g. ``CC BY-NC-SA 4.0`` for xBD), which the weights
        inherit; ``None`` when unknown.
    epochs
        Epochs trained.
    metrics
        Named scores on the validation split (floats; ``nan`` is written as ``null``).
    license
        Licence of the code that produced it.
    notes
        Free text: intended use, limits.
    task
        ``"detect"`` (a damage detector) or ``"classify"`` (a building assessor).
    crop
        For an assessor, the crop recipe it was trained with
        (:meth:`detection.crops.CropSpec.to_dict`).
    grade_weights
        For an assessor, the prior weight of each grade its probabilities are multiplied by
        (then renormalised), chosen on the validation split; empty: none.
    temperature
        For an assessor, the temperature its (grade-weighted) probabilities are scaled by
        (:mod:`detection.calibration`), fitted on the validation split; 1: none.
    weights_sha256, architecture_sha256
        sha256 of ``model.safetensors`` and ``model.yaml`` (:mod:`detection.weights_file`),
        checked before the model is built.
    """

    classes: tuple[str, ...]
    imgsz: int
    gsd_cm: float | None = None
    base_weights: str = ""
    data: str = ""
    data_license: str | None = None
    epochs: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)
    license: str = CODE_LICENSE
    notes: str = ""
    task: str = "detect"
    crop: Mapping[str, float] = field(default_factory=dict)
    grade_weights: Mapping[str, float] = field(default_factory=dict)
    temperature: float = 1.0
    weights_sha256: str = ""
    architecture_sha256: str = ""

    def to_json(self) -> str:
        """The card as pretty JSON (``nan`` metrics as ``null``)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["metrics"] = {k: (None if not math.isfinite(v) else v)
                           for k, v in self.metrics.items()}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class DatasetCard:
    """Metadata of a YOLO dataset: source, median GSD of its training images, licence."""

    source: str
    gsd_cm: float | None
    license: str | None
    tiles: Mapping[str, int] = field(default_factory=dict)
    boxes_per_class: Mapping[str, int] = field(default_factory=dict)
    split_tiles: Mapping[str, list[str]] = field(default_factory=dict)
    """Split → the tile ids in it (for datasets that record them)."""
    crops_per_class: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Split → class → building crops (crop datasets)."""
    crop: Mapping[str, float] = field(default_factory=dict)
    """The crop recipe (crop datasets)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"


def model_card_path(weights: str | PathLike[str]) -> Path:
    """Where the card of ``weights`` lives: ``model_card.json`` in the same folder."""
    return Path(weights).with_name(MODEL_CARD_NAME)


def dataset_card_path(data_yaml: str | PathLike[str]) -> Path:
    """Where the card of a dataset yaml lives: ``dataset_card.json`` in the same folder."""
    return Path(data_yaml).with_name(DATASET_CARD_NAME)


def _read_object(path: Path) -> dict:
    data: dict = read_json(path, what="a card")
    return data


def _optional_positive(path: Path, data: dict, key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(path, f"{key} must be a positive number or null, got {value!r}")
    return float(value)


def read_model_card(path: str | PathLike[str]) -> ModelCard:
    """Read a model card.

    Raises
    ------
    InputError
        Missing or unreadable file, no ``classes`` list of strings, bad ``imgsz`` or
        ``gsd_cm``.
    """
    file = Path(path)
    data = _read_object(file)
    classes = data.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise InputError(file, "classes must be a list of class names")
    imgsz = data.get("imgsz")
    if isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 1:
        raise InputError(file, f"imgsz must be a positive integer, got {imgsz!r}")
    metrics = data.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise InputError(file, "metrics must be an object")
    return ModelCard(
        classes=tuple(classes),
        imgsz=imgsz,
        gsd_cm=_optional_positive(file, data, "gsd_cm"),
        base_weights=str(data.get("base_weights", "")),
        data=str(data.get("data", "")),
        data_license=data.get("data_license"),
        epochs=int(data.get("epochs", 0) or 0),
        metrics={str(k): (math.nan if v is None else float(v)) for k, v in metrics.items()},
        license=str(data.get("license", CODE_LICENSE)),
        notes=str(data.get("notes", "")),
        task=str(data.get("task", "detect")),
        crop=dict(data.get("crop") or {}),
        grade_weights={str(k): float(v) for k, v in (data.get("grade_weights") or {}).items()},
        temperature=_optional_positive(file, data, "temperature") or 1.0,
        weights_sha256=_hex_digest(file, data, "weights_sha256"),
        architecture_sha256=_hex_digest(file, data, "architecture_sha256"),
    )


def _hex_digest(path: Path, data: dict, key: str) -> str:
    value = data.get(key) or ""
    if not isinstance(value, str) or (value and (len(value) != 64 or not all(
            c in "0123456789abcdef" for c in value))):
        raise InputError(path, f"{key} must be 64 lowercase hex digits, got {value!r}")
    return value


def write_model_card(path: str | PathLike[str], card: ModelCard) -> None:
    """Write a model card atomically."""
    atomic_write_text(path, card.to_json())


def read_dataset_card(path: str | PathLike[str]) -> DatasetCard:
    """Read a dataset card.

    Raises
    ------
    InputError
        Missing or unreadable file, bad ``gsd_cm``.
    """
    file = Path(path)
    data = _read_object(file)
    return DatasetCard(
        source=str(data.get("source", "")),
        gsd_cm=_optional_positive(file, data, "gsd_cm"),
        license=data.get("license"),
        tiles=dict(data.get("tiles") or {}),
        boxes_per_class=dict(data.get("boxes_per_class") or {}),
        split_tiles=dict(data.get("split_tiles") or {}),
        crops_per_class=dict(data.get("crops_per_class") or {}),
        crop=dict(data.get("crop") or {}),
    )


def write_dataset_card(path: str | PathLike[str], card: DatasetCard) -> None:
    """Write a dataset card atomically."""
    atomic_write_text(path, card.to_json())
