"""Options shared by several commands, defined once."""

from __future__ import annotations

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
