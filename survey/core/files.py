"""Files in and out: reading JSON/YAML with one-line errors, and writing outputs so that a
failure never leaves a half-written file or folder behind."""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from survey.core.errors import InputError


def read_json(path: str | os.PathLike[str], *, what: str = "", strict: bool = False) -> Any:
    """The parsed JSON document at ``path`` (UTF-8, a byte-order mark tolerated).

    ``what`` names the document for the message when the top level is not an object
    (``"a card"`` → "not a card (top level is not an object)"); without it any top level is
    returned. ``strict`` refuses ``NaN``/``Infinity``, which JSON itself does not allow (files
    other tools read, such as QGroundControl plans).

    Raises
    ------
    InputError
        One line naming ``path``: no such file, unreadable, not JSON, or not ``what``.

    Examples
    --------
    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.json").write_text('{"v": NaN}')
    >>> read_json(d / "a.json", what="a card")
    {'v': nan}
    >>> read_json(d / "a.json", strict=True)
    Traceback (most recent call last):
    survey.core.errors.InputError: ...a.json: not a readable JSON file (NaN is not JSON)
    >>> read_json(d / "b.json")
    Traceback (most recent call last):
    survey.core.errors.InputError: ...b.json: no such file
    """
    text = _read_text(path)
    try:
        data = json.loads(text, parse_constant=_reject_constant if strict else None)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise InputError(path, f"not a readable JSON file ({exc})") from None
    return _checked_object(path, data, what, "an object")


def read_yaml(path: str | os.PathLike[str], *, what: str = "") -> Any:
    """The parsed YAML document at ``path`` (``yaml.safe_load``: plain data only, no tags that
    build objects); ``what`` as for :func:`read_json`, the top level then being a mapping.

    Raises
    ------
    InputError
        One line naming ``path``: no such file, unreadable, not YAML, or not ``what``.
    """
    text = _read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(path, f"not a readable YAML file ({type(exc).__name__})") from None
    return _checked_object(path, data, what, "a mapping")


def _read_text(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a file") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a text file (not UTF-8)") from None
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None


def _checked_object(path: str | os.PathLike[str], data: Any, what: str, kind: str) -> Any:
    if what and not isinstance(data, dict):
        raise InputError(path, f"not {what} (top level is not {kind})")
    return data


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def check_replaceable(path: str | os.PathLike[str], *, folder: bool = False) -> None:
    """Refuse an output path that holds something an output must never replace.

    An output file may replace only a regular file (not a device, a FIFO, a socket, a
    symbolic link or a folder); an output folder only a folder. Nothing there is fine.

    Raises
    ------
    InputError
        Naming the path and what is there.
    """
    target = Path(path)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(target, f"cannot be written ({exc.strerror})") from None
    want = stat.S_ISDIR if folder else stat.S_ISREG
    if not want(mode):
        raise InputError(target, f"is {_kind(mode)}; an output may only replace "
                                 f"{'a folder' if folder else 'a regular file'}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def replace_output(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Move a finished temporary file onto ``path`` (see :func:`check_replaceable`)."""
    check_replaceable(path)
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends as given) atomically; see
    :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, then rename; the
    file gets the usual permissions (``0666`` less the umask), not ``mkstemp``'s ``0600``.

    Raises
    ------
    InputError
        ``path`` holds a device, FIFO, link or folder, or its folder cannot be written.
    """
    path = Path(path)
    check_replaceable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(path, f"cannot write the file there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are shared files
        replace_output(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def _umask() -> int:
    # reading the umask means setting it: do that once, not on every write while other
    # threads (the flight logger) may be creating files
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def staged_dir(outdir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``outdir``; on success its files move into ``outdir``.

    If the body raises, the temporary folder is removed and ``outdir`` is left as it was.
    Files already in ``outdir`` with other names are kept; same-named ones are replaced.
    """
    outdir = Path(outdir)
    check_replaceable(outdir, folder=True)
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".tmp",
                                    dir=outdir.parent))
    except OSError as exc:
        raise InputError(outdir, f"cannot write the folder there ({exc.strerror})") from None
    try:
        yield tmp
        if not outdir.exists():
            os.replace(tmp, outdir)
            return
        for f in sorted(tmp.iterdir()):
            check_replaceable(outdir / f.name, folder=f.is_dir())
        for f in sorted(tmp.iterdir()):
            os.replace(f, outdir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
