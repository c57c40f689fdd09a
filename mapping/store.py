"""The survey store: one SQLite file per survey folder (photos, poses, detections, objects).

``survey analyze`` writes each photo (its pose, footprint and detections) in one transaction,
and the merged damage objects in another: a run killed at any moment leaves only whole
photos behind, and a re-run skips them by content hash and finishes with nothing lost or
counted twice. ``survey map`` and ``survey share`` only read.

The schema carries a version in ``meta``; a folder written by another version is refused
with a one-line error rather than misread.

The rows in and out are typed: damage as :class:`~survey.core.damage.DamageClass`, places as
shapely geometry (lon/lat). Text (the class label, WKT) exists only in the SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from shapely import wkt
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from survey.core.damage import DamageClass
from survey.core.errors import InputError, SurveyError

STORE_NAME = "survey.sqlite"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    width INTEGER, height INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok', 'no-pose', 'error')),
    problem TEXT,
    lat REAL, lon REAL, alt_msl REAL, rel_alt REAL,
    yaw REAL, pitch REAL, roll REAL,
    camera TEXT, pose_source TEXT, taken TEXT,
    gsd_cm REAL,
    footprint TEXT,
    thumbnail BLOB,
    overlay BLOB, overlay_bounds TEXT
);
CREATE TABLE detections (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id),
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
    damage TEXT NOT NULL, confidence REAL NOT NULL,
    ground TEXT, area_m2 REAL, lon REAL, lat REAL, centrality REAL
);
CREATE INDEX detections_photo ON detections(photo_id);
CREATE TABLE objects (
    id INTEGER PRIMARY KEY,
    damage TEXT NOT NULL, confidence REAL NOT NULL,
    ground TEXT NOT NULL, area_m2 REAL NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
    photos TEXT NOT NULL, detections TEXT NOT NULL
);
CREATE TABLE layers (name TEXT PRIMARY KEY, geojson TEXT NOT NULL);
CREATE TABLE buildings (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    attrs TEXT NOT NULL,
    ground TEXT NOT NULL, area_m2 REAL NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'not_seen' CHECK (status IN ('assessed', 'not_seen')),
    grade TEXT, confidence REAL, probabilities TEXT, views TEXT
);
CREATE TABLE building_views (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id),
    building_id INTEGER NOT NULL REFERENCES buildings(id),
    probabilities TEXT NOT NULL, weight REAL NOT NULL, gsd_cm REAL NOT NULL,
    incidence_deg REAL NOT NULL, x0 REAL, y0 REAL, x1 REAL, y1 REAL
);
CREATE INDEX building_views_building ON building_views(building_id);
"""

# Made on the first review, so stores analysed before reviews existed read unchanged.
_REVIEWS_TABLE = """CREATE TABLE IF NOT EXISTS reviews (
    target TEXT PRIMARY KEY,
    grade TEXT NOT NULL, model_grade TEXT,
    reviewer TEXT NOT NULL, time TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    lon REAL, lat REAL, source TEXT NOT NULL DEFAULT ''
)"""


@dataclass(frozen=True, slots=True)
class DetectionRow:
    """One detection of a photo: its box and, when the photo has a pose, its ground polygon."""

    box_xyxy: tuple[float, float, float, float]
    damage: DamageClass
    confidence: float
    ground: Polygon | None = None
    area_m2: float | None = None
    lon: float | None = None
    lat: float | None = None
    centrality: float | None = None


@dataclass(frozen=True, slots=True)
class ViewRow:
    """One photo's graded look at one building (``building_id`` is the store's id)."""

    building_id: int
    probabilities: tuple[float, ...]
    weight: float
    gsd_cm: float
    incidence_deg: float
    box_xyxy: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class BuildingRow:
    """A footprint and its fused grade (``grade`` ``None`` and status ``not_seen`` until a
    photo sees it)."""

    id: int
    key: str
    attrs: dict
    ground: BaseGeometry
    area_m2: float
    lon: float
    lat: float
    status: str
    grade: DamageClass | None
    confidence: float | None
    probabilities: dict[str, float]
    views: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """A damage object on the ground: detections of one building merged across photos."""

    damage: DamageClass
    confidence: float
    ground: Polygon
    area_m2: float
    lon: float
    lat: float
    photos: tuple[str, ...]
    detections: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """A reviewer's grade for one object or building (:mod:`mapping.reviews`).

    ``grade`` is a damage label or ``"not_building"``; ``model_grade`` the AI's grade when the
    review was made; ``lon``/``lat`` where the reviewed thing was (an object's number can
    change when a later analysis re-merges, so reviews are checked against the place);
    ``source`` the file it came from.
    """

    target: str
    grade: str
    model_grade: str | None
    reviewer: str
    time: str
    note: str
    lon: float | None
    lat: float | None
    source: str


@dataclass(frozen=True, slots=True)
class StoredDetection:
    """A detection as the store holds it: its id, its photo's name and where it is."""

    id: int
    photo_id: int
    photo_name: str
    damage: DamageClass
    confidence: float
    ground: Polygon | None
    centrality: float


class Store:
    """An open survey store (use :func:`open_store` or :func:`create_store`)."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.db = db

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All of the block's writes, or none of them."""
        with self.db:
            yield self.db

    # -- meta and layers -------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, values: dict[str, str]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           sorted(values.items()))

    def set_layer(self, name: str, geojson: dict) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO layers (name, geojson) VALUES (?, ?)",
                       (name, json.dumps(geojson, sort_keys=True)))

    def layers(self) -> dict[str, dict]:
        rows = self.db.execute("SELECT name, geojson FROM layers ORDER BY name").fetchall()
        return {name: json.loads(text) for name, text in rows}

    # -- photos ---------------------------------------------------------------------------
    def done_hashes(self) -> set[str]:
        return {h for (h,) in self.db.execute("SELECT sha256 FROM photos")}

    def add_photo(self, photo: dict, detections: Sequence[DetectionRow],
                  views: Sequence[ViewRow] = ()) -> int:
        """Insert a photo and its detections in one transaction; return the photo's id.

        ``photo`` holds the ``photos`` columns (``name``, ``path``, ``sha256``, ``status`` at
        least); ``camera`` may be a dict (stored as JSON), ``footprint`` a lon/lat geometry.
        """
        row = dict(photo)
        if isinstance(row.get("camera"), dict):
            row["camera"] = json.dumps(row["camera"], sort_keys=True)
        if isinstance(row.get("footprint"), BaseGeometry):
            row["footprint"] = row["footprint"].wkt
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction() as db:
            cur = db.execute(f"INSERT INTO photos ({columns}) VALUES ({marks})",
                             tuple(row.values()))
            photo_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO detections (photo_id, x0, y0, x1, y1, damage, confidence, ground, "
                "area_m2, lon, lat, centrality) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(photo_id, *d.box_xyxy, d.damage.label, d.confidence, _wkt(d.ground),
                  d.area_m2, d.lon, d.lat, d.centrality) for d in detections])
            db.executemany(
                "INSERT INTO building_views (photo_id, building_id, probabilities, weight, "
                "gsd_cm, incidence_deg, x0, y0, x1, y1) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(photo_id, v.building_id, json.dumps(list(v.probabilities)), v.weight,
                  v.gsd_cm, v.incidence_deg, *v.box_xyxy) for v in views])
        return photo_id

    def photos(self, *, status: str | None = None) -> list[sqlite3.Row]:
        sql = "SELECT * FROM photos"
        args: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        return self.db.execute(sql + " ORDER BY id", args).fetchall()

    def detections(self) -> list[StoredDetection]:
        rows = self.db.execute(
            "SELECT d.*, p.name AS photo_name FROM detections d JOIN photos p "
            "ON p.id = d.photo_id ORDER BY d.id").fetchall()
        return [StoredDetection(r["id"], r["photo_id"], r["photo_name"],
                                DamageClass.from_label(r["damage"]), r["confidence"],
                                _geometry(r["ground"]), r["centrality"] or 0.0) for r in rows]

    def photo_footprints(self) -> list[tuple[sqlite3.Row, Polygon]]:
        """Each photo that has a ground footprint, with it (lon/lat), in id order."""
        return [(r, wkt.loads(r["footprint"])) for r in self.photos() if r["footprint"]]

    # -- buildings ------------------------------------------------------------------------
    def add_buildings(self, rows: Sequence[tuple[str, dict, BaseGeometry, float, float, float]]
                      ) -> None:
        """Insert footprints ``(key, attrs, ground, area m², lon, lat)`` in one transaction,
        ids from 1 in the given order."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO buildings (id, key, attrs, ground, area_m2, lon, lat) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(i, k, json.dumps(a, sort_keys=True, ensure_ascii=False), g.wkt, m2, lon, lat)
                 for i, (k, a, g, m2, lon, lat) in enumerate(rows, start=1)])

    def building_views(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT v.*, p.name AS photo_name FROM building_views v JOIN photos p "
            "ON p.id = v.photo_id ORDER BY v.id").fetchall()

    def set_grades(self, grades: dict[int, tuple[DamageClass | None, str, float, dict, tuple]]
                   ) -> None:
        """Write every building's fused grade ``{id: (grade, status, confidence,
        probabilities, views)}`` in one transaction; buildings not listed become not_seen."""
        with self.transaction() as db:
            db.execute("UPDATE buildings SET status = 'not_seen', grade = NULL, "
                       "confidence = NULL, probabilities = NULL, views = NULL")
            db.executemany(
                "UPDATE buildings SET grade = ?, status = ?, confidence = ?, probabilities = ?, "
                "views = ? WHERE id = ?",
                [(None if g is None else g.label, s, c, json.dumps(p), json.dumps(list(v)), i)
                 for i, (g, s, c, p, v) in grades.items()])

    def buildings(self) -> list[BuildingRow]:
        rows = self.db.execute("SELECT * FROM buildings ORDER BY id").fetchall()
        return [BuildingRow(r["id"], r["key"], json.loads(r["attrs"]), wkt.loads(r["ground"]),
                            r["area_m2"], r["lon"], r["lat"], r["status"],
                            None if r["grade"] is None else DamageClass.from_label(r["grade"]),
                            r["confidence"], json.loads(r["probabilities"] or "{}"),
                            tuple(json.loads(r["views"] or "[]"))) for r in rows]

    # -- reviews --------------------------------------------------------------------------
    def reviews(self) -> dict[str, ReviewRow]:
        """HQ's reviews by target (``"object:N"``, ``"building:KEY"``); none in a store that
        was never reviewed (its table is made by the first :meth:`put_reviews`)."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'reviews'").fetchone():
            return {}
        rows = self.db.execute("SELECT * FROM reviews ORDER BY target").fetchall()
        return {r["target"]: ReviewRow(r["target"], r["grade"], r["model_grade"],
                                       r["reviewer"], r["time"], r["note"], r["lon"], r["lat"],
                                       r["source"]) for r in rows}

    def put_reviews(self, rows: Sequence[ReviewRow]) -> None:
        """Insert or replace reviews (by target) in one transaction."""
        with self.transaction() as db:
            db.execute(_REVIEWS_TABLE)
            db.executemany(
                "INSERT OR REPLACE INTO reviews (target, grade, model_grade, reviewer, time, "
                "note, lon, lat, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.target, r.grade, r.model_grade, r.reviewer, r.time, r.note, r.lon, r.lat,
                  r.source) for r in rows])

    # -- objects --------------------------------------------------------------------------
    def replace_objects(self, objects: Sequence[ObjectRow]) -> None:
        """Replace every merged object in one transaction."""
        with self.transaction() as db:
            db.execute("DELETE FROM objects")
            db.executemany(
                "INSERT INTO objects (id, damage, confidence, ground, area_m2, lon, lat, photos, "
                "detections) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(i, o.damage.label, o.confidence, o.ground.wkt, o.area_m2, o.lon, o.lat,
                  json.dumps(list(o.photos)), json.dumps(list(o.detections)))
                 for i, o in enumerate(objects, start=1)])

    def objects(self) -> list[ObjectRow]:
        rows = self.db.execute("SELECT * FROM objects ORDER BY id").fetchall()
        return [ObjectRow(DamageClass.from_label(r["damage"]), r["confidence"],
                          wkt.loads(r["ground"]), r["area_m2"], r["lon"],
                          r["lat"], tuple(json.loads(r["photos"])),
                          tuple(json.loads(r["detections"]))) for r in rows]


def _wkt(geom: BaseGeometry | None) -> str | None:
    return None if geom is None else geom.wkt


def _geometry(text: str | None) -> Polygon | None:
    return None if text is None else wkt.loads(text)


def store_path(survey_dir: str | PathLike[str]) -> Path:
    return Path(survey_dir) / STORE_NAME


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    return db


def create_store(survey_dir: str | PathLike[str], meta: dict[str, str] | None = None) -> Store:
    """Open the store of ``survey_dir`` for writing, creating folder and schema if needed.

    Raises
    ------
    InputError
        The folder is a file or not writable, or holds a store of another version.
    """
    folder = Path(survey_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(folder, f"cannot create the survey folder ({exc.strerror})") from None
    path = store_path(folder)
    if path.exists():
        return open_store(folder)
    tmp = folder / f".{STORE_NAME}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        db = _connect(tmp)
        with db:
            db.executescript(_SCHEMA)
            rows = {"schema_version": str(SCHEMA_VERSION), "format": "drone-survey store",
                    **(meta or {})}
            db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(rows.items()))
        db.close()
        tmp.replace(path)  # the store appears whole or not at all
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(folder, f"cannot write the survey store ({exc})") from None
    return open_store(folder)


@contextmanager
def survey_store(survey_dir: str | PathLike[str], meta: dict[str, str] | None = None
                 ) -> Iterator[Store]:
    """:func:`create_store` for the body, closed after it.

    If the body (or the creation) raises a :class:`~survey.core.errors.SurveyError`, what this
    call created goes again: the store, and the folders it made once they are empty, so a
    run that fails leaves no survey behind. A store that was there before is kept (a re-run
    resuming it keeps what was there). Any other exception (Ctrl-C) keeps the store: a
    re-run finishes it.
    """
    folder = Path(survey_dir)
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    fresh = not store_path(folder).exists()
    try:
        store = create_store(folder, meta)
    except SurveyError:
        _remove_folders(made)
        raise
    try:
        yield store
    except SurveyError:
        store.close()
        if fresh:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{store.path}{suffix}").unlink(missing_ok=True)
            _remove_folders(made)
        raise
    finally:
        store.close()


def _remove_folders(folders: Sequence[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def open_store(survey_dir: str | PathLike[str]) -> Store:
    """Open an existing survey folder's store.

    Raises
    ------
    InputError
        No store there, not a SQLite store of ours, or one written by another version.
    """
    folder = Path(survey_dir)
    path = store_path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such survey folder (run survey analyze first)")
    if not path.is_file():
        raise InputError(folder, f"not a survey folder (no {STORE_NAME}; run survey analyze)")
    try:
        db = _connect(path)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error:
        raise InputError(path, "not a survey store (unreadable SQLite)") from None
    version = meta.get("schema_version")
    if meta.get("format") != "drone-survey store" or version is None:
        db.close()
        raise InputError(path, "not a survey store")
    if version != str(SCHEMA_VERSION):
        db.close()
        raise InputError(path, f"survey folder from another version (store schema {version}, "
                               f"this survey reads {SCHEMA_VERSION}); re-run survey analyze "
                               "into a new folder")
    return Store(path, db)
