"""Outputs replace only what an output may replace: a regular file, or a folder for a folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from survey.core.errors import InputError
from survey.core.files import atomic_write_text, check_replaceable, staged_dir


def _targets(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to("/dev/null")
    folder = tmp_path / "folder"
    folder.mkdir()
    return {"a FIFO": fifo, "a symbolic link": link, "a folder": folder}


def test_files_never_replace_devices_fifos_links_or_folders(tmp_path: Path) -> None:
    for kind, path in _targets(tmp_path).items():
        before = os.lstat(path)
        with pytest.raises(InputError, match=kind) as info:
            atomic_write_text(path, "x")
        assert str(path) in str(info.value) and "\n" not in str(info.value)
        after = os.lstat(path)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder", "link"]  # no tmp
    with pytest.raises(InputError, match="a character device"):
        check_replaceable("/dev/null")


def test_regular_files_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"


def test_unwritable_or_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write the file"):
        atomic_write_text(tmp_path / "no" / "such" / "out.txt", "x")


def test_output_folder_must_be_a_folder(tmp_path: Path) -> None:
    targets = _targets(tmp_path)
    with pytest.raises(InputError, match="a FIFO"), staged_dir(targets["a FIFO"]) as stage:
        (stage / "a.txt").write_text("x")
    # inside an output folder, a same-named FIFO is not replaced either
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "summary.json")
    with pytest.raises(InputError, match="a FIFO"), staged_dir(out) as stage:
        (stage / "summary.json").write_text("{}")
    assert stat.S_ISFIFO(os.lstat(out / "summary.json").st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
