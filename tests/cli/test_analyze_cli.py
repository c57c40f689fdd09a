"""`survey analyze / map / share` through typer's CliRunner, and `survey analyze` SIGKILLed.

The detector is a fake (:class:`tests.mapping.conftest.ColourModel`: pure-coloured squares are
damage) patched in at the CLI's ``load_model`` seam; the photos are small synthetic DJI-style
JPEGs of a plain scene (:func:`tests.mapping.conftest.synthetic_survey`). The kill test runs
the real `survey` app in subprocesses (the same seam patched by a small driver script), so no
torch and no weights are needed.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from mapping.store import STORE_NAME
from survey.cli import analyze as analyze_cmd
from survey.cli.main import AppContext
from survey.pipelines.analyze import AnalyzeConfig
from survey.pipelines.analyze import analyze as run_analyze
from tests.mapping.conftest import (
    CLI_DRIVER,
    LAT0,
    LON0,
    ColourAssessor,
    ColourModel,
    SyntheticBuilding,
    SyntheticSurvey,
    store_content,
    synthetic_survey,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

app = typer.Typer()


@app.callback()
def _main(ctx: typer.Context) -> None:
    ctx.obj = AppContext(out=Console(width=120), err=Console(stderr=True, width=120))


app.command("analyze", no_args_is_help=True)(analyze_cmd.analyze)
app.command("map", no_args_is_help=True)(analyze_cmd.map_cmd)
app.command("share", no_args_is_help=True)(analyze_cmd.share)


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    loaded: list[Path] = []

    def load(weights: Path, **_: object) -> ColourModel:
        loaded.append(weights)
        return ColourModel()

    monkeypatch.setattr(analyze_cmd, "load_model", load)
    monkeypatch.setattr(analyze_cmd, "load_assessor",
                        lambda weights, **_: ColourAssessor())
    monkeypatch.setattr(analyze_cmd, "assessor_path",
                        lambda weights, required=True: weights or Path("colour-assessor.pt"))
    return loaded


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSurvey, Path]:
    """The default synthetic survey, analysed once (copy it before changing it)."""
    root = tmp_path_factory.mktemp("analysed")
    survey = synthetic_survey(root / "photos")
    run_analyze(AnalyzeConfig(photos=survey.photos, out_dir=root / "survey", model=ColourModel(),
                              weights=str(root / "w.pt")))
    return survey, root / "survey"


def no_gps_photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((60, 80, 3), 90, np.uint8))
    return path


def leftovers(root: Path) -> list[str]:
    """Temporary or half-written files anywhere under ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith((".tmp", "-journal", ".tmp.gpkg")) or ".tmp" in p.name)


def one_error_line(err: str, expect: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines, "no error message"
    assert lines[-1].startswith("error:") and expect in lines[-1], err
    assert all(x.startswith("skipped:") for x in lines[:-1]), err
    assert "Traceback" not in err
    return lines[-1]


# --- happy path ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["analyze", "map", "share"])
def test_help_has_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and f"Example: survey {command}" in " ".join(out.split())


def test_analyze_then_map_and_share(fake_model: list[Path], tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    out = tmp_path / "survey"
    code, stdout, err = run("analyze", survey.folder, "-o", out, "--weights", tmp_path / "w.pt")
    assert code == 0, err
    assert fake_model == [tmp_path / "w.pt"]
    text = " ".join(stdout.split())
    assert "photos analysed 5" in text and "already done 0" in text
    for label in ("destroyed", "major", "minor", "intact"):
        assert f"objects {label} 1" in text
    code, stdout, err = run("analyze", survey.folder, "-o", out, "--weights", tmp_path / "w.pt")
    assert code == 0 and "already done 5" in " ".join(stdout.split()), err
    code, _, err = run("map", out, "-o", tmp_path / "maps" / "map.html")
    assert code == 0, err
    assert "<html" in (tmp_path / "maps" / "map.html").read_text()[:500].lower()
    code, stdout, err = run("share", out, "-o", tmp_path / "hq.zip")
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "hq.zip") as z:
        assert {"damage_map.html", "objects.geojson", "survey.gpkg", "summary.csv"} <= set(
            z.namelist())
    assert leftovers(tmp_path) == []


def test_photos_without_gps_among_good_ones_are_reported_and_skipped(
        fake_model: list[Path], tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    bad = no_gps_photo(tmp_path / "photos" / "phone_0001.jpg")
    shutil.copyfile(bad, tmp_path / "photos" / "phone_0002.jpg")  # same bytes: one row
    out = tmp_path / "survey"
    code, stdout, err = run("analyze", survey.folder, "-o", out, "--weights", "w.pt")
    assert code == 0, err
    skipped = [x for x in err.splitlines() if x.startswith("skipped:")]
    assert len(skipped) == 1 and str(bad) in skipped[0] and "no GPS position" in skipped[0]
    text = " ".join(stdout.split())
    assert "photos analysed 5" in text and "without pose 1" in text
    assert "already done 1" in text
    db = sqlite3.connect(out / STORE_NAME)
    status = dict(db.execute("SELECT name, status FROM photos").fetchall())
    db.close()
    assert status.pop("phone_0001.jpg") == "no-pose"
    assert set(status.values()) == {"ok"} and len(status) == 5


# --- bad input: one line, exit 2, nothing half-written ------------------------------------------

def write_dem(path: Path, west: float, south: float, size_deg: float = 0.002) -> Path:
    import rasterio
    from rasterio.transform import Affine

    n = 20
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(size_deg / n, 0, west, 0,
                                                         -size_deg / n, south + size_deg)) as dst:
        dst.write(np.full((n, n), 12.0, np.float32), 1)
    return path


def test_all_photos_without_gps(fake_model: list[Path], tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for name in ("a.jpg", "b.jpg"):
        no_gps_photo(photos / name)
    code, _, err = run("analyze", photos, "-o", tmp_path / "survey", "--weights", "w.pt")
    assert code == 2
    line = one_error_line(err, "no GPS position")
    assert str(photos / "a.jpg") in line
    assert not (tmp_path / "survey").exists()  # nothing written for a run that cannot start
    assert leftovers(tmp_path) == []


def test_dem_that_does_not_cover_the_photos(fake_model: list[Path], tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    dem = write_dem(tmp_path / "elsewhere.tif", LON0 + 0.05, LAT0 + 0.05)
    code, _, err = run("analyze", survey.folder, "-o", tmp_path / "survey", "--weights", "w.pt",
                       "--dem", dem)
    assert code == 2
    one_error_line(err, f"{dem}: the DEM does not cover the photos' area")
    assert not (tmp_path / "survey").exists()
    assert leftovers(tmp_path) == []
    # A DEM that covers only the middle of the area is refused too.
    dem = write_dem(tmp_path / "small.tif", LON0 - 0.0002, LAT0 - 0.0002, 0.0004)
    code, _, err = run("analyze", survey.folder, "-o", tmp_path / "survey", "--weights", "w.pt",
                       "--dem", dem)
    assert code == 2 and "does not cover" in one_error_line(err, str(dem))
    assert not (tmp_path / "survey").exists()


def test_empty_photo_folder(fake_model: list[Path], tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "notes.txt").write_text("no photos here")
    code, _, err = run("analyze", tmp_path / "photos", "-o", tmp_path / "survey", "--weights",
                       "w.pt")
    assert code == 2
    one_error_line(err, f"{tmp_path / 'photos'}: no photos in this folder")
    assert not (tmp_path / "survey").exists()


@pytest.mark.parametrize("command", ["analyze", "map", "share"])
def test_survey_folder_from_another_version(fake_model: list[Path], tmp_path: Path,
                                            analysed: tuple[SyntheticSurvey, Path],
                                            command: str) -> None:
    survey, original = analysed
    folder = tmp_path / "survey"
    shutil.copytree(original, folder)
    db = sqlite3.connect(folder / STORE_NAME)
    with db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    before = store_content(folder)
    target = tmp_path / ("out.html" if command == "map" else "out.zip")
    if command == "analyze":
        args: list[object] = [survey.folder, "-o", folder, "--weights", "w.pt"]
    else:
        args = [folder, "-o", target]
    code, _, err = run(command, *args)
    assert code == 2
    one_error_line(err, f"{folder / STORE_NAME}: survey folder from another version "
                        "(store schema 99")
    assert store_content(folder) == before
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["map", "share"])
def test_map_or_share_of_a_folder_that_is_not_a_survey(tmp_path: Path, command: str) -> None:
    (tmp_path / "photos").mkdir()
    target = tmp_path / ("out.html" if command == "map" else "out.zip")
    code, _, err = run(command, tmp_path / "photos", "-o", target)
    assert code == 2
    one_error_line(err, f"{tmp_path / 'photos'}: not a survey folder")
    code, _, err = run(command, tmp_path / "nowhere", "-o", target)
    assert code == 2
    one_error_line(err, f"{tmp_path / 'nowhere'}: no such survey folder")
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["map", "share"])
@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_unwritable_output(tmp_path: Path, analysed: tuple[SyntheticSurvey, Path], command: str,
                           where: str) -> None:
    _, folder = analysed
    suffix = ".html" if command == "map" else ".zip"
    if where == "proc":
        target = Path("/proc") / f"survey_test_{os.getpid()}{suffix}"
    else:
        (tmp_path / "a_file").write_text("x")
        target = tmp_path / "a_file" / f"out{suffix}"
    code, _, err = run(command, folder, "-o", target)
    assert code == 2, err
    line = one_error_line(err, str(target))
    assert "cannot write the" in line or "output folder does not exist" in line
    assert not target.exists() and leftovers(tmp_path) == []


def test_analyze_into_a_folder_that_cannot_be_made(fake_model: list[Path],
                                                   analysed: tuple[SyntheticSurvey, Path],
                                                   tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    code, _, err = run("analyze", analysed[0].folder, "-o", tmp_path / "a_file" / "survey",
                       "--weights", "w.pt")
    assert code == 2
    one_error_line(err, f"{tmp_path / 'a_file' / 'survey'}: cannot create the survey folder")
    assert (tmp_path / "a_file").read_text() == "x"


# --- photos that cannot be placed on the ground; a failed run leaves no survey behind ----------

def dji_photo(path: Path, *, rel_alt_m: float = 40.0, pitch_deg: float = -90.0) -> Path:
    """A DJI-style JPEG over the synthetic scene's origin with these XMP values, a red
    'destroyed' square in the middle (the fake model boxes it)."""
    from dataclasses import replace

    from sitl.world.camera import PHANTOM3, write_photo_jpeg

    image = np.full((300, 400, 3), 110, np.uint8)
    image[130:170, 180:220] = (0, 0, 255)
    camera = replace(PHANTOM3, image_w_px=400, image_h_px=300)
    return write_photo_jpeg(path, image, camera, lat=LAT0, lon=LON0, alt_msl_m=52.0,
                            rel_alt_m=rel_alt_m, yaw_deg=0.0, pitch_deg=pitch_deg)


UNPLACEABLE = {  # name: (XMP values, the reason given)
    "level.jpg": ({"rel_alt_m": 0.0}, "height above take-off 0 m: the camera is not above "
                                      "the ground"),
    "below.jpg": ({"rel_alt_m": -2.5}, "height above take-off -2.5 m"),
    "sky.jpg": ({"pitch_deg": 10.0}, "gimbal pitch +10° looks at or above the horizon"),
    "horizon.jpg": ({"pitch_deg": -2.0}, "gimbal pitch -2° looks too near the horizon: the "
                                         "photo's centre meets the ground 1145 m away"),
}


def test_photos_that_cannot_be_placed_are_skipped_and_the_rest_go_on(
        fake_model: list[Path], tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos")
    for name, (xmp, _) in UNPLACEABLE.items():
        dji_photo(survey.folder / name, **xmp)
    out = tmp_path / "survey"
    code, stdout, err = run("analyze", survey.folder, "-o", out, "--weights", "w.pt")
    assert code == 0, err
    skipped = [x for x in err.splitlines() if x.startswith("skipped:")]
    assert len(skipped) == len(UNPLACEABLE), err
    for name, (_, reason) in UNPLACEABLE.items():
        assert any(f"{survey.folder / name}: {reason}" in x for x in skipped), (name, err)
    text = " ".join(stdout.split())
    assert "photos analysed 5" in text and f"without pose {len(UNPLACEABLE)}" in text
    db = sqlite3.connect(out / STORE_NAME)
    rows = db.execute("SELECT p.name, p.status, p.problem, COUNT(d.id) FROM photos p LEFT "
                      "JOIN detections d ON d.photo_id = p.id GROUP BY p.id").fetchall()
    objects = db.execute("SELECT lon, lat FROM objects").fetchall()
    db.close()
    bad = {name: (status, problem, n) for name, status, problem, n in rows
           if name in UNPLACEABLE}
    assert set(bad) == set(UNPLACEABLE)
    assert all(status == "no-pose" and n == 0 for status, _, n in bad.values())
    assert {n for name, s, _, n in rows if name not in UNPLACEABLE and s == "ok"} != {0}
    # every object is one of the scene's buildings, none placed ~1 km away
    for lon, lat in objects:
        x, y = survey.frame.to_local(lon, lat)  # type: ignore[attr-defined]
        assert np.hypot(x, y) < 100


def test_every_photo_unplaceable_leaves_no_survey(fake_model: list[Path],
                                                  tmp_path: Path) -> None:
    for name, (xmp, _) in UNPLACEABLE.items():
        dji_photo(tmp_path / "photos" / name, **xmp)
    out = tmp_path / "new" / "survey"
    code, _, err = run("analyze", tmp_path / "photos", "-o", out, "--weights", "w.pt")
    assert code == 2
    one_error_line(err, "none of the 4 photo(s) has a usable pose")
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []


def undecodable(photo: Path) -> Path:
    """The photo with its metadata intact but its pixels in a JPEG process no decoder has
    (SOF5): the pose reads, the image does not."""
    data = bytearray(photo.read_bytes())
    data[data.index(b"\xff\xc0") + 1] = 0xC5
    photo.write_bytes(bytes(data))
    return photo


def test_a_failed_run_removes_the_survey_it_created_and_keeps_an_existing_one(
        fake_model: list[Path], tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos", centres=[(0.0, 0.0), (20.0, 0.0)])
    undecodable(survey.photos[0])
    undecodable(survey.photos[1])
    out = tmp_path / "new" / "survey"
    code, _, err = run("analyze", survey.folder, "-o", out, "--weights", "w.pt")
    assert code == 2  # every photo unusable, found only once the store was made
    one_error_line(err, f"{survey.folder}: none of the 2 photo(s) could be analysed")
    assert len([x for x in err.splitlines() if "cannot be decoded" in x]) == 2
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []
    # an InputError in the middle of a run (a DEM above the camera) removes it too
    dem = write_dem(tmp_path / "high.tif", LON0 - 0.01, LAT0 - 0.01, 0.02)
    import rasterio

    with rasterio.open(dem, "r+") as dst:
        dst.write(np.full((20, 20), 500.0, np.float32), 1)
    good = synthetic_survey(tmp_path / "good")
    code, _, err = run("analyze", good.folder, "-o", out, "--weights", "w.pt", "--dem", dem)
    assert code == 2
    one_error_line(err, "below the DEM surface")
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []
    # a re-run that fails keeps the survey that was there
    code, _, err = run("analyze", good.folder, "-o", out, "--weights", "w.pt")
    assert code == 0, err
    before = store_content(out)
    extra = dji_photo(tmp_path / "more" / "extra.jpg", rel_alt_m=30.0)
    code, _, err = run("analyze", good.folder, extra, "-o", out, "--weights", "w.pt", "--dem",
                       dem)
    assert code == 2
    one_error_line(err, "below the DEM surface")
    assert store_content(out) == before and leftovers(tmp_path) == []


# --- SIGKILL at random points, re-run: the store equals an uninterrupted run's ------------------

# The real `survey` app with the fake model at the load_model seam, plus timing hooks that
# change no logic: marks (monotonic time, event) for the test to aim its kills, and every store
# write transaction holds TX_HOLD_S after its writes, before its commit, so kills land there.
# Started once as a "zygote" that imports everything (a few seconds on a loaded 2-core box),
# it forks one process per run (`survey analyze ...` from the top: argument parsing, model
# loading, poses, store, photos, merge), so twenty killed runs cost no start-ups. The test
# SIGKILLs the forked process itself. Protocol: a JSON line [marks, log, *argv] in → the
# child's pid out, then its exit status out when it ends.
TX_HOLD_S = 0.05
KILL_DRIVER = f"""\
import json, os, sys, time, traceback
from contextlib import contextmanager
sys.path.insert(0, {str(ROOT)!r})
_marks = None
def mark(what):
    _marks.write(f"{{time.monotonic():.6f}} {{what}}\\n")
    _marks.flush()
import mapping.store as store_mod
_tx = store_mod.Store.transaction
@contextmanager
def transaction(self):
    with _tx(self) as db:
        yield db
        mark("tx")
        time.sleep({TX_HOLD_S})
store_mod.Store.transaction = transaction
_add = store_mod.Store.add_photo
def add_photo(self, photo, detections, views=()):
    out = _add(self, photo, detections, views)
    mark("added")
    return out
store_mod.Store.add_photo = add_photo
import survey.pipelines.analyze as analyze_mod
_merge = analyze_mod.merge_store
def merge_store(store):
    mark("merge")
    out = _merge(store)
    mark("merged")
    return out
analyze_mod.merge_store = merge_store
from pathlib import Path
from tests.mapping.conftest import ColourAssessor, ColourModel
import survey.cli.analyze as cli
cli.load_model = lambda weights, **_: ColourModel()
cli.load_assessor = lambda weights, **_: ColourAssessor()
cli.assessor_path = lambda weights, required=True: weights or Path("colour-assessor.pt")
from survey.cli.main import app
import mapping.georef, mapping.overlay, mapping.objects, mapping.dem, detection.detector
print("ready", flush=True)
for line in sys.stdin:
    marks, log, *argv = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            _marks = open(marks, "a")
            mark("start")
            sys.argv = ["survey", *argv]
            app()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


def _marks(path: Path) -> list[tuple[float, str]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        t, _, what = line.partition(" ")
        if what:
            out.append((float(t), what))
    return out


class Zygote:
    """The driver above: forks `survey analyze PHOTOS -o OUT` runs on request."""

    def __init__(self, photos: Path, logs: Path) -> None:
        self.photos, self.logs = photos, logs
        self.proc = subprocess.Popen([sys.executable, "-c", KILL_DRIVER], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env={**os.environ, "NO_COLOR": "1", "TERM": "dumb"})
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.runs = 0

    def start(self, out: Path) -> tuple[int, Path]:
        """Fork a run; returns its pid and its marks file."""
        self.runs += 1
        marks = self.logs / f"run{self.runs:02d}.marks"
        log = self.logs / f"run{self.runs:02d}.log"
        argv = ["analyze", str(self.photos), "-o", str(out), "--weights",
                str(self.photos.parent / "fake.pt")]
        self.proc.stdin.write(json.dumps([str(marks), str(log), *argv]) + "\n")  # type: ignore
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return int(self.proc.stdout.readline()), marks  # type: ignore[union-attr]

    def wait(self) -> int:
        """The exit code of the last run (negative: killed by that signal)."""
        return int(self.proc.stdout.readline())  # type: ignore[union-attr]

    def log(self) -> str:
        return (self.logs / f"run{self.runs:02d}.log").read_text()

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=30)


def _running(pid: int) -> bool:
    """Whether the forked run ``pid`` has not exited yet (a zombie counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait_for(pid: int, marks: Path, what: str, nth: int = 1) -> float | None:
    """The time of the ``nth`` ``what`` mark, or None if the run ended first."""
    while True:
        seen = [t for t, w in _marks(marks) if w == what]
        if len(seen) >= nth:
            return seen[nth - 1]
        if not _running(pid):
            return None
        time.sleep(0.002)


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


KILL_CENTRES = [(x, 0.0) for x in (-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0)]
KILL_BUILDINGS = [
    SyntheticBuilding("A", "destroyed", -27.0, 8.0),
    SyntheticBuilding("B", "major", 27.0, -10.0),
    SyntheticBuilding("C", "intact", -57.0, 12.0),
    SyntheticBuilding("D", "minor", 0.0, -16.0, 6.0),
]


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """20 runs SIGKILLed at random points (anywhere; during the merge; inside a write
    transaction before its commit), each re-run on the same folder, then a run to the end in a
    fresh `survey` process: the store equals an uninterrupted run's, row for row."""
    survey = synthetic_survey(tmp_path / "photos", centres=KILL_CENTRES,
                              buildings=KILL_BUILDINGS)
    no_gps_photo(tmp_path / "photos" / "phone_0001.jpg")  # a no-pose row
    shutil.copyfile(survey.photos[2], tmp_path / "photos" / "DJI_0003_copy.JPG")  # same hash
    photos = tmp_path / "photos"
    n_rows = len(survey.photos) + 1
    (tmp_path / "logs").mkdir()
    zygote = Zygote(photos, tmp_path / "logs")
    try:
        # The uninterrupted run, timed: before the first photo, per photo, the merge and after.
        pid, marks_file = zygote.start(tmp_path / "reference")
        assert zygote.wait() == 0, zygote.log()
        t_end = time.monotonic()
        marks = _marks(marks_file)
        start = marks[0][0]
        added = [t for t, w in marks if w == "added"]
        merge = next(t for t, w in marks if w == "merge")
        merged = next(t for t, w in marks if w == "merged")
        assert len(added) == n_rows
        per_photo = (added[-1] - added[0]) / (n_rows - 1)
        before, after = added[0] - start - per_photo, t_end - added[-1]

        rng = random.Random(20240501)
        out = tmp_path / "survey"
        kinds: dict[str, int] = {"anywhere": 0, "merge": 0, "commit": 0}
        killed = in_merge = in_commit = done_rows = runs = 0
        # 20 kills at least, two of them inside the merge and two inside a commit: how many
        # runs the photos take depends on the machine's speed, so the merge kills are owed,
        # not left to the draw.
        while killed < 20 or in_merge < 2 or in_commit < 2:
            runs += 1
            assert runs <= 60, f"only {killed} of {runs} runs were caught before they ended"
            if done_rows < n_rows:  # photos left: kill among them (or in what follows)
                kind = rng.choice(["anywhere", "commit"])
            elif in_merge < 2:
                kind = "merge"
            else:
                kind = rng.choice(["anywhere", "merge", "commit"])
            pid, marks_file = zygote.start(out)
            if kind == "merge":
                at = _wait_for(pid, marks_file, "merge")
                if at is not None:
                    _sleep_until(at + rng.uniform(0, merged - merge))
            elif kind == "commit":  # in the run's 1st or 2nd write (a photo's, or the merge's)
                at = _wait_for(pid, marks_file, "tx", rng.randint(1, 2))
                if at is not None:
                    _sleep_until(at + rng.uniform(0, TX_HOLD_S))
            else:
                at = _wait_for(pid, marks_file, "start")
                left = n_rows - done_rows
                _sleep_until((at or 0.0) + rng.uniform(0, before + left * per_photo + after))
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
                killed += 1
                kinds[kind] += 1
                seen = [w for _, w in _marks(marks_file)]
                in_merge += "merge" in seen and "merged" not in seen
                in_commit += seen[-1:] == ["tx"]
            code = zygote.wait()
            assert code in (0, -signal.SIGKILL), zygote.log()
            done_rows += sum(w == "added" for _, w in _marks(marks_file))
    finally:
        zygote.close()

    # The run to the end: the real CLI in a new process.
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
    driver = CLI_DRIVER.format(root=str(ROOT))
    done = subprocess.run([sys.executable, "-c", driver, "analyze", str(photos), "-o", str(out),
                           "--weights", str(tmp_path / "fake.pt")], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert in_merge >= 2 and in_commit >= 2, (kinds, in_merge, in_commit)

    final, reference = store_content(out), store_content(tmp_path / "reference")
    assert final == reference
    assert len(final["photos"]) == n_rows and len(final["objects"]) == 4
    assert leftovers(out) == []
