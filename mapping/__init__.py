"""Photo pose to ground, damage maps and HQ exports (see the mapping issue)."""
