"""Writing outputs so that a failure never leaves a half-written file or folder behind."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file in the same folder, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are shared files
        os.replace(tmp, path)
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
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".tmp", dir=outdir.parent))
    try:
        yield tmp
        if not outdir.exists():
            os.replace(tmp, outdir)
            return
        for f in sorted(tmp.iterdir()):
            os.replace(f, outdir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
