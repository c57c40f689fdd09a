"""HQ map benchmark: build time and HTML size, ours vs naive folium, at 1,000 and 10,000 objects.

Naive = what folium's examples do: one ``folium.Polygon`` (with a popup) and one
``folium.Marker`` per detection on an OSM map. Ours = :func:`mapping.webmap.build_map`
(GeoJSON layers per severity, one cluster layer, heat map, controls), offline and online.
Objects are random rotated rectangles (~15 m × 10 m) within ~700 m of a point, seeded.

    python benchmarks/map.py              # 1,000 and 10,000
    python benchmarks/map.py 1000         # one size
"""

from __future__ import annotations

import sys
import time

import folium
import numpy as np
from shapely import affinity
from shapely.geometry import box

from mapping.webmap import SEVERITY_COLOURS, DamageObject, MapContent, build_map
from survey.core.damage import DamageClass

LON0, LAT0 = 26.1, 44.43


def random_objects(n: int, seed: int = 0) -> list[DamageObject]:
    """``n`` rotated rectangles around (LON0, LAT0), random severity and confidence."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cx, cy = LON0 + rng.uniform(-0.009, 0.009), LAT0 + rng.uniform(-0.006, 0.006)
        poly = affinity.rotate(box(cx - 9e-5, cy - 4.5e-5, cx + 9e-5, cy + 4.5e-5),
                               rng.uniform(0, 90))
        out.append(DamageObject(i, poly, DamageClass(int(rng.integers(0, 4))),
                                float(rng.uniform(0.3, 1.0)), float(rng.uniform(60, 300)),
                                (f"DJI_{i // 20:04d}.JPG",)))
    return out


def naive(objs: list[DamageObject]) -> str:
    """One folium Polygon and one Marker per object."""
    m = folium.Map(location=[LAT0, LON0], zoom_start=16)
    for o in objs:
        ring = [(y, x) for x, y in o.polygon.exterior.coords]
        colour = SEVERITY_COLOURS[o.damage]
        folium.Polygon(ring, color=colour, fill=True, fill_color=colour,
                       popup=f"#{o.id} {o.damage.label} {o.confidence:.2f}").add_to(m)
        c = o.polygon.centroid
        folium.Marker([c.y, c.x], tooltip=o.damage.label).add_to(m)
    return m.get_root().render()


def timed(fn, *args, **kw) -> tuple[float, int]:
    t0 = time.perf_counter()
    html = fn(*args, **kw)
    return time.perf_counter() - t0, len(html.encode("utf-8"))


def main(sizes: list[int]) -> None:
    print(f"{'objects':>8}  {'variant':<16} {'build s':>8} {'HTML MB':>8}")
    for n in sizes:
        objs = random_objects(n, seed=n)
        content = MapContent(f"benchmark {n}", objs)
        rows = [
            ("ours, offline", timed(build_map, content, offline=True)),
            ("ours, online", timed(build_map, content, offline=False)),
            ("naive folium", timed(naive, objs)),
        ]
        for name, (secs, size) in rows:
            print(f"{n:>8,}  {name:<16} {secs:>8.2f} {size / 1e6:>8.2f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
