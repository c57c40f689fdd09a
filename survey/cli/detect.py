"""`survey detect`, `survey train`, `survey evaluate`, `survey dataset xbd`: the damage detector."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from survey.cli.errors import cli_errors
from survey.cli.models import (
    DEFAULT_CONF,
    load_assessor,
    load_model,
    progress_bar,
    show_trusted,
    weights_path,
)
from survey.cli.options import Conf, Device, OutDir, Split, TileOverlap, TrustWeights, Weights
from survey.cli.text import escape
from survey.core.errors import InputError

if TYPE_CHECKING:
    from detection.card import ModelCard

DETECT_EPILOG = ("Example: survey detect ../shared/data/dji_brighton_beach --weights "
                 "models/damage/model.safetensors --gsd 1.7 -o out/detect")
TRAIN_EPILOG = ("Example: survey train out/xbd/data.yaml --weights yolo11n.yaml --epochs 30 "
                "--imgsz 1024 -o models/damage --device 0  (after: survey dataset xbd "
                "../shared/data/xbd -o out/xbd)")
EVALUATE_EPILOG = ("Example: survey evaluate models/damage/model.safetensors out/xbd/data.yaml "
                   "--split test")
DATASET_EPILOG = ("Example: survey dataset xbd ../shared/data/xbd -o out/xbd;  survey dataset "
                  "xbd ../shared/data/xbd ../shared/data/xbd_extra --crops -o out/crops")

def _metadata_gsd(path: Path) -> float | None:
    """A photo's nadir GSD (cm/px) from its EXIF/XMP pose, or ``None`` without one (or with
    one that cannot be placed on the ground, e.g. 0 m above take-off)."""
    from mapping.georef import check_placeable
    from mapping.pose import photo_gsd_cm, read_pose

    try:
        return photo_gsd_cm(check_placeable(read_pose(path)))
    except InputError:
        return None


def detect(
    ctx: typer.Context,
    photos: Annotated[list[Path], typer.Argument(
        help="Photos (jpg, jpeg, png, tif) or folders of them.")],
    out: OutDir,
    weights: Weights = None,
    conf: Conf = DEFAULT_CONF,
    gsd: Annotated[float | None, typer.Option(
        "--gsd", help="The photos' ground sample distance, cm/px: they are resampled to the "
        "model's. Default: from each photo's metadata (height above take-off and camera); "
        "photos without it are not resampled.")] = None,
    tile_overlap: TileOverlap = 0.2,
    device: Device = "cpu",
    trust_weights: TrustWeights = False,
) -> None:
    """Find building damage in drone photos (tiled YOLO at the model's scale).

    Writes one JSON line per photo to OUT/detections.jsonl: path, sha256, width, height, GSD
    used and boxes (pixels xyxy, class, confidence). A re-run skips photos already there
    (by content); unreadable photos are reported and skipped.
    """
    from detection.photos import (
        RESULTS_NAME,
        DetectSettings,
        PhotoOutcome,
        PhotoStatus,
        detect_photos,
        find_photos,
    )

    app = ctx.obj
    with cli_errors(ctx):
        if gsd is not None and not (gsd > 0 and math.isfinite(gsd)):
            raise InputError("--gsd", f"must be a positive number of cm/px, got {gsd:g}")
        files = find_photos(photos)
        path = weights_path(weights)
        with app.err.status("Loading the model…"):
            model = load_model(path, device=device, trust=trust_weights,
                               on_trust=show_trusted(app.err))
        settings = DetectSettings(photo_gsd_cm=gsd, overlap=tile_overlap, conf=conf,
                                  weights=str(path))
        with progress_bar(app.err) as progress:
            task = progress.add_task("Detecting", total=len(files))

            def report(outcome: PhotoOutcome) -> None:
                if outcome.status is PhotoStatus.FAILED:
                    progress.console.print(f"[yellow]skipped:[/] {escape(outcome.problem)}",
                                           soft_wrap=True, highlight=False)
                progress.advance(task)

            summary = detect_photos(files, model, out / RESULTS_NAME, settings=settings,
                                    on_photo=report, gsd_of=_metadata_gsd)
        done, skipped = summary.count(PhotoStatus.DONE), summary.count(PhotoStatus.SKIPPED)
        failed = summary.count(PhotoStatus.FAILED)
        if done + skipped == 0:
            raise InputError(photos[0] if len(photos) == 1 else "PHOTOS",
                             f"none of the {failed} photo(s) could be read")
    where = escape(str(summary.results_path))
    app.out.print(f"{done} photo(s) done, {skipped} already done, {failed} unreadable; "
                  f"{summary.detections} detection(s) → [bold]{where}[/]")


detect.__doc__ = (detect.__doc__ or "") + "\n\n" + DETECT_EPILOG


def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(
        help="YOLO dataset yaml (a detector), or a crop folder from survey dataset xbd --crops "
        "(the building assessor).")],
    out: OutDir,
    weights: Annotated[str, typer.Option(
        "--weights", help="Start from a local model.safetensors, or a .yaml architecture such "
        "as yolo11n.yaml (from scratch); a .pt only with --trust-weights.")] = "yolo11n.yaml",
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 30,
    imgsz: Annotated[int, typer.Option("--imgsz", help="Training image size, pixels.")] = 640,
    batch: Annotated[int | None, typer.Option(
        "--batch", help="Images per batch (default: 8 for a detector, 64 for the "
        "assessor).")] = None,
    device: Device = "cpu",
    gsd: Annotated[float | None, typer.Option(
        "--gsd", help="Training images' GSD, cm/px (default: from dataset_card.json).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Data-loader processes (default: up to 2).")] = None,
    backbone_from: Annotated[Path | None, typer.Option(
        "--backbone-from", help="Local YOLO weights (model.safetensors; a .pt only with "
        "--trust-weights) whose backbone layers (same index and shape) start an architecture "
        "given by --weights.")] = None,
    hours: Annotated[float | None, typer.Option(
        "--hours", help="Train for this many hours instead of --epochs.")] = None,
    lr: Annotated[float | None, typer.Option(
        "--lr", help="AdamW learning rate without warm-up (e.g. 0.0002 to continue a trained "
        "model); default: ultralytics' choice.")] = None,
    balance: Annotated[float, typer.Option(
        "--balance", help="Assessor only: repeat each grade's training crops (most / n) ** "
        "BALANCE times (0: as they are, 1: equal).")] = 0.5,
    trust_weights: TrustWeights = False,
) -> None:
    """Train a damage detector, or the building assessor, offline; writes
    OUT/model.safetensors, OUT/model.yaml and OUT/model_card.json."""
    from detection.train import TrainConfig, train_model
    from detection.train_assessor import AssessorTrainConfig, is_crop_dataset, train_assessor

    app = ctx.obj
    if is_crop_dataset(data):
        with cli_errors(ctx):
            start = weights if weights != "yolo11n.yaml" else "yolo11n-cls.yaml"
            setup = AssessorTrainConfig(data_dir=data, out_dir=out, start_weights=start,
                                        epochs=epochs, batch=batch or 64,
                                        device=device, workers=workers, balance=balance,
                                        hours=hours, lr=lr, backbone_from=backbone_from,
                                        trust_weights=trust_weights)
            with app.err.status(f"Training the assessor, {epochs} epoch(s)…"):
                _, card = train_assessor(setup)
        _print_card(app, out / "model.safetensors", card)
        return
    with cli_errors(ctx):
        config = TrainConfig(data_yaml=data, start_weights=weights, epochs=epochs, imgsz=imgsz,
                             out_dir=out, device=device, batch=batch or 8, workers=workers,
                             gsd_cm=gsd, backbone_from=backbone_from, hours=hours, lr=lr,
                             trust_weights=trust_weights)
        length = f"{hours:g} h" if hours else f"{epochs} epoch(s)"
        with app.err.status(f"Training {length}…"):
            result = train_model(config)
    _print_card(app, result.weights, result.card)


def _print_card(app: object, weights: Path, card: ModelCard) -> None:
    info = Table(show_header=False, box=None)
    info.add_column(style="dim")
    info.add_column()
    info.add_row("weights", escape(str(weights)))
    info.add_row("classes", escape(", ".join(card.classes)))
    info.add_row("image size", f"{card.imgsz} px")
    info.add_row("GSD", f"{card.gsd_cm:.1f} cm/px" if card.gsd_cm else "unknown")
    info.add_row("data licence", escape(card.data_license or "unknown"))
    for name, value in card.metrics.items():
        info.add_row(escape(name), "n/a" if math.isnan(value) else f"{value:.3f}")
    app.out.print(info)  # type: ignore[attr-defined]


train.__doc__ = (train.__doc__ or "") + "\n\n" + TRAIN_EPILOG


def _fmt(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def evaluate(
    ctx: typer.Context,
    weights: Annotated[Path, typer.Argument(
        help="Detector or assessor weights (model.safetensors).")],
    data: Annotated[Path, typer.Argument(
        help="YOLO dataset yaml, or a crop folder (survey dataset xbd --crops) for the "
        "assessor.")],
    split: Annotated[Split, typer.Option("--split", help="The dataset split to score.")
                     ] = Split.TEST,
    conf: Conf = DEFAULT_CONF,
    device: Device = "cpu",
    record: Annotated[bool, typer.Option(
        "--record", help="Also write the scores into the model card beside the weights.")
    ] = False,
    trust_weights: TrustWeights = False,
    no_pre: Annotated[bool, typer.Option(
        "--no-pre", help="A pre+post assessor scored with the pre-disaster crops withheld "
        "(as for a survey with no pre imagery); recorded as {split}_without_pre.")] = False,
) -> None:
    """Score a detector on a dataset split: per-class and damaged-vs-intact box F1 at IoU 0.3."""
    from detection.dataset import read_dataset_yaml
    from detection.evaluate import evaluate_dataset
    from survey.core.damage import DamageClass

    app = ctx.obj
    from detection.train_assessor import is_crop_dataset

    if is_crop_dataset(data):
        _evaluate_assessor(ctx, weights, data, split, device, record, trust_weights,
                           use_pre=not no_pre)
        return
    with cli_errors(ctx):
        spec = read_dataset_yaml(data, required=(split,))
        with app.err.status("Loading the model…"):
            model = load_model(weights, device=device, trust=trust_weights,
                               on_trust=show_trusted(app.err))
        total = len(spec.images(split))
        with progress_bar(app.err) as progress:
            task = progress.add_task(f"Scoring {split}", total=total)
            result = evaluate_dataset(model, spec, split=split, conf=conf,
                                      on_image=lambda _: progress.advance(task))
    ev = result.evaluation
    table = Table(title=f"{split}: {result.images} image(s), {result.boxes} labelled box(es), "
                        "IoU ≥ 0.3")
    for col in ("class", "TP", "FP", "FN", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "class" else "right")
    rows = [(c.label, ev.per_class[c]) for c in DamageClass]
    rows += [("damaged (major|destroyed)", ev.damaged), ("intact (intact|minor)", ev.intact)]
    for i, (name, s) in enumerate(rows):
        table.add_row(name, str(s.tp), str(s.fp), str(s.fn), _fmt(s.precision), _fmt(s.recall),
                      _fmt(s.f1), end_section=i == len(DamageClass) - 1)
    app.out.print(table)
    if record:
        with cli_errors(ctx):
            card_file = _record_scores(weights, split, rows, conf)
        app.out.print(f"Scores recorded in [bold]{escape(str(card_file))}[/]")


def _evaluate_assessor(ctx: typer.Context, weights: Path, data: Path, split: str, device: str,
                       record: bool, trust: bool, *, use_pre: bool = True) -> None:
    """Per-grade and damaged/intact scores of the building assessor on a crop split."""
    from dataclasses import replace

    from detection.card import model_card_path, read_model_card, write_model_card
    from detection.train_assessor import assessor_metrics

    err, out = ctx.obj.err, ctx.obj.out
    with cli_errors(ctx):
        from detection.assessor import evaluate_assessor

        with err.status("Loading the assessor…"):
            model = load_assessor(weights, device=device, trust=trust,
                                  on_trust=show_trusted(err))
        with progress_bar(err) as bar:
            task = bar.add_task(f"Scoring {split}", total=None)
            ev = evaluate_assessor(model, data, split,
                                   on_batch=lambda d, t: bar.update(task, completed=d, total=t),
                                   use_pre=use_pre)
    table = Table(title=f"{ev.split}: {ev.crops} crop(s), one per building (+ background)")
    for col in ("grade", "TP", "FP", "FN", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "grade" else "right")
    rows = [*ev.per_grade.items(), ("damaged (major|destroyed)", ev.damaged),
            ("intact (intact|minor)", ev.intact)]
    for i, (name, s) in enumerate(rows):
        table.add_row(name, str(s.tp), str(s.fp), str(s.fn), _fmt(s.precision), _fmt(s.recall),
                      _fmt(s.f1), end_section=i == len(ev.per_grade) - 1)
    out.print(table)
    out.print(f"background crops graded major or destroyed: {ev.background_as_damaged}")
    if record:
        with cli_errors(ctx):
            card_file = model_card_path(weights)
            card = read_model_card(card_file)
            write_model_card(card_file, replace(card, metrics={**card.metrics,
                                                               **assessor_metrics(ev)}))
        out.print(f"Scores recorded in [bold]{escape(str(card_file))}[/]")


def _record_scores(weights: Path, split: str, rows: list, conf: float) -> Path:
    """Add ``{split}_{name}_{precision|recall|f1}`` (IoU 0.3, at ``conf``) to the model card."""
    from dataclasses import replace

    from detection.card import model_card_path, read_model_card, write_model_card

    card_file = model_card_path(weights)
    if not card_file.exists():
        raise InputError(card_file, "no model card beside the weights to record scores in")
    card = read_model_card(card_file)
    metrics = dict(card.metrics)
    for name, s in rows:
        key = {"damaged (major|destroyed)": "damaged",
               "intact (intact|minor)": "not_damaged"}.get(name, name)
        for stat in ("precision", "recall", "f1"):
            metrics[f"{split}_{key}_{stat}_iou0.3"] = float(getattr(s, stat))
    metrics[f"{split}_conf"] = conf
    write_model_card(card_file, replace(card, metrics=metrics))
    return card_file


evaluate.__doc__ = (evaluate.__doc__ or "") + "\n\n" + EVALUATE_EPILOG


CALIBRATE_EPILOG = ("Example: survey calibrate detection/weights/assessor/model.safetensors "
                    "out/crops  (out/crops from survey dataset xbd ... --crops)")


def calibrate(
    ctx: typer.Context,
    weights: Annotated[Path, typer.Argument(help="Assessor weights (model.safetensors).")],
    data: Annotated[Path, typer.Argument(
        help="Crop folder (survey dataset xbd --crops) with val and test splits.")],
    device: Device = "cpu",
    trust_weights: TrustWeights = False,
) -> None:
    """Calibrate an assessor's probabilities: a temperature fitted on the val crops (kept
    only when it lowers the val calibration error) goes into its model card, with the
    expected calibration error (ECE) and log-loss on val and test before and after."""
    from detection.card import model_card_path
    from detection.train_assessor import calibrate_assessor, is_crop_dataset

    app = ctx.obj
    with cli_errors(ctx):
        if not is_crop_dataset(data):
            raise InputError(data, "not a crop dataset (survey dataset xbd --crops)")
        with app.err.status("Scoring the val and test crops…") as status:
            temperature, metrics = calibrate_assessor(
                weights, data, device=device, trust=trust_weights,
                on_split=lambda s: status.update(f"Scoring the {s} crops…"))
    table = Table(title=f"Temperature {temperature:.3g} (fitted on val: "
                        f"{metrics['temperature_fitted']:.3g})")
    for col in ("split", "ECE before", "ECE after", "log-loss before", "log-loss after"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split in ("val", "test"):
        table.add_row(split, *(f"{metrics[f'{split}_{k}']:.4f}" for k in (
            "ece_uncalibrated", "ece", "nll_uncalibrated", "nll")))
    app.out.print(table)
    app.out.print(f"Recorded in [bold]{escape(str(model_card_path(weights)))}[/]")


calibrate.__doc__ = (calibrate.__doc__ or "") + "\n\n" + CALIBRATE_EPILOG


dataset_app = typer.Typer(name="dataset", help="Build training datasets.",
                          no_args_is_help=True, add_completion=False)


@dataset_app.command("xbd", no_args_is_help=True)
def dataset_xbd(
    ctx: typer.Context,
    xbd: Annotated[list[Path], typer.Argument(
        help="xBD folder(s) with images/ and labels/ (several with --crops).")],
    out: OutDir,
    seed: Annotated[int, typer.Option("--seed", help="Train/val/test split seed.")] = 0,
    crops: Annotated[bool, typer.Option(
        "--crops", help="Building crops for the assessor (train|val|test/<grade>/*.jpg, "
        "with background crops), instead of YOLO detection tiles.")] = False,
    pre: Annotated[bool, typer.Option(
        "--pre", help="With --crops: each crop is a pair, post-disaster left and the same "
        "window of the tile's pre-disaster image right (grey where a tile has none), for "
        "an assessor that compares the two.")] = False,
) -> None:
    """Convert xBD post-disaster tiles to a YOLO dataset (data.yaml + dataset_card.json).

    The card records the median GSD of the training tiles and the CC BY-NC-SA 4.0 licence,
    which a model trained on it inherits. With --crops, one crop per labelled building of
    every folder given, split by tile and stratified by disaster over all of them; the card
    lists each split's tiles.
    """
    from detection.train import write_xbd_dataset

    app = ctx.obj
    if pre and not crops:
        raise typer.BadParameter("goes with --crops", ctx=ctx, param_hint="--pre")
    if crops:
        from detection.crops import CropSpec
        from detection.train_assessor import write_xbd_crops

        with cli_errors(ctx), progress_bar(app.err) as bar:
            task = bar.add_task("Cutting crops", total=None)
            card = write_xbd_crops(xbd, out, seed=seed, spec=CropSpec(pre=pre),
                                   progress=lambda d, t: bar.update(
                task, completed=d, total=t))
        counts = "; ".join(f"{s}: " + ", ".join(f"{k} {v}" for k, v in c.items())
                           for s, c in card.crops_per_class.items())
        app.out.print(f"Wrote [bold]{escape(str(out))}[/]: {counts}; GSD "
                      f"{card.gsd_cm:.0f} cm/px; licence {card.license}")
        return
    with cli_errors(ctx), app.err.status("Converting…"):
        if len(xbd) != 1:
            raise InputError("XBD", "a detection dataset takes one xBD folder (several with "
                                    "--crops)")
        yaml_path, card = write_xbd_dataset(xbd[0], out, seed=seed)
    tiles = ", ".join(f"{k} {v}" for k, v in card.tiles.items())
    boxes = ", ".join(f"{k} {v}" for k, v in card.boxes_per_class.items())
    gsd = f"{card.gsd_cm:.0f} cm/px" if card.gsd_cm else "unknown"
    app.out.print(f"Wrote [bold]{escape(str(yaml_path))}[/]: tiles {tiles}; boxes {boxes}; "
                  f"GSD {gsd}; licence {card.license}")


dataset_xbd.__doc__ = (dataset_xbd.__doc__ or "") + "\n\n" + DATASET_EPILOG


REVIEW_DATASET_EPILOG = ("Example: survey dataset review out/joso/survey out/kasama/survey "
                         "--base out/crops -o out/crops_reviewed;  survey train "
                         "out/crops_reviewed --weights detection/weights/assessor/"
                         "model.safetensors -o models/assessor_reviewed;  survey dataset "
                         "review out/joso/survey --detector --base out/xbd/data.yaml -o "
                         "out/tiles_reviewed")


@dataset_app.command("review", no_args_is_help=True)
def dataset_review(
    ctx: typer.Context,
    surveys: Annotated[list[Path], typer.Argument(
        help="Survey folders whose reviews (survey review apply) become training crops.")],
    out: OutDir,
    base: Annotated[Path | None, typer.Option(
        "--base", help="A crop dataset (survey dataset xbd --crops) to mix in: its train, "
        "val and test splits are copied; the review crops join train. With --detector: a "
        "dataset yaml (survey dataset xbd) whose train joins and whose val/test are used.")
    ] = None,
    detector: Annotated[bool, typer.Option(
        "--detector", help="YOLO detection tiles for the detector (a tile around each "
        "reviewed view, unreviewed boxes greyed out) instead of assessor crops.")] = False,
) -> None:
    """Turn HQ's reviews into training data: assessor crops (every view of every reviewed
    object or footprint, cut from its photo by the assessor's recipe, labelled with the
    reviewer's grade; not a building → background), or with --detector detection tiles."""
    from mapping.review_dataset import write_review_dataset, write_review_tiles

    app = ctx.obj
    if detector:
        with cli_errors(ctx), app.err.status("Cutting the reviewed tiles…"):
            tiles = write_review_tiles(surveys, out, base=base)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(tiles.boxes.items()))
        app.out.print(f"Wrote [bold]{escape(str(tiles.data_yaml))}[/]: {tiles.tiles} tiles, "
                      f"boxes {counts or 'none'}; {tiles.masked} unreviewed boxes greyed out",
                      highlight=False)
        return
    with cli_errors(ctx), app.err.status("Cutting the reviewed views…"):
        written = write_review_dataset(surveys, out, base=base)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(written.crops.items()))
    lost = written.views_missing
    app.out.print(f"Wrote [bold]{escape(str(out))}[/]: {written.reviews} reviews → {counts} "
                  f"(train){f'; {lost} views without their photo' if lost else ''}",
                  highlight=False)


dataset_review.__doc__ = (dataset_review.__doc__ or "") + "\n\n" + REVIEW_DATASET_EPILOG


SYNTHETIC_RENAMED = {"gsd_m": "gsd"}
""":func:`~survey.pipelines.scene_dataset.write_scene_dataset`'s GSD (metres), here ``--gsd``."""

SYNTHETIC_EPILOG = ("Example: survey dataset synthetic -o out/synth --scenes 8 --gsd 44.8 "
                    "--with out/xbd/data.yaml")


@dataset_app.command("synthetic", no_args_is_help=True)
def dataset_synthetic(
    ctx: typer.Context,
    out: OutDir,
    scenes: Annotated[int, typer.Option("--scenes", help="Scenes to generate (one tile "
                                        "each).")] = 8,
    gsd: Annotated[float, typer.Option("--gsd", help="Training GSD, cm/px (the xBD tiles: "
                                       "~44.8).")] = 44.8,
    base: Annotated[Path | None, typer.Option(
        "--with", help="A YOLO dataset yaml to train alongside (its val/test splits are "
        "kept).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="First scene's seed.")] = 0,
) -> None:
    """Generate disaster scenes (buildings in each damage class, roads, flood water) as YOLO
    training tiles at the detector's GSD; optionally joined with another dataset."""
    from survey.pipelines.scene_dataset import write_scene_dataset

    app = ctx.obj
    with cli_errors(ctx, SYNTHETIC_RENAMED), progress_bar(app.err) as bar:
        task = bar.add_task("Generating scenes", total=scenes)
        yaml_path, card = write_scene_dataset(
            out, scenes=scenes, gsd_m=gsd / 100.0, seed=seed, base_yaml=base,
            progress=lambda done, total: bar.update(task, completed=done))
    tiles = ", ".join(f"{k} {v}" for k, v in card.tiles.items())
    boxes = ", ".join(f"{k} {v}" for k, v in card.boxes_per_class.items())
    app.out.print(f"Wrote [bold]{escape(str(yaml_path))}[/]: tiles {tiles}; boxes {boxes}; "
                  f"GSD {card.gsd_cm:.1f} cm/px; licence {escape(card.license or '')}")


dataset_synthetic.__doc__ = (dataset_synthetic.__doc__ or "") + "\n\n" + SYNTHETIC_EPILOG
