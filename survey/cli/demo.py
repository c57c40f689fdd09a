"""`survey demo`: the whole pipeline on a generated disaster scene, on this machine."""

from __future__ import annotations

import math
import resource
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID
from rich.table import Table

from sitl.launch import VehicleKind
from survey.cli.errors import cli_errors
from survey.cli.models import assessor_path, progress_bar
from survey.cli.options import AssessorWeights
from survey.cli.text import escape
from survey.core.damage import DamageClass
from survey.core.errors import InputError

EPILOG = "Example: survey demo -o out/demo  (then open out/demo/damage_map.html)"


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for everything the demo "
                                      "writes (an earlier demo there is replaced).")
                   ] = Path("out/demo"),
    vehicle: Annotated[VehicleKind, typer.Option(
        "--vehicle", help="builtin (no install needed) or ardupilot (ARDUPILOT_SITL).")
    ] = VehicleKind.BUILTIN,
    speedup: Annotated[float | None, typer.Option(
        "--speedup", help="Simulation speed-up (default: 50 built-in, 10 ArduPilot).")] = None,
    assessor: AssessorWeights = None,
    seed: Annotated[int, typer.Option("--seed", help="Scene seed.")] = 2015,
) -> None:
    """Plan a disaster area at Jōsō (2015 Kinugawa flood) with a no-fly zone, fly it on a
    simulated copter with a virtual camera, grade every building from the municipality's
    footprints, write the offline map and the HQ bundle, and score the grades against the
    scene's ground truth (recall and precision per grade). The assessor never saw a scene
    of this generator: it was trained on xBD only."""
    from survey.pipelines.demo import check_out_dir, demo_scene, run_demo

    app = ctx.obj
    started = time.perf_counter()
    with cli_errors(ctx):
        rate = speedup if speedup is not None else (
            50.0 if vehicle is VehicleKind.BUILTIN else 10.0)
        if not rate > 0:
            raise InputError("--speedup", f"must be positive, got {rate:g}")
        path = assessor_path(assessor)
        check_out_dir(out)
        with progress_bar(app.err) as bar:
            tasks: dict[str, TaskID] = {}

            def report(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step.capitalize(), total=max(total, 1))
                bar.update(tasks[step], completed=done, total=max(total, 1))

            result = run_demo(demo_scene(seed), out, assessor=path, vehicle=vehicle,
                              speedup=rate, report=report)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(title="Demo: grade per building vs the scene's ground truth")
    for col in ("damage", "buildings", "seen", "right grade", "recall", "graded so",
                "precision"):
        table.add_column(col, justify="right")

    def pct(x: float) -> str:
        return "–" if math.isnan(x) else f"{100 * x:.0f} %"

    score = result.score
    for grade in sorted(DamageClass, reverse=True):
        c = score.classes[grade]
        table.add_row(grade.label, str(c.truth), str(c.found), str(c.right), pct(c.recall),
                      str(c.predicted), pct(c.precision))
    d = score.damaged
    table.add_row("damaged (major+destroyed)", str(d.truth), str(d.found), str(d.right),
                  pct(d.recall), str(d.predicted), pct(d.precision), style="bold")
    app.out.print(table)
    info = Table(show_header=False, box=None)
    info.add_column(style="dim")
    info.add_column()
    info.add_row("sorties", str(result.sorties))
    info.add_row("photos", f"{result.photos_taken} taken ({result.photos_planned} planned)")
    info.add_row("not seen", f"{result.buildings.get('not_seen', 0)} footprint(s) no photo "
                 "covered")
    info.add_row("no-fly zone", "never entered" if result.zone_violations == 0 else
                 f"[red]{result.zone_violations} track points inside[/]")
    info.add_row("time", f"{wall:.0f} s (" + ", ".join(
        f"{k} {v:.0f} s" for k, v in result.timings_s.items()) + f"); peak {peak_mb:.0f} MB")
    info.add_row("map", f"[bold]{escape(str(result.map_path))}[/]")
    info.add_row("HQ bundle", escape(str(result.bundle_path)))
    app.out.print(info)


demo.__doc__ = (demo.__doc__ or "") + "\n\n" + EPILOG
