"""The simulated world: generated disaster scenes (model, painter, files), scenes from xBD
tiles, and the virtual camera that photographs them."""
