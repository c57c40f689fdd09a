"""YOLO damage detection (see the detection issue)."""
