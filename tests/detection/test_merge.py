import numpy as np
import pytest

from detection.merge import Detections, box_iou, merge_tiles, nms, shift_to_image
from detection.tiling import Window, tile_windows

LEFT = Window(0, 0, 640, 640)
RIGHT = Window(640, 0, 1280, 640)
TOP = Window(0, 0, 640, 640)
BOTTOM = Window(0, 640, 640, 1280)


def dets(boxes: list[list[float]], scores: list[float], classes: list[int]) -> Detections:
    return Detections(boxes, scores, classes)


def test_detections_validate_and_are_read_only() -> None:
    d = dets([[0, 0, 1, 1]], [0.5], [0])
    with pytest.raises(ValueError):
        d.boxes[0, 0] = 5
    with pytest.raises(ValueError, match="lengths differ"):
        Detections([[0, 0, 1, 1]], [0.5, 0.6], [0])
    with pytest.raises(ValueError, match="shape"):
        Detections([[0, 0, 1]], [0.5], [0])
    assert len(Detections.empty()) == 0
    assert Detections([], [], []).boxes.shape == (0, 4)
    assert len(Detections.concat([])) == 0


def test_helpers() -> None:
    d = dets([[10, 20, 30, 40]], [0.5], [1])
    assert d.shift(5, -5).boxes.tolist() == [[15, 15, 35, 35]]
    assert d.scale(2, 0.5).boxes.tolist() == [[20, 10, 60, 20]]
    assert d.clip(25, 25).boxes.tolist() == [[10, 20, 25, 25]]
    both = Detections.concat([d, d.shift(1, 1)])
    assert both.select([1]).boxes.tolist() == [[11, 21, 31, 41]]
    assert both.select(np.array([True, False])).classes.tolist() == [1]


def test_box_iou_edge_cases() -> None:
    assert box_iou([[0, 0, 10, 10]], [[10, 0, 20, 10]]).item() == 0.0  # touching
    assert box_iou([[0, 0, 0, 0]], [[0, 0, 0, 0]]).item() == 0.0  # degenerate
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_nms_is_class_aware_and_keeps_best() -> None:
    d = dets([[0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 10, 10]], [0.5, 0.9, 0.7], [2, 2, 3])
    assert nms(d, iou=0.5).tolist() == [1, 2]
    assert nms(Detections.empty()).tolist() == []


def test_shift_to_image_clips_padding() -> None:
    window = Window(360, 0, 1000, 600)  # 640 wide, 600 high: padded to 640x640 by the adapter
    d = shift_to_image(dets([[600, 580, 700, 640]], [0.9], [0]), window)
    assert d.boxes.tolist() == [[960, 580, 1000, 600]]


def test_empty_inputs() -> None:
    assert len(merge_tiles([])) == 0
    assert len(merge_tiles([(LEFT, Detections.empty()), (RIGHT, Detections.empty())])) == 0


def test_object_cut_by_vertical_border_without_overlap_is_reported_once() -> None:
    left = dets([[600, 100, 640, 150]], [0.6], [3])
    right = dets([[0, 102, 30, 149]], [0.8], [3])
    merged = merge_tiles([(LEFT, left), (RIGHT, right)])
    assert merged.boxes.tolist() == [[600, 100, 670, 150]]
    assert merged.scores.tolist() == [0.8]
    assert merged.classes.tolist() == [3]


def test_object_cut_by_horizontal_border_is_reported_once() -> None:
    top = dets([[100, 620, 160, 640]], [0.9], [0])
    bottom = dets([[98, 0, 161, 25]], [0.4], [0])
    merged = merge_tiles([(TOP, top), (BOTTOM, bottom)])
    assert merged.boxes.tolist() == [[98, 620, 161, 665]]
    assert merged.scores.tolist() == [0.9]


def test_object_in_the_overlap_seen_cut_and_whole() -> None:
    # 1000-px image, tiles [0, 640) and [360, 1000): a house at x 600..700 is cut at x=640 in
    # the left tile and whole in the right one.
    a, b = tile_windows(1000, 640, tile_px=640, overlap=0.2)
    left = dets([[600, 300, 640, 350]], [0.9], [2])
    right = dets([[240, 301, 340, 350]], [0.7], [2])  # 600..700 in image pixels
    merged = merge_tiles([(a, left), (b, right)])
    assert merged.boxes.tolist() == [[600, 300, 700, 350]]
    assert merged.scores.tolist() == [0.9]


def test_object_seen_whole_twice_is_reported_once() -> None:
    a, b = tile_windows(1000, 640, tile_px=640, overlap=0.2)
    left = dets([[400, 100, 450, 150]], [0.6], [0])
    right = dets([[41, 101, 91, 151]], [0.8], [0])
    merged = merge_tiles([(a, left), (b, right)])
    assert len(merged) == 1 and merged.scores.tolist() == [0.8]


def test_object_across_four_tiles_is_one_box() -> None:
    windows = tile_windows(1280, 1280, tile_px=640, overlap=0.0)
    parts = [
        dets([[620, 620, 640, 640]], [0.5], [3]),
        dets([[0, 620, 25, 640]], [0.6], [3]),
        dets([[620, 0, 640, 30]], [0.7], [3]),
        dets([[0, 0, 25, 30]], [0.4], [3]),
    ]
    merged = merge_tiles(list(zip(windows, parts, strict=True)))
    assert merged.boxes.tolist() == [[620, 620, 665, 670]]
    assert merged.scores.tolist() == [0.7]


def test_neighbours_on_either_side_of_a_border_stay_apart() -> None:
    # One house ends 10 px before the border, the other starts 10 px after it.
    left = dets([[560, 100, 630, 150]], [0.9], [0])
    right = dets([[10, 100, 80, 150]], [0.9], [0])
    merged = merge_tiles([(LEFT, left), (RIGHT, right)])
    assert len(merged) == 2


def test_different_classes_are_not_merged() -> None:
    left = dets([[600, 100, 640, 150]], [0.6], [3])
    right = dets([[0, 100, 30, 150]], [0.8], [0])
    assert len(merge_tiles([(LEFT, left), (RIGHT, right)])) == 2


def test_little_parallel_overlap_is_not_merged() -> None:
    # Two boxes at the border, one high and one low: two objects.
    left = dets([[600, 100, 640, 150]], [0.6], [0])
    right = dets([[0, 140, 30, 200]], [0.8], [0])
    assert len(merge_tiles([(LEFT, left), (RIGHT, right)])) == 2


def test_image_edge_is_not_a_border() -> None:
    # Boxes touching the outer image edge at x = 1280 and x = 0: nothing to join.
    left = dets([[0, 100, 40, 150]], [0.6], [0])
    right = dets([[600, 100, 640, 150]], [0.8], [0])
    assert len(merge_tiles([(LEFT, left), (RIGHT, right)])) == 2


def test_same_tile_boxes_are_never_fragments() -> None:
    one = dets([[600, 100, 640, 150], [620, 100, 640, 150]], [0.9, 0.8], [0, 0])
    merged = merge_tiles([(LEFT, one), (RIGHT, Detections.empty())])
    assert len(merged) == 1  # NMS, not union: IoU 0.5
    assert merged.boxes.tolist() == [[600, 100, 640, 150]]


def test_output_sorted_by_score() -> None:
    left = dets([[10, 10, 20, 20], [100, 100, 120, 120]], [0.3, 0.9], [0, 1])
    merged = merge_tiles([(LEFT, left)])
    assert merged.scores.tolist() == [0.9, 0.3]
