"""The per-building damage assessor: an ultralytics classifier over building crops.

Given a building's crop (:func:`detection.crops.cut_crop`), it returns a probability for each
grade of :class:`survey.core.damage.DamageClass` and for :data:`detection.crops.BACKGROUND`
("not a building"). Its model card (``model_card.json`` beside the weights, ``task:
classify``) carries the crop recipe it was trained with, so every caller cuts crops alike.

Why classification and not detection inside the crop: the footprint already says where the
building is, so the only question is its grade; a classifier on 64-px crops runs hundreds of
buildings a second on two cores and learns from every labelled building rather than from a
few hundred tiles (measured: see the model card and README).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from detection.calibration import with_temperature
from detection.card import ModelCard, model_card_path, read_model_card
from detection.crops import BACKGROUND, CropSpec
from detection.metrics import Score
from survey.core.damage import DamageClass, is_damaged
from survey.core.errors import InputError

GRADES: tuple[str, ...] = (*(c.label for c in DamageClass), BACKGROUND)
"""The assessor's output order everywhere in the project (a model's own order is mapped)."""


class Assessor:
    """A loaded building-crop classifier; see :func:`load_assessor`."""

    def __init__(self, model: object, card: ModelCard, weights: Path, *,
                 device: str = "cpu", batch: int = 128) -> None:
        self._model = model
        self.card = card
        self.weights = weights
        self.device = device
        self.batch = batch
        self.spec = CropSpec.from_dict(dict(card.crop))
        order = list(card.classes)
        missing = [g for g in GRADES if g not in order]
        if missing:
            raise InputError(weights, f"assessor lacks class(es) {missing}; has {order}")
        self._index = np.array([order.index(g) for g in GRADES])
        self.grade_weights = np.array([float(card.grade_weights.get(g, 1.0)) for g in GRADES])
        self.temperature = float(card.temperature)

    @property
    def takes_pre(self) -> bool:
        """Whether the network also sees the pre-disaster crop (six input channels)."""
        return self.spec.pre

    def predict(self, crops: Sequence[np.ndarray],
                pre: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        """Probabilities ``(N, len(GRADES))`` (rows sum to 1) for BGR uint8 crops of
        :attr:`spec` size, with the card's grade weights and temperature applied (calibrated
        probabilities, :mod:`detection.calibration`); ``pre``: the same windows in
        pre-disaster imagery (``None`` where there is none), used only by an assessor that
        :attr:`takes_pre`."""
        return self.calibrated(self.predict_raw(crops, pre))

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """Raw network probabilities with the card's grade weights and temperature."""
        return with_temperature(apply_weights(raw, self.grade_weights), self.temperature)

    def predict_raw(self, crops: Sequence[np.ndarray],
                    pre: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        """The network's probabilities in :data:`GRADES` order, no grade weights: the mean
        over the crop as it is, flipped left-right, flipped up-down and turned a quarter
        (top-down imagery has no "up"; on the validation crops the four views raised
        damaged F1 from 0.734 to 0.756 and intact F1 from 0.922 to 0.931)."""
        import torch

        from detection.crops import no_pre

        if not len(crops):
            return np.zeros((0, len(GRADES)))
        if pre is not None and len(pre) != len(crops):
            raise ValueError(f"{len(pre)} pre crops for {len(crops)} crops")
        size = self.spec.size_px

        def fit(c: np.ndarray) -> np.ndarray:
            return c if c.shape[:2] == (size, size) else _resize(c, size)

        out = []
        for start in range(0, len(crops), self.batch):
            part = np.stack([fit(c) for c in crops[start:start + self.batch]])
            if self.takes_pre:
                befores = (pre or [None] * len(crops))[start:start + self.batch]
                before = np.stack([no_pre(self.spec) if b is None else fit(b)
                                   for b in befores])
                part = np.concatenate([part[..., ::-1], before[..., ::-1]], axis=3)
            else:
                part = part[..., ::-1]
            rgb = torch.from_numpy(np.ascontiguousarray(part.transpose(0, 3, 1, 2)))
            rgb = rgb.to(self.device).float() / 255.0
            views = (rgb, rgb.flip(3), rgb.flip(2), rgb.rot90(1, (2, 3)))
            with torch.inference_mode():
                y = self._model(torch.cat(views))  # type: ignore[operator]
            probs = (y[0] if isinstance(y, tuple | list) else y).float()
            out.append(probs.reshape(len(views), len(part), -1).mean(0).cpu().numpy())
        return np.concatenate(out)[:, self._index]


def apply_weights(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Probabilities re-weighted per grade (a change of class priors) and renormalised.

    >>> apply_weights(np.array([[0.6, 0.4]]), np.array([1.0, 2.0])).round(3).tolist()
    [[0.429, 0.571]]
    """
    out = probs * weights[None, :]
    return out / np.maximum(out.sum(1, keepdims=True), 1e-12)


WEIGHT_CHOICES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


MAJOR_RECALL_TARGET = 0.5
"""The operating point: at least this share of *major* buildings called major (major
damage is what a disaster-victim certificate most often turns on, and the rarest grade)."""


def choose_grade_weights(probs: np.ndarray, truth: Sequence[str]) -> dict[str, float]:
    """Grade weights (intact fixed at 1, a grid over :data:`WEIGHT_CHOICES`) chosen on the
    given (validation) crops: among those that call at least :data:`MAJOR_RECALL_TARGET` of
    the major buildings major, the one with the best damaged F1 + intact F1 + mean F1 of the
    four grades; when none reaches the target, the best of that sum over all."""
    import itertools

    t = np.array([GRADES.index(g) for g in truth])
    damaged = np.array([damaged_group(g) == "damaged" for g in GRADES])
    intact = np.array([damaged_group(g) == "intact" for g in GRADES])

    def f1(pred_mask: np.ndarray, true_mask: np.ndarray) -> float:
        tp = float((pred_mask & true_mask).sum())
        denominator = float(pred_mask.sum() + true_mask.sum())
        return 2 * tp / denominator if denominator else 0.0

    major = GRADES.index("major")
    n_major = max(1, int((t == major).sum()))
    best, best_w = (-1, -1.0), np.ones(len(GRADES))
    for combo in itertools.product(WEIGHT_CHOICES, repeat=len(GRADES) - 1):
        w = np.array((1.0, *combo))
        pred = (probs * w).argmax(1)
        grades = np.mean([f1(pred == i, t == i) for i in range(4)])
        score = float(grades + f1(damaged[pred], damaged[t]) + f1(intact[pred], intact[t]))
        reaches = int(((pred == major) & (t == major)).sum() / n_major >= MAJOR_RECALL_TARGET)
        if (reaches, score) > (best[0], best[1] + 1e-12):
            best, best_w = (reaches, score), w
    return {g: float(v) for g, v in zip(GRADES, best_w, strict=True)}


def _resize(crop: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def load_assessor(weights_path: str | PathLike[str], *, device: str = "cpu",
                  trust: bool = False,
                  on_trust: Callable[[Path, str], None] | None = None) -> Assessor:
    """Load a building-crop classifier with its model card (``model.safetensors``, or a
    ``.pt`` pickle only with ``trust``: see :func:`detection.weights_file.open_checkpoint`).

    Raises
    ------
    InputError
        A device this machine does not have (:func:`detection.device.check_device`), no
        such file, no card beside it, a card that is not a classifier's or lacks the crop
        recipe, an untrusted pickle, or a file that is not a classification checkpoint.
    """
    from detection.device import check_device
    from detection.weights_file import open_checkpoint

    device = check_device(device)
    path = Path(weights_path)
    card_file = model_card_path(path)
    if path.is_file() and not card_file.is_file():
        raise InputError(path, f"no {card_file.name} beside the assessor weights")
    if card_file.is_file():
        card = read_model_card(card_file)
        if card.task != "classify" or not card.crop:
            raise InputError(card_file, "not a building assessor's card (task classify, with "
                                        "a crop recipe)")
    yolo, card = open_checkpoint(path, task="classify", trust=trust, on_trust=on_trust)
    names = tuple(str(yolo.names[i]) for i in sorted(yolo.names))
    if names != tuple(card.classes):
        raise InputError(card_file, f"classes {list(card.classes)} differ from the "
                                    f"checkpoint's {list(names)}")
    model = yolo.model.to(device).float().eval()
    return Assessor(model, card, path, device=device)


# --- scoring on a crop dataset --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssessorEvaluation:
    """Per-building scores of an assessor on one split of a crop dataset.

    ``per_grade`` is one-vs-rest over the five outputs; ``damaged`` and ``intact`` are over
    the labelled buildings (background crops excluded): damaged = major | destroyed, intact
    = intact | minor; a building called background counts as a miss for both.
    ``background_as_damaged`` counts background crops graded major or destroyed.
    """

    split: str
    crops: int
    per_grade: Mapping[str, Score]
    damaged: Score
    intact: Score
    background_as_damaged: int
    confusion: np.ndarray
    """Truth (rows) × prediction (columns), in :data:`GRADES` order."""


def damaged_group(grade: str) -> str | None:
    """``"damaged"``, ``"intact"`` or ``None`` (background) for a grade label."""
    if grade == BACKGROUND:
        return None
    return "damaged" if is_damaged(DamageClass[grade.upper()]) else "intact"


def score_predictions(truth: Sequence[str], predicted: Sequence[str], split: str = ""
                      ) -> AssessorEvaluation:
    """Scores of grade labels against true labels (both from :data:`GRADES`).

    Examples
    --------
    >>> e = score_predictions(["destroyed", "intact", "major"], ["destroyed", "intact", "intact"])
    >>> e.damaged.tp, e.damaged.fn, e.intact.fp, round(e.per_grade["major"].recall, 2)
    (1, 1, 1, 0.0)
    """
    index = {g: i for i, g in enumerate(GRADES)}
    confusion = np.zeros((len(GRADES), len(GRADES)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        confusion[index[t], index[p]] += 1
    per_grade = {}
    for g, i in index.items():
        tp = int(confusion[i, i])
        per_grade[g] = Score(tp, int(confusion[:, i].sum()) - tp, int(confusion[i].sum()) - tp)
    groups = {}
    for name in ("damaged", "intact"):
        rows = [index[g] for g in GRADES if damaged_group(g) == name]
        others = [index[g] for g in GRADES if damaged_group(g) not in (None, name)]
        tp = int(confusion[np.ix_(rows, rows)].sum())
        fp = int(confusion[np.ix_(others, rows)].sum())
        fn = int(confusion[rows].sum()) - tp
        groups[name] = Score(tp, fp, fn)
    bg = index[BACKGROUND]
    damaged_cols = [index[g] for g in GRADES if damaged_group(g) == "damaged"]
    return AssessorEvaluation(split, int(confusion.sum()), per_grade, groups["damaged"],
                              groups["intact"], int(confusion[bg, damaged_cols].sum()),
                              confusion)


def read_crop_split(root: str | PathLike[str], split: str) -> list[tuple[Path, str]]:
    """``(image, grade)`` of every crop under ``root/split/<grade>/``, sorted.

    Raises
    ------
    InputError
        No such split folder, or a class folder that is not a grade.
    """
    folder = Path(root) / split
    if not folder.is_dir():
        raise InputError(folder, "no such split folder (expected a crop dataset from "
                                 "survey dataset xbd --crops)")
    items = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in GRADES:
            raise InputError(sub, f"not a grade folder (expected one of: {', '.join(GRADES)})")
        items += [(f, sub.name) for f in sorted(sub.iterdir()) if f.suffix.lower() in
                  (".jpg", ".jpeg", ".png")]
    return items


def split_probabilities(assessor: Assessor, root: str | PathLike[str], split: str, *,
                        on_batch: Callable[[int, int], None] | None = None,
                        use_pre: bool = True) -> tuple[np.ndarray, list[str]]:
    """The network's raw probabilities (no grade weights) and the true grades of every crop
    of ``root/split`` (pair crops for an assessor that :attr:`~Assessor.takes_pre`; with
    ``use_pre`` false their pre halves are withheld, as for a survey without pre imagery).

    Raises
    ------
    InputError
        An unreadable crop, or a pair crop for a post-only assessor or the other way round.
    """
    import cv2

    from detection.crops import split_pair

    items = read_crop_split(root, split)
    out = [np.zeros((0, len(GRADES)))]
    step = 512
    for start in range(0, len(items), step):
        crops, befores = [], []
        for path, _ in items[start:start + step]:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(path, "unreadable crop")
            is_pair = image.shape[1] == 2 * image.shape[0]
            if is_pair != assessor.takes_pre:
                raise InputError(path, "a pre+post pair crop, but the assessor takes post "
                                       "crops only" if is_pair else "a post-only crop, but "
                                       "the assessor takes pre+post pairs")
            if is_pair:
                image, before = split_pair(image)
                befores.append(before)
            crops.append(image)
        out.append(assessor.predict_raw(crops, befores if assessor.takes_pre and use_pre
                                        else None))
        if on_batch:
            on_batch(min(start + step, len(items)), len(items))
    return np.concatenate(out), [g for _, g in items]


def evaluate_assessor(assessor: Assessor, root: str | PathLike[str], split: str, *,
                      on_batch: Callable[[int, int], None] | None = None,
                      use_pre: bool = True) -> AssessorEvaluation:
    """Score ``assessor`` (with its grade weights) on ``root/split`` of a crop dataset; a
    pre+post assessor scored with ``use_pre`` false is named ``{split}_without_pre``."""
    probs, truth = split_probabilities(assessor, root, split, on_batch=on_batch,
                                       use_pre=use_pre)
    name = split if use_pre or not assessor.takes_pre else f"{split}_without_pre"
    return score_probabilities(probs, truth, assessor.grade_weights, name)


def score_probabilities(probs: np.ndarray, truth: Sequence[str], weights: np.ndarray,
                        split: str = "") -> AssessorEvaluation:
    """Scores of raw probabilities graded with ``weights`` (most probable grade)."""
    predicted = apply_weights(probs, weights).argmax(1)
    return score_predictions(truth, [GRADES[i] for i in predicted], split)


# --- regrading a detector's boxes -----------------------------------------------------------


def regrade(image: np.ndarray, boxes: np.ndarray, image_gsd_cm: float | None,
            assessor: Assessor) -> tuple[list[int], list[str], list[float]]:
    """Grade each detector box by the assessor; boxes it calls background are dropped.

    Returns the indices kept, their grades and the probability of each grade. Without a
    known photo GSD the assessor's own GSD is assumed (the photo is then taken as it comes).
    """
    from detection.crops import cut_crop

    gsd = image_gsd_cm if image_gsd_cm and image_gsd_cm > 0 else assessor.spec.gsd_cm
    crops = [cut_crop(image, b.tolist(), gsd, assessor.spec)
             for b in np.asarray(boxes, dtype=float).reshape(-1, 4)]
    probs = assessor.predict(crops)
    keep, grades, scores = [], [], []
    bg = GRADES.index(BACKGROUND)
    for i, p in enumerate(probs):
        top = int(np.argmax(p))
        if top == bg:
            continue
        keep.append(i)
        grades.append(GRADES[top])
        scores.append(float(p[top]))
    return keep, grades, scores
