"""Loading a model never runs code from the file: safetensors + a checked architecture, and a
pickle only when the user trusts it (#11)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from detection.card import MODEL_CARD_NAME, read_model_card
from detection.weights_file import (
    ARCH_NAME,
    WEIGHTS_NAME,
    export_checkpoint,
    file_sha256,
    load_pickle_yolo,
    open_checkpoint,
    read_state,
    start_yolo,
)
from survey.core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "detection" / "weights"


class _Touch:
    """Unpickling this creates a file: the stand-in for 'a shell command ran'."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "ran"
    weights = tmp_path / "evil" / "model.pt"
    weights.parent.mkdir()
    weights.write_bytes(pickle.dumps({"model": _Touch(marker)}))
    return weights, marker


def test_a_crafted_pickle_runs_nothing_unless_trusted(evil: tuple[Path, Path]) -> None:
    from detection.assessor import load_assessor
    from detection.model import load_model

    weights, marker = evil
    shutil.copy(BUNDLED / "assessor" / MODEL_CARD_NAME, weights.parent / MODEL_CARD_NAME)
    for load in (load_model, load_assessor, read_state):
        with pytest.raises(InputError, match="pickle and can run code") as err:
            load(weights)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="pickle and can run code"):
        start_yolo(str(weights), task="detect")
    assert not marker.exists()
    # trusted, the user sees its hash first — and then it is their choice
    seen: list[str] = []
    with pytest.raises(InputError, match="not a YOLO checkpoint"):
        open_checkpoint(weights, task="detect", trust=True, on_trust=lambda p, h: seen.append(h))
    assert seen == [file_sha256(weights)] and marker.exists()


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled assessor, as a folder this test may change."""
    folder = tmp_path_factory.mktemp("assessor")
    for name in (WEIGHTS_NAME, ARCH_NAME, MODEL_CARD_NAME):
        shutil.copy(BUNDLED / "assessor" / name, folder / name)
    return folder


def _copy(folder: Path, into: Path) -> Path:
    shutil.copytree(folder, into)
    return into / WEIGHTS_NAME


def test_the_bundled_models_load_without_pickle_and_match_their_hashes() -> None:
    for folder, task in ((BUNDLED, "detect"), (BUNDLED / "assessor", "classify")):
        card = read_model_card(folder / MODEL_CARD_NAME)
        assert card.weights_sha256 == file_sha256(folder / WEIGHTS_NAME)
        assert card.architecture_sha256 == file_sha256(folder / ARCH_NAME)
        yolo, _ = open_checkpoint(folder / WEIGHTS_NAME, task=task)
        assert tuple(yolo.names[i] for i in sorted(yolo.names)) == card.classes
        assert not list(folder.glob("*.pt"))


def test_export_then_load_gives_the_same_outputs(converted: Path, tmp_path: Path) -> None:
    import torch

    yolo, _ = open_checkpoint(converted / WEIGHTS_NAME, task="classify")
    pt = tmp_path / "best.pt"  # as ultralytics' trainer writes one
    torch.save({"model": yolo.model.half()}, pt)
    out = tmp_path / "out"
    out.mkdir()
    hashes = export_checkpoint(pt, out)
    assert hashes["weights_sha256"] == file_sha256(out / WEIGHTS_NAME)
    card = json.loads((converted / MODEL_CARD_NAME).read_text())
    card.update(hashes)
    (out / MODEL_CARD_NAME).write_text(json.dumps(card))
    again, _ = open_checkpoint(out / WEIGHTS_NAME, task="classify")
    x = torch.from_numpy(np.random.default_rng(0).random((2, 3, 64, 64), np.float32))
    with torch.no_grad():
        a, b = load_pickle_yolo(pt).model.float().eval()(x), again.model(x)
    a = a[0] if isinstance(a, tuple | list) else a
    b = b[0] if isinstance(b, tuple | list) else b
    assert torch.equal(a, b)


def test_a_changed_file_is_refused_by_its_hash(converted: Path, tmp_path: Path) -> None:
    weights = _copy(converted, tmp_path / "w")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256 differs"):
        open_checkpoint(weights, task="classify")
    with pytest.raises(InputError, match="sha256 differs"):
        read_state(weights)
    weights = _copy(converted, tmp_path / "v")
    card = json.loads((weights.parent / MODEL_CARD_NAME).read_text())
    del card["weights_sha256"]
    (weights.parent / MODEL_CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(InputError, match="card has no weights_sha256"):
        open_checkpoint(weights, task="classify")


@pytest.mark.parametrize(("change", "problem"), [
    (lambda a: a["head"].append([-1, 1, "torch_safe_load", ["x.pt"]]), "not a known"),
    (lambda a: a["backbone"].__setitem__(0, [-1, 1, "nn.Conv2d", [{"a": 1}]]), "plain values"),
    (lambda a: a.update(scales={"n": [1, 1, 1]}), "scales table"),
    (lambda a: a.update(nc=-1), "nc must be a positive"),
    (lambda a: a.pop("head"), "no head layer list"),
])
def test_an_architecture_can_name_only_module_classes(converted: Path, tmp_path: Path,
                                                      change: object, problem: str) -> None:
    """ultralytics' builder calls whatever name a layer gives (torch_safe_load is a pickle
    load): a hash the author also wrote proves nothing, so the yaml is checked."""
    weights = _copy(converted, tmp_path / "w")
    arch_file = weights.with_name(ARCH_NAME)
    arch = yaml.safe_load(arch_file.read_text())
    change(arch)  # type: ignore[operator]
    arch_file.write_text(yaml.safe_dump(arch))
    card = json.loads((weights.parent / MODEL_CARD_NAME).read_text())
    card["architecture_sha256"] = file_sha256(arch_file)
    (weights.parent / MODEL_CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(InputError, match=problem):
        open_checkpoint(weights, task="classify")


def test_the_wrong_task_or_tensors_are_refused(converted: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a detection model"):
        open_checkpoint(converted / WEIGHTS_NAME, task="detect")
    weights = _copy(converted, tmp_path / "w")
    shutil.copy(BUNDLED / WEIGHTS_NAME, weights)  # the detector's tensors, the assessor's yaml
    card = json.loads((weights.parent / MODEL_CARD_NAME).read_text())
    card["weights_sha256"] = file_sha256(weights)
    (weights.parent / MODEL_CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(InputError, match="tensors do not fit") as err:
        open_checkpoint(weights, task="classify")
    assert "\n" not in str(err.value)
