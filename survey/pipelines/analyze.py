"""``survey analyze``: photos → detections → ground polygons → merged objects → the store.

1. Every photo's pose is read first (EXIF/XMP only, fast), so bad input (a DEM that does not
   cover the photos) is refused before anything is written. Photos without a usable pose are
   recorded as such and kept out of the map.
2. Each photo not yet in the store (by content hash) is detected at the model's GSD, its
   boxes and footprint projected to the ground (flat ground at take-off height, or the DEM),
   a thumbnail with the boxes and a north-up overlay made, and the whole photo written in
   one transaction.
3. The detections of all photos are merged into objects (:mod:`mapping.objects`), written in
   one transaction.

With footprints (``buildings``), step 2 grades every footprint the photo sees instead of
detecting (:mod:`mapping.buildings`), and step 3 fuses each building's views into its one
grade. An orthomosaic (a georeferenced GeoTIFF) takes the place of a photo: footprints are cut
from it directly, or the detector runs over it window by window (:mod:`mapping.ortho`).

Killed at any point and re-run, it redoes at most the photo in flight and the merge: the
final store equals an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from detection.assessor import Assessor
from detection.images import content_sha256
from detection.model import DamageModel
from mapping.buildings import FootprintIndex, grades_from_rows
from mapping.calibration import read_calibration
from mapping.dem import Dem, open_dem
from mapping.footprints import read_footprints
from mapping.georef import FlatGround, footprint
from mapping.objects import GroundDetection, merge_detections
from mapping.ortho import Ortho, is_orthomosaic, open_ortho
from mapping.pose import PhotoPose, flight_poses, photo_gsd_cm, pose_for_photo
from mapping.refine import Refinement, refine_poses
from mapping.store import DetectionRow, ObjectRow, Store, ViewRow, survey_store
from survey.core.camera import Camera
from survey.core.errors import ImageError, InputError, ParamError
from survey.core.files import atomic_write_text, read_json
from survey.core.plan_folder import FlightFolder, PlanFolder
from survey.pipelines.photo_work import (
    PhotoAnalyser,
    PhotoJob,
    Recipe,
    ground_for,
    in_process,
    on_ray,
)

if TYPE_CHECKING:
    from mapping.pre_imagery import PreImagery

Progress = Callable[[int, int, str], None]
Problem = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AnalyzeSummary:
    """What a run did."""

    photos: int
    analysed: int
    skipped: int
    without_pose: int
    failed: int
    detections: int
    objects: dict[str, int]
    problems: tuple[str, ...]
    buildings: dict[str, int] | None = None
    """Footprints per grade (and ``not_seen``) when run with footprints."""
    refinement: Refinement | None = None
    """The attitude refinement's report, when it ran."""
    calibrations: dict[str, int] = field(default_factory=dict)
    unmapped_footprints: tuple[str, ...] = ()
    """Photos analysed whose footprint is not mapped: a corner's ray meets the ground beyond
    :data:`mapping.georef.MAX_REACH_PER_HEIGHT` camera heights, or not at all."""
    """Photos with a usable pose per lens source (``Camera.calibration``: ``"file"``,
    ``"dji-xmp"``, ``"catalog"``, ``"exif"``, ``"none"``, …)."""

    @property
    def uncalibrated(self) -> int:
        """Photos with no lens calibration (focal length from EXIF or the catalog, no
        distortion): their corners may be metres off on the ground."""
        return sum(n for source, n in self.calibrations.items() if not has_lens(source))


def has_lens(calibration: str) -> bool:
    """Whether a ``Camera.calibration`` names a lens calibration (not ``"none"``/``"exif"``).

    >>> has_lens("dji-xmp"), has_lens("exif"), has_lens("none (bad DewarpData)")
    (True, False, False)
    """
    return calibration.split(" ", 1)[0] not in ("none", "exif")


@dataclass(frozen=True, slots=True)
class AnalyzeConfig:
    """What to analyse and how.

    With ``buildings`` (a footprint file) every footprint is graded by ``assessor`` from the
    photos that see it and the detector is not run (``model`` may be ``None``). Without it,
    the detector's boxes are regraded by ``assessor`` when one is given, and boxes it calls
    background (not a building) are dropped.
    """

    photos: Sequence[Path]
    out_dir: Path
    model: DamageModel | None
    weights: str
    dem: Path | None = None
    flight_dir: Path | None = None
    plan_dir: Path | None = None
    camera: Camera | None = None
    conf: float = 0.1
    assessor: Assessor | None = None
    buildings: Path | None = None
    pre: Path | None = None
    """Pre-disaster orthophoto (GeoTIFF) for an assessor that compares pre and post crops
    of each footprint (needs ``buildings``)."""
    calibration: Path | None = None
    """Lens calibration file (OpenDroneMap/OpenSfM ``cameras.json`` or OpenCV YAML/JSON,
    :mod:`mapping.calibration`): wins over the photos' DJI XMP calibration and the catalog."""
    refine: bool | None = None
    """Refine the photos' attitudes and heights from tie points between overlapping photos
    (:mod:`mapping.refine`): ``True`` always, ``False`` never, ``None`` when at least
    :data:`REFINE_MIN_PHOTOS` photos have a usable pose. A photo's correction is applied only
    when its held-out tie points support it, so photos without overlap keep their pose."""
    cluster: str | None = None
    """Where photos are analysed: ``None`` here; ``local[:N]`` a private Ray with N workers;
    an address (``auto``, ``ray://host:10001``) an existing Ray cluster
    (:mod:`survey.pipelines.photo_work`)."""
    device: str = "cpu"
    """Device the cluster's workers load the models on where Ray gives them no GPU
    (``model``/``assessor`` are used here)."""
    gpus_per_worker: float | None = None
    """GPUs each cluster worker takes: ``None`` one each where the cluster has GPUs, ``0``
    none, a fraction several workers per GPU (:func:`~survey.pipelines.photo_work.worker_plan`)."""
    trust_weights: bool = False
    """Cluster workers may load ``.pt`` pickles (as ``--trust-weights``)."""


REFINE_MIN_PHOTOS = 3
REFINEMENT_CSV = "refinement.csv"
"""Per-photo report of the attitude refinement, in the survey folder."""


def refinement_csv(refinement: Refinement) -> str:
    """The per-photo refinement report as CSV text (one row per photo)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["photo", "tie_points", "tilt_deg", "turn_deg", "d_yaw_deg", "d_pitch_deg",
                     "d_roll_deg", "d_height_m", "yaw_flipped", "held_out_before_m",
                     "held_out_after_m", "applied", "reason"])
    for c in refinement.corrections:
        writer.writerow([c.photo.name, c.ties, f"{c.tilt_deg:.3f}", f"{c.turn_deg:.3f}",
                         f"{c.d_yaw_deg:.3f}", f"{c.d_pitch_deg:.3f}", f"{c.d_roll_deg:.3f}",
                         f"{c.d_height_m:.3f}", int(c.flipped), f"{c.before_m:.3f}",
                         f"{c.after_m:.3f}", int(c.applied), c.reason])
    return out.getvalue()


def _photo_row(name: str, path: Path, sha: str) -> dict:
    return {"name": name, "path": str(path.resolve()), "sha256": sha}


def _pose_columns(pose: PhotoPose) -> dict:
    cam = pose.camera
    return {
        "lat": pose.lat_deg, "lon": pose.lon_deg, "alt_msl": pose.alt_msl_m,
        "rel_alt": pose.rel_alt_m, "yaw": pose.yaw_deg, "pitch": pose.pitch_deg,
        "roll": pose.roll_deg, "pose_source": pose.source, "taken": pose.time,
        "camera": {"name": cam.name, "sensor_w_mm": cam.sensor_w_mm,
                   "sensor_h_mm": cam.sensor_h_mm, "focal_mm": cam.focal_mm,
                   "image_w_px": cam.image_w_px, "image_h_px": cam.image_h_px,
                   "calibration": cam.calibration, "focal_px": cam.focal_px,
                   "centre_offset_px": cam.centre_offset_px, "distortion": cam.distortion},
        "gsd_cm": photo_gsd_cm(pose),
    }


def grade_store(store: Store) -> dict[str, int]:
    """Fuse every building's views into its grade, write them; footprints per grade."""
    grades = grades_from_rows(store.building_views())
    store.set_grades({i: (g.grade, g.status, g.confidence, g.probabilities, g.views)
                      for i, g in grades.items()})
    counts: dict[str, int] = {}
    for b in store.buildings():
        key = b.status if b.grade is None else b.grade.label
        counts[key] = counts.get(key, 0) + 1
    return counts


def _footprint_rows(footprints: Sequence) -> list[tuple[str, dict, Polygon, float, float, float]]:
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    rows = []
    for f in footprints:
        area = abs(geod.geometry_area_perimeter(f.polygon)[0])
        centre = f.polygon.representative_point()
        rows.append((f.key, f.attrs, f.polygon, float(area), centre.x, centre.y))
    return rows


def merge_store(store: Store) -> list[ObjectRow]:
    """Merge every georeferenced detection of the store into objects and write them."""
    dets = [GroundDetection(d.id, d.photo_name, d.damage, d.confidence, d.ground, d.centrality)
            for d in store.detections() if d.ground is not None]
    merged = merge_detections(dets)
    rows = [ObjectRow(o.damage, o.confidence, o.polygon, o.area_m2,
                      o.polygon.centroid.x, o.polygon.centroid.y, o.photos,
                      tuple(v.id for v in o.views)) for o in merged]
    store.replace_objects(rows)
    return rows


def _check_dem_covers(dem: Dem, poses: Sequence[PhotoPose], dem_path: Path) -> None:
    """Refuse a DEM that does not cover every photo's footprint (on flat ground)."""
    seen = shapely.union_all([footprint(p, FlatGround(0.0)) for p in poses])
    if not dem.covers(seen):
        raise InputError(dem_path, "the DEM does not cover the photos' area")


def plan_layers(plan_dir: Path) -> dict[str, dict]:
    """Planned routes and no-fly zones from a plan folder's ``plan.geojson``."""
    file = PlanFolder(plan_dir).geojson
    if not file.is_file():
        raise InputError(plan_dir, "not a plan folder (no plan.geojson)")
    doc = read_json(file)
    try:
        features = list(doc["features"])
    except (KeyError, TypeError):
        raise InputError(file, "not a plan GeoJSON") from None
    pick = {"routes": ("route",), "zones": ("keepout",), "area": ("covered",)}
    return {name: {"type": "FeatureCollection",
                   "features": [f for f in features
                                if f.get("properties", {}).get("kind") in kinds]}
            for name, kinds in pick.items()}


def flight_track(flight_dir: Path, *, simplify: bool = True) -> dict:
    """The flown track: a LineString per sortie from the telemetry logs' positions
    (simplified to ~0.1 m for the map unless ``simplify`` is false)."""
    features = []
    for log in FlightFolder(flight_dir).logs():
        points = []
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            if row.get("type") == "GLOBAL_POSITION_INT" and (row.get("lat") or row.get("lon")):
                points.append((row["lon"] * 1e-7, row["lat"] * 1e-7))
        if len(points) >= 2:
            line_geom = LineString(points)
            line_geom = line_geom.simplify(1e-6) if simplify else line_geom
            features.append({"type": "Feature", "geometry": shapely.geometry.mapping(line_geom),
                             "properties": {"sortie": log.stem}})
    return {"type": "FeatureCollection", "features": features}


def analyze(config: AnalyzeConfig, progress: Progress | None = None,
            on_problem: Problem | None = None) -> AnalyzeSummary:
    """Run (or finish) the analysis of ``config.photos`` into ``config.out_dir``.

    ``on_problem`` is told each photo that is skipped (no usable pose, unreadable) as it is
    met; the summary lists them too. A photo that cannot be placed on the ground
    (:func:`mapping.georef.check_placeable`) has no usable pose. When the run fails, a
    survey folder it created is removed (:func:`mapping.store.survey_store`).

    Raises
    ------
    InputError
        No photos, none that could be analysed, a DEM that is unreadable or does not cover
        the photos, a flight folder without records, a bad calibration file, a survey folder
        of another version or analysed with other weights, an output folder that cannot be
        written.
    """
    from mapping.georef import check_placeable

    if not config.photos:
        raise InputError(config.out_dir, "no photos to analyse")
    flight = None
    if config.flight_dir is not None:
        camera = config.camera or _camera_default()
        flight = flight_poses(config.flight_dir, camera)
    dem = open_dem(config.dem) if config.dem is not None else None
    lenses = read_calibration(config.calibration) if config.calibration is not None else None
    poses: dict[Path, PhotoPose | InputError | Ortho] = {}
    for path in config.photos:
        if is_orthomosaic(path):
            poses[path] = open_ortho(path)
            continue
        try:
            poses[path] = check_placeable(pose_for_photo(path, flight, config.camera, lenses))
        except InputError as exc:
            poses[path] = exc
    good = [p for p in poses.values() if isinstance(p, PhotoPose)]
    orthos = [p for p in poses.values() if isinstance(p, Ortho)]
    if orthos and config.model is None and config.buildings is None:
        raise InputError(orthos[0].path, "an orthomosaic needs a detector or `buildings`")
    if not good and not orthos:  # nothing to map: refuse before a survey folder is written
        first = next(p for p in poses.values() if isinstance(p, InputError))
        raise InputError(first.source, f"{first.problem} (none of the {len(poses)} photo(s) "
                         "has a usable pose; nothing analysed)")
    if dem is not None and config.dem is not None and good:
        _check_dem_covers(dem, good, config.dem)
    refinement = None
    if config.refine or (config.refine is None and len(good) >= REFINE_MIN_PHOTOS):
        def matched(done: int, total: int) -> None:
            if progress:
                progress(done, total, "tie points")

        refinement = refine_poses(good, lambda p: ground_for(dem, p), progress=matched)
        for path, pose in poses.items():
            if isinstance(pose, PhotoPose):
                poses[path] = refinement.poses[pose.path]
        good = [p for p in poses.values() if isinstance(p, PhotoPose)]
    footprints = None
    meta = {"weights": config.weights}
    if config.buildings is not None:
        if config.assessor is None:
            raise ParamError("buildings", "grading footprints needs an assessor")
        footprints = FootprintIndex(read_footprints(config.buildings))
        meta["buildings"] = content_sha256(config.buildings)
    if config.assessor is not None:
        meta["assessor"] = str(config.assessor.weights.resolve())
    pre = None
    if config.pre is not None:
        pre = _pre_imagery(config, footprints)
        meta["pre"] = content_sha256(config.pre)
    with survey_store(config.out_dir, meta) as store, pre or contextlib.nullcontext():
        _check_same_inputs(store, meta, config.out_dir)
        if footprints is not None and not store.buildings():
            store.add_buildings(_footprint_rows(footprints.footprints))
        summary = _run(store, config, poses, dem, progress, footprints, on_problem, pre)
        sources: dict[str, int] = {}
        for pose in good:
            sources[pose.camera.calibration] = sources.get(pose.camera.calibration, 0) + 1
        summary = replace(summary, calibrations=dict(sorted(sources.items())),
                          refinement=refinement)
        if refinement is not None:
            atomic_write_text(config.out_dir / REFINEMENT_CSV, refinement_csv(refinement))
        if summary.analysed + summary.skipped == 0:
            photos = config.photos
            where = photos[0] if len(photos) == 1 else _common_root(photos) or "PHOTOS"
            raise InputError(where, f"none of the {summary.photos} photo(s) could be analysed")
    return summary


def _pre_imagery(config: AnalyzeConfig, footprints: FootprintIndex | None) -> PreImagery:
    """The pre-disaster orthophoto of ``config.pre``, checked against what uses it."""
    from mapping.pre_imagery import PreImagery

    assert config.pre is not None
    if footprints is None or config.assessor is None:
        raise InputError(config.pre, "pre-disaster imagery is compared per footprint: give "
                                     "`buildings` too")
    if not config.assessor.takes_pre:
        raise InputError(config.assessor.weights, "this assessor grades post-disaster crops "
                         "only; `pre` needs one trained on pre+post pairs (survey dataset "
                         "xbd --crops --pre)")
    if not is_orthomosaic(config.pre):
        raise InputError(config.pre, "not a georeferenced GeoTIFF orthophoto")
    pre = PreImagery(config.pre, footprints.footprints, config.assessor.spec)
    if not len(footprints.under(pre.ortho.footprint)):
        raise InputError(config.pre, "covers none of the footprints")
    return pre


def _check_same_inputs(store: Store, meta: dict[str, str], out_dir: Path) -> None:
    have = store.meta()
    for key, what in (("weights", "other weights"), ("assessor", "another assessor"),
                      ("buildings", "other footprints"), ("pre", "other pre-disaster imagery")):
        if have.get(key) != meta.get(key):
            raise InputError(out_dir, f"analysed with {what} ({have.get(key) or 'none'}); "
                             "use a new survey folder")


def _camera_default() -> Camera:
    from survey.core.camera import DEFAULT_CAMERA, camera_from_name

    return camera_from_name(DEFAULT_CAMERA)


def analyse_ortho(ortho: Ortho, config: AnalyzeConfig, footprints: FootprintIndex | None,
                  pre: Callable[[int], np.ndarray | None] | None = None
                  ) -> tuple[dict, list[DetectionRow], list[ViewRow]]:
    """An orthomosaic's ``photos`` columns (no camera: the raster's extent and resolution),
    its detections or its footprints' views."""
    from mapping.ortho import ortho_detections, ortho_overlay, ortho_views

    views: list[ViewRow] = []
    rows: list[DetectionRow] = []
    if footprints is not None:
        views = ortho_views(ortho, footprints, config.assessor, pre=pre)
    else:
        rows = ortho_detections(ortho, config.model, config.conf, config.assessor)
    overlay, bounds, thumbnail = ortho_overlay(ortho)
    centre = ortho.footprint.centroid
    extra = {"width": ortho.width, "height": ortho.height, "footprint": ortho.footprint,
             "gsd_cm": ortho.gsd_cm, "lat": centre.y, "lon": centre.x,
             "pose_source": "orthomosaic", "overlay": overlay,
             "overlay_bounds": json.dumps(bounds), "thumbnail": thumbnail}
    return extra, rows, views


def _run(store: Store, config: AnalyzeConfig, poses: dict[Path, PhotoPose | InputError | Ortho],
         dem: Dem | None, progress: Progress | None,
         footprints: FootprintIndex | None, on_problem: Problem | None,
         pre: Callable[[int], np.ndarray | None] | None = None) -> AnalyzeSummary:
    plan_dir = config.plan_dir
    if plan_dir is None and config.flight_dir is not None:
        candidate = config.flight_dir.parent
        plan_dir = candidate if PlanFolder(candidate).geojson.is_file() else None
    if plan_dir is not None:
        for name, layer in plan_layers(plan_dir).items():
            store.set_layer(name, layer)
    if config.flight_dir is not None:
        store.set_layer("track", flight_track(config.flight_dir))
    root = _common_root(config.photos)
    done = store.done_hashes()
    analysed = skipped = failed = without = n_det = 0
    problems: list[str] = []
    unmapped: list[str] = []

    def problem(text: str) -> None:
        problems.append(text)
        if on_problem is not None:
            on_problem(text)

    total = len(config.photos)
    handled = 0
    jobs: list[PhotoJob] = []
    queued: dict[int, tuple[str, dict, PhotoPose]] = {}
    for i, path in enumerate(config.photos, start=1):
        name = path.resolve().relative_to(root).as_posix() if root else path.name
        if progress:
            progress(handled, total, name)
        try:
            sha = content_sha256(path)
        except (OSError, ImageError) as exc:
            failed += 1
            handled += 1
            problem(str(exc) if isinstance(exc, InputError) else f"{path}: unreadable")
            continue
        if sha in done:
            skipped += 1
            handled += 1
            continue
        pose = poses[path]
        row = _photo_row(name, path, sha)
        done.add(sha)  # a copy of this photo later in the list is a skip, not a 2nd row
        if isinstance(pose, Ortho):
            extra, rows, views = analyse_ortho(pose, config, footprints, pre)
            store.add_photo({**row, **extra, "status": "ok"}, rows, views)
            analysed += 1
            handled += 1
            n_det += len(rows)
            continue
        if not isinstance(pose, PhotoPose):
            status = "error" if isinstance(pose, ImageError) else "no-pose"
            failed += status == "error"
            without += status == "no-pose"
            handled += 1
            problem(str(pose))
            store.add_photo({**row, "status": status, "problem": pose.problem}, [])
            continue
        jobs.append(PhotoJob(i, path, pose))
        queued[i] = (name, row, pose)
    if config.cluster is None:
        results = in_process(PhotoAnalyser(config.model, config.assessor, dem, config.conf,
                                           footprints, pre), jobs)
    else:
        results = on_ray(_recipe(config), jobs, config.cluster,
                         gpus_per_worker=config.gpus_per_worker)
    for result in results:
        name, row, pose = queued[result.index]
        handled += 1
        if progress:
            progress(handled, total, name)
        if result.extra is None:
            failed += 1
            problem(f"{row['path']}: {result.error}")
            store.add_photo({**row, "status": "error", "problem": result.error}, [])
            continue
        store.add_photo({**row, **_pose_columns(pose), **result.extra, "status": "ok"},
                        result.rows, result.views)
        if result.extra["footprint"] is None:
            unmapped.append(name)
        analysed += 1
        n_det += len(result.rows)
    if progress:
        progress(total, total, "merging")
    objects = merge_store(store)
    counts: dict[str, int] = {}
    for o in objects:
        counts[o.damage.label] = counts.get(o.damage.label, 0) + 1
    graded = grade_store(store) if footprints is not None else None
    return AnalyzeSummary(total, analysed, skipped, without, failed, n_det, counts,
                          tuple(problems), graded, unmapped_footprints=tuple(unmapped))


def _recipe(config: AnalyzeConfig) -> Recipe:
    """What a cluster worker loads: the same models and ground, by path."""
    return Recipe(weights=config.weights, device=config.device, conf=config.conf,
                  assessor=None if config.assessor is None else str(config.assessor.weights),
                  buildings=None if config.buildings is None else str(config.buildings),
                  dem=None if config.dem is None else str(config.dem),
                  trust=config.trust_weights,
                  pre=None if config.pre is None else str(config.pre))


def _common_root(paths: Sequence[Path]) -> Path | None:
    import os

    try:
        return Path(os.path.commonpath([p.resolve().parent for p in paths]))
    except ValueError:
        return None
