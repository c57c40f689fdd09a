"""The MAVLink mission-transfer protocol (upload/download of MISSION, FENCE, RALLY): state
machines free of sockets and clocks, the wire items, and the client that drives them."""
