"""`survey analyze --cluster`: the same analysis on a real local Ray (loopback), skipped when
Ray is not installed (pip install -e '.[cluster]')."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from survey.pipelines.photo_work import PhotoAnalyser, PhotoJob, Recipe, on_ray, parse_cluster

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
DETECTOR = ROOT / "detection" / "weights" / "model.safetensors"


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory):
    from tests.mapping.conftest import synthetic_survey

    return synthetic_survey(tmp_path_factory.mktemp("cluster") / "photos")


def _objects(survey: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    from mapping.store import open_store

    with open_store(survey) as store:
        return sorted((o.damage.label, o.ground.wkt, tuple(sorted(o.photos)))
                      for o in store.objects())


def _analyze(photos, out: Path, cluster: str | None):
    from detection.model import load_model
    from survey.pipelines.analyze import AnalyzeConfig, analyze

    model = load_model(DETECTOR) if cluster is None else None
    return analyze(AnalyzeConfig(photos=photos.photos, out_dir=out, model=model,
                                 weights=str(DETECTOR), refine=False, cluster=cluster,
                                 conf=0.05))


@pytest.mark.slow
def test_a_cluster_run_gives_the_objects_of_an_in_process_run(photos, tmp_path):
    here = _analyze(photos, tmp_path / "here", None)
    there = _analyze(photos, tmp_path / "there", "local:2")
    assert (there.analysed, there.failed) == (here.analysed, here.failed) == (5, 0)
    assert _objects(tmp_path / "there") == _objects(tmp_path / "here")


@pytest.mark.slow
def test_a_killed_worker_loses_no_photo_and_repeats_none(photos):
    from mapping.pose import read_pose

    jobs = [PhotoJob(i, p, read_pose(p)) for i, p in enumerate(photos.photos)] * 1
    recipe = Recipe(weights=str(DETECTOR), assessor=None, device="cpu", conf=0.05,
                    buildings=None, dem=None)
    workers: list = []
    seen = []
    for done in on_ray(recipe, jobs, "local:2", in_flight=2, on_workers=workers.extend):
        if not seen:  # the first photo is back: kill a worker that is busy with another
            pids = ray.get([w.pid.remote() for w in workers])
            os.kill(pids[0], signal.SIGKILL)
        seen.append(done)
    assert sorted(d.index for d in seen) == list(range(len(jobs)))  # each exactly once
    assert all(d.error is None for d in seen)


def test_cluster_values():
    assert parse_cluster("local:2") == (None, 2)
    with pytest.raises(ValueError, match="positive"):
        parse_cluster("local:0")


def test_a_bad_cluster_value_is_one_line(tmp_path):
    from tests.cli.test_analyze_cli import run
    from tests.mapping.conftest import synthetic_survey

    photos = synthetic_survey(tmp_path / "photos")
    code, _, err = run("analyze", photos.folder, "-o", tmp_path / "s", "--cluster", "local:0")
    assert code == 2 and "local:N needs a positive number" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


def _photos_written(survey: Path) -> int:
    import sqlite3

    from mapping.store import STORE_NAME

    try:
        with sqlite3.connect(f"file:{survey / STORE_NAME}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM photos").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_a_killed_driver_resumes_with_every_photo_once(tmp_path, sig):
    """The driver of a cluster run killed with SIGKILL, or stopped with Ctrl-C, once it has
    written a photo; the next run finishes the survey, and it equals an uninterrupted one."""
    import subprocess
    import sys
    import time

    from tests.cli.test_analyze_cli import KILL_BUILDINGS, KILL_CENTRES
    from tests.mapping.conftest import synthetic_survey

    many = synthetic_survey(tmp_path / "photos", centres=KILL_CENTRES, buildings=KILL_BUILDINGS)
    out = tmp_path / "killed"
    survey_cli = Path(sys.executable).with_name("survey")  # the venv's entry point
    cmd = [str(survey_cli), "analyze", str(many.folder), "-o", str(out),
           "--weights", str(DETECTOR), "--no-assessor", "--no-refine", "--cluster", "local:1",
           "--conf", "0.05"]
    log = tmp_path / "stderr.txt"  # a file, not a pipe that could fill and stall the driver
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
    deadline = time.monotonic() + 240
    while _photos_written(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting on the store itself, not on a guess of the time
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    assert "Traceback" not in log.read_text(), log.read_text()
    first = _photos_written(out)
    assert 1 <= first < len(many.photos)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _photos_written(out) == len(many.photos)  # every photo, once
    _analyze(many, tmp_path / "whole", None)
    assert _objects(out) == _objects(tmp_path / "whole")


# --- GPU workers and pre-disaster imagery ----------------------------------------------------


def test_gpu_workers_take_the_share_they_ask_and_no_more_than_fits():
    """A local Ray that offers one GPU (logical: Ray places by what a node declares): half a
    GPU each puts two of the three asked workers on it, each loading on the GPU Ray gave it;
    by default a worker takes a whole GPU."""
    recipe = Recipe(weights="", assessor=None, device="cpu", conf=0.05, buildings=None,
                    dem=None)  # nothing to load: only the placement is under test
    ray.init(num_cpus=3, num_gpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        placed: dict[str, list] = {}
        for share in (0.5, None):
            def seen(actors, share=share):
                placed[str(share)] = ray.get([a.placed.remote() for a in actors])
            list(on_ray(recipe, [], "local:3", gpus_per_worker=share, on_workers=seen))
        assert placed == {"0.5": [("0", [0]), ("0", [0])], "None": [("0", [0])]}
        with pytest.raises(Exception, match="asks 2 GPU per worker of a cluster with 1"):
            list(on_ray(recipe, [], "local:1", gpus_per_worker=2))
    finally:
        ray.shutdown()


def test_gpus_per_worker_needs_a_cluster(tmp_path):
    from tests.cli.test_analyze_cli import run
    from tests.mapping.conftest import synthetic_survey

    photos = synthetic_survey(tmp_path / "photos")
    code, _, err = run("analyze", photos.folder, "-o", tmp_path / "s", "--gpus-per-worker",
                       "0.5")
    assert code == 2 and "--gpus-per-worker" in err and "--cluster" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_cluster_compares_pre_and_post_as_the_driver_does(tmp_path):
    """With a pre-disaster orthophoto and a pre+post assessor, every view's and footprint's
    probabilities from `local:2` equal the in-process run's, and a worker's analyser (built
    as an actor builds it) crops the orthophoto."""
    from detection.assessor import load_assessor
    from detection.crops import CropSpec
    from detection.train_assessor import AssessorTrainConfig, train_assessor, write_xbd_crops
    from mapping.store import open_store
    from survey.pipelines.analyze import AnalyzeConfig, analyze
    from tests.cli.test_buildings_cli import _pre_ortho, footprints_file
    from tests.detection.test_crops import _tiles
    from tests.detection.test_pre_post import _with_pre
    from tests.mapping.conftest import synthetic_survey

    _tiles(tmp_path / "a", "fire", 10, "destroyed")
    _tiles(tmp_path / "b", "wind", 10, "major-damage")
    _with_pre(tmp_path / "a")
    _with_pre(tmp_path / "b")
    write_xbd_crops([tmp_path / "a", tmp_path / "b"], tmp_path / "crops",
                    spec=CropSpec(pre=True))
    weights, _ = train_assessor(AssessorTrainConfig(
        data_dir=tmp_path / "crops", out_dir=tmp_path / "pm", epochs=1, batch=16, workers=0,
        balance=1.0))
    survey = synthetic_survey(tmp_path / "photos")
    feet = footprints_file(survey, tmp_path / "b.geojson")
    pre = _pre_ortho(tmp_path / "pre.tif", survey)

    def grades(out: Path, cluster: str | None) -> dict:
        analyze(AnalyzeConfig(photos=survey.photos, out_dir=out, model=None, weights="",
                              assessor=load_assessor(weights), buildings=feet,
                              pre=pre, refine=False, cluster=cluster))
        with open_store(out) as store:
            views = sorted((v["photo_name"], v["building_id"],
                            v["probabilities"]) for v in store.building_views())
            return {"views": views, **{b.key: (b.status, b.grade, b.probabilities)
                                       for b in store.buildings()}}

    here = grades(tmp_path / "here", None)
    assert grades(tmp_path / "there", "local:2") == here
    worker = PhotoAnalyser.from_recipe(Recipe(
        weights="", assessor=str(weights), device="cpu", conf=0.05, buildings=str(feet),
        dem=None, pre=str(pre)))
    crops = [worker.pre(i) for i in range(len(survey.buildings))]
    assert sum(c is not None for c in crops) == sum(b.x_m > -40.0 for b in survey.buildings)
