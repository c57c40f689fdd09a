"""Merging detections of one building seen in several photos."""

from __future__ import annotations

import random

from shapely.affinity import translate
from shapely.geometry import box

from mapping.objects import GroundDetection, agreed_damage, merge_detections
from survey.core.damage import DamageClass

DEG_PER_M = 1.0 / 111_000.0


def _square(x_m: float, y_m: float, side_m: float = 12.0):
    return box(139.99 + x_m * DEG_PER_M, 36.07 + y_m * DEG_PER_M,
               139.99 + (x_m + side_m) * DEG_PER_M, 36.07 + (y_m + side_m) * DEG_PER_M)


def _det(i, photo, damage, conf, poly, centrality=1.0):
    return GroundDetection(i, photo, DamageClass.from_label(damage), conf, poly, centrality)


def test_one_building_in_three_photos_is_one_object_listing_the_photos():
    base = _square(0, 0)
    dets = [_det(1, "a.jpg", "destroyed", 0.9, base),
            _det(2, "b.jpg", "destroyed", 0.8, translate(base, 2 * DEG_PER_M, 0)),
            _det(3, "c.jpg", "major", 0.7, translate(base, 0, -2 * DEG_PER_M)),
            _det(4, "a.jpg", "intact", 0.9, _square(40, 0))]
    objects = merge_detections(dets)
    assert len(objects) == 2
    damaged = next(o for o in objects if len(o.views) == 3)
    assert damaged.damage.label == "destroyed"
    assert set(damaged.photos) == {"a.jpg", "b.jpg", "c.jpg"}
    assert 100 < damaged.area_m2 < 200  # 12 m × 12 m


def test_two_boxes_of_one_photo_are_two_buildings_even_when_they_touch():
    a, b = _square(0, 0), _square(6, 0)  # IoU 1/3
    objects = merge_detections([_det(1, "p.jpg", "intact", 0.9, a),
                                _det(2, "p.jpg", "intact", 0.8, b)])
    assert len(objects) == 2


def test_neighbours_that_barely_touch_stay_apart():
    objects = merge_detections([_det(1, "p.jpg", "intact", 0.9, _square(0, 0)),
                                _det(2, "q.jpg", "intact", 0.9, _square(11, 0))])
    assert len(objects) == 2


def test_class_is_the_most_severe_half_the_best_views_agree_on():
    poly = _square(0, 0)
    one_of_three = [_det(1, "a", "destroyed", 0.9, poly), _det(2, "b", "intact", 0.8, poly),
                    _det(3, "c", "intact", 0.7, poly)]
    assert agreed_damage(one_of_three).label == "intact"
    two_of_three = [_det(1, "a", "destroyed", 0.9, poly), _det(2, "b", "destroyed", 0.8, poly),
                    _det(3, "c", "intact", 0.7, poly)]
    assert agreed_damage(two_of_three).label == "destroyed"
    # a poor fourth view (low confidence, at the photo corner) does not vote
    weak = [*one_of_three, _det(4, "d", "destroyed", 0.3, poly, centrality=0.0)]
    assert agreed_damage(weak).label == "intact"


def test_result_does_not_depend_on_input_order():
    rng = random.Random(3)
    dets = []
    for b in range(30):
        x, y = (b % 6) * 30.0, (b // 6) * 30.0
        for k in range(rng.randint(1, 4)):
            shifted = _square(x + rng.uniform(-2, 2), y + rng.uniform(-2, 2))
            dets.append(_det(len(dets) + 1, f"p{k}", rng.choice(["intact", "destroyed"]),
                             rng.uniform(0.3, 0.9), shifted))
    first = merge_detections(dets)
    rng.shuffle(dets)
    second = merge_detections(dets)
    assert len(first) == 30
    assert [(o.damage, sorted(v.id for v in o.views)) for o in first] == \
        [(o.damage, sorted(v.id for v in o.views)) for o in second]


def test_a_part_boxed_again_in_the_same_photo_is_the_same_building():
    whole = _square(0, 0, 16.0)
    part = _square(2, 2, 8.0)  # wholly inside
    objects = merge_detections([_det(1, "p.jpg", "destroyed", 0.9, whole),
                                _det(2, "p.jpg", "destroyed", 0.5, part)])
    assert len(objects) == 1


def test_a_looser_box_of_another_view_joins_by_its_centre():
    tight = _square(0, 0, 10.0)
    loose = _square(-7, -7, 24.0)  # holds all of the tight one
    shifted = _square(6, 6, 10.0)  # overlap 16 of 100 m², neither holds the other's centre
    assert len(merge_detections([_det(1, "a", "intact", 0.9, tight),
                                 _det(2, "b", "intact", 0.8, loose)])) == 1
    assert len(merge_detections([_det(1, "a", "intact", 0.9, tight),
                                 _det(2, "b", "intact", 0.8, shifted)])) == 2
    holds_centre = _square(4, 4, 10.0)  # overlap 36/100 < 0.5, but holds (5, 5)
    assert len(merge_detections([_det(1, "a", "intact", 0.9, tight),
                                 _det(2, "b", "intact", 0.8, holds_centre)])) == 1
