"""Options shared by several commands, defined once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if needed).",
                                      file_okay=False, dir_okay=True, writable=True)]
Altitude = Annotated[float | None, typer.Option(
    "--altitude", help="Flight altitude above take-off, metres (default 80 unless --gsd).")]
Gsd = Annotated[float | None, typer.Option(
    "--gsd", help="Target ground sample distance, cm/px: sets the altitude from the camera.")]
Overlap = Annotated[str, typer.Option(
    "--overlap", help="Front/side photo overlap in percent, e.g. 80/70.")]



class Split(StrEnum):
    """A dataset split."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


# Models: which weights a command loads, and where it runs them.
Weights = Annotated[Path | None, typer.Option(
    "--weights", help="Detector weights (model.safetensors, with model.yaml and "
    "model_card.json beside it). Default: the bundled model.")]
AssessorWeights = Annotated[Path | None, typer.Option(
    "--assessor", help="Building assessor (classifier model.safetensors with model.yaml and "
    "model_card.json beside it). Default: the bundled one.")]
Device = Annotated[str, typer.Option("--device", help="cpu, or a CUDA device number (0).")]
TrustWeights = Annotated[bool, typer.Option(
    "--trust-weights", help="Also load .pt pickle checkpoints. A pickle can run code when "
    "loaded: only files you trust (their sha256 is shown first).")]
Conf = Annotated[float, typer.Option(
    "--conf", min=0.0, max=1.0, help="Minimum confidence, 0–1 (default: best F1 of the bundled "
    "model on its validation tiles).")]
TileOverlap = Annotated[float, typer.Option(
    "--tile-overlap", min=0.0, max=0.9,
    help="Overlap of the tiles a photo is cut into for the detector, 0–0.9.")]
