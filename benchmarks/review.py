"""What HQ's review buys: the map's damaged F1 after a simulated reviewer (who answers with the
truth) has checked 0, 5, 10 and 20 % of the buildings, in the review queue's order
(:func:`mapping.review_queue.review_items`: uncertain and severe first) against random order.

Runs on the demo's survey, whose scene has ground truth (the assessor never saw a scene of
that generator):

    .venv/bin/survey demo -o out/demo
    python benchmarks/review.py out/demo [--random-orders 200] [--write-reviews FILE]

Damaged = major or destroyed, over the footprints a photo saw. ``--write-reviews`` also
writes the simulated reviewer's answers for the first 20 % of the queue as a
``review.geojson`` (for ``survey review apply`` and ``survey dataset review``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARES = (0.0, 0.05, 0.10, 0.20)


def _truth(demo: Path) -> dict[str, str]:
    """Footprint id → true grade, from the scene's truth (``id`` n ↔ footprint ``B000n``)."""
    doc = json.loads((demo / "scene" / "truth.geojson").read_text(encoding="utf-8"))
    return {f"building:B{int(f['properties']['id']):04d}": f["properties"]["damage"]
            for f in doc["features"]}


def damaged_f1(grades: dict[str, str], truth: dict[str, str]) -> float:
    damaged = {"major", "destroyed"}
    tp = sum(1 for t, g in grades.items() if g in damaged and truth[t] in damaged)
    fp = sum(1 for t, g in grades.items() if g in damaged and truth[t] not in damaged)
    fn = sum(1 for t, g in grades.items() if g not in damaged and truth[t] in damaged)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def after_review(order: list[str], model: dict[str, str], truth: dict[str, str],
                 share: float) -> float:
    checked = set(order[:round(share * len(order))])
    return damaged_f1({t: truth[t] if t in checked else g for t, g in model.items()}, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", type=Path, nargs="?", default=ROOT / "out" / "demo")
    parser.add_argument("--random-orders", type=int, default=200)
    parser.add_argument("--write-reviews", type=Path)
    args = parser.parse_args()

    from mapping.review_queue import review_items
    from mapping.store import open_store

    truth = _truth(args.demo)
    with open_store(args.demo / "survey") as store:
        items = [i for i in review_items(store, crops=False) if i.kind == "building"]
    model = {i.target: i.model_grade for i in items}
    queue = [i.target for i in items]
    rng = np.random.default_rng(0)
    randoms = [list(rng.permutation(queue)) for _ in range(args.random_orders)]
    print(f"{len(items)} graded buildings; {sum(i.needs_review for i in items)} flagged "
          "needs_review")
    print(f"{'reviewed':>9}{'queue order':>13}{'random order (mean ± sd)':>27}")
    for share in SHARES:
        q = after_review(queue, model, truth, share)
        r = [after_review(o, model, truth, share) for o in randoms]
        print(f"{share:>8.0%} {q:>12.3f}   {np.mean(r):>12.3f} ± {np.std(r):.3f}")
    if args.write_reviews:
        first = items[:round(0.2 * len(items))]
        features = [{"type": "Feature",
                     "geometry": {"type": "Point", "coordinates": [i.lon, i.lat]},
                     "properties": {"target": i.target, "grade": truth[i.target],
                                    "reviewer": "simulated (scene truth)",
                                    "time": "2026-12-03T12:00:00+00:00", "note": "",
                                    "model_grade": i.model_grade}} for i in first]
        args.write_reviews.write_text(json.dumps({"type": "FeatureCollection",
                                                  "features": features}), encoding="utf-8")
        print(f"wrote {len(features)} reviews → {args.write_reviews}")


if __name__ == "__main__":
    main()
