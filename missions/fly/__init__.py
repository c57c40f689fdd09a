"""Flying a plan: the MAVLink link, commands, the flight and its failsafes, resuming."""
