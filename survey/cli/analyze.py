"""`survey analyze`, `survey map`, `survey share`: from photos to what disaster HQ opens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from survey.cli.errors import cli_errors
from survey.cli.models import (
    DEFAULT_CONF,
    assessor_path,
    load_assessor,
    load_model,
    progress_bar,
    show_trusted,
    weights_path,
)
from survey.cli.options import AssessorWeights, Conf, Device, TrustWeights, Weights
from survey.cli.text import escape
from survey.core.damage import DamageClass
from survey.core.errors import InputError

if TYPE_CHECKING:
    from mapping.refine import Refinement

SEVERE_FIRST = tuple(c.label for c in sorted(DamageClass, reverse=True))

ANALYZE_EPILOG = ("Example: survey analyze out/demo/photos --flight out/demo/plan/flight "
                  "--buildings out/demo/footprints.geojson -o out/demo/survey2  "
                  "(with the lens OpenDroneMap solved: survey analyze flight1/images "
                  "--calibration flight1/cameras.json -o flight1/survey; on two local Ray "
                  "workers: survey analyze day1/ day2/ --cluster local:2 -o out/survey; "
                  "four workers per GPU of a running cluster: survey analyze /nfs/photos "
                  "--cluster auto --gpus-per-worker 0.25 -o /nfs/survey)")
MAP_EPILOG = ("Example: survey map out/demo/survey -o out/demo/damage_map.html\n\n"
              "HQ review: survey map out/demo/survey --review -o out/demo/review_map.html")
SHARE_EPILOG = "Example: survey share out/demo/survey -o out/demo/hq_bundle.zip"

SurveyDir = Annotated[Path, typer.Argument(help="Survey folder written by survey analyze.")]


def analyze(
    ctx: typer.Context,
    photos: Annotated[list[Path], typer.Argument(help="Photo folder(s) or files.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Survey folder (created; a re-run "
                                      "finishes it).")],
    weights: Weights = None,
    dem: Annotated[Path | None, typer.Option(
        "--dem", help="Ground heights (GeoTIFF DEM); default: flat ground at take-off "
        "height.")] = None,
    flight: Annotated[Path | None, typer.Option(
        "--flight", help="survey fly's flight folder: poses for photos without metadata, the "
        "flown track, and the plan beside it.")] = None,
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="Plan folder (routes and no-fly zones for the map); default: the "
        "flight folder's parent.")] = None,
    camera: Annotated[str | None, typer.Option(
        "--camera", help="Camera intrinsics when the photos' EXIF does not give them (catalog "
        "name or custom:WxH:F:PXxPY).")] = None,
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", metavar="FILE", help="Lens calibration: OpenDroneMap/OpenSfM "
        "cameras.json or an OpenCV calibration (YAML/JSON with camera_matrix, "
        "distortion_coefficients). Wins over the photos' DJI XMP calibration and the "
        "catalog.")] = None,
    conf: Conf = DEFAULT_CONF,
    device: Device = "cpu",
    buildings: Annotated[Path | None, typer.Option(
        "--buildings", help="Building footprints (GeoJSON, GeoPackage, Shapefile, KML, "
        "OSM .osm/.pbf): grade every footprint from the photos that see it, instead of "
        "detecting.")] = None,
    assessor: AssessorWeights = None,
    pre: Annotated[Path | None, typer.Option(
        "--pre", help="Pre-disaster orthophoto (GeoTIFF the municipality already has): with "
        "--buildings and a pre+post assessor, each footprint is compared before and after.")
    ] = None,
    no_assessor: Annotated[bool, typer.Option(
        "--no-assessor", help="Keep the detector's own grades (no regrading of its boxes by "
        "the assessor).")] = False,
    trust_weights: TrustWeights = False,
    refine: Annotated[bool | None, typer.Option(
        "--refine/--no-refine", help="Correct each photo's recorded attitude and height from "
        "tie points matched between overlapping photos (a correction is used only where the "
        "held-out tie points agree better with it). Default: on with 3 or more photos.",
        show_default=False)] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", metavar="local[:N]|ADDRESS", help="Analyse the photos on Ray: local[:N] "
        "starts a private Ray here with N workers, an address (auto, ray://host:10001) joins "
        "a cluster whose nodes see the photos and weights at the same paths. Needs pip "
        "install -e '.\\[cluster]'.")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option(
        "--gpus-per-worker", metavar="F", min=0.0, help="With --cluster: GPUs each worker "
        "takes (0.25 puts four workers on one GPU; 0: CPU workers). Default: one GPU each "
        "where the cluster has GPUs, as many workers as they hold.", show_default=False)
    ] = None,
) -> None:
    """Find building damage in survey photos or orthomosaics, place it on the ground, store it.

    With --buildings, every footprint gets one grade (intact / minor / major / destroyed, with
    a probability each) fused from every photo that sees it, or not_seen. Without, the
    detector's boxes are regraded by the assessor, which drops what is not a building. An
    orthomosaic is a georeferenced GeoTIFF (OpenDroneMap, WebODM), read window by window.
    """
    from detection.photos import find_photos
    from survey.core.camera import camera_from_name
    from survey.pipelines.analyze import AnalyzeConfig
    from survey.pipelines.analyze import analyze as run

    app = ctx.obj
    with cli_errors(ctx):
        files = find_photos(photos)
        if cluster is not None:
            from survey.pipelines.photo_work import parse_cluster

            try:
                parse_cluster(cluster)
            except ValueError as exc:
                raise InputError("--cluster", str(exc)) from None
        elif gpus_per_worker is not None:
            raise InputError("--gpus-per-worker", "places cluster workers: give --cluster too")
        cam = camera_from_name(camera) if camera else None
        if buildings is not None and no_assessor:
            raise InputError("--no-assessor", "--buildings needs the assessor")
        if pre is not None and buildings is None:
            raise InputError("--pre", "pre-disaster imagery is compared per footprint: give "
                                      "--buildings too")
        model, weights_id = None, ""
        shown = show_trusted(app.err)
        with app.err.status("Loading the model…"):
            grader = None if no_assessor else load_assessor(
                assessor_path(assessor, required=buildings is not None), device=device,
                trust=trust_weights, on_trust=shown)
            if buildings is None:
                path = weights_path(weights)
                model = load_model(path, device=device, trust=trust_weights, on_trust=shown)
                weights_id = str(path.resolve())
        config = AnalyzeConfig(photos=files, out_dir=out, model=model,  # type: ignore[arg-type]
                               weights=weights_id, dem=dem, flight_dir=flight,
                               plan_dir=plan, camera=cam, conf=conf, assessor=grader,
                               buildings=buildings, pre=pre, calibration=calibration,
                               refine=refine, cluster=cluster, device=device,
                               gpus_per_worker=gpus_per_worker, trust_weights=trust_weights)
        with progress_bar(app.err) as bar:
            task = bar.add_task("Analysing", total=len(files))

            def report(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total,
                           description=f"Analysing {escape(name)[:40]}")

            def skipped(problem: str) -> None:
                bar.console.print(f"[yellow]skipped:[/] {escape(problem)}", soft_wrap=True,
                                  highlight=False)

            summary = run(config, report, skipped)
    table = Table(title="Survey", show_header=False, box=None)
    table.add_column(style="dim")
    table.add_column(justify="right")
    table.add_row("photos analysed", str(summary.analysed))
    table.add_row("already done", str(summary.skipped))
    table.add_row("without pose", str(summary.without_pose))
    table.add_row("unreadable", str(summary.failed))
    for source, count in summary.calibrations.items():
        table.add_row(f"lens: {escape(source)}", str(count))
    if summary.buildings is not None:
        for label in (*SEVERE_FIRST, "not_seen"):
            table.add_row(f"buildings {label}", str(summary.buildings.get(label, 0)))
    else:
        table.add_row("detections", str(summary.detections))
        for label in SEVERE_FIRST:
            table.add_row(f"objects {label}", str(summary.objects.get(label, 0)))
    app.out.print(table)
    if summary.uncalibrated:
        app.err.print(f"[yellow]warning:[/] {summary.uncalibrated} photo(s) had no lens "
                      "calibration (focal length from EXIF or the catalog, no distortion): "
                      "their corners may be metres off on the ground; give the lens with "
                      "--calibration (e.g. OpenDroneMap's cameras.json)", soft_wrap=True,
                      highlight=False)
    if summary.unmapped_footprints:
        names = ", ".join(summary.unmapped_footprints[:5])
        more = len(summary.unmapped_footprints) - 5
        app.err.print(f"[yellow]warning:[/] {len(summary.unmapped_footprints)} photo(s) "
                      f"analysed but their footprints not mapped (a corner looks too near the "
                      f"horizon to be placed): {escape(names)}"
                      f"{f' and {more} more' if more > 0 else ''}", soft_wrap=True,
                      highlight=False)
    if summary.refinement is not None:
        app.out.print(refinement_line(summary.refinement, out), soft_wrap=True, highlight=False)
    app.out.print(f"Survey → [bold]{escape(str(out))}[/]")


def refinement_line(refinement: Refinement, out: Path) -> str:
    """One line on what the attitude refinement did."""
    from survey.pipelines.analyze import REFINEMENT_CSV

    corrected = sum(c.applied for c in refinement.corrections)
    flips = sum(c.flipped and c.applied for c in refinement.corrections)
    if not refinement.ties:
        return f"Refinement: no tie points between the {len(refinement.corrections)} photos"
    return (f"Refinement: {refinement.ties} tie points in {refinement.pairs} photo pairs agree "
            f"to {refinement.after_m:.2f} m (median, held out; {refinement.before_m:.2f} m as "
            f"recorded); corrected {corrected} of {len(refinement.corrections)} photos"
            f"{f', {flips} yaw flips' if flips else ''} in {refinement.seconds:.1f} s → "
            f"{escape(str(out / REFINEMENT_CSV))}")


def map_cmd(
    ctx: typer.Context,
    survey_dir: SurveyDir,
    out: Annotated[Path, typer.Option("-o", "--out", help="HTML file to write.")],
    offline: Annotated[bool, typer.Option(
        "--offline/--online", help="Inline every script and use the photos as the base map "
        "(works with no network), or load Leaflet and OSM tiles from the internet.")] = True,
    title: Annotated[str | None, typer.Option("--title", help="Map title.")] = None,
    review: Annotated[bool, typer.Option(
        "--review", help="Add HQ's review panel: the objects in the order a check matters most "
        "(uncertain and severe first) with their photo crops, keys to confirm or set each "
        "grade, reviews kept in the browser and exported as review.geojson (apply it with "
        "survey review apply).")] = False,
) -> None:
    """Write the damage map: one HTML file HQ opens in a browser."""
    from mapping.mapview import write_survey_map
    from mapping.store import open_store

    app = ctx.obj
    with cli_errors(ctx):
        with open_store(survey_dir) as store, app.err.status("Building the map…"):
            write_survey_map(store, out, offline=offline, title=title or _title(survey_dir),
                             review=review)
    app.out.print(f"{'Review map' if review else 'Map'} → [bold]{escape(str(out))}[/]")


def share(
    ctx: typer.Context,
    survey_dir: SurveyDir,
    out: Annotated[Path, typer.Option("-o", "--out", help="Zip file to write.")],
    title: Annotated[str | None, typer.Option("--title", help="Bundle title.")] = None,
) -> None:
    """Write the HQ bundle: offline map, GeoJSON, GeoPackage, KML/KMZ, CSV summary."""
    from mapping.mapview import survey_map_html
    from mapping.share import write_bundle
    from mapping.store import open_store

    app = ctx.obj
    with cli_errors(ctx):
        name = title or _title(survey_dir)
        with open_store(survey_dir) as store, app.err.status("Writing the bundle…"):
            html = survey_map_html(store, offline=True, title=name)
            names = write_bundle(store, out, map_html=html, title=name)
    app.out.print(f"{len(names)} files → [bold]{escape(str(out))}[/]")


def _title(survey_dir: Path) -> str:
    return f"Damage survey: {survey_dir.resolve().name}"


analyze.__doc__ = (analyze.__doc__ or "") + "\n\n" + ANALYZE_EPILOG
map_cmd.__doc__ = (map_cmd.__doc__ or "") + "\n\n" + MAP_EPILOG
share.__doc__ = (share.__doc__ or "") + "\n\n" + SHARE_EPILOG
