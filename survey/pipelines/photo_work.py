"""One photo's analysis as a unit of work, and where it runs: in this process (the default,
nothing to start) or on a Ray cluster (``survey analyze --cluster``).

The driver (:func:`survey.pipelines.analyze.analyze`) reads the poses, decides which photos
need analysing and stays the single writer of the survey store; a :class:`PhotoJob` goes out,
a :class:`PhotoDone` (small: the photo's columns, its detections and building views) comes
back, and the driver writes it in one transaction as it arrives. On a cluster, workers are
Ray actors that each load the models once from the same local paths (every node must see the
photos and the weights at the same paths: a shared file system) and at most
``in_flight`` photos are out at once, so the driver's memory stays flat. A worker that dies
mid-photo has its photo sent again to another; a photo whose analysis failed twice is
reported as failed.

Where the cluster has GPUs, each worker is a GPU actor (one GPU each, or a fraction of one
when asked: ``gpus_per_worker=0.25`` packs four workers on a GPU) and loads its models on
the GPU Ray gave it; :func:`worker_plan` says how many workers fit.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from detection.assessor import Assessor, regrade
from detection.detector import detect_photo
from detection.model import DamageModel
from mapping.buildings import FootprintIndex, photo_views
from mapping.dem import Dem
from mapping.georef import DemGround, FlatGround, Ground, footprint
from mapping.pose import PhotoPose, photo_gsd_cm
from mapping.store import DetectionRow, ViewRow
from survey.core.damage import DamageClass

CLUSTER_EXTRA = "pip install -e '.[cluster]'"
OVERLAY_PX = 640
THUMBNAIL_PX = 480
RETRIES = 2
"""Tries per photo on a cluster before it is reported as failed."""


@dataclass(frozen=True)
class PhotoJob:
    """A photo to analyse: its place in the run, file and pose."""

    index: int
    path: Path
    pose: PhotoPose


@dataclass(frozen=True)
class PhotoDone:
    """A photo's analysis: its extra ``photos`` columns, detection rows and building views,
    or the one-line problem that stopped it (``error``)."""

    index: int
    extra: dict[str, Any] | None
    rows: list[Any]
    views: list[Any]
    error: str | None = None


@dataclass(frozen=True)
class Recipe:
    """How a worker builds its analyser: local paths, so any node can load them.

    ``weights`` is the detector (``""``: none, per-building mode), ``assessor`` the building
    assessor (``None``: none); ``buildings`` a footprint file; ``dem`` a DEM.
    """

    weights: str
    assessor: str | None
    device: str
    conf: float
    buildings: str | None
    dem: str | None
    trust: bool = False
    pre: str | None = None
    """A pre-disaster orthophoto for a pre+post assessor (needs ``buildings``)."""


class PhotoAnalyser:
    """Analyses photos with models and ground loaded once (in the driver, or in an actor)."""

    def __init__(self, model: Any, assessor: Any, dem: Any, conf: float,
                 footprints: Any = None,
                 pre: Callable[[int], Any] | None = None) -> None:
        self.model, self.assessor, self.dem, self.conf = model, assessor, dem, conf
        self.footprints, self.pre = footprints, pre

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> PhotoAnalyser:
        from detection.assessor import load_assessor
        from detection.model import load_model
        from mapping.buildings import FootprintIndex
        from mapping.dem import open_dem
        from mapping.footprints import read_footprints

        model = load_model(recipe.weights, device=recipe.device, trust=recipe.trust) \
            if recipe.weights else None
        assessor = load_assessor(recipe.assessor, device=recipe.device, trust=recipe.trust) \
            if recipe.assessor else None
        dem = open_dem(recipe.dem) if recipe.dem else None
        footprints = FootprintIndex(read_footprints(recipe.buildings)) if recipe.buildings \
            else None
        pre = None
        if recipe.pre and assessor is not None and footprints is not None:
            from mapping.pre_imagery import PreImagery

            # Kept open for the actor's life: the worker process owns the raster handle.
            pre = PreImagery(recipe.pre, footprints.footprints, assessor.spec).__enter__()
        return cls(model, assessor, dem, recipe.conf, footprints, pre)

    def __call__(self, job: PhotoJob) -> PhotoDone:
        from detection.images import load_image
        from survey.core.errors import ImageError
        try:
            image = load_image(job.path)
        except ImageError as exc:
            return PhotoDone(job.index, None, [], [], exc.problem)
        extra, rows, views = analyse_photo(image, job.pose, self.model,
                                           ground_for(self.dem, job.pose), self.conf,
                                           assessor=self.assessor, footprints=self.footprints,
                                           pre=self.pre)
        return PhotoDone(job.index, extra, rows, views)


def in_process(analyser: PhotoAnalyser, jobs: Sequence[PhotoJob]) -> Iterator[PhotoDone]:
    """The jobs one after another, here."""
    for job in jobs:
        yield analyser(job)


def parse_cluster(spec: str) -> tuple[str | None, int | None]:
    """``(address, local workers)`` of a ``--cluster`` value.

    >>> parse_cluster("local"), parse_cluster("local:3"), parse_cluster("auto")
    ((None, None), (None, 3), ('auto', None))

    Raises
    ------
    ValueError
        ``local:N`` with N not a positive integer.
    """
    if spec == "local" or spec.startswith("local:"):
        if spec == "local":
            return None, None
        n = spec.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"local:N needs a positive number of workers, got {spec!r}")
        return None, int(n)
    return spec, None


def worker_plan(cpus: float, gpus: float, workers: int | None,
                gpus_per_worker: float | None) -> tuple[int, dict[str, float]]:
    """How many workers, and what each asks Ray for, on a cluster with ``cpus`` and ``gpus``.

    ``workers``: as asked (``local:N``), else one per CPU, or as many as the GPUs hold;
    ``gpus_per_worker``: ``None`` one GPU each where the cluster has GPUs (none where it has
    none), ``0`` CPU workers, a fraction several workers per GPU. GPU workers are never more
    than the GPUs hold: an actor that cannot be placed would hold its photos forever.

    >>> worker_plan(16, 0, None, None)
    (16, {'num_cpus': 1})
    >>> worker_plan(16, 2, None, None), worker_plan(16, 2, None, 0.25)
    ((2, {'num_cpus': 1, 'num_gpus': 1.0}), (8, {'num_cpus': 1, 'num_gpus': 0.25}))
    >>> worker_plan(16, 1, 3, 0.5)  # three asked, two fit
    (2, {'num_cpus': 1, 'num_gpus': 0.5})

    Raises
    ------
    ParamError
        GPUs asked of a cluster without any, or a share that is negative, or above 1 and not
        a whole number.
    """
    from survey.core.errors import ParamError

    share = (1.0 if gpus else 0.0) if gpus_per_worker is None else float(gpus_per_worker)
    if share < 0 or (share > 1 and not share.is_integer()):
        raise ParamError("gpus_per_worker", f"needs a fraction of one GPU (0–1) or a whole "
                         f"number of GPUs, got {gpus_per_worker}")
    options: dict[str, float] = {"num_cpus": 1}
    if not share:
        return workers or max(1, int(cpus)), options
    if share > gpus:
        raise ParamError("gpus_per_worker", f"asks {share:g} GPU per worker of a cluster "
                         f"with {gpus:g}")
    fit = int(gpus / share + 1e-9)
    options["num_gpus"] = share
    return min(workers or fit, fit), options


def worker_device(gpu_ids: Sequence[Any], fallback: str) -> str:
    """The torch device of a worker that Ray gave ``gpu_ids``: the first GPU it sees (Ray
    sets ``CUDA_VISIBLE_DEVICES`` to its own), else ``fallback``.

    >>> worker_device([3], "cpu"), worker_device([], "cpu")
    ('0', 'cpu')
    """
    return "0" if len(gpu_ids) else fallback


def on_ray(recipe: Recipe, jobs: Sequence[PhotoJob], cluster: str, *,
           in_flight: int | None = None, gpus_per_worker: float | None = None,
           on_workers: Callable[[list[Any]], None] | None = None) -> Iterator[PhotoDone]:
    """The jobs on Ray actors (see the module), as they finish; ``gpus_per_worker`` as
    :func:`worker_plan`. ``on_workers`` is told the actors once they are made (tests use it
    to kill one).

    Raises
    ------
    InputError
        Ray is not installed (the message says how), or the cluster cannot be reached.
    ParamError
        A GPU share the cluster cannot give (:func:`worker_plan`).
    """
    from survey.core.errors import InputError, ParamError

    try:
        import ray
    except ImportError:
        raise ParamError("cluster", f"needs Ray: {CLUSTER_EXTRA}") from None
    address, workers = parse_cluster(cluster)
    started = False
    if not ray.is_initialized():
        try:
            if address is None:
                ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(cluster, f"cannot reach the Ray cluster ({exc})") from None
        started = True
    try:
        resources = ray.cluster_resources()
        n, options = worker_plan(resources.get("CPU", 1), resources.get("GPU", 0), workers,
                                 gpus_per_worker)
        yield from _drive(ray, recipe, jobs, n, options, in_flight, on_workers)
    finally:
        if started:
            ray.shutdown()


def _drive(ray: Any, recipe: Recipe, jobs: Sequence[PhotoJob], n: int,
           options: dict[str, float], in_flight: int | None,
           on_workers: Callable[[list[Any]], None] | None) -> Iterator[PhotoDone]:
    actor_class = ray.remote(_Worker).options(**options, max_restarts=0)
    actors = [actor_class.remote(recipe) for _ in range(n)]
    if on_workers:
        on_workers(actors)
    try:
        yield from _schedule(ray, actor_class, recipe, actors, jobs, in_flight or 2 * n,
                             on_workers)
    finally:  # the workers' CPUs and GPUs go back to the cluster now, not when Ray notices
        for actor in actors:
            ray.kill(actor)


def _schedule(ray: Any, actor_class: Any, recipe: Recipe, actors: list[Any],
              jobs: Sequence[PhotoJob], limit: int,
              on_workers: Callable[[list[Any]], None] | None) -> Iterator[PhotoDone]:
    """At most ``limit`` jobs out at once over ``actors``, a dead one replaced in place."""
    todo = list(reversed(jobs))
    tries: dict[int, int] = {}
    running: dict[Any, tuple[PhotoJob, Any]] = {}
    free = list(actors)
    while todo or running:
        while todo and free and len(running) < limit:
            job, actor = todo.pop(), free.pop()
            running[actor.analyse.remote(job)] = (job, actor)
        ready, _ = ray.wait(list(running), num_returns=1)
        ref = ready[0]
        job, actor = running.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError:  # the worker died: a new one, the photo again
            ray.kill(actor)
            replacement = actor_class.remote(recipe)
            actors[actors.index(actor)] = replacement
            free.append(replacement)
            if on_workers:
                on_workers([replacement])
            tries[job.index] = tries.get(job.index, 0) + 1
            if tries[job.index] < RETRIES:
                todo.append(job)
            else:
                yield PhotoDone(job.index, None, [], [], f"worker lost twice ({RETRIES} "
                                "tries)")
            continue
        except ray.exceptions.RayTaskError as exc:
            free.append(actor)
            tries[job.index] = tries.get(job.index, 0) + 1
            if tries[job.index] < RETRIES:
                todo.append(job)
            else:
                yield PhotoDone(job.index, None, [], [], f"analysis failed ({exc.cause!r})")
            continue
        free.append(actor)
        yield result


class _Worker:
    """A Ray actor: one :class:`PhotoAnalyser`, loaded once."""

    def __init__(self, recipe: Recipe) -> None:
        import ray

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        import torch

        torch.set_num_threads(1)
        self.device = worker_device(ray.get_gpu_ids(), recipe.device)
        self.analyser = PhotoAnalyser.from_recipe(replace(recipe, device=self.device))

    def placed(self) -> tuple[str, list[Any]]:
        """The worker's torch device and the GPU ids Ray gave it."""
        import ray

        return self.device, list(ray.get_gpu_ids())

    def analyse(self, job: PhotoJob) -> PhotoDone:
        return self.analyser(job)

    def pid(self) -> int:
        return os.getpid()


# --- one photo -------------------------------------------------------------------------------


def ground_for(dem: Dem | None, pose: PhotoPose) -> Ground:
    """Where a photo's rays stop: flat ground at take-off height, or the DEM."""
    if dem is None:
        return FlatGround(0.0)
    return DemGround.for_pose(dem, pose)


def _centrality(box: np.ndarray, width: int, height: int) -> float:
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    dx, dy = (cx - width / 2.0) / (width / 2.0), (cy - height / 2.0) / (height / 2.0)
    return float(max(0.0, 1.0 - math.hypot(dx, dy) / math.sqrt(2.0)))


def analyse_photo(image: np.ndarray, pose: PhotoPose, model: DamageModel | None,
                  ground: Ground, conf: float, *, assessor: Assessor | None = None,
                  footprints: FootprintIndex | None = None,
                  pre: Callable[[int], np.ndarray | None] | None = None
                  ) -> tuple[dict, list[DetectionRow], list[ViewRow]]:
    """Detect (or grade footprints), georeference and render one photo: its extra ``photos``
    columns, its detection rows and its building views (store ids: footprint index + 1)."""
    from mapping.georef import box_to_ground, pixels_to_ground
    from mapping.overlay import north_up_overlay, thumbnail_with_boxes

    height, width = image.shape[:2]
    outline = footprint(pose, ground)
    rows: list[DetectionRow] = []
    views: list[ViewRow] = []
    if footprints is not None:
        if assessor is None:
            raise ValueError("grading footprints needs an assessor")
        views = photo_views(image, pose, ground, footprints, footprints.under(outline),
                            assessor, pre)
        boxes = np.array([v.box_xyxy for v in views], dtype=float).reshape(-1, 4)
        labels = [_top_grade(v.probabilities).label for v in views]
    elif model is not None:
        found = detect_photo(image, model, photo_gsd_cm=photo_gsd_cm(pose), conf=conf)
        graded = [DamageClass(int(c)) for c in found.classes]
        scores = [float(s) for s in found.scores]
        keep = list(range(len(found.boxes)))
        if assessor is not None:
            keep, grades, scores = regrade(image, found.boxes, photo_gsd_cm(pose), assessor)
            graded = [DamageClass.from_label(g) for g in grades]
        for k, damage, score in zip(keep, graded, scores, strict=True):
            box = found.boxes[k]
            polygon, area = box_to_ground(pose, np.asarray(box, dtype=float), ground)
            ok = polygon is not None and not polygon.is_empty and polygon.is_valid
            centre = polygon.centroid if ok else None
            rows.append(DetectionRow(
                box_xyxy=tuple(round(float(v), 2) for v in box),  # type: ignore[arg-type]
                damage=damage, confidence=round(score, 4),
                ground=polygon if ok else None, area_m2=float(area) if ok else None,
                lon=centre.x if centre else None, lat=centre.y if centre else None,
                centrality=_centrality(box, width, height)))
        boxes = np.array([r.box_xyxy for r in rows], dtype=float).reshape(-1, 4)
        labels = [r.damage.label for r in rows]
    else:
        raise ValueError("analysis needs a detector or footprints")
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=float)
    ground_corners = pixels_to_ground(pose, corners, ground)
    sane = bool(np.isfinite(ground_corners).all())
    # a footprint whose corner rays miss the ground within reach (georef.reach_m) is not
    # mapped: cut at the reach it would claim ground the photo does not reliably show
    extra: dict = {"width": width, "height": height,
                   "footprint": outline if sane and not outline.is_empty else None}
    extra["thumbnail"] = thumbnail_with_boxes(image, boxes, labels, max_px=THUMBNAIL_PX)
    if sane:
        overlay = north_up_overlay(image, ground_corners, max_px=OVERLAY_PX, webp_quality=75)
        extra["overlay"] = overlay.image
        extra["overlay_bounds"] = json.dumps(list(overlay.bounds))
    return extra, rows, views


def _top_grade(probabilities: Sequence[float]) -> DamageClass:
    return DamageClass(int(np.argmax(probabilities[:len(DamageClass)])))
