"""All of a plan's files in one folder, written all-or-nothing.

``sortie_NN.plan`` (QGroundControl) and ``sortie_NN.waypoints`` (Mission Planner) per sortie,
``fence.waypoints``, ``rally.waypoints``, ``plan.kml``, ``plan.geojson`` and ``summary.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from missions.plan.export.geojson import write_geojson
from missions.plan.export.kml import write_kml
from missions.plan.export.qgc import write_qgc_plan
from missions.plan.export.waypoints import (
    write_fence_waypoints,
    write_rally_waypoints,
    write_waypoints,
)
from missions.plan.model import Plan
from survey.core.files import atomic_write_text, staged_dir
from survey.core.plan_folder import PlanFolder


def write_plan_files(plan: Plan, outdir: str | os.PathLike[str]) -> list[Path]:
    """Write every export of ``plan`` into ``outdir``.

    The files are written to a staging folder and moved in only when all succeeded, so a
    failure leaves ``outdir`` as it was. Afterwards, ``sortie_NN.plan``/``.waypoints`` files
    of an earlier plan with more sorties are removed; other files in ``outdir`` are kept.

    Parameters
    ----------
    plan
        The plan to export.
    outdir
        Output folder, created if missing.

    Returns
    -------
    list of Path
        The files written, in ``outdir``.

    Raises
    ------
    ValueError
        Two sorties share a number (their files would overwrite each other).
    """
    numbers = [s.number for s in plan.sorties]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"sortie numbers are not unique: {numbers}")
    outdir = Path(outdir)
    home = (plan.home_lat_deg, plan.home_lon_deg, plan.home_alt_amsl_m or 0.0)
    with staged_dir(outdir) as tmp:
        staged = PlanFolder(tmp)
        for sortie in plan.sorties:
            write_qgc_plan(plan, sortie, staged.sortie_plan(sortie.number))
            write_waypoints(home, sortie.items, staged.sortie_waypoints(sortie.number))
        write_fence_waypoints(plan.fence, staged.fence)
        write_rally_waypoints(plan.rally, staged.rally)
        write_kml(plan, staged.kml)
        write_geojson(plan, staged.geojson)
        text = json.dumps(_summary(plan), indent=2, ensure_ascii=False, allow_nan=False)
        atomic_write_text(staged.summary, text + "\n")
        written = [path for s in plan.sorties
                   for path in (staged.sortie_plan(s.number), staged.sortie_waypoints(s.number))]
        written += [staged.fence, staged.rally, staged.kml, staged.geojson, staged.summary]
        names = [path.name for path in written]
    # Per-sortie files of an earlier plan in the same folder: removed so none is flown by mistake.
    for old in outdir.iterdir():
        if PlanFolder.is_sortie_export(old.name) and old.name not in names and old.is_file():
            old.unlink()
    return [outdir / name for name in names]


def _summary(plan: Plan) -> dict[str, Any]:
    """What ``summary.json`` holds: the plan's settings and numbers, per sortie and in total."""
    sorties = [
        {"number": s.number, "distance_m": s.distance_m, "time_s": s.time_s,
         "photos": len(s.photos), "lines": s.lines, "items": len(s.items)}
        for s in plan.sorties
    ]
    return {
        "mode": plan.mode.value,
        "altitude_m": plan.altitude_m,
        "gsd_cm": plan.gsd_cm,
        "spacing_m": plan.spacing_m,
        "trigger_m": plan.trigger_m,
        "overlaps": {"front": plan.front_overlap, "side": plan.side_overlap},
        "camera": plan.camera.name,
        "home": {"lat_deg": plan.home_lat_deg, "lon_deg": plan.home_lon_deg,
                 "alt_amsl_m": plan.home_alt_amsl_m},
        "altitudes": "above sea level" if plan.absolute_altitudes else "above home",
        "sorties": sorties,
        "totals": {"sorties": len(plan.sorties), "distance_m": plan.distance_m,
                   "time_s": plan.time_s, "photos": plan.photo_count,
                   "lines": sum(s.lines for s in plan.sorties)},
        "area_m2": float(plan.area.area),
        "covered_m2": float(plan.covered.area),
        "unreachable_m2": float(plan.unreachable.area),
        "fence_zones": len(plan.fence),
        "rally_points": len(plan.rally),
        "notes": list(plan.notes),
    }
