"""YOLO datasets on disk: the dataset yaml read and checked (:func:`read_dataset_yaml`) and
written (:func:`write_dataset_yaml`), and where an image's label file lies. Training, evaluation
and every dataset builder (xBD tiles, generated scenes) share this one module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import yaml

from survey.core.errors import InputError
from survey.core.files import atomic_write_text, read_yaml

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A YOLO dataset yaml, read and checked.

    Attributes
    ----------
    yaml_path
        The yaml file.
    root
        The dataset folder (``path``, resolved against the yaml's folder).
    splits
        Split name → its image sources (folders or ``.txt`` lists), absolute, existing.
    names
        Class id → name.
    """

    yaml_path: Path
    root: Path
    splits: Mapping[str, tuple[Path, ...]]
    names: Mapping[int, str]

    def images(self, split: str) -> list[Path]:
        """The image files of a split, sorted (folders searched recursively).

        Raises
        ------
        InputError
            The split is not in the yaml.
        """
        if split not in self.splits:
            have = ", ".join(self.splits) or "none"
            raise InputError(self.yaml_path, f"no {split!r} split (it has: {have})")
        found: list[Path] = []
        for source in self.splits[split]:
            if source.is_dir():
                found += sorted(p for p in source.rglob("*")
                                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            else:
                for line in source.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        item = Path(line.strip())
                        found.append(item if item.is_absolute() else self.root / item)
        return found

    def ultralytics_yaml(self) -> str:
        """The dataset as a yaml with absolute paths (what ultralytics is given)."""
        import json

        lines = [f"path: {json.dumps(str(self.root))}"]
        for name, sources in self.splits.items():
            lines.append(f"{name}:")
            lines += [f"  - {json.dumps(str(s))}" for s in sources]
        lines.append("names:")
        lines += [f"  {i}: {json.dumps(n)}" for i, n in sorted(self.names.items())]
        return "\n".join(lines) + "\n"


def label_path_for(image: Path) -> Path:
    """The YOLO label file of an image: the last ``images`` folder swapped for ``labels``.

    Examples
    --------
    >>> label_path_for(Path("/d/images/train/a.png")).as_posix()
    '/d/labels/train/a.txt'
    """
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def read_dataset_yaml(path: str | PathLike[str], *, required: tuple[str, ...] = ("train", "val")
                      ) -> DatasetSpec:
    """Read a YOLO dataset yaml and check that its folders exist.

    Raises
    ------
    InputError
        Missing or unreadable file, no ``names``, a required split missing, or a split folder
        or list file that does not exist.
    """


    file = Path(path)
    data = read_yaml(file, what="a dataset yaml")
    raw_names = data.get("names")
    if isinstance(raw_names, list):
        names = {i: str(n) for i, n in enumerate(raw_names)}
    elif isinstance(raw_names, dict) and raw_names:
        names = {int(k): str(v) for k, v in raw_names.items()}
    else:
        raise InputError(file, "no class names (a 'names' list or mapping)")
    root = Path(str(data.get("path") or "."))
    if not root.is_absolute():
        root = (file.parent / root).resolve()
    if not root.is_dir():
        raise InputError(file, f"dataset folder {root} does not exist")
    splits: dict[str, tuple[Path, ...]] = {}
    for name in ("train", "val", "test"):
        value = data.get(name)
        if value is None:
            if name in required:
                raise InputError(file, f"no {name!r} split")
            continue
        items = value if isinstance(value, list) else [value]
        sources = []
        for item in items:
            source = Path(str(item))
            source = source if source.is_absolute() else root / source
            if not source.exists():
                raise InputError(file, f"{name}: {source} does not exist")
            sources.append(source)
        splits[name] = tuple(sources)
    return DatasetSpec(yaml_path=file, root=root, splits=splits, names=names)


def write_dataset_yaml(path: str | PathLike[str], *, root: str | PathLike[str],
                       splits: Mapping[str, str | Sequence[str]], names: Mapping[int, str],
                       comment: str = "") -> Path:
    """Write a YOLO dataset yaml atomically: absolute ``path`` (the dataset root), each split
    as a folder or list of folders (relative to the root, or absolute), ``names`` by class id.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> f = write_dataset_yaml(d / "data.yaml", root=d, splits={"train": "images/train"},
    ...                        names={0: "intact"}, comment="a test")
    >>> print(f.read_text().split(chr(10))[0]); yaml.safe_load(f.read_text())["names"]
    # a test
    {0: 'intact'}
    """
    doc = {"path": str(Path(root).resolve()),
           **{k: (v if isinstance(v, str) else [str(x) for x in v]) for k, v in splits.items()},
           "names": {int(k): str(v) for k, v in names.items()}}
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    atomic_write_text(path, head + text)
    return Path(path)
