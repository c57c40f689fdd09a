"""Model weights that load without running code: safetensors + an architecture yaml + sha256s.

A ``.pt`` checkpoint is a Python pickle: loading one can run any code the file's author put
in it. This project's models are three files in one folder instead:

- ``model.safetensors`` — the tensors only (the safetensors format has no code path),
- ``model.yaml`` — the ultralytics architecture, resolved to one scale (no ``scales`` table),
  read with a safe YAML loader and checked so that every layer names an ultralytics or
  ``torch.nn`` module class (ultralytics' own builder would call any function in its
  namespace, some of which load pickles),
- ``model_card.json`` — classes, image size, GSD and the sha256 of both files, checked
  before anything is built.

A foreign ``.pt`` is refused unless the caller passes ``trust=True`` (the CLI's
``--trust-weights``); :func:`file_sha256` gives the hash to show before loading it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from survey.core.errors import InputError
from survey.core.files import read_yaml

WEIGHTS_NAME = "model.safetensors"
ARCH_NAME = "model.yaml"
PICKLE_SUFFIXES = (".pt", ".pth")
TRUST_HINT = ("a .pt checkpoint is a pickle and can run code when loaded; use a "
              "model.safetensors folder written by survey train, or pass `trust_weights` "
              "if you trust this file")


def file_sha256(path: str | PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()



def is_pickle(path: str | PathLike[str]) -> bool:
    """Whether ``path`` names a pickle checkpoint (``.pt`` / ``.pth``)."""
    return Path(path).suffix.lower() in PICKLE_SUFFIXES


def refuse_untrusted(path: str | PathLike[str], trust: bool) -> None:
    """Raise :class:`InputError` for a pickle checkpoint unless ``trust``."""
    if is_pickle(path) and not trust:
        raise InputError(path, TRUST_HINT)


# --- architecture ---------------------------------------------------------------------------


def resolved_architecture(model_yaml: Mapping[str, Any]) -> dict[str, Any]:
    """An ultralytics model's yaml dict with its scale applied: ``depth_multiple``,
    ``width_multiple`` and ``max_channels`` set, no ``scales`` table, so that it builds the
    same model whatever the file is called."""
    arch = {k: v for k, v in model_yaml.items() if k not in ("scales", "scale", "yaml_file")}
    scales = model_yaml.get("scales") or {}
    if scales:
        scale = model_yaml.get("scale") or next(iter(scales))
        depth, width, max_channels = scales[scale]
        arch.update(depth_multiple=depth, width_multiple=width, max_channels=max_channels)
    return arch


def _allowed_module(name: object) -> bool:
    import torch

    from detection.offline import ultralytics_api

    ultralytics_api()
    import ultralytics.nn.modules as blocks

    if not isinstance(name, str):
        return False
    if name.startswith("nn."):
        cls = getattr(torch.nn, name[3:], None)
    else:
        cls = getattr(blocks, name, None)
    return isinstance(cls, type) and issubclass(cls, torch.nn.Module)


def check_architecture(path: Path, arch: object) -> dict[str, Any]:
    """The architecture dict, checked: ``nc`` and ``backbone``/``head`` layer lists whose
    modules are all ultralytics or ``torch.nn`` module classes and whose arguments are plain
    values. Raises :class:`InputError` otherwise."""
    if not isinstance(arch, dict):
        raise InputError(path, "not an architecture (top level is not a mapping)")
    if arch.get("scales"):
        raise InputError(path, "architecture still has a scales table (write it resolved)")
    for key in ("nc", "depth_multiple", "width_multiple", "max_channels", "channels"):
        value = arch.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value <= 0):
            raise InputError(path, f"{key} must be a positive number, got {value!r}")
    plain = (int, float, str, bool, type(None))

    def is_plain(value: object) -> bool:
        if isinstance(value, list | tuple):
            return all(is_plain(v) for v in value)
        return isinstance(value, plain)

    for part in ("backbone", "head"):
        layers = arch.get(part)
        if not isinstance(layers, list) or not layers:
            raise InputError(path, f"architecture has no {part} layer list")
        for i, layer in enumerate(layers):
            if not (isinstance(layer, list) and len(layer) == 4):
                raise InputError(path, f"{part} layer {i} is not [from, repeats, module, args]")
            _, repeats, module, args = layer
            if not _allowed_module(module):
                raise InputError(path, f"{part} layer {i}: {module!r} is not a known "
                                       "ultralytics or torch.nn module")
            if not isinstance(repeats, int) or isinstance(repeats, bool) or not 0 < repeats < 100:
                raise InputError(path, f"{part} layer {i}: repeats must be 1–99")
            if not isinstance(args, list) or not is_plain(args):
                raise InputError(path, f"{part} layer {i}: arguments must be plain values")
    return arch


# --- save / load ----------------------------------------------------------------------------


def save_weights(model: Any, folder: str | PathLike[str]) -> dict[str, str]:
    """Write ``model.safetensors`` and ``model.yaml`` of an ultralytics model into ``folder``;
    return their sha256s (``weights_sha256``, ``architecture_sha256``) for its card.

    Floating tensors are stored in half precision, as ultralytics stores its ``.pt``
    checkpoints (loading one and writing it back loses nothing); they load as float32.
    """
    import yaml
    from safetensors.torch import save_file

    out = Path(folder)
    state = {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_NAME))
    arch = resolved_architecture(model.yaml)
    (out / ARCH_NAME).write_text(yaml.safe_dump(arch, sort_keys=False), encoding="utf-8")
    return {"weights_sha256": file_sha256(out / WEIGHTS_NAME),
            "architecture_sha256": file_sha256(out / ARCH_NAME)}


def load_weights(path: str | PathLike[str], *, task: str, classes: tuple[str, ...],
                 weights_sha256: str, architecture_sha256: str) -> Any:
    """An ultralytics ``YOLO`` built from ``model.yaml`` beside ``path`` and filled from the
    safetensors file ``path``, after both files' sha256 match the card's.

    Raises
    ------
    InputError
        A hash that is missing or differs, an architecture that fails
        :func:`check_architecture`, or tensors that do not fit it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = Path(path)
    arch_file = file.with_name(ARCH_NAME)
    if not arch_file.is_file():
        raise InputError(file, f"no {ARCH_NAME} beside the weights")
    for target, expected, what in ((file, weights_sha256, "weights_sha256"),
                                   (arch_file, architecture_sha256, "architecture_sha256")):
        if not expected:
            raise InputError(file.with_name("model_card.json"), f"card has no {what}")
        if file_sha256(target) != expected:
            raise InputError(target, f"sha256 differs from the card's {what} (changed or "
                                     "corrupt file)")
    arch = check_architecture(arch_file, read_yaml(arch_file))
    from detection.offline import ultralytics_api

    ultralytics_api()
    from ultralytics.nn.tasks import guess_model_task

    if guess_model_task(arch) != task:
        raise InputError(arch_file, f"not a {task} architecture (its head is "
                                    f"{arch['head'][-1][2]!r})")
    if arch.get("nc") != len(classes):
        raise InputError(arch_file, f"nc {arch.get('nc')!r} differs from the card's "
                                    f"{len(classes)} classes")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError) as exc:
        raise InputError(file, f"not a safetensors file ({exc})") from None
    from detection.offline import yolo_class

    yolo = yolo_class()(str(arch_file), task=task)
    model = yolo.model
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(file, f"tensors do not fit {ARCH_NAME} ({first})") from None
    model.names = dict(enumerate(classes))
    model.float().eval()
    return yolo


def load_pickle_yolo(path: str | PathLike[str]) -> Any:
    """An ultralytics ``YOLO`` from a ``.pt`` pickle. Runs the file's code if it has any:
    call only after :func:`refuse_untrusted` (the user's ``--trust-weights``) or on a
    checkpoint this process wrote itself."""
    from detection.offline import yolo_class

    return yolo_class()(str(path))


def open_checkpoint(path: str | PathLike[str], *, task: str, trust: bool = False,
                    on_trust: Any = None) -> tuple[Any, Any]:
    """``(YOLO, card or None)`` for a weights file: a ``model.safetensors`` (its card is
    required and its hashes checked) or, only with ``trust``, a ``.pt`` pickle (``on_trust``
    is called first with its sha256, for the user to see; its card is optional).

    Raises
    ------
    InputError
        No such file, an unknown suffix, an untrusted pickle, a missing or mismatching card,
        a file that is not a checkpoint of ``task``.
    """
    from detection.card import model_card_path, read_model_card

    file = Path(path)
    if not file.exists():
        raise InputError(file, f"no such file (give the path of a {WEIGHTS_NAME})")
    if not file.is_file():
        raise InputError(file, f"not a file (give the path of a {WEIGHTS_NAME})")
    card_file = model_card_path(file)
    if is_pickle(file):
        refuse_untrusted(file, trust)
        if on_trust is not None:
            on_trust(file, file_sha256(file))
        try:
            yolo = load_pickle_yolo(file)
        except Exception as exc:  # torch/pickle errors vary: one line names the file
            raise InputError(file, f"not a YOLO checkpoint ({type(exc).__name__})") from None
        card = read_model_card(card_file) if card_file.is_file() else None
    elif file.suffix.lower() == ".safetensors":
        if not card_file.is_file():
            raise InputError(file, f"no {card_file.name} beside the weights")
        card = read_model_card(card_file)
        if card.task != task:
            kind = "detection" if task == "detect" else "classification"
            raise InputError(file, f"not a {kind} model (its card says task {card.task!r})")
        yolo = load_weights(file, task=task, classes=tuple(card.classes),
                            weights_sha256=card.weights_sha256,
                            architecture_sha256=card.architecture_sha256)
    else:
        raise InputError(file, f"not a model (expected {WEIGHTS_NAME}, got "
                               f"{file.suffix or 'no suffix'!r})")
    if getattr(yolo, "task", None) != task:
        kind = "detection" if task == "detect" else "classification"
        raise InputError(file, f"not a {kind} model (task {getattr(yolo, 'task', None)!r})")
    return yolo, card


def read_state(path: str | PathLike[str], *, trust: bool = False,
               on_trust: Any = None) -> dict[str, Any]:
    """The tensors of a weights file, by name (float32): a ``model.safetensors`` whose card
    hash matches, or, only with ``trust``, a ``.pt`` pickle."""
    from detection.card import model_card_path, read_model_card

    file = Path(path)
    if not file.is_file():
        raise InputError(file, f"no such file (give the path of a {WEIGHTS_NAME})")
    if is_pickle(file):
        refuse_untrusted(file, trust)
        if on_trust is not None:
            on_trust(file, file_sha256(file))
        from detection.offline import ultralytics_api

        ultralytics_api()
        from ultralytics.nn.tasks import load_checkpoint

        try:
            model, _ = load_checkpoint(str(file))
        except Exception as exc:  # torch/pickle errors vary: one line names the file
            raise InputError(file, f"not a YOLO checkpoint ({type(exc).__name__})") from None
        return dict(model.float().state_dict())
    if file.suffix.lower() != ".safetensors":
        raise InputError(file, f"not a model (expected {WEIGHTS_NAME}, got "
                               f"{file.suffix or 'no suffix'!r})")
    card_file = model_card_path(file)
    if not card_file.is_file():
        raise InputError(file, f"no {card_file.name} beside the weights")
    expected = read_model_card(card_file).weights_sha256
    if not expected or file_sha256(file) != expected:
        raise InputError(file, "sha256 differs from the card's weights_sha256 (changed or "
                               "corrupt file)")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(file))
    except (SafetensorError, OSError) as exc:
        raise InputError(file, f"not a safetensors file ({exc})") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def start_yolo(start: str, *, task: str, trust: bool = False, on_trust: Any = None) -> Any:
    """The ``YOLO`` a training run starts from: an architecture ``.yaml`` (a file, or the
    bare name of one of ultralytics' configs), a ``model.safetensors`` to fine-tune, or a
    ``.pt`` pickle with ``trust``. The model seeds ``train()`` (its weights are kept)."""
    path = Path(start)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not (path.is_file() or len(path.parts) == 1):
            raise InputError(start, "no such file")
        from detection.offline import yolo_class

        try:
            return yolo_class()(str(path), task=task)
        except FileNotFoundError:
            raise InputError(start, "no such architecture yaml (neither a file nor one of "
                                    "ultralytics' configs, e.g. yolo11n.yaml)") from None
    if not path.is_file():
        raise InputError(start, "no such file (weights are never downloaded: give a local path)")
    yolo, _ = open_checkpoint(path, task=task, trust=trust, on_trust=on_trust)
    yolo.load(yolo.model)  # train() seeds its model from this one while ckpt is set
    return yolo


def export_checkpoint(pt_path: str | PathLike[str], folder: str | PathLike[str]
                      ) -> dict[str, str]:
    """Write a ``.pt`` this process trained (ultralytics' ``best.pt``) as
    ``model.safetensors`` + ``model.yaml`` into ``folder``; return the card's hashes."""
    return save_weights(load_pickle_yolo(pt_path).model, folder)
