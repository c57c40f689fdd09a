"""ultralytics, set up to work without a network; the only place that imports it.

ultralytics reads its environment once, when first imported, and then fetches things from the
internet unless told otherwise (DESIGN.md, detection facts): an online check, pip
auto-installs, telemetry (``sync``), the Arial font for plots, weights named without a path.
:func:`ultralytics_api` sets the switches *before* the first import and returns the module:

- ``YOLO_OFFLINE=1`` (no online check), ``YOLO_AUTOINSTALL=false`` (no pip),
- ``YOLO_CONFIG_DIR`` → a folder this project controls (never the home default),
- settings ``sync=False`` and the logging integrations off, datasets/weights/runs folders
  inside that folder,
- a local TTF (matplotlib's DejaVu Sans) placed as ``Arial.ttf`` / ``Arial.Unicode.ttf``
  where ultralytics looks for its plot font, so dataset checks and plots never download it.

Every other module of :mod:`detection` gets ultralytics through here.
"""

from __future__ import annotations

import os
import shutil
import sys
from os import PathLike
from pathlib import Path
from types import ModuleType

APP_DIR_NAME = "drone-survey"
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_VERBOSE": "false"}
_SETTINGS_OFF = ("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb",
                 "vscode_msg", "openvino_msg")

_configured_dir: Path | None = None


def default_config_dir() -> Path:
    """``$XDG_CACHE_HOME/drone-survey/ultralytics`` (``~/.cache/...`` when unset).

    Read when called, never at import time.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / APP_DIR_NAME / "ultralytics"


def _place_font(user_dir: Path) -> None:
    """Copy matplotlib's bundled DejaVu Sans to where ultralytics looks for its plot fonts."""
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in _FONT_NAMES:
        target = user_dir / name
        if not target.exists() and source.exists():
            shutil.copyfile(source, target)


def ultralytics_api(config_dir: str | PathLike[str] | None = None) -> ModuleType:
    """The ``ultralytics`` module, imported offline (see the module docstring).

    Parameters
    ----------
    config_dir
        Folder for ultralytics' settings, fonts and default output folders (created). Default:
        :func:`default_config_dir`. ultralytics fixes it at its first import, so only the
        first call's folder counts; later calls return the same module.

    Raises
    ------
    RuntimeError
        When ultralytics was imported elsewhere before this was called (its online checks
        and telemetry may then already be on).
    """
    global _configured_dir
    if _configured_dir is not None:
        import ultralytics

        return ultralytics
    if "ultralytics" in sys.modules:
        raise RuntimeError("ultralytics was imported before detection.offline configured it; "
                           "import it only through detection.offline.ultralytics_api()")
    folder = Path(config_dir) if config_dir is not None else default_config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # ultralytics keeps everything under YOLO_CONFIG_DIR/Ultralytics.
    user_dir = folder / "Ultralytics"
    user_dir.mkdir(exist_ok=True)
    _place_font(user_dir)
    os.environ.update(_ENV)
    os.environ["YOLO_CONFIG_DIR"] = str(folder)

    import ultralytics
    from ultralytics.utils import SETTINGS

    updates: dict[str, object] = dict.fromkeys(_SETTINGS_OFF, False)
    updates.update(datasets_dir=str(user_dir / "datasets"), weights_dir=str(user_dir / "weights"),
                   runs_dir=str(user_dir / "runs"))
    SETTINGS.update(updates)
    _configured_dir = folder
    return ultralytics


def yolo_class() -> type:
    """ultralytics' ``YOLO`` model class, imported offline."""
    api = ultralytics_api()
    yolo: type = api.YOLO
    return yolo


def configured_dir() -> Path | None:
    """The folder ultralytics was set up with, or ``None`` before :func:`ultralytics_api`."""
    return _configured_dir
