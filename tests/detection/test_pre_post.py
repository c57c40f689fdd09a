"""Pre+post assessment: pair crops carry the same window of the pre-disaster tile, training
keeps the halves aligned, a six-channel assessor trains from an RGB backbone and uses what
the pre crop shows."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.assessor import GRADES, load_assessor, split_probabilities
from detection.card import read_dataset_card, read_model_card
from detection.crops import CropSpec, no_pre, pair_crop, split_pair
from detection.model import PAD_VALUE
from detection.train_assessor import AssessorTrainConfig, train_assessor, write_xbd_crops
from survey.core.errors import InputError
from tests.detection.test_crops import _tiles

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "detection" / "weights" / "assessor" / "model.safetensors"
PRE_VALUE = 200


def _with_pre(root: Path, every: int = 2) -> set[str]:
    """Write a pre-disaster image (plain ``PRE_VALUE``, a dark mark where the first
    building stands) for every ``every``-th tile of ``root``; the tile ids that have one."""
    (root / "pre_images").mkdir(exist_ok=True)
    have = set()
    for n, image in enumerate(sorted((root / "images").glob("*_post_disaster.png"))):
        if n % every:
            continue
        tile = image.name.removesuffix("_post_disaster.png")
        pre = np.full(cv2.imread(str(image)).shape, PRE_VALUE, np.uint8)
        pre[8:20, 8:24] = 20
        cv2.imwrite(str(root / "pre_images" / f"{tile}_pre_disaster.png"), pre)
        have.add(tile)
    return have


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    root = tmp_path_factory.mktemp("pairs")
    _tiles(root / "a", "fire", 10, "destroyed")
    _tiles(root / "b", "wind", 10, "major-damage")
    have = _with_pre(root / "a") | _with_pre(root / "b")
    write_xbd_crops([root / "a", root / "b"], root / "crops", spec=CropSpec(pre=True))
    return root / "crops", have


def test_pair_crops_hold_the_same_window_of_the_pre_tile(
        pair_data: tuple[Path, set[str]]) -> None:
    crops, have = pair_data
    assert read_dataset_card(crops / "dataset_card.json").crop["pre"] is True
    files = sorted(crops.glob("*/*/*.jpg"))
    assert files
    seen = {True: 0, False: 0}
    for f in files:
        post, pre = split_pair(cv2.imread(str(f)))
        assert post.shape == pre.shape == (64, 64, 3)
        assert abs(float(np.median(post)) - 90) < 8  # the post tile's grey
        tile = f.name.rsplit("_", 1)[0]
        seen[tile in have] += 1
        expected = PRE_VALUE if tile in have else PAD_VALUE
        assert abs(float(np.median(pre)) - expected) < 8, f
    assert seen[True] and seen[False]
    # the first building's crop shows the pre tile's dark mark where the building stands
    first = cv2.imread(str(next(f for f in files if f.name.endswith("_0000.jpg")
                                and f.name.rsplit("_", 1)[0] in have)))
    _, pre = split_pair(first)
    assert pre[28:36, 28:36].mean() < 80 and pre[:4, :4].mean() > 150


def test_pair_augmentation_keeps_the_halves_aligned() -> None:
    from detection.pair_dataset import PRE_SHIFT_PX, augment_pair, pair_array

    post = np.full((64, 64, 3), 90, np.uint8)
    post[16:26, 34:44] = 250  # an off-centre mark, in both halves (clear of the edges,
    # which the pre half's shift wraps round)
    pair = pair_array(pair_crop(post, post.copy(), CropSpec()))
    rng = np.random.default_rng(0)
    dropped = 0
    for _ in range(60):
        view = augment_pair(pair, (0.8, 1.0), rng)
        assert view.shape == (64, 64, 6) and view.dtype == np.uint8
        a, b = view[..., :3].mean(2), view[..., 3:].mean(2)
        if np.allclose(b, PAD_VALUE, atol=1):
            dropped += 1
            continue
        ya, xa = np.argwhere(a > a.max() * 0.9).mean(0)
        yb, xb = np.argwhere(b > b.max() * 0.9).mean(0)
        # the same flips, turn and crop for both: the mark moves together
        assert abs(ya - yb) <= PRE_SHIFT_PX + 1.5 and abs(xa - xb) <= PRE_SHIFT_PX + 1.5
    assert 0 < dropped < 30  # some samples learn to grade without pre imagery


def test_wider_first_convolution_starts_from_the_rgb_backbone() -> None:
    from detection.offline import ultralytics_api

    ultralytics_api()
    from ultralytics.nn.tasks import ClassificationModel

    from detection.train import transfer_backbone
    from detection.weights_file import read_state

    arch = read_model_card(BUNDLED.with_name("model_card.json"))
    assert arch.task == "classify"
    import yaml

    six = ClassificationModel(dict(yaml.safe_load(BUNDLED.with_name("model.yaml").read_text()),
                                   channels=6), ch=6, verbose=False)
    transfer_backbone(six, BUNDLED)
    have = read_state(BUNDLED)
    key = "model.0.conv.weight"
    got = six.state_dict()[key]
    assert got.shape[1] == 6 and have[key].shape[1] == 3
    assert np.allclose(got[:, :3].numpy(), have[key].numpy())
    assert not got[:, 3:].any()  # pre channels start at zero: the RGB model at first


@pytest.fixture(scope="module")
def pair_assessor(pair_data: tuple[Path, set[str]],
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    crops, _ = pair_data
    weights, card = train_assessor(AssessorTrainConfig(
        data_dir=crops, out_dir=tmp_path_factory.mktemp("pm") / "model", epochs=1, batch=16,
        workers=0, balance=1.0))
    assert card.crop["pre"] is True
    return weights


def test_pre_post_assessor_trains_and_looks_at_the_pre_crop(
        pair_assessor: Path, pair_data: tuple[Path, set[str]]) -> None:
    import yaml

    assert yaml.safe_load(pair_assessor.with_name("model.yaml").read_text())["channels"] == 6
    model = load_assessor(pair_assessor)
    assert model.takes_pre
    post = [np.full((64, 64, 3), v, np.uint8) for v in (40, 90, 160)]
    rng = np.random.default_rng(1)
    noisy = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in post]
    without = model.predict_raw(post)  # no pre imagery: the grey half
    assert np.allclose(without, model.predict_raw(post, [None] * 3))
    assert np.allclose(without, model.predict_raw(post, [no_pre(model.spec)] * 3), atol=1e-6)
    seen = []  # what the network's first layer is handed
    hook = model._model.model[0].register_forward_pre_hook(  # type: ignore[attr-defined]
        lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        with_pre = model.predict_raw(post, noisy)
    finally:
        hook.remove()
    assert with_pre.shape == (3, len(GRADES)) and np.allclose(with_pre.sum(1), 1, atol=1e-4)
    x = seen[0][:3]  # the first of the four views: the crops as they are
    assert x.shape == (3, 6, 64, 64)
    for i in range(3):  # post RGB, then pre RGB
        assert np.allclose(x[i, :3].numpy(), post[i][..., ::-1].transpose(2, 0, 1) / 255.0)
        assert np.allclose(x[i, 3:].numpy(), noisy[i][..., ::-1].transpose(2, 0, 1) / 255.0)
    probs, truth = split_probabilities(model, pair_data[0], "val")
    assert len(probs) == len(truth) > 0


def test_pair_crops_and_assessor_must_match(
        pair_assessor: Path, pair_data: tuple[Path, set[str]], tmp_path: Path) -> None:
    post_only = load_assessor(BUNDLED)
    assert not post_only.takes_pre
    with pytest.raises(InputError, match="pre\\+post pair crop"):
        split_probabilities(post_only, pair_data[0], "val")
    _tiles(tmp_path / "a", "fire", 4, "destroyed")
    write_xbd_crops([tmp_path / "a"], tmp_path / "crops")
    with pytest.raises(InputError, match="takes pre\\+post pairs"):
        split_probabilities(load_assessor(pair_assessor), tmp_path / "crops", "train")


def test_evaluate_scores_a_pre_post_assessor_with_and_without_pre(
        pair_assessor: Path, pair_data: tuple[Path, set[str]], tmp_path: Path) -> None:
    import shutil

    from tests.cli.test_detect_cli import run

    model = tmp_path / "m"
    shutil.copytree(pair_assessor.parent, model)
    weights = model / pair_assessor.name
    for extra in ((), ("--no-pre",)):
        code, out, err = run("evaluate", weights, pair_data[0], "--split", "val", "--record",
                             *extra)
        assert code == 0, err
        assert ("val_without_pre:" if extra else "val:") in out
    metrics = read_model_card(model / "model_card.json").metrics
    assert {"val_damaged_f1", "val_without_pre_damaged_f1"} <= set(metrics)
    code, _, err = run("dataset", "xbd", pair_data[0], "--pre", "-o", tmp_path / "d")
    assert code == 2 and "--crops" in err and not (tmp_path / "d").exists()
