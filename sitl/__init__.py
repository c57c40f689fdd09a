"""Things to fly against: ArduPilot SITL launcher, built-in MAVLink copter, lossy-link proxy."""
