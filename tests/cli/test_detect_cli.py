"""`survey detect / train / evaluate / dataset xbd` through typer's CliRunner.

`detect` runs with a fake model patched in at the loader (painted rectangles are 'damage'), so
output, resume-by-hash and bad photos are tested without torch; `train` → `evaluate` →
`detect` runs once for real on a tiny synthetic dataset (1 epoch at 64 px)."""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from detection.card import DATASET_CARD_NAME, MODEL_CARD_NAME
from detection.merge import Detections
from detection.weights_file import file_sha256
from detection.xbd import tile_gsd_m, tile_id_of
from survey.cli import detect as detect_cmd
from survey.cli import models
from survey.cli.main import AppContext

ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
XBD = Path(__file__).resolve().parents[3] / "shared" / "data" / "xbd"
NAMES = ["intact", "minor", "major", "destroyed"]

app = typer.Typer()


@app.callback()
def _main(ctx: typer.Context) -> None:
    ctx.obj = AppContext(out=Console(width=120), err=Console(stderr=True, width=120))


app.command("detect", no_args_is_help=True)(detect_cmd.detect)
app.command("train", no_args_is_help=True)(detect_cmd.train)
app.command("evaluate", no_args_is_help=True)(detect_cmd.evaluate)
app.add_typer(detect_cmd.dataset_app, name="dataset")


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


class FakeModel:
    """'Finds' pure red rectangles (destroyed) in each tile."""

    imgsz = 64
    gsd_cm = 4.0
    class_names: Mapping[int, str] = dict(enumerate(NAMES))

    def predict(self, tiles: Sequence[np.ndarray], *, conf: float) -> list[Detections]:
        out = []
        for tile in tiles:
            mask = np.all(tile == (0, 0, 255), axis=2).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:n]]
            out.append(Detections(np.reshape(boxes, (-1, 4)), [0.8] * len(boxes),
                                  [3] * len(boxes)))
        return out


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    loaded: list[Path] = []

    def load(weights: Path, **_: object) -> FakeModel:
        loaded.append(weights)
        return FakeModel()

    monkeypatch.setattr(detect_cmd, "load_model", load)
    return loaded


def write_photo(path: Path, rect: tuple[int, int, int, int] | None = (30, 20, 90, 50)) -> Path:
    image = np.full((80, 120, 3), 120, np.uint8)
    if rect:
        x0, y0, x1, y1 = rect
        image[y0:y1, x0:x1] = (0, 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "detections.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("command", [["detect"], ["train"], ["evaluate"], ["dataset", "xbd"]])
def test_help_has_an_example(command: list[str]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0 and f"Example: survey {' '.join(command)}" in " ".join(out.split())


def test_detect_writes_one_line_per_photo_and_skips_bad_ones(fake_model: list[Path],
                                                             tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photo(photos / "a.png")
    write_photo(photos / "sub" / "b.png", None)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (photos / "notes.txt").write_text("not a photo, not picked from a folder")
    code, out, err = run("detect", photos, "--weights", tmp_path / "w.pt", "-o", tmp_path / "o")
    assert code == 0, err
    assert fake_model == [tmp_path / "w.pt"]
    skipped = [line for line in err.splitlines() if "skipped:" in line]
    assert len(skipped) == 1 and "broken.jpg: truncated JPEG" in skipped[0]
    assert "2 photo(s) done, 0 already done, 1 unreadable; 1 detection(s)" in out
    rows = {Path(r["path"]).name: r for r in records(tmp_path / "o")}
    assert set(rows) == {"a.png", "b.png"}
    a = rows["a.png"]
    assert (a["width"], a["height"], a["gsd_cm"], a["photo_gsd_cm"]) == (120, 80, None, None)
    assert len(a["sha256"]) == 64
    assert a["detections"] == [{"box_xyxy": [30.0, 20.0, 90.0, 50.0], "class": "destroyed",
                                "class_id": 3, "confidence": 0.8}]
    assert rows["b.png"]["detections"] == []


def test_rerun_skips_photos_already_done_by_content(fake_model: list[Path],
                                                    tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photo(photos / "a.png")
    args = ("--weights", tmp_path / "w.pt", "-o", tmp_path / "o")
    assert run("detect", photos, *args)[0] == 0
    shutil.copyfile(photos / "a.png", photos / "a_copy.png")  # same bytes, new name
    write_photo(photos / "c.png", (0, 0, 10, 10))
    code, out, _ = run("detect", photos, *args)
    assert code == 0 and "1 photo(s) done, 2 already done, 0 unreadable" in out
    assert [Path(r["path"]).name for r in records(tmp_path / "o")] == ["a.png", "c.png"]


def test_a_line_cut_short_by_a_crash_is_dropped_and_redone(fake_model: list[Path],
                                                           tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "a.png")
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    (out_dir / "detections.jsonl").write_text('{"path": "a.png", "sha2')
    code, out, _ = run("detect", photo, "--weights", "w.pt", "-o", out_dir)
    assert code == 0 and "1 photo(s) done" in out
    assert [Path(r["path"]).name for r in records(out_dir)] == ["a.png"]


def test_gsd_resamples_to_the_models_and_is_recorded(fake_model: list[Path],
                                                     tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "a.png")
    code, _, err = run("detect", photo, "--weights", "w.pt", "--gsd", "2", "-o", tmp_path / "o")
    assert code == 0, err
    (row,) = records(tmp_path / "o")
    assert (row["photo_gsd_cm"], row["gsd_cm"]) == (2.0, 4.0)
    np.testing.assert_allclose(row["detections"][0]["box_xyxy"], [30, 20, 90, 50], atol=2)


@pytest.mark.parametrize(("setup", "expect"), [
    ("empty", "no photos in this folder"),
    ("missing", "no such file or folder"),
    ("all_bad", "none of the 1 photo(s) could be read"),
    ("gsd", "--gsd: must be a positive number"),
])
def test_bad_input_is_one_line_exit_2(fake_model: list[Path], tmp_path: Path, setup: str,
                                      expect: str) -> None:
    target = tmp_path / "photos"
    target.mkdir()
    extra: list[object] = []
    if setup == "missing":
        target = tmp_path / "nowhere"
    elif setup == "all_bad":
        (target / "x.png").write_bytes(b"not a png")
    elif setup != "empty":
        write_photo(target / "a.png")
        extra = ["--gsd", "-1"]
    code, _, err = run("detect", target, "--weights", "w.pt", "-o", tmp_path / "o", *extra)
    assert code == 2
    # Unreadable photos are reported as they are met, then the one error line.
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines[-1].startswith("error:") and expect in lines[-1]
    assert all(line.startswith("skipped:") for line in lines[:-1])
    assert not (tmp_path / "o").exists()  # no empty detections.jsonl, no folder


def test_a_run_where_every_photo_fails_writes_nothing(fake_model: list[Path],
                                                      tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    (photos / "x.png").write_bytes(b"not a png")
    (photos / "sub" / "y.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "o"
    out.mkdir()  # an existing, empty output folder stays empty
    code, _, err = run("detect", photos, "--weights", "w.pt", "-o", out)
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines[-1] == f"error: {photos}: none of the 2 photo(s) could be read"
    assert len(lines) == 3 and all(x.startswith("skipped:") for x in lines[:2])
    assert list(out.iterdir()) == []
    write_photo(photos / "a.png")  # one good photo among them: written as before
    code, stdout, err = run("detect", photos, "--weights", "w.pt", "-o", out)
    assert code == 0 and "1 photo(s) done, 0 already done, 2 unreadable" in stdout, err
    assert [Path(r["path"]).name for r in records(out)] == ["a.png"]


def test_detect_without_weights_or_bundled_model(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(models, "BUNDLED_WEIGHTS", tmp_path / "none.pt")
    code, _, err = run("detect", write_photo(tmp_path / "a.png"), "-o", tmp_path / "o")
    assert code == 2 and "--weights: no bundled model" in err


# --- the real thing, tiny ----------------------------------------------------------------------

def synthetic_dataset(root: Path) -> Path:
    """3 train, 2 val and 2 test 96-px images with a red 'destroyed' and a grey 'intact' box."""
    for split, count in (("train", 3), ("val", 2), ("test", 2)):
        for i in range(count):
            image = np.full((96, 96, 3), 90, np.uint8)
            image[20:50, 30 + i:70] = (20, 20, 200)
            image[60:85, 10:40] = (200, 200, 200)
            write_photo(root / "images" / split / f"{i}.png", None)
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), image)
            label = root / "labels" / split / f"{i}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("3 0.521 0.365 0.417 0.313\n0 0.260 0.755 0.313 0.260\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\n"
                                    "test: images/test\nnames: [intact, minor, major, destroyed]\n")
    (root / DATASET_CARD_NAME).write_text(json.dumps(
        {"source": "synthetic", "gsd_cm": 150.0, "license": "CC BY-NC-SA 4.0"}))
    return root / "data.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    from detection.offline import ultralytics_api

    ultralytics_api(tmp_path_factory.mktemp("yolo"))
    data = synthetic_dataset(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("model") / "m"
    code, stdout, err = run("train", data, "--weights", "yolo11n.yaml", "--epochs", 1,
                            "--imgsz", 64, "--batch", 3, "--workers", 0, "-o", out)
    assert code == 0, err
    return data, out, stdout


@pytest.mark.slow
def test_train_writes_weights_and_a_model_card(trained: tuple[Path, Path, str]) -> None:
    _, out, stdout = trained
    assert (out / "model.safetensors").is_file()
    card = json.loads((out / MODEL_CARD_NAME).read_text())
    assert card["classes"] == NAMES and card["imgsz"] == 64 and card["epochs"] == 1
    # 96-px images shrunk to imgsz 64: the model sees 150 × 96 / 64 = 225 cm/px.
    assert card["gsd_cm"] == 225.0 and card["data_license"] == "CC BY-NC-SA 4.0"
    assert card["license"] == "AGPL-3.0-or-later" and card["base_weights"] == "yolo11n.yaml"
    assert {"val_mAP50", "val_damaged_f1_iou0.3", "val_intact_f1_iou0.3"} <= set(card["metrics"])
    assert "225.0 cm/px" in stdout and "CC BY-NC-SA 4.0" in stdout
    assert [p.name for p in out.parent.iterdir()] == ["m"]  # no staging folder left behind


@pytest.mark.slow
def test_evaluate_prints_per_class_and_damaged_vs_intact(trained: tuple[Path, Path, str]
                                                         ) -> None:
    data, out, _ = trained
    code, stdout, err = run("evaluate", out / "model.safetensors", data, "--split", "test",
                            "--conf", 0.01)
    assert code == 0, err
    assert "test: 2 image(s), 4 labelled box(es), IoU ≥ 0.3" in stdout
    for row in ("intact", "minor", "major", "destroyed", "damaged (major|destroyed)",
                "intact (intact|minor)"):
        assert row in stdout


@pytest.mark.slow
def test_detect_with_real_weights(trained: tuple[Path, Path, str], tmp_path: Path) -> None:
    data, out, _ = trained
    code, _, err = run("detect", data.parent / "images" / "test", "--weights",
                            out / "model.safetensors", "--gsd", 150, "-o", tmp_path / "o")
    assert code == 0, err
    rows = records(tmp_path / "o")
    assert len(rows) == 2 and all(r["gsd_cm"] == 225.0 for r in rows)


@pytest.mark.parametrize(("yaml", "expect"), [
    ("path: .\ntrain: images/train\nval: images/nope\nnames: [a]\n", "val: "),
    ("path: .\ntrain: images/train\nnames: [a]\n", "no 'val' split"),
    ("path: .\ntrain: images/train\nval: images/train\n", "no class names"),
    ("[not: a mapping", "not a readable YAML file"),
])
def test_train_bad_dataset_yaml_is_one_line(tmp_path: Path, yaml: str, expect: str) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "data.yaml").write_text(yaml)
    code, _, err = run("train", tmp_path / "data.yaml", "--epochs", 1, "-o", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and expect in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("weights", "expect"), [
    ("yolo11n.pt", "never downloaded"),
    ("yolo99z.yaml", "no such architecture yaml"),
    ("weights.onnx", "expected model.safetensors"),
    ("local.pt", "pickle and can run code"),
])
def test_train_start_weights_must_be_local(tmp_path: Path, weights: str, expect: str) -> None:
    data = synthetic_dataset(tmp_path / "d")
    if weights in ("weights.onnx", "local.pt"):
        weights = str(tmp_path / weights)
        Path(weights).write_bytes(b"x")
    code, _, err = run("train", data, "--weights", weights, "-o", tmp_path / "o")
    assert code == 2 and expect in err and err.count("\n") == 1


def test_evaluate_rejects_a_model_with_other_classes(fake_model: list[Path],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setattr(FakeModel, "class_names", {0: "person"})
    data = synthetic_dataset(tmp_path / "d")
    code, _, err = run("evaluate", "w.pt", data)
    assert code == 2 and "are not the damage classes" in err


@pytest.mark.skipif(not XBD.is_dir(), reason="shared xBD sample absent")
def test_dataset_xbd_writes_yaml_and_card(tmp_path: Path) -> None:
    code, stdout, err = run("dataset", "xbd", XBD, "-o", tmp_path / "x")
    assert code == 0, err
    card = json.loads((tmp_path / "x" / DATASET_CARD_NAME).read_text())
    assert card["license"] == "CC BY-NC-SA 4.0"
    train_ids = [tile_id_of(p.name) for p in (tmp_path / "x" / "images" / "train").iterdir()]
    gsds = [100 * tile_gsd_m(XBD / "labels" / f"{t}_post_disaster.json") for t in train_ids]
    assert card["gsd_cm"] == pytest.approx(statistics.median(gsds))  # median of train tiles
    assert 43 < card["gsd_cm"] < 50  # measured; metadata.gsd's 1.3–2.1 m is multispectral
    assert sum(card["tiles"].values()) == 53
    assert (tmp_path / "x" / "data.yaml").is_file() and "CC BY-NC-SA 4.0" in stdout


@pytest.mark.slow
def test_evaluate_records_scores_in_the_card(trained: tuple[Path, Path, str],
                                             tmp_path: Path) -> None:
    import shutil

    data, out, _ = trained
    copy = tmp_path / "m"
    shutil.copytree(out, copy)
    code, _, err = run("evaluate", copy / "model.safetensors", data, "--split", "test", "--conf",
                            0.01, "--record")
    assert code == 0, err
    metrics = json.loads((copy / MODEL_CARD_NAME).read_text())["metrics"]
    assert metrics["test_conf"] == 0.01
    for key in ("damaged", "not_damaged", "destroyed", "intact"):
        assert f"test_{key}_f1_iou0.3" in metrics
    assert "val_mAP50" in metrics  # what training wrote stays


@pytest.mark.slow
def test_backbone_transfer_copies_matching_layers_only(trained: tuple[Path, Path, str]) -> None:
    import torch

    from detection.offline import yolo_class
    from detection.train import transfer_backbone
    from detection.weights_file import read_state
    from survey.core.errors import InputError

    _, out, _ = trained
    fresh = yolo_class()("yolo11n.yaml").model
    copied = transfer_backbone(fresh, out / "model.safetensors")
    source = read_state(out / "model.safetensors")
    n_backbone = len(fresh.yaml["backbone"])
    assert copied == sum(1 for k in source if int(k.split(".")[1]) < n_backbone)
    target = fresh.state_dict()
    assert torch.equal(target["model.0.conv.weight"], source["model.0.conv.weight"])
    head = f"model.{n_backbone + 2}."  # a head layer keeps its fresh weights
    assert any(not torch.equal(target[k], source[k]) for k in target
               if k.startswith(head) and k in source and "weight" in k)
    wider = yolo_class()(str(Path("detection/arch/damage-p34.yaml").resolve())).model
    with pytest.raises(InputError, match="no backbone layer matches"):
        transfer_backbone(wider, out / "model.safetensors")  # yolo11n's: another width


@pytest.mark.slow
def test_train_lr_sets_adamw_without_warm_up(trained: tuple[Path, Path, str],
                                             tmp_path: Path) -> None:
    import csv

    data, out, _ = trained
    code, _, err = run("train", data, "--weights", out / "model.safetensors", "--epochs", 1,
                       "--imgsz", 64, "--batch", 3, "--workers", 0, "--lr", 0.0005,
                       "-o", tmp_path / "c")
    assert code == 0, err
    with open(tmp_path / "c" / "results.csv", newline="") as fh:
        first = next(csv.DictReader(fh))
    # no warm-up: the first epoch already runs at lr0 (a warm-up starts elsewhere)
    assert float(first["lr/pg0"]) == pytest.approx(0.0005)
    card = json.loads((tmp_path / "c" / MODEL_CARD_NAME).read_text())
    assert card["base_weights"] == str(out / "model.safetensors")


@pytest.mark.slow
def test_assessor_dataset_train_evaluate_record(tmp_path: Path) -> None:
    """`dataset xbd A B --crops` → `train CROPS` → `evaluate W CROPS --record`, for real."""
    from tests.detection.test_crops import _tiles

    _tiles(tmp_path / "a", "fire", 8, "destroyed")
    _tiles(tmp_path / "b", "wind", 8, "major-damage")
    code, out, err = run("dataset", "xbd", tmp_path / "a", tmp_path / "b", "--crops",
                         "-o", tmp_path / "crops")
    assert code == 0, err
    assert "destroyed" in out and "CC BY-NC-SA 4.0" in out
    code, out, err = run("train", tmp_path / "crops", "--epochs", "1", "--batch", "16",
                         "--workers", "0", "-o", tmp_path / "model")
    assert code == 0, err
    card = json.loads((tmp_path / "model" / MODEL_CARD_NAME).read_text())
    assert card["task"] == "classify" and "val_damaged_f1" in card["metrics"]
    code, out, err = run("evaluate", tmp_path / "model" / "model.safetensors",
                         tmp_path / "crops",
                         "--split", "test", "--record")
    assert code == 0, err
    assert "damaged (major|destroyed)" in out and "background crops graded" in out
    card = json.loads((tmp_path / "model" / MODEL_CARD_NAME).read_text())
    assert "test_damaged_f1" in card["metrics"] and "test_major_recall" in card["metrics"]


def test_dataset_without_crops_takes_one_folder(tmp_path: Path) -> None:
    code, _, err = run("dataset", "xbd", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "o")
    assert code == 2 and "one xBD folder" in err


def test_a_pickle_given_as_weights_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    """Every command that takes weights refuses a .pt unless --trust-weights, before any
    byte of it is unpickled; trusted, its sha256 is shown first."""
    from tests.detection.test_weights_file import _Touch

    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(__import__("pickle").dumps({"model": _Touch(marker)}))
    photo = write_photo(tmp_path / "p.png")
    data = synthetic_dataset(tmp_path / "d")
    for args in (("detect", photo, "--weights", evil), ("evaluate", evil, data),
                 ("train", data, "--weights", evil), ("train", data, "--backbone-from", evil)):
        code, _, err = run(*args, "-o", tmp_path / "o") if args[0] != "evaluate" else run(*args)
        assert code == 2 and "pickle and can run code" in err and err.count("\n") == 1, err
        assert "--trust-weights" in err and not marker.exists()
    code, _, err = run("detect", photo, "--weights", evil, "--trust-weights",
                       "-o", tmp_path / "o")
    assert code == 2 and marker.exists()  # the user's choice, made knowingly:
    assert f"sha256 {file_sha256(evil)}" in err.replace("\n", "")
    assert not (tmp_path / "o").exists()
