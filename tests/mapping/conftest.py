"""Shared helpers for the survey analyze / map / share tests.

- :class:`ColourModel`: a fake detector with the TileModel interface (``imgsz``, ``gsd_cm``,
  ``class_names``, ``predict``) that boxes pure-coloured blobs, one colour per damage class;
  no torch, deterministic.
- :func:`synthetic_survey`: a flat, plain scene with coloured square "buildings" at known
  places, photographed by a line of small (400×300) DJI-style JPEGs whose footprints overlap,
  so every detection has a known ground position.

The CLI tests import these (``from tests.mapping.conftest import ...``), and the SIGKILL test
runs the real ``survey`` app in a subprocess with :class:`ColourModel` patched in at the CLI's
``load_model`` seam (see :data:`CLI_DRIVER`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon, box

from detection.merge import Detections

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DJI = DATA / "dji_brighton_beach"

NAMES = ("intact", "minor", "major", "destroyed")
# BGR paint of each class; the model finds pixels near it (JPEG blurs colours a little).
PAINT: dict[str, tuple[int, int, int]] = {
    "intact": (255, 255, 255), "minor": (255, 0, 0), "major": (0, 255, 0),
    "destroyed": (0, 0, 255)}
GROUND_BGR = (110, 110, 110)
LON0, LAT0 = 139.9933, 36.0712
REL_ALT = 40.0
ALT_MSL = 52.0


class ColourModel:
    """'Finds' blobs painted in a class colour (see :data:`PAINT`) in each tile."""

    gsd_cm: float | None = None

    def __init__(self, imgsz: int = 640) -> None:
        self.imgsz = imgsz
        self.class_names: Mapping[int, str] = dict(enumerate(NAMES))
        self.tiles = 0

    def predict(self, tiles: Sequence[np.ndarray], *, conf: float) -> list[Detections]:
        out = []
        for tile in tiles:
            self.tiles += 1
            boxes, scores, classes = [], [], []
            img = tile.astype(np.int16)
            for cls, name in enumerate(NAMES):
                near = np.abs(img - np.array(PAINT[name], np.int16)).max(axis=2) < 70
                n, _, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8))
                for x, y, w, h, area in stats[1:n]:
                    if area >= 12:
                        boxes.append([x, y, x + w, y + h])
                        scores.append(0.9 - 0.1 * cls)
                        classes.append(cls)
            keep = [i for i, s in enumerate(scores) if s >= conf]
            out.append(Detections(np.reshape(np.array(boxes, float)[keep] if keep else [],
                                             (-1, 4)),
                                  np.array(scores, float)[keep] if keep else np.zeros(0),
                                  np.array(classes, int)[keep] if keep else np.zeros(0, int)))
        return out


class ColourAssessor:
    """A fake building assessor: grades a crop by the paint (see :data:`PAINT`) at its
    centre; plain ground is background. Same interface as :class:`detection.assessor.Assessor`
    (``spec``, ``weights``, ``predict``)."""

    def __init__(self) -> None:
        from detection.crops import CropSpec

        self.spec = CropSpec(size_px=32, gsd_cm=20.0)
        self.weights = Path("colour-assessor.pt")
        self.crops = 0

    takes_pre = False

    def predict(self, crops: Sequence[np.ndarray],
                pre: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        return self.grade(crops)

    def grade(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        from detection.assessor import GRADES

        out = np.zeros((len(crops), len(GRADES)))
        for i, crop in enumerate(crops):
            self.crops += 1
            h, w = crop.shape[:2]
            centre = crop[h // 2 - 2:h // 2 + 3, w // 2 - 2:w // 2 + 3].reshape(-1, 3).mean(0)
            dist = {g: float(np.abs(centre - PAINT[g]).max()) for g in NAMES}
            best = min(dist, key=lambda g: dist[g])
            grade = best if dist[best] < 70 else "background"
            out[i] = 0.02
            out[i, GRADES.index(grade)] = 0.92
        return out


class PreColourAssessor(ColourAssessor):
    """A fake pre+post assessor: grades each building by the paint of its *pre* crop when
    it has one (so a test sees which pre window reached it), else by the post crop;
    ``pre_seen`` counts the views that came with a pre crop and ``pre_missing`` those
    without."""

    takes_pre = True

    def __init__(self) -> None:
        from detection.crops import CropSpec

        super().__init__()
        self.spec = CropSpec(size_px=32, gsd_cm=20.0, pre=True)
        self.pre_seen = self.pre_missing = 0

    def predict(self, crops: Sequence[np.ndarray],
                pre: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        pre = list(pre) if pre is not None else [None] * len(crops)
        assert len(pre) == len(crops)
        self.pre_seen += sum(b is not None for b in pre)
        self.pre_missing += sum(b is None for b in pre)
        return self.grade([c if b is None else b for c, b in zip(crops, pre, strict=True)])


class CentreModel:
    """'Finds' one "major" box in the middle fifth of each tile (whatever the photo shows)."""

    gsd_cm: float | None = None

    def __init__(self, imgsz: int = 4000) -> None:
        self.imgsz = imgsz
        self.class_names: Mapping[int, str] = dict(enumerate(NAMES))

    def predict(self, tiles: Sequence[np.ndarray], *, conf: float) -> list[Detections]:
        out = []
        for tile in tiles:
            h, w = tile.shape[:2]
            out.append(Detections(np.array([[0.4 * w, 0.4 * h, 0.6 * w, 0.6 * h]]),
                                  np.array([0.7]), np.array([2])))
        return out


@dataclass(frozen=True)
class SyntheticBuilding:
    name: str
    damage: str
    x_m: float
    y_m: float
    size_m: float = 8.0

    def local(self) -> Polygon:
        h = self.size_m / 2
        return box(self.x_m - h, self.y_m - h, self.x_m + h, self.y_m + h)


@dataclass(frozen=True)
class SyntheticSurvey:
    folder: Path
    photos: list[Path]
    centres_m: list[tuple[float, float]]  # camera x/y in the scene frame, per photo
    buildings: list[SyntheticBuilding]
    frame: object  # survey.core.frame.LocalFrame
    footprint_half_m: tuple[float, float]

    def lonlat(self, x_m: float, y_m: float) -> tuple[float, float]:
        lon, lat = self.frame.to_geo(x_m, y_m)  # type: ignore[attr-defined]
        return float(lon), float(lat)

    def photos_seeing(self, b: SyntheticBuilding) -> list[str]:
        hw, hh = self.footprint_half_m
        return [p.name for p, (cx, cy) in zip(self.photos, self.centres_m, strict=True)
                if box(cx - hw, cy - hh, cx + hw, cy + hh).contains(b.local())]


# A line of photos heading east, 20 m apart (footprint ≈ 68 m × 51 m at 40 m): each spot is
# seen by ~3 photos. No building straddles a photo's edge (checked in synthetic_survey).
DEFAULT_CENTRES = [(-45.0, 0.0), (-25.0, 0.0), (-5.0, 0.0), (15.0, 0.0), (35.0, 0.0)]
DEFAULT_BUILDINGS = [
    SyntheticBuilding("A", "destroyed", -25.0, 8.0),
    SyntheticBuilding("B", "major", 20.0, -10.0),
    SyntheticBuilding("C", "intact", -70.0, 12.0),
    SyntheticBuilding("D", "minor", -5.0, -16.0, 6.0),
]


def synthetic_survey(folder: Path, *, centres: Sequence[tuple[float, float]] = DEFAULT_CENTRES,
                     buildings: Sequence[SyntheticBuilding] = DEFAULT_BUILDINGS,
                     names: Sequence[str] | None = None, size: tuple[int, int] = (400, 300),
                     scene_gsd_m: float = 0.1) -> SyntheticSurvey:
    """Render ``centres`` as nadir DJI-style JPEGs of a plain scene with painted squares."""
    from sitl.world.camera import PHANTOM3, render_photo, write_photo_jpeg
    from sitl.world.scene import Scene
    from survey.core.frame import LocalFrame

    frame = LocalFrame(LAT0, LON0)
    w_m, h_m = 240.0, 120.0
    width, height = round(w_m / scene_gsd_m), round(h_m / scene_gsd_m)
    image = np.full((height, width, 3), GROUND_BGR, np.uint8)
    for b in buildings:
        x0, y0, x1, y1 = b.local().bounds
        c0, c1 = round((x0 + w_m / 2) / scene_gsd_m), round((x1 + w_m / 2) / scene_gsd_m)
        r0, r1 = round((h_m / 2 - y1) / scene_gsd_m), round((h_m / 2 - y0) / scene_gsd_m)
        image[r0:r1, c0:c1] = PAINT[b.damage]
    scene = Scene(image=image, frame=frame,
                  affine=(scene_gsd_m, 0.0, -w_m / 2, 0.0, -scene_gsd_m, h_m / 2))
    cam = replace(PHANTOM3, image_w_px=size[0], image_h_px=size[1])
    half = (REL_ALT * cam.sensor_w_mm / cam.focal_mm / 2, REL_ALT * cam.sensor_h_mm
            / cam.focal_mm / 2)
    photos = []
    start = datetime(2024, 5, 1, 10, 0, 0)
    for i, (cx, cy) in enumerate(centres):
        lon, lat = frame.to_geo(cx, cy)
        img = render_photo(scene, cam, lat=float(lat), lon=float(lon), rel_alt_m=REL_ALT,
                           yaw_deg=0.0)
        name = names[i] if names else f"DJI_{i + 1:04d}.JPG"
        photos.append(write_photo_jpeg(folder / name, img, cam, lat=float(lat), lon=float(lon),
                                       alt_msl_m=ALT_MSL, rel_alt_m=REL_ALT, yaw_deg=0.0,
                                       time=start + timedelta(seconds=4 * i)))
    survey = SyntheticSurvey(folder, photos, list(centres), list(buildings), frame, half)
    for b in buildings:  # a building cut by a photo's edge would make a partial view
        for (cx, cy) in centres:
            fp = box(cx - half[0], cy - half[1], cx + half[0], cy + half[1])
            if fp.intersects(b.local().buffer(0.5)):
                assert fp.contains(b.local().buffer(0.5)), (b, cx, cy)
    return survey


def store_content(survey_dir: Path) -> dict[str, list]:
    """Every row of every table of a survey store (blobs as their SHA-256)."""
    db = sqlite3.connect(f"file:{survey_dir / 'survey.sqlite'}?mode=ro", uri=True)
    try:
        out = {}
        for table in ("meta", "photos", "detections", "objects", "layers"):
            rows = db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            out[table] = [tuple(hashlib.sha256(v).hexdigest() if isinstance(v, bytes) else v
                                for v in r) for r in rows]
        return out
    finally:
        db.close()


# Run the real `survey` CLI with ColourModel at the load_model seam:
#     python -c CLI_DRIVER analyze PHOTOS -o OUT --weights fake.pt
CLI_DRIVER = """\
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.mapping.conftest import ColourAssessor, ColourModel
import survey.cli.analyze as a
a.load_model = lambda weights, **_: ColourModel()
a.load_assessor = lambda weights, **_: ColourAssessor()
a.assessor_path = lambda weights, required=True: weights or Path("colour-assessor.pt")
from survey.cli.main import app
sys.argv[0] = "survey"
app()
"""


@pytest.fixture(scope="session")
def survey_photos(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSurvey:
    """The default synthetic survey (5 photos, 4 buildings); read-only, shared."""
    return synthetic_survey(tmp_path_factory.mktemp("synthetic") / "photos")
