"""load_model / DamageModel on a small untrained checkpoint: what it reads, how it fails (one
line, InputError), how it predicts (padding, threads, no mutation) and the full tiled path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detection.card import MODEL_CARD_NAME, ModelCard, write_model_card
from detection.detector import detect_photo_full
from detection.merge import Detections
from detection.model import DamageModel, load_model, pad_tile
from detection.offline import ultralytics_api
from detection.weights_file import WEIGHTS_NAME, export_checkpoint, file_sha256
from survey.core.errors import InputError

NAMES = {0: "intact", 1: "minor", 2: "major", 3: "destroyed"}


@pytest.fixture(scope="module")
def pickled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained yolo11n with the four damage classes, saved as ultralytics saves one."""
    ultralytics_api(tmp_path_factory.mktemp("yolo"))
    import torch
    from ultralytics.nn.tasks import DetectionModel

    net = DetectionModel("yolo11n.yaml", nc=4, verbose=False)
    net.names = NAMES
    path = tmp_path_factory.mktemp("weights") / "model.pt"
    torch.save({"model": net, "train_args": {"imgsz": 64, "task": "detect"}}, path)
    return path


@pytest.fixture(scope="module")
def checkpoint(pickled: Path) -> Path:
    """The same model as this project writes one: safetensors + yaml + card."""
    return with_card(pickled, pickled.parent / "safe", imgsz=64, gsd_cm=None)


def with_card(pickled: Path, folder: Path, **fields: object) -> Path:
    folder.mkdir(exist_ok=True)
    hashes = export_checkpoint(pickled, folder)
    card = {"classes": list(NAMES.values()), "imgsz": 96, "gsd_cm": 30.0, **hashes, **fields}
    write_model_card(folder / MODEL_CARD_NAME, ModelCard(**card))  # type: ignore[arg-type]
    return folder / WEIGHTS_NAME


def test_reads_classes_and_imgsz_from_a_trusted_pickle(pickled: Path) -> None:
    seen: list[tuple[Path, str]] = []
    model = load_model(pickled, trust=True, on_trust=lambda p, h: seen.append((p, h)))
    assert isinstance(model, DamageModel)
    assert dict(model.class_names) == NAMES
    assert model.imgsz == 64 and model.gsd_cm is None and model.info.card is None
    assert seen == [(pickled, file_sha256(pickled))]


def test_a_pickle_is_refused_without_trust(pickled: Path) -> None:
    with pytest.raises(InputError, match="pickle and can run code"):
        load_model(pickled)


def test_model_card_beside_the_weights_gives_gsd_and_imgsz(pickled: Path,
                                                           tmp_path: Path) -> None:
    model = load_model(with_card(pickled, tmp_path / "m"))
    assert model.gsd_cm == 30.0 and model.imgsz == 96
    assert model.info.card is not None and model.info.card.classes == tuple(NAMES.values())
    assert dict(model.class_names) == NAMES


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing.safetensors", None, "no such file"),
    ("weights.onnx", b"x", "expected model.safetensors"),
    ("junk.pt", b"this is not a checkpoint", "not a YOLO checkpoint"),
    ("empty.pt", b"", "not a YOLO checkpoint"),
    ("model.safetensors", b"x", "no model_card.json"),
])
def test_bad_weights_are_one_line_input_errors(tmp_path: Path, name: str,
                                               content: bytes | None, problem: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_model(path, trust=True)
    assert problem in str(err.value) and "\n" not in str(err.value)
    assert err.value.source == str(path)


def test_a_folder_is_not_weights(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a file"):
        load_model(tmp_path)


def test_card_disagreeing_with_the_checkpoint_is_an_input_error(pickled: Path,
                                                                tmp_path: Path) -> None:
    weights = with_card(pickled, tmp_path / "m", classes=["a", "b"])
    with pytest.raises(InputError, match="nc 4 differs from the card's 2 classes"):
        load_model(weights)
    pt = tmp_path / "p" / "model.pt"
    pt.parent.mkdir()
    pt.write_bytes(pickled.read_bytes())
    write_model_card(pt.parent / MODEL_CARD_NAME, ModelCard(classes=("a", "b"), imgsz=64))
    with pytest.raises(InputError, match="differ from the checkpoint"):
        load_model(pt, trust=True)


def test_broken_card_is_an_input_error(pickled: Path, tmp_path: Path) -> None:
    weights = with_card(pickled, tmp_path / "m")
    (tmp_path / "m" / MODEL_CARD_NAME).write_text(json.dumps({"classes": [], "imgsz": "x"}))
    with pytest.raises(InputError, match="imgsz must be a positive integer"):
        load_model(weights)


def test_predict_one_result_per_tile_and_threads_back_to_configured(checkpoint: Path) -> None:
    import torch

    model = load_model(checkpoint, batch=2, threads=2)
    tiles = [np.full((64, 64, 3), 90, np.uint8), np.zeros((30, 50, 3), np.uint8),
             np.full((64, 64, 3), 200, np.uint8)]
    before = [t.copy() for t in tiles]
    torch.set_num_threads(1)
    out = model.predict(tiles, conf=0.0)
    assert len(out) == 3 and all(isinstance(d, Detections) for d in out)
    assert torch.get_num_threads() == 2
    for tile, copy in zip(tiles, before, strict=True):
        np.testing.assert_array_equal(tile, copy)
    assert model.predict([], conf=0.5) == []


@pytest.mark.parametrize("bad", [{"conf": 1.5}, {"tiles": [np.zeros((8, 8), np.uint8)]}])
def test_predict_rejects_bad_arguments(checkpoint: Path, bad: dict) -> None:
    model = load_model(checkpoint)
    args = {"tiles": [np.zeros((8, 8, 3), np.uint8)], "conf": 0.25, **bad}
    with pytest.raises(ValueError):
        model.predict(args.pop("tiles"), **args)


def test_pad_tile_keeps_coordinates() -> None:
    tile = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = pad_tile(tile, 4)
    assert padded.shape == (4, 4, 3)
    np.testing.assert_array_equal(padded[:2, :3], tile)
    assert pad_tile(tile, 2) is tile


def test_detect_photo_plumbing_with_a_real_model(pickled: Path, tmp_path: Path) -> None:
    model = load_model(with_card(pickled, tmp_path / "m", imgsz=64, gsd_cm=10.0))
    image = np.random.default_rng(0).integers(0, 255, (100, 150, 3), dtype=np.uint8)
    result = detect_photo_full(image, model, photo_gsd_cm=5.0, conf=0.0)
    assert isinstance(result.detections, Detections)
    assert result.scale == pytest.approx(0.5) and result.gsd_cm == 10.0 and result.tiles == 2
    boxes = result.detections.boxes
    assert ((boxes[:, [0, 2]] >= 0) & (boxes[:, [0, 2]] <= 150)).all()
    assert ((boxes[:, [1, 3]] >= 0) & (boxes[:, [1, 3]] <= 100)).all()
