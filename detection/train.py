"""Train a YOLO damage detector offline and write its weights with a model card.

ultralytics is driven with the settings DESIGN.md found to make no network attempt: local
start weights or a ``.yaml`` architecture only, ``amp=False`` (the AMP check on CUDA downloads
weights), ``plots=False``, and everything through :mod:`detection.offline`. The dataset yaml
is checked first (missing folders are a one-line :class:`InputError`, not a download attempt)
and handed to ultralytics rewritten with absolute paths, so a relative ``path`` means
relative to the yaml, not to ultralytics' datasets folder.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

from detection.card import (
    MODEL_CARD_NAME,
    DatasetCard,
    ModelCard,
    dataset_card_path,
    read_dataset_card,
    write_dataset_card,
    write_model_card,
)
from detection.dataset import DatasetSpec, read_dataset_yaml
from detection.weights_file import WEIGHTS_NAME, export_checkpoint, read_state, start_yolo
from detection.xbd import YoloDataset
from survey.core.damage import class_names
from survey.core.errors import InputError, ParamError
from survey.core.files import staged_dir


def xbd_dataset_card(xbd_root: str | PathLike[str], dataset: YoloDataset) -> DatasetCard:
    """The dataset card of a dataset written by :func:`detection.xbd.write_yolo_dataset`.

    The GSD is the median ``metadata.gsd`` of the training tiles, in cm/px.
    """
    from detection.xbd import XBD_LICENSE, find_post_labels, read_label

    train = set(dataset.split.train)
    gsds = [t.gsd_m * 100.0 for t in (read_label(p) for p in find_post_labels(xbd_root))
            if t.tile_id in train]
    return DatasetCard(
        source=f"xBD post-disaster tiles ({Path(xbd_root)})",
        gsd_cm=statistics.median(gsds) if gsds else None,
        license=XBD_LICENSE,
        tiles={name: len(dataset.split.of(name)) for name in ("train", "val", "test")},
        boxes_per_class={c.label: n for c, n in dataset.boxes_per_class.items()},
    )


def write_xbd_dataset(xbd_root: str | PathLike[str], out_dir: str | PathLike[str],
                      *, seed: int = 0) -> tuple[Path, DatasetCard]:
    """Convert an xBD folder to a YOLO dataset and write its ``dataset_card.json``.

    Returns the dataset yaml and the card. Raises :class:`InputError` as
    :func:`detection.xbd.write_yolo_dataset` does.
    """
    from detection.xbd import write_yolo_dataset

    dataset = write_yolo_dataset(xbd_root, out_dir, seed=seed)
    card = xbd_dataset_card(xbd_root, dataset)
    write_dataset_card(dataset_card_path(dataset.yaml_path), card)
    return dataset.yaml_path, card


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """What to train and how.

    Attributes
    ----------
    data_yaml
        YOLO dataset yaml (a ``dataset_card.json`` beside it supplies GSD and licence).
    start_weights
        A local ``model.safetensors`` to fine-tune, or a ``.yaml`` architecture (e.g.
        ``yolo11n.yaml``, found in ultralytics' own configs) to train from scratch; a ``.pt``
        pickle only with ``trust_weights``.
    epochs, imgsz, batch
        Training length, image size (pixels, square), images per batch.
    device
        ``"cpu"`` or a CUDA device (``"0"``).
    workers
        Data-loader processes (default: up to 2, one per core).
    gsd_cm, data_license
        Override the dataset card's GSD (cm/px) and data licence.
    seed
        Random seed.
    backbone_from
        A local weights file whose backbone layers initialise those of an architecture
        ``start_weights`` (see :func:`transfer_backbone`).
    trust_weights
        Allow ``.pt`` pickles as ``start_weights`` / ``backbone_from`` (they can run code).
    hours
        Train for this long instead of ``epochs`` (ultralytics fits its schedule to it).
    lr
        AdamW learning rate with no warm-up, e.g. to continue from a trained checkpoint
        gently (default: ultralytics' automatic choice with warm-up).
    """

    data_yaml: Path
    start_weights: str
    epochs: int
    imgsz: int
    out_dir: Path
    device: str = "cpu"
    batch: int = 8
    workers: int | None = None
    gsd_cm: float | None = None
    data_license: str | None = None
    seed: int = 0
    backbone_from: Path | None = None
    hours: float | None = None
    lr: float | None = None
    trust_weights: bool = False


@dataclass(frozen=True, slots=True)
class TrainResult:
    """The written weights and model card."""

    weights: Path
    card_path: Path
    card: ModelCard


def use_every_core(yolo: object) -> None:
    """Train on every core this process may use: ultralytics leaves one core free for its
    data loaders (``NUM_THREADS`` = cores − 1: a single thread on a 2-core machine), but
    decoding 64-px crops or a few tiles costs them little and a batch of yolov8s-cls at
    64 px takes 0.47 s on two threads against 0.90 s on one (measured here)."""
    import torch

    from detection.model import available_cores

    def widen(_trainer: object) -> None:
        torch.set_num_threads(available_cores())

    yolo.add_callback("on_train_start", widen)  # type: ignore[attr-defined]


def transfer_backbone(model: object, source: str | PathLike[str], *, trust: bool = False) -> int:
    """Copy a checkpoint's backbone weights into a freshly built model; return tensors copied.

    Only the target architecture's backbone layers (``yaml["backbone"]``) are filled, each
    only when the checkpoint has that layer index with every tensor of the same name and
    shape — a neck or head laid out differently is never seeded with weights of another
    layer, nor a layer half-filled. One exception: a first convolution that takes more input
    channels than the checkpoint's (a pre+post assessor's six from an RGB backbone)
    gets the checkpoint's filters on the first channels and zeros on the others, so the
    network starts as the RGB one and learns what the extra channels add.

    Raises
    ------
    InputError
        The checkpoint is missing, not a YOLO checkpoint, an untrusted pickle, or shares no
        backbone tensor.
    """
    path = Path(source)
    have = read_state(path, trust=trust)
    n_backbone = len(model.yaml["backbone"])  # type: ignore[attr-defined]
    target = model.state_dict()  # type: ignore[attr-defined]
    take: dict = {}
    for k, t in target.items():  # a wider first convolution: zeros on the extra channels
        src = have.get(k)
        if k.startswith("model.0.") and src is not None and t.ndim == 4 == src.ndim \
                and t.shape[1] > src.shape[1] and t.shape[::2] == src.shape[::2] \
                and t.shape[3] == src.shape[3]:
            have[k] = src.new_zeros(t.shape)
            have[k][:, :src.shape[1]] = src
    for i in range(n_backbone):
        prefix = f"model.{i}."
        keys = [k for k in target if k.startswith(prefix)]
        # a whole layer or nothing: half a layer (a norm without its conv) is no start
        if keys and all(k in have and have[k].shape == target[k].shape for k in keys):
            take.update({k: have[k] for k in keys})
    if not take:
        raise InputError(path, "no backbone layer matches the architecture's")
    model.load_state_dict(take, strict=False)  # type: ignore[attr-defined]
    return len(take)


def _val_metrics(raw: Mapping[str, object]) -> dict[str, float]:
    rename = {"metrics/precision(B)": "val_precision", "metrics/recall(B)": "val_recall",
              "metrics/mAP50(B)": "val_mAP50", "metrics/mAP50-95(B)": "val_mAP50-95"}
    out = {}
    for key, name in rename.items():
        value = raw.get(key)
        if isinstance(value, int | float):
            out[name] = float(value)
    return out


def _long_side_px(spec: DatasetSpec) -> float:
    """Median long side of the training images, pixels (from a few of them)."""
    import cv2

    sizes = []
    for path in spec.images("train")[:9]:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is not None:
            sizes.append(max(img.shape[:2]))
    return float(statistics.median(sizes)) if sizes else 0.0


def train_model(config: TrainConfig) -> TrainResult:
    """Train, then write ``model.safetensors`` + ``model.yaml`` (best epoch) and
    ``model_card.json`` into ``out_dir``.

    The card holds the classes, image size, the training GSD (``config.gsd_cm``, else the
    dataset card's), the data licence, the validation scores of ultralytics and, when the
    classes are the damage classes, box F1 at IoU 0.3 damaged vs intact on the val split.

    Raises
    ------
    InputError
        A device this machine does not have, bad dataset yaml (missing folders), start
        weights that are not a local file or an architecture yaml, non-positive
        epochs/imgsz/batch, or an unknown class set for the card's damaged/intact scores.
    """
    from detection.device import check_device

    device = check_device(config.device)
    if config.epochs < 1 or config.imgsz < 32 or config.batch < 1:
        raise ParamError(("epochs", "imgsz", "batch"), f"need epochs ≥ 1, imgsz ≥ 32, batch ≥ 1; "
                         f"got {config.epochs}, {config.imgsz}, {config.batch}")
    spec = read_dataset_yaml(config.data_yaml)
    card_file = dataset_card_path(config.data_yaml)
    data_card = read_dataset_card(card_file) if card_file.exists() else None
    gsd_cm = config.gsd_cm if config.gsd_cm is not None else (data_card and data_card.gsd_cm)
    if gsd_cm and config.gsd_cm is None:
        # ultralytics shrinks images whose long side exceeds imgsz: the model learns the
        # coarser GSD it actually sees (xBD's 1024-px tiles at imgsz 640: 1.6× coarser).
        gsd_cm = gsd_cm * max(1.0, _long_side_px(spec) / config.imgsz)
    licence = config.data_license or (data_card.license if data_card else None)

    from detection.model import available_cores

    workers = config.workers if config.workers is not None else min(2, available_cores())
    with tempfile.TemporaryDirectory(prefix="survey-train-") as tmp:
        data_file = Path(tmp) / "data.yaml"
        data_file.write_text(spec.ultralytics_yaml(), encoding="utf-8")
        yolo = start_yolo(config.start_weights, task="detect", trust=config.trust_weights)
        if config.backbone_from is not None:
            transfer_backbone(yolo.model, config.backbone_from, trust=config.trust_weights)
            yolo.load(yolo.model)  # train() seeds its model from this one
        use_every_core(yolo)
        timing: dict[str, object] = {"time": config.hours} if config.hours else {}
        if config.lr is not None:
            timing.update(optimizer="AdamW", lr0=config.lr, warmup_epochs=0)
        # ultralytics accumulates gradients up to a nominal batch of 64 images: on a small
        # dataset (xBD's 37 training tiles at batch 4) that is one optimizer step every 16
        # batches, ~20 steps in 30 epochs. Step on every batch instead.
        yolo.train(
            **timing,
            data=str(data_file), epochs=config.epochs, imgsz=config.imgsz, batch=config.batch,
            nbs=config.batch, flipud=0.5,  # top-down imagery has no "up"
            device=device, workers=workers, amp=False, plots=False, seed=config.seed,
            project=str(Path(tmp) / "runs"), name="train", exist_ok=True, verbose=False,
        )
        trainer = yolo.trainer
        best = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
        metrics = _val_metrics(trainer.metrics or {})
        with staged_dir(config.out_dir) as stage:
            hashes = export_checkpoint(best, stage)
            results_csv = Path(trainer.save_dir) / "results.csv"
            if results_csv.exists():
                shutil.copyfile(results_csv, stage / "results.csv")
            card = ModelCard(
                classes=tuple(spec.names[i] for i in sorted(spec.names)),
                imgsz=config.imgsz,
                gsd_cm=float(gsd_cm) if gsd_cm else None,
                base_weights=str(config.start_weights) + (
                    f" (backbone from {config.backbone_from})" if config.backbone_from else ""),
                data=str(config.data_yaml),
                data_license=licence,
                epochs=int(getattr(trainer, "epoch", config.epochs - 1)) + 1,
                metrics=metrics, weights_sha256=hashes["weights_sha256"],
                architecture_sha256=hashes["architecture_sha256"],
                notes="Building damage boxes (xBD/FEMA scale) for drone survey photos; "
                      "resample photos to gsd_cm before detection.",
            )
            write_model_card(stage / MODEL_CARD_NAME, card)
            if dict(sorted(spec.names.items())) == class_names() and "val" in spec.splits:
                from detection.evaluate import evaluate_dataset
                from detection.model import load_model

                model = load_model(stage / WEIGHTS_NAME, device=device)
                scores = evaluate_dataset(model, spec, split="val").evaluation
                extra = {"val_damaged_f1_iou0.3": scores.damaged.f1,
                         "val_intact_f1_iou0.3": scores.intact.f1}
                card = replace(card, metrics={**metrics, **extra})
                write_model_card(stage / MODEL_CARD_NAME, card)
    out = Path(config.out_dir)
    return TrainResult(out / WEIGHTS_NAME, out / MODEL_CARD_NAME, card)

