"""The ``--device`` string, checked once before any model is loaded or trained."""

from __future__ import annotations

import re

from survey.core.errors import ParamError

_CUDA = re.compile(r"(?:cuda:?)?(\d+)")


def available_devices() -> list[str]:
    """What ``--device`` may name here: ``cpu``, ``mps`` when torch has it, and the CUDA
    device numbers torch sees."""
    import torch

    names = ["cpu"]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names + [str(i) for i in range(torch.cuda.device_count())]


def check_device(device: str) -> str:
    """The torch device named by ``device``: ``"cpu"``, ``"mps"`` or ``"cuda:N"``.

    ``device`` is ``cpu``, ``mps``, a CUDA device number (``0``), ``cuda`` (device 0) or
    ``cuda:N``, any case. The result is what both torch (``tensor.to``) and ultralytics
    (``device=``) take.

    Raises
    ------
    ParamError
        Naming ``device``: not a device name, or a device this machine does not have (the
        message lists the ones it has).
    """
    name = device.strip().lower()
    if name == "cpu":
        return "cpu"  # no torch import for the default
    have = available_devices()
    listed = ", ".join(have)
    if name == "mps":
        if "mps" in have:
            return "mps"
        raise ParamError("device", f"no mps device here (available: {listed})")
    match = _CUDA.fullmatch("cuda:0" if name == "cuda" else name)
    if match is None:
        raise ParamError("device", f"{device!r} is not a device; give cpu or a CUDA device "
                                     f"number (available: {listed})")
    index = int(match.group(1))
    cuda = [n for n in have if n.isdigit()]
    if str(index) not in cuda:
        seen = f"CUDA device(s) {', '.join(cuda)}" if cuda else "no CUDA device"
        raise ParamError("device", f"no CUDA device {index} here (torch sees {seen}; "
                                     f"available: {listed})")
    return f"cuda:{index}"
