"""Detections for many photos into a JSON-lines file that a re-run resumes.

One line per finished photo (absolute ``path``, ``sha256``, size, GSD used, boxes in original
pixels), appended and flushed as soon as the photo is done, so an interrupted run loses at most
the photo in progress. A photo whose content hash is already in the file is skipped, whatever
its name. A photo that cannot be read is reported and skipped; the others go on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from enum import Enum
from os import PathLike
from pathlib import Path
from typing import TextIO

from detection.detector import detect_photo_full
from detection.images import content_sha256, load_image
from detection.merge import Detections
from detection.model import TileModel
from survey.core.errors import ImageError, InputError

PHOTO_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
RESULTS_NAME = "detections.jsonl"


def find_photos(inputs: Iterable[str | PathLike[str]]) -> list[Path]:
    """The photos named by ``inputs``: files as given, folders searched recursively.

    Folders contribute files with a photo suffix (jpg, jpeg, png, tif, tiff; any case),
    sorted by path. A file named directly is taken whatever its suffix (a bad one is reported
    when it is read). Duplicates are dropped, first occurrence kept.

    Raises
    ------
    InputError
        A path does not exist, or a folder holds no photo.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not inside:
                kinds = ", ".join(sorted(s.lstrip(".") for s in PHOTO_SUFFIXES))
                raise InputError(path, f"no photos in this folder (looked for {kinds})")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(path, "no such file or folder")
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p, None)
    return list(unique)


def done_hashes(results_path: str | PathLike[str]) -> set[str]:
    """Content hashes of the photos already in a results file (none if it does not exist).

    A last line cut short by a crash is removed from the file, so that appending continues
    on a clean line.

    Raises
    ------
    InputError
        A complete line that is not a results record (not our file).
    """
    path = Path(results_path)
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with path.open("r+b") as handle:
            handle.truncate(keep)
        data = data[:keep]
    hashes = set()
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            hashes.add(str(record["sha256"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(path, f"line {number} is not a detection record; "
                                   "choose another output folder") from None
    return hashes


class PhotoStatus(Enum):
    """What happened to one photo."""

    DONE = "done"
    SKIPPED = "skipped"  # already in the results file
    FAILED = "failed"  # could not be read


@dataclass(frozen=True, slots=True)
class PhotoOutcome:
    """One photo's outcome: its status, detection count, and the problem when it failed."""

    path: Path
    status: PhotoStatus
    detections: int = 0
    problem: str = ""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Outcomes of a run over photos, in input order, and the results file."""

    results_path: Path
    outcomes: tuple[PhotoOutcome, ...]

    def count(self, status: PhotoStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def detections(self) -> int:
        return sum(o.detections for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class DetectSettings:
    """How to detect in each photo (see :func:`detection.detector.detect_photo`)."""

    photo_gsd_cm: float | None = None
    tile_px: int | None = None
    overlap: float = 0.2
    conf: float = 0.25
    weights: str = ""


def photo_record(path: Path, sha256: str, width_px: int, height_px: int, gsd_cm: float | None,
                 model: TileModel, found: Detections, settings: DetectSettings) -> dict:
    """The JSON object written for one photo."""
    names = model.class_names
    return {
        "path": str(path.resolve()),
        "sha256": sha256,
        "width": width_px,
        "height": height_px,
        "photo_gsd_cm": settings.photo_gsd_cm,
        "gsd_cm": gsd_cm,
        "weights": settings.weights,
        "detections": [
            {"box_xyxy": [round(float(v), 2) for v in box], "class": names.get(int(c), str(c)),
             "class_id": int(c), "confidence": round(float(s), 4)}
            for box, s, c in zip(found.boxes, found.scores, found.classes, strict=True)
        ],
    }


def detect_photos(
    photos: Sequence[Path],
    model: TileModel,
    results_path: str | PathLike[str],
    *,
    settings: DetectSettings = DetectSettings(),
    on_photo: Callable[[PhotoOutcome], None] | None = None,
    gsd_of: Callable[[Path], float | None] | None = None,
) -> RunSummary:
    """Detect damage in each photo, appending one JSON line per finished photo.

    Parameters
    ----------
    photos
        Photo files (see :func:`find_photos`).
    model
        The detector.
    results_path
        The JSON-lines file, appended to; it (and its folder) is created with the first
        finished photo: a run where none finishes writes nothing.
    settings
        Photo GSD, tiling and confidence.
    on_photo
        Called after each photo (progress, reporting failures).
    gsd_of
        A photo's GSD (cm/px) from its metadata, or ``None``; used when
        ``settings.photo_gsd_cm`` is not set.

    Raises
    ------
    InputError
        The results file is not ours (see :func:`done_hashes`), or cannot be written.
    """
    out = Path(results_path)
    done = done_hashes(out)
    outcomes = []
    with ExitStack() as stack:
        handle: TextIO | None = None
        for path in photos:
            try:
                sha = content_sha256(path)
                if sha in done:
                    outcome = PhotoOutcome(path, PhotoStatus.SKIPPED)
                else:
                    image = load_image(path)
                    gsd = settings.photo_gsd_cm
                    if gsd is None and gsd_of is not None:
                        gsd = gsd_of(path)
                    result = detect_photo_full(
                        image, model, photo_gsd_cm=gsd,
                        tile_px=settings.tile_px, overlap=settings.overlap, conf=settings.conf)
                    record = photo_record(path, sha, image.shape[1], image.shape[0],
                                          result.gsd_cm, model, result.detections,
                                          replace(settings, photo_gsd_cm=gsd))
                    if handle is None:  # the first finished photo creates folder and file
                        handle = stack.enter_context(_open_results(out))
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                    done.add(sha)
                    outcome = PhotoOutcome(path, PhotoStatus.DONE, len(result.detections))
            except ImageError as exc:
                outcome = PhotoOutcome(path, PhotoStatus.FAILED, problem=str(exc))
            outcomes.append(outcome)
            if on_photo is not None:
                on_photo(outcome)
    return RunSummary(out, tuple(outcomes))


def _open_results(path: Path) -> TextIO:
    """The results file opened for appending, its folder created if needed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise InputError(path.parent, f"cannot write {path.name} there "
                                      f"({exc.strerror or exc})") from None
