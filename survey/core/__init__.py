"""The foundation: what every package shares (errors, the local metric frame, files in and out,
vector files read through GDAL, geometry parts, the camera model, the damage classes, xBD
labels, the MAVLink types both ends of the link use, the plan folder's names). It imports
nothing of ours."""
