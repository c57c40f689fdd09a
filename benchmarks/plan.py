"""Planner benchmark: prints planning time, the time to write the plan's files
(``write_plan_files``: every export, the GeoJSON and KML of tens of thousands of photos among
them), peak memory and path length against a lower bound.

Seeded cases (every obstacle taller than the flight altitude, so every one is flown round):
  1 km²:  a 1 km × 1 km area turned 20°, 50 obstacles (towers, tall buildings, no-fly pads)
  25 km²: a 5 km × 5 km area, 1,000 building obstacles, home in the middle, a long-range drone
  100 km²: 10 km × 10 km, 5,000 obstacles, home in the middle, 60 min endurance, 7.5 km range,
           3.5 cm/px (131 m; 2 cm would take more than the 50,000 photos a plan may have),
           obstacles 115-200 m tall

Lower bound = free area / line spacing + the straight legs from home to each sortie's first
photo and back from its last (the transits no plan with these sorties can avoid). Each case
runs in a fresh process so that its peak memory (max RSS) is its own.

    python benchmarks/plan.py              # the 1 and 25 km² cases
    python benchmarks/plan.py 100km2       # one case (100 km², 5,000 obstacles: minutes)
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time

CASES = {
    "1km2": dict(size_m=1000.0, obstacles=50, rotate_deg=20.0, home="edge", endurance_min=25.0,
                 max_range_m=2000.0, seed=1),
    "25km2": dict(size_m=5000.0, obstacles=1000, rotate_deg=0.0, home="centre",
                  endurance_min=40.0, max_range_m=4000.0, seed=2),
    "100km2": dict(size_m=10000.0, obstacles=5000, rotate_deg=0.0, home="centre",
                   endurance_min=60.0, max_range_m=7500.0, seed=3, gsd_cm=3.5,
                   heights_m=(115.0, 200.0)),
}


def run_case(name: str) -> dict:
    import numpy as np
    import shapely
    from shapely import affinity
    from shapely.geometry import Point, box

    from missions.plan.drone import DroneProfile
    from missions.plan.export.bundle import write_plan_files
    from missions.plan.inputs import Zone
    from missions.plan.planner import PlanRequest, make_plan
    from survey.core.camera import CATALOG
    from survey.core.frame import LocalFrame

    c = CASES[name]
    rng = np.random.default_rng(c["seed"])
    frame = LocalFrame(36.07, 139.99)
    size = c["size_m"]
    area = affinity.rotate(box(-size / 2, -size / 2, size / 2, size / 2), c["rotate_deg"])
    zones = []
    for i in range(c["obstacles"]):
        x, y = rng.uniform(-size / 2, size / 2, 2)
        kind = rng.random()
        if kind < 0.3:  # a mast or pylon with its guy wires: a circle
            g = Point(x, y).buffer(rng.uniform(3.0, 12.0), quad_segs=4)
        else:  # a building
            w, h = rng.uniform(8.0, 30.0, 2)
            g = affinity.rotate(box(x - w / 2, y - h / 2, x + w / 2, y + h / 2),
                                rng.uniform(0, 90))
        height = None if kind > 0.9 else float(rng.uniform(*c.get("heights_m", (60.0, 150.0))))
        zones.append(Zone(frame.geom_to_geo(g), height, f"obstacle {i}"))
    home = None
    if c["home"] == "centre":
        free_c = shapely.Point(0, 0)
        while any(frame.geom_to_local(z.geometry).distance(free_c) < 15 for z in zones):
            free_c = shapely.Point(free_c.x + 7.0, free_c.y)
        lon, lat = frame.to_geo(free_c.x, free_c.y)
        home = (float(lat), float(lon))
    req = PlanRequest(
        area=frame.geom_to_geo(area), zones=zones, camera=CATALOG["mavic3e"],
        gsd_cm=c.get("gsd_cm", 2.0),
        front_overlap=0.75, side_overlap=0.65, home_latlon=home,
        drone=DroneProfile(endurance_s=c["endurance_min"] * 60.0,
                           max_range_m=c["max_range_m"]),
    )
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    plan = make_plan(req)
    t_plan = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_plan_files(plan, f"{tmp}/out")
        t_write = time.perf_counter() - t0

    hx, hy = plan.home_xy
    free_area = plan.covered.area
    lines = [(s, it) for s in plan.sorties for it in s.items]
    transits = 0.0
    for s in plan.sorties:  # straight from home to the first photo and from the last one back
        first, last = s.photos[0], s.photos[-1]
        transits += math.dist((hx, hy), (first.x_m, first.y_m))
        transits += math.dist((last.x_m, last.y_m), (hx, hy))
    lower = free_area / plan.spacing_m + transits
    return {
        "case": name,
        "obstacles": c["obstacles"],
        "area_km2": area.area / 1e6,
        "free_km2": free_area / 1e6,
        "unreachable_km2": plan.unreachable.area / 1e6,
        "sorties": len(plan.sorties),
        "items": len(lines),
        "photos": plan.photo_count,
        "spacing_m": plan.spacing_m,
        "distance_km": plan.distance_m / 1000,
        "lower_bound_km": lower / 1000,
        "ratio": plan.distance_m / lower,
        "plan_s": t_plan,
        "write_s": t_write,
        "rss_imports_mb": rss0 / 1024,
        "rss_peak_mb": rss1 / 1024,
        "notes": list(plan.notes),
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2])))
        return
    names = sys.argv[1:] or ["1km2", "25km2"]
    rows = []
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--case", name], check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'case':>6} {'obst':>5} {'free km²':>9} {'sorties':>7} {'photos':>7} "
          f"{'path km':>8} {'bound km':>9} {'ratio':>6} {'plan s':>7} {'write s':>8} "
          f"{'peak MB':>8}")
    for r in rows:
        print(f"{r['case']:>6} {r['obstacles']:>5} {r['free_km2']:>9.3f} {r['sorties']:>7} "
              f"{r['photos']:>7} {r['distance_km']:>8.2f} {r['lower_bound_km']:>9.2f} "
              f"{r['ratio']:>6.3f} {r['plan_s']:>7.2f} {r['write_s']:>8.2f} "
              f"{r['rss_peak_mb']:>8.0f}")
    for r in rows:
        if r["unreachable_km2"] > 0:
            print(f"{r['case']}: {r['unreachable_km2']:.3f} km² beyond reach")
        for n in r["notes"]:
            print(f"{r['case']}: {n}")


if __name__ == "__main__":
    main()
