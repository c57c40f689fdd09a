"""``--device``: one check (:func:`detection.device.check_device`) before any model is loaded or
trained; a device this machine lacks is one line naming --device and what it has. The CUDA
device count is patched, so these run the same with or without a GPU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from detection.device import check_device
from survey.cli.main import app
from survey.core.errors import InputError

ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def gpus(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize(("name", "torch_name"), [
    ("cpu", "cpu"), (" CPU ", "cpu"), ("0", "cuda:0"), ("1", "cuda:1"), ("cuda", "cuda:0"),
    ("cuda:1", "cuda:1"), ("CUDA:0", "cuda:0")])
def test_devices_torch_sees_are_named_as_torch_takes_them(monkeypatch: pytest.MonkeyPatch,
                                                          name: str, torch_name: str) -> None:
    gpus(monkeypatch, 2)
    assert check_device(name) == torch_name
    assert torch.device(torch_name).type in ("cpu", "cuda")  # a string torch's .to() takes


@pytest.mark.parametrize(("n", "name", "expect"), [
    (2, "5", "device: no CUDA device 5 here (torch sees CUDA device(s) 0, 1; available: "
             "cpu, 0, 1)"),
    (0, "0", "device: no CUDA device 0 here (torch sees no CUDA device; available: cpu)"),
    (0, "cuda:3", "no CUDA device 3 here"),
    (1, "banana", "device: 'banana' is not a device; give cpu or a CUDA device number "
                  "(available: cpu, 0)"),
    (0, "-1", "'-1' is not a device"),
    (0, "0,1", "'0,1' is not a device"),
    (0, "mps", "device: no mps device here (available: cpu)"),
])
def test_a_device_this_machine_lacks_is_refused(monkeypatch: pytest.MonkeyPatch, n: int,
                                                name: str, expect: str) -> None:
    gpus(monkeypatch, n)
    with pytest.raises(InputError) as info:
        check_device(name)
    assert info.value.params == ("device",) and expect in str(info.value)


def test_loaders_and_trainers_check_the_device_first(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from detection.assessor import load_assessor
    from detection.model import load_model
    from detection.train import TrainConfig, train_model
    from detection.train_assessor import AssessorTrainConfig, train_assessor

    gpus(monkeypatch, 0)
    missing = tmp_path / "none.safetensors"  # the device is refused before the file is read
    for call in (lambda: load_model(missing, device="3"),
                 lambda: load_assessor(missing, device="3"),
                 lambda: train_model(TrainConfig(tmp_path / "d.yaml", "yolo11n.yaml", 1, 64,
                                                 tmp_path / "o", device="3")),
                 lambda: train_assessor(AssessorTrainConfig(tmp_path, tmp_path / "o",
                                                            device="3"))):
        with pytest.raises(InputError, match=r"^device: no CUDA device 3 here"):
            call()
    assert not (tmp_path / "o").exists()


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


@pytest.mark.parametrize("device", ["5", "banana"])
def test_every_command_with_a_device_refuses_a_missing_one_in_one_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, device: str) -> None:
    import cv2
    import numpy as np

    gpus(monkeypatch, 0)
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), np.full((40, 60, 3), 90, np.uint8))
    (tmp_path / "images").mkdir()
    data = tmp_path / "data.yaml"
    data.write_text("path: .\ntest: images\nnames: [intact]\n")
    out = tmp_path / "out"
    for command in (["detect", photo, "-o", out], ["analyze", photo, "-o", out],
                    ["analyze", photo, "-o", out, "--no-assessor"],
                    ["evaluate", tmp_path / "w.safetensors", data],
                    ["train", data, "-o", out]):
        code, _, err = run(*command, "--device", device)
        assert code == 2, (command, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --device: "), (command, err)
        assert "available: cpu" in lines[0]
        assert not out.exists()
