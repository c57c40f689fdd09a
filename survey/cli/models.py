"""What the detection commands share: the bundled models, their loaders (the seams the CLI
tests patch), the trust message for pickle checkpoints, and the progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from survey.cli.text import escape
from survey.core.errors import InputError

if TYPE_CHECKING:
    from detection.assessor import Assessor
    from detection.model import TileModel

DEFAULT_CONF = 0.1
"""Minimum confidence: the bundled model's best damaged-vs-intact F1 on its validation tiles."""

BUNDLED_WEIGHTS = (Path(__file__).resolve().parents[2] / "detection" / "weights"
                   / "model.safetensors")



def show_trusted(console: Console) -> Callable[[Path, str], None]:
    """What to tell the user before a trusted pickle is loaded."""
    def show(path: Path, sha256: str) -> None:
        console.print(f"[yellow]loading a pickle checkpoint you trust:[/] {escape(str(path))} "
                      f"sha256 {sha256}", soft_wrap=True, highlight=False)
    return show


def load_model(weights: Path, *, device: str = "cpu", trust: bool = False,
               on_trust: Callable[[Path, str], None] | None = None) -> TileModel:
    """The model loader (a seam the CLI tests patch)."""
    from detection.model import load_model as load

    return load(weights, device=device, trust=trust, on_trust=on_trust)


BUNDLED_ASSESSOR = BUNDLED_WEIGHTS.parent / "assessor" / "model.safetensors"


def load_assessor(weights: Path, *, device: str = "cpu", trust: bool = False,
                  on_trust: Callable[[Path, str], None] | None = None) -> Assessor:
    """The assessor loader (a seam the CLI tests patch)."""
    from detection.assessor import load_assessor as load

    return load(weights, device=device, trust=trust, on_trust=on_trust)


def assessor_path(weights: Path | None, *, required: bool = True) -> Path:
    if weights is not None:
        return weights
    if not BUNDLED_ASSESSOR.exists():
        raise InputError("--assessor", "no bundled assessor in this install; give --assessor "
                                       "PATH" + ("" if required else " or --no-assessor"))
    return BUNDLED_ASSESSOR


def weights_path(weights: Path | None) -> Path:
    if weights is not None:
        return weights
    if not BUNDLED_WEIGHTS.exists():
        raise InputError("--weights", "no bundled model in this install; give --weights PATH")
    return BUNDLED_WEIGHTS


class RateColumn(ProgressColumn):
    """Items per second (photos/s, crops/s) once rich has measured some."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.2f}/s", style="progress.data.speed")


def progress_bar(console: Console) -> Progress:
    """The bar of long work: what, how far, how fast (per second) and the time left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeRemainingColumn(), console=console, transient=True)


