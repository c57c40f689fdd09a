"""The model adapter: a YOLO checkpoint behind ``predict(tiles, *, conf) -> list[Detections]``.

The second of the three tiling parts (see :mod:`detection.tiling`). :func:`load_model` reads a
local checkpoint (:mod:`detection.weights_file`: safetensors, never a download) and what the
model was trained at: classes, image size, ground sample distance (from ``model_card.json``
next to the weights, else the checkpoint's own training arguments). :class:`DamageModel`
predicts at that image size (DESIGN.md: a model upscales other tile sizes to its own, slowly,
at the wrong scale), pads tiles smaller than it, and sets torch's thread count back to the
cores after ultralytics lowers it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from detection.card import MODEL_CARD_NAME, ModelCard, model_card_path
from detection.merge import Detections
from survey.core.damage import class_names
from survey.core.errors import InputError

PAD_VALUE = 114
"""Grey that ultralytics letterboxes with; small tiles are padded with it."""

class TileModel(Protocol):
    """What the tiled detector needs of a model (a real one or a test fake)."""

    @property
    def imgsz(self) -> int:
        """Training image size (square), pixels."""
        ...

    @property
    def gsd_cm(self) -> float | None:
        """Training ground sample distance, cm/px, or ``None`` when unknown."""
        ...

    @property
    def class_names(self) -> Mapping[int, str]:
        """Class id → name."""
        ...

    def predict(self, tiles: Sequence[np.ndarray], *, conf: float) -> list[Detections]:
        """Detections of each tile in tile pixels, one entry per tile."""
        ...


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pad_tile(tile: np.ndarray, size_px: int) -> np.ndarray:
    """``tile`` padded at the right and bottom with grey up to ``size_px`` on each side.

    A tile already at least that large is returned as it is (no copy). Padding at the far
    edges keeps tile pixel coordinates unchanged.

    Examples
    --------
    >>> pad_tile(np.zeros((30, 50, 3), np.uint8), 64).shape
    (64, 64, 3)
    >>> int(pad_tile(np.zeros((30, 50, 3), np.uint8), 64)[40, 10, 0])
    114
    """
    height, width = tile.shape[:2]
    if height >= size_px and width >= size_px:
        return tile
    out = np.full((max(height, size_px), max(width, size_px), *tile.shape[2:]), PAD_VALUE,
                  dtype=tile.dtype)
    out[:height, :width] = tile
    return out


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a checkpoint was trained at."""

    weights: Path
    class_names: Mapping[int, str]
    imgsz: int
    gsd_cm: float | None
    card: ModelCard | None


class DamageModel:
    """A loaded YOLO detector; see :func:`load_model`.

    ``predict`` keeps no results between calls. Not safe to call from several threads at
    once (ultralytics keeps its predictor on the model object); load one per thread.
    """

    def __init__(self, yolo: Any, info: ModelInfo, *, device: str = "cpu", batch: int = 1,
                 threads: int | None = None) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self._yolo = yolo
        self.info = info
        self.device = device
        self.batch = batch
        self.threads = threads if threads is not None else available_cores()
        self._ready = False

    @property
    def imgsz(self) -> int:
        return self.info.imgsz

    @property
    def gsd_cm(self) -> float | None:
        return self.info.gsd_cm

    @property
    def class_names(self) -> Mapping[int, str]:
        return self.info.class_names

    def _restore_threads(self) -> None:
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def _run(self, images: list[np.ndarray], conf: float, imgsz: int | None = None
             ) -> list[Any]:
        # class-agnostic NMS: a building has one damage level, so two boxes of different
        # classes on it are one detection (the more confident), not two buildings
        results: list[Any] = self._yolo.predict(
            images, imgsz=imgsz or self.imgsz, conf=conf, device=self.device,
            batch=len(images), verbose=False, save=False, agnostic_nms=True, iou=0.5,
        )
        return results

    def _side_for(self, tile: np.ndarray) -> int:
        """Square side a tile is padded to: its long side up to a multiple of 32 (the
        network's largest stride), at most :attr:`imgsz`. A small tile (a photo resampled to
        a coarse GSD) is then not padded out to a full training image: same scale, less work.
        """
        long_side = max(tile.shape[:2])
        return min(self.imgsz, max(32, -(-long_side // 32) * 32))

    def predict(self, tiles: Sequence[np.ndarray], *, conf: float = 0.25) -> list[Detections]:
        """Detections of each tile, in that tile's pixels.

        Parameters
        ----------
        tiles
            ``(h, w, 3)`` BGR uint8 crops. Tiles smaller than :attr:`imgsz` are padded (at the
            right/bottom, so coordinates hold); larger ones are shrunk by the model.
        conf
            Minimum confidence, ``0 <= conf <= 1``.

        Raises
        ------
        ValueError
            For ``conf`` outside ``[0, 1]`` or a tile that is not ``(h, w, 3)`` uint8.
        """
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"conf must be in [0, 1], got {conf}")
        for tile in tiles:
            if tile.ndim != 3 or tile.shape[2] != 3 or tile.dtype != np.uint8:
                raise ValueError(f"tiles must be (h, w, 3) uint8, got {tile.shape} {tile.dtype}")
        if not tiles:
            return []
        if not self._ready:
            # ultralytics sets up its predictor (and drops torch to cores - 1 threads) on the
            # first call: do that on a blank tile, then restore the threads for real work.
            self._run([np.full((64, 64, 3), PAD_VALUE, np.uint8)], conf, 64)  # setup only
            self._ready = True
        self._restore_threads()
        groups: dict[int, list[int]] = {}
        for i, tile in enumerate(tiles):
            groups.setdefault(self._side_for(tile), []).append(i)
        found: dict[int, Detections] = {}
        for side, members in groups.items():
            for start in range(0, len(members), self.batch):
                part = members[start:start + self.batch]
                chunk = [pad_tile(tiles[i], side) for i in part]
                for i, result in zip(part, self._run(chunk, conf, side), strict=True):
                    boxes = result.boxes
                    found[i] = Detections(
                        boxes.xyxy.cpu().numpy().reshape(-1, 4),
                        boxes.conf.cpu().numpy(),
                        boxes.cls.cpu().numpy().astype(np.int64),
                    )
                self._restore_threads()
        return [found[i] for i in range(len(tiles))]


def _imgsz_of(value: object) -> int | None:
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        return max(value)
    return None


def load_model(weights_path: str | PathLike[str], *, device: str = "cpu", batch: int = 1,
               threads: int | None = None, trust: bool = False,
               on_trust: Callable[[Path, str], None] | None = None) -> DamageModel:
    """Load a local YOLO detector for tiled prediction.

    ``weights_path`` is a ``model.safetensors`` with ``model.yaml`` and ``model_card.json``
    beside it (:mod:`detection.weights_file`: no code runs, hashes checked). A ``.pt`` pickle
    loads only with ``trust`` (``on_trust`` sees its sha256 first); its classes and image
    size come from the card when there is one, else from the checkpoint, and the GSD is then
    unknown (photos are not resampled).

    Parameters
    ----------
    weights_path
        The weights file; never a model name to download.
    device
        ``"cpu"`` or a CUDA device such as ``"0"``.
    batch
        Tiles per forward pass (1 is fastest on CPU, DESIGN.md).
    threads
        torch CPU threads for prediction (default: the cores this process may use).
    trust, on_trust
        Allow a pickle checkpoint (the CLI's ``--trust-weights``), and show its hash.

    Raises
    ------
    InputError
        A device this machine does not have (:func:`detection.device.check_device`); the
        path does not exist, is not a detector, is an untrusted pickle, has no training
        image size and no card, or disagrees with its card.
    """
    from detection.device import check_device
    from detection.weights_file import open_checkpoint

    device = check_device(device)
    path = Path(weights_path)
    yolo, card = open_checkpoint(path, task="detect", trust=trust, on_trust=on_trust)
    names = {int(k): str(v) for k, v in dict(yolo.names).items()}
    if names != class_names():
        raise InputError(path, f"its classes {[names[i] for i in sorted(names)]} are not the "
                               f"damage classes {list(class_names().values())}")
    card_file = model_card_path(path)
    if card is not None:
        if tuple(names[i] for i in sorted(names)) != card.classes:
            raise InputError(card_file, f"classes {list(card.classes)} differ from the "
                                        f"checkpoint's {[names[i] for i in sorted(names)]}")
        imgsz: int | None = card.imgsz
    else:
        imgsz = _imgsz_of(getattr(yolo, "overrides", {}).get("imgsz"))
    if imgsz is None:
        raise InputError(path, f"no training image size in the checkpoint; put a "
                               f"{MODEL_CARD_NAME} beside it")
    info = ModelInfo(weights=path, class_names=names, imgsz=imgsz,
                     gsd_cm=card.gsd_cm if card else None, card=card)
    return DamageModel(yolo, info, device=device, batch=batch, threads=threads)
