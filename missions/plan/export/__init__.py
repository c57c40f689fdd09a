"""Plan exporters: QGroundControl .plan, Mission Planner .waypoints, KML, GeoJSON."""
