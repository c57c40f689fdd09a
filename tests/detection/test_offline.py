"""ultralytics through detection.offline makes no network attempt: import, train (our
train_model), predict (load_model + detect_photo) and, when onnx is installed, export run in a
fresh process whose sockets raise on any connect or name lookup, with HOME pointed at an empty
folder where ultralytics must write nothing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import socket, sys
    from pathlib import Path

    def refuse(*args, **kwargs):
        raise RuntimeError(f"network attempt: {args[:2]}")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    socket.gethostbyname = refuse

    import cv2
    import numpy as np
    from detection.offline import ultralytics_api

    work, export = Path(sys.argv[1]), sys.argv[2] == "1"
    api = ultralytics_api(work / "yolo")
    data = work / "data"
    for split in ("train", "val"):
        (data / "images" / split).mkdir(parents=True)
        (data / "labels" / split).mkdir(parents=True)
        for i in range(3):
            image = np.full((96, 96, 3), 90, np.uint8)
            image[20:50, 30 + i:70] = (20, 20, 200)
            cv2.imwrite(str(data / "images" / split / f"{i}.png"), image)
            (data / "labels" / split / f"{i}.txt").write_text("3 0.52 0.36 0.42 0.31\\n")
    (data / "data.yaml").write_text(
        f"path: {data}\\ntrain: images/train\\nval: images/val\\n"
        "names: [intact, minor, major, destroyed]\\n")
    from detection.detector import detect_photo
    from detection.model import load_model
    from detection.train import TrainConfig, train_model

    result = train_model(TrainConfig(data_yaml=data / "data.yaml", start_weights="yolo11n.yaml",
                                     epochs=1, imgsz=64, batch=3, workers=0, out_dir=work / "m"))
    model = load_model(result.weights)
    found = detect_photo(np.zeros((100, 150, 3), np.uint8), model, conf=0.01)
    assert found.boxes.shape[1] == 4
    from detection.weights_file import open_checkpoint

    best, _ = open_checkpoint(result.weights, task="detect")
    if export:
        best.export(format="onnx", imgsz=64)
    print("OK", best.names[3])
""")


@pytest.mark.slow
def test_train_predict_export_open_no_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    has_onnx = importlib.util.find_spec("onnx") is not None
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), "1" if has_onnx else "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK destroyed")
    assert "network attempt" not in done.stderr
    # Everything ultralytics keeps went under the folder we gave it, nothing under HOME
    # (matplotlib keeps its own font cache there).
    assert [p for p in home.rglob("*") if "ultralytics" in p.name.lower()] == []
    settings = json.loads((tmp_path / "yolo" / "Ultralytics" / "settings.json").read_text())
    assert settings["sync"] is False
    assert (tmp_path / "yolo" / "Ultralytics" / "Arial.ttf").stat().st_size > 10_000
    if not has_onnx:
        pytest.skip("onnx is not installed: train and predict checked, export not")


def test_default_config_dir_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from detection.offline import default_config_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_config_dir() == tmp_path / "drone-survey" / "ultralytics"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_config_dir() == Path.home() / ".cache" / "drone-survey" / "ultralytics"
