"""Train the building assessor (an ultralytics classifier on building crops) offline.

The crop dataset comes from :func:`write_xbd_crops` (``survey dataset xbd --crops``). Rare
grades can be drawn more often (``balance``: each class's crops are repeated
``(n_most / n_class) ** balance`` times in the training split, through links in a temporary
copy, never duplicated on disk); val and test are left as they are. The model card records
the crop recipe so that drone photos and orthomosaics are cut exactly as the training
crops were, and grade weights (a change of class priors, chosen on the validation split by
:func:`detection.assessor.choose_grade_weights`) that the test split never influences.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

from detection.card import (
    MODEL_CARD_NAME,
    DatasetCard,
    ModelCard,
    model_card_path,
    read_dataset_card,
    read_model_card,
    write_dataset_card,
    write_model_card,
)
from detection.crops import CropSpec, write_crop_dataset
from detection.weights_file import WEIGHTS_NAME, export_checkpoint, start_yolo
from detection.xbd import XBD_LICENSE
from survey.core.errors import InputError, ParamError
from survey.core.files import staged_dir

CROP_CARD_NAME = "dataset_card.json"


def write_xbd_crops(xbd_roots: Sequence[str | PathLike[str]], out_dir: str | PathLike[str], *,
                    seed: int = 0, spec: CropSpec | None = None,
                    progress: Callable[[int, int], None] | None = None) -> DatasetCard:
    """Write the crop dataset of one or more xBD folders and its ``dataset_card.json``."""
    out = Path(out_dir)
    spec = spec or CropSpec()
    with staged_dir(out) as stage:
        data = write_crop_dataset(xbd_roots, stage, spec=spec, seed=seed, progress=progress)
        card = DatasetCard(
            source="xBD post-disaster tiles: " + ", ".join(str(Path(r)) for r in xbd_roots),
            gsd_cm=data.gsd_cm, license=XBD_LICENSE,
            tiles={s: len(t) for s, t in data.split_tiles.items()},
            boxes_per_class={}, split_tiles={s: list(t) for s, t in data.split_tiles.items()},
            crops_per_class=data.counts, crop=spec.to_dict())
        write_dataset_card(stage / CROP_CARD_NAME, card)
        if out.exists():  # staged_dir moves top-level entries: clear old split folders first
            for name in ("train", "val", "test"):
                shutil.rmtree(out / name, ignore_errors=True)
    return card


def is_crop_dataset(path: str | PathLike[str]) -> bool:
    """Whether ``path`` is a crop dataset folder (``train/``, ``val/`` and its card)."""
    folder = Path(path)
    return folder.is_dir() and (folder / "train").is_dir() and (folder / CROP_CARD_NAME).is_file()


@dataclass(frozen=True, slots=True)
class AssessorTrainConfig:
    """What to train: the crop dataset folder, the start (``yolo11n-cls.yaml`` or a local
    classification ``.pt``), the schedule and the class balance (0: as the data is)."""

    data_dir: Path
    out_dir: Path
    start_weights: str = "yolo11n-cls.yaml"
    epochs: int = 30
    batch: int = 64
    device: str = "cpu"
    workers: int | None = None
    seed: int = 0
    balance: float = 0.0
    hours: float | None = None
    lr: float | None = None
    backbone_from: Path | None = None
    """A local weights file whose backbone layers (same index and shape) start the
    architecture (see :func:`detection.train.transfer_backbone`)."""
    trust_weights: bool = False
    """Allow ``.pt`` pickles as start or backbone weights (they can run code)."""


def _balanced_copy(data_dir: Path, into: Path, balance: float) -> dict[str, int]:
    """A linked copy of the dataset with training crops repeated by class; the repeats."""
    into.mkdir(parents=True)
    for split in ("val", "test"):
        if (data_dir / split).is_dir():
            os.symlink((data_dir / split).resolve(), into / split)
    classes = sorted(p for p in (data_dir / "train").iterdir() if p.is_dir())
    sizes = {c.name: sum(1 for _ in c.iterdir()) for c in classes}
    most = max(sizes.values(), default=1)
    repeats = {}
    for c in classes:
        k = max(1, round((most / max(sizes[c.name], 1)) ** balance)) if sizes[c.name] else 1
        repeats[c.name] = k
        target = into / "train" / c.name
        target.mkdir(parents=True)
        for f in sorted(c.iterdir()):
            for r in range(k):
                os.symlink(f.resolve(), target / (f.name if r == 0 else f"r{r}_{f.name}"))
    return repeats


def _with_channels(model: object, channels: int) -> object:
    """The same classifier architecture, freshly built for ``channels`` input channels."""
    from detection.offline import ultralytics_api

    ultralytics_api()
    from ultralytics.nn.tasks import ClassificationModel

    arch = dict(model.yaml, channels=channels)  # type: ignore[attr-defined]
    return ClassificationModel(arch, ch=channels, verbose=False)


def train_assessor(config: AssessorTrainConfig) -> tuple[Path, ModelCard]:
    """Train, then write ``model.safetensors`` + ``model.yaml`` (best val top-1 epoch) and
    its card into ``out_dir``;
    the card holds the val scores (per grade, damaged / intact F1).

    Raises
    ------
    InputError
        A device this machine does not have, not a crop dataset, bad start weights,
        non-positive epochs or batch.
    """
    from detection.device import check_device

    device = check_device(config.device)
    if config.epochs < 1 or config.batch < 1 or config.balance < 0:
        raise ParamError(("epochs", "batch", "balance"),
                         "need epochs ≥ 1, batch ≥ 1, balance ≥ 0")
    if not is_crop_dataset(config.data_dir):
        raise InputError(config.data_dir, "not a crop dataset (survey dataset xbd --crops)")
    data_card = read_dataset_card(config.data_dir / CROP_CARD_NAME)
    spec = CropSpec.from_dict(dict(data_card.crop))
    start = config.start_weights
    import numpy as np

    from detection.assessor import (
        GRADES,
        choose_grade_weights,
        load_assessor,
        score_probabilities,
        split_probabilities,
    )
    from detection.model import available_cores

    workers = config.workers if config.workers is not None else min(2, available_cores())
    with tempfile.TemporaryDirectory(prefix="survey-assess-") as tmp:
        data = Path(tmp) / "data"
        repeats = _balanced_copy(config.data_dir, data, config.balance)
        yolo = start_yolo(start, task="classify", trust=config.trust_weights)
        channels = 6 if spec.pre else 3
        if yolo.model.yaml.get("channels", 3) != channels:
            if not str(start).lower().endswith((".yaml", ".yml")):
                raise InputError(start, f"takes {yolo.model.yaml.get('channels', 3)} input "
                                        f"channels; this dataset's crops have {channels}")
            yolo.model = _with_channels(yolo.model, channels)
        if config.backbone_from is not None:
            from detection.train import transfer_backbone

            transfer_backbone(yolo.model, config.backbone_from, trust=config.trust_weights)
            yolo.load(yolo.model)
        extra: dict[str, object] = {"time": config.hours} if config.hours else {}
        if config.lr is not None:
            extra.update(optimizer="AdamW", lr0=config.lr, warmup_epochs=0)
        from detection.train import use_every_core

        use_every_core(yolo)
        if spec.pre:
            from detection.pair_dataset import PairTrainer

            extra["trainer"] = PairTrainer
        yolo.train(
            **extra, data=str(data), epochs=config.epochs, imgsz=spec.size_px,
            batch=config.batch, nbs=config.batch, device=device, workers=workers,
            amp=False, plots=False, seed=config.seed, verbose=False,
            flipud=0.5, fliplr=0.5, scale=0.2, erasing=0.0, auto_augment=None,
            project=str(Path(tmp) / "runs"), name="train", exist_ok=True)
        trainer = yolo.trainer
        best = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
        with staged_dir(config.out_dir) as stage:
            hashes = export_checkpoint(best, stage)
            results = Path(trainer.save_dir) / "results.csv"
            if results.exists():
                shutil.copyfile(results, stage / "results.csv")
            names = yolo.names
            card = ModelCard(
                classes=tuple(str(names[i]) for i in sorted(names)), imgsz=spec.size_px,
                gsd_cm=spec.gsd_cm, data=str(config.data_dir),
                base_weights=start + (f" (backbone from {config.backbone_from})"
                                      if config.backbone_from else ""),
                data_license=data_card.license, epochs=int(getattr(trainer, "epoch", 0)) + 1,
                task="classify", crop=spec.to_dict(), weights_sha256=hashes["weights_sha256"],
                architecture_sha256=hashes["architecture_sha256"],
                notes=f"Building damage grade from a footprint crop (xBD/FEMA scale, plus "
                      f"background = not a building). Trained with class repeats {repeats}.")
            write_model_card(stage / MODEL_CARD_NAME, card)
            model = load_assessor(stage / WEIGHTS_NAME)
            probs, truth = split_probabilities(model, config.data_dir, "val")
            weights = choose_grade_weights(probs, truth)
            scores = score_probabilities(probs, truth, np.array([weights[g] for g in GRADES]),
                                         "val")
            from detection.assessor import apply_weights
            from detection.calibration import (
                choose_temperature,
                expected_calibration_error,
                with_temperature,
            )

            graded = apply_weights(probs, np.array([weights[g] for g in GRADES]))
            index = np.array([GRADES.index(g) for g in truth])
            temperature, fitted = choose_temperature(graded, index)
            calibration = {
                "val_ece_uncalibrated": expected_calibration_error(graded, index),
                "val_ece": expected_calibration_error(with_temperature(graded, temperature),
                                                      index),
                "temperature_fitted": fitted}
            card = replace(card, grade_weights=weights, temperature=round(temperature, 4),
                           metrics={**assessor_metrics(scores), **calibration})
            write_model_card(stage / MODEL_CARD_NAME, card)
    return Path(config.out_dir) / WEIGHTS_NAME, card


def assessor_metrics(scores: object) -> dict[str, float]:
    """``{split}_{grade|damaged|not_damaged}_{precision|recall|f1}`` of an
    :class:`~detection.assessor.AssessorEvaluation`, for a model card (``damaged``: major
    or destroyed; ``not_damaged``: intact or minor, as in the detector's card)."""
    out: dict[str, float] = {}
    split = scores.split  # type: ignore[attr-defined]
    rows = {**scores.per_grade, "damaged": scores.damaged,  # type: ignore[attr-defined]
            "not_damaged": scores.intact}  # type: ignore[attr-defined]
    for name, s in rows.items():
        for stat in ("precision", "recall", "f1"):
            out[f"{split}_{name}_{stat}"] = float(getattr(s, stat))
    out[f"{split}_background_as_damaged"] = float(scores.background_as_damaged)  # type: ignore
    return out


def calibrate_assessor(weights: str | PathLike[str], data_dir: str | PathLike[str], *,
                       device: str = "cpu", trust: bool = False,
                       on_split: Callable[[str], None] | None = None
                       ) -> tuple[float, dict[str, float]]:
    """Fit the assessor's temperature on the ``val`` crops of ``data_dir``
    (:func:`detection.calibration.choose_temperature`: used only when it lowers the val ECE)
    and write it into the model card beside ``weights``, with the expected calibration error
    and the negative log-likelihood of ``val`` and ``test`` before (``_uncalibrated``) and
    after. The test split is only scored: nothing is chosen on it.

    Returns the temperature and the metrics written.
    """
    import numpy as np

    from detection.assessor import GRADES, apply_weights, load_assessor, split_probabilities
    from detection.calibration import (
        choose_temperature,
        expected_calibration_error,
        negative_log_likelihood,
        with_temperature,
    )

    model = load_assessor(weights, device=device, trust=trust)
    graded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("val", "test"):
        if on_split:
            on_split(split)
        probs, labels = split_probabilities(model, data_dir, split)
        graded[split] = (apply_weights(probs, model.grade_weights),
                         np.array([GRADES.index(g) for g in labels]))
    temperature, fitted = choose_temperature(*graded["val"])
    metrics: dict[str, float] = {"temperature_fitted": round(fitted, 4)}
    for split, (p, t) in graded.items():
        calibrated = with_temperature(p, temperature)
        metrics[f"{split}_ece_uncalibrated"] = expected_calibration_error(p, t)
        metrics[f"{split}_ece"] = expected_calibration_error(calibrated, t)
        metrics[f"{split}_nll_uncalibrated"] = negative_log_likelihood(p, t)
        metrics[f"{split}_nll"] = negative_log_likelihood(calibrated, t)
    card_file = model_card_path(weights)
    card = read_model_card(card_file)
    write_model_card(card_file, replace(card, temperature=round(temperature, 4),
                                        metrics={**card.metrics, **metrics}))
    return temperature, metrics
