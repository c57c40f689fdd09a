"""Planning: inputs, cells, sweeps, visibility graph, sorties, MAVLink items and the exports."""
