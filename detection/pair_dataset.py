"""Training an assessor that compares pre- and post-disaster crops: six-channel samples.

A pair crop (:func:`detection.crops.pair_crop`: post on the left, pre on the right) becomes
one ``(6, size, size)`` tensor, post RGB then pre RGB. Both halves get the same geometric
augmentation (flips, quarter turns, a random resized crop), so the two views stay aligned;
the pre half also moves by up to :data:`PRE_SHIFT_PX` pixels (a municipality's orthophoto
and a drone survey never register exactly), has its own brightness (another day, another
sensor) and is replaced by grey in :data:`PRE_DROPOUT` of the samples, so that one model
also grades buildings for which no pre-disaster imagery exists.

Only the training path imports this module (it subclasses ultralytics' classifier trainer).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from detection.crops import split_pair
from detection.model import PAD_VALUE
from detection.offline import ultralytics_api

ultralytics_api()  # offline first: only then may ultralytics be imported
from ultralytics.data.dataset import ClassificationDataset  # noqa: E402
from ultralytics.models.yolo.classify import ClassificationTrainer  # noqa: E402

PRE_DROPOUT = 0.2
"""Share of training samples whose pre half is replaced by grey (no pre imagery)."""
PRE_SHIFT_PX = 2
"""The pre half moves by up to this many pixels (≈ 1 m at 45 cm/px) against the post."""
BRIGHTNESS = 0.15
"""Each half's brightness is scaled by a factor in 1 ± this."""


def pair_array(image_bgr: np.ndarray) -> np.ndarray:
    """A pair image (BGR, ``size × 2·size``) as one ``(size, size, 6)`` uint8 array: post
    RGB, then pre RGB."""
    post, pre = split_pair(image_bgr)
    return np.concatenate([post[..., ::-1], pre[..., ::-1]], axis=2)


def to_tensor(pair: np.ndarray) -> torch.Tensor:
    """``(size, size, 6)`` uint8 → ``(6, size, size)`` float in 0–1."""
    return torch.from_numpy(np.ascontiguousarray(pair.transpose(2, 0, 1))).float() / 255.0


def augment_pair(pair: np.ndarray, scale: tuple[float, float],
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """One random training view of a ``(size, size, 6)`` pair (see the module's
    description); numpy and OpenCV, as cheap per sample as ultralytics' own transforms."""
    rng = rng or np.random.default_rng(np.random.randint(2**31))
    size = pair.shape[0]
    # a random resized crop: area share in ``scale``, aspect 3/4–4/3
    area = size * size * rng.uniform(*scale)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    w = int(min(size, round(np.sqrt(area * aspect))))
    h = int(min(size, round(np.sqrt(area / aspect))))
    top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
    x = cv2.resize(pair[top:top + h, left:left + w], (size, size),
                   interpolation=cv2.INTER_LINEAR).astype(np.float32)
    if rng.random() < 0.5:
        x = x[:, ::-1]
    if rng.random() < 0.5:
        x = x[::-1]
    x = np.rot90(x, int(rng.integers(0, 4)))
    post, pre = x[..., :3], x[..., 3:]
    if rng.random() < PRE_DROPOUT:
        pre = np.full_like(pre, PAD_VALUE)
    else:
        shift = rng.integers(-PRE_SHIFT_PX, PRE_SHIFT_PX + 1, size=2)
        pre = np.roll(pre, tuple(int(v) for v in shift), axis=(0, 1))
        pre = pre * rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS)
    post = post * rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS)
    return np.clip(np.concatenate([post, pre], axis=2), 0, 255).astype(np.uint8)


class PairDataset(ClassificationDataset):
    """ultralytics' classification dataset over pair crops, six channels per sample."""

    def __init__(self, root: str, args: Any, augment: bool = False, prefix: str = "",
                 names: dict[int, str] | None = None) -> None:
        super().__init__(root, args, augment=augment, prefix=prefix, names=names)
        self.augment = augment
        self.scale = (1.0 - float(args.scale), 1.0)

    def __getitem__(self, i: int) -> dict:
        path, label = self.samples[i][:2]
        image = self.imread(path)
        if image is None:
            raise FileNotFoundError(f"unreadable crop {path}")
        pair = pair_array(image)
        if self.augment:
            pair = augment_pair(pair, self.scale)
        return {"img": to_tensor(pair), "cls": label}


class PairTrainer(ClassificationTrainer):
    """ultralytics' classifier trainer on :class:`PairDataset` (six input channels)."""

    def get_dataset(self) -> dict:
        data = super().get_dataset()
        data["channels"] = 6
        return data

    def build_dataset(self, img_path: str, mode: str = "train", batch: Any = None) -> PairDataset:
        return PairDataset(img_path, self.args, augment=mode == "train",
                           prefix="train" if mode == "train" else self.args.split,
                           names=self.data["names"])
