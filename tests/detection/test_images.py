import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.images import (
    ImageFormat,
    content_sha256,
    load_image,
    reduction_for_scale,
    sniff_format,
)
from survey.core.errors import ImageError, InputError

DJI = Path(__file__).resolve().parents[3] / "shared" / "data" / "dji_brighton_beach"


def _picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :, 0] = np.linspace(0, 255, 160, dtype=np.uint8)
    image[20:60, 30:90] = (10, 200, 30)
    return image + rng.integers(0, 5, image.shape, dtype=np.uint8)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _encoded(ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, _picture())
    assert ok
    return buffer.tobytes()


@pytest.mark.parametrize(("ext", "fmt"), [(".jpg", ImageFormat.JPEG), (".png", ImageFormat.PNG),
                                          (".tif", ImageFormat.TIFF)])
def test_loads_bgr_uint8(tmp_path: Path, ext: str, fmt: ImageFormat) -> None:
    data = _encoded(ext)
    assert sniff_format(data) is fmt
    image = load_image(_write(tmp_path, f"a{ext}", data))
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - _picture().astype(int)).mean() < 3


def test_grey_and_alpha_become_three_channels(tmp_path: Path) -> None:
    grey = cv2.imencode(".png", np.full((8, 9), 77, np.uint8))[1].tobytes()
    assert load_image(_write(tmp_path, "g.png", grey)).shape == (8, 9, 3)
    rgba = cv2.imencode(".png", np.full((8, 9, 4), 77, np.uint8))[1].tobytes()
    assert load_image(_write(tmp_path, "a.png", rgba)).shape == (8, 9, 3)


@pytest.mark.parametrize("reduce", [2, 4, 8])
@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_reduced_decode(tmp_path: Path, ext: str, reduce: int) -> None:
    image = load_image(_write(tmp_path, f"a{ext}", _encoded(ext)), reduce=reduce)
    assert abs(image.shape[1] - 160 / reduce) < 1 and abs(image.shape[0] - 120 / reduce) < 1


def test_bad_reduce_lists_valid_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1, 2, 4, 8"):
        load_image(_write(tmp_path, "a.jpg", _encoded(".jpg")), reduce=3)


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [
        ("empty.jpg", lambda: b"", "empty file"),
        ("text.jpg", lambda: b"hello, not a photo", "not an image"),
        ("cut.jpg", lambda: _encoded(".jpg")[: len(_encoded(".jpg")) // 2], "truncated JPEG"),
        ("cut.png", lambda: _encoded(".png")[:-20], "truncated PNG"),
        ("noise.jpg", lambda: b"\xff\xd8\xff" + bytes(range(256)) * 4 + b"\xff\xd9", "corrupt"),
        ("noise.png", lambda: b"\x89PNG\r\n\x1a\n" + bytes(200) + b"IEND\xaeB`\x82", "corrupt"),
    ],
)
def test_unusable_files_raise_image_error(
    tmp_path: Path, name: str, make, problem: str
) -> None:
    path = _write(tmp_path, name, make())
    with pytest.raises(ImageError, match=problem) as info:
        load_image(path)
    assert isinstance(info.value, InputError)
    assert info.value.source == str(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)


def test_content_hash(tmp_path: Path) -> None:
    data = _encoded(".jpg")
    a = _write(tmp_path, "a.jpg", data)
    b = _write(tmp_path, "renamed.jpg", data)
    assert content_sha256(a) == content_sha256(b) == hashlib.sha256(data).hexdigest()
    with pytest.raises(ImageError):
        content_sha256(tmp_path / "missing.jpg")


def test_reduction_for_scale_rejects_non_positive() -> None:
    with pytest.raises(ValueError):
        reduction_for_scale(0.0)


@pytest.mark.skipif(not DJI.is_dir(), reason="shared DJI photos not present")
def test_real_dji_photo_reduced() -> None:
    photo = sorted(DJI.glob("*.JPG"))[0]
    image = load_image(photo, reduce=reduction_for_scale(0.25))
    assert image.shape == (563, 1000, 3)
