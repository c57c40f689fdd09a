"""Per-link telemetry rates: SET_MESSAGE_INTERVAL and the legacy REQUEST_DATA_STREAM groups.

Like Copter 4.7 with its default SRx parameters, a new link gets only HEARTBEAT (1 Hz) until it
asks for more. Intervals are in simulated time, so at ``speedup`` N a 4 Hz stream arrives 4·N
times per wall-clock second, as with ArduPilot SITL.
"""

from __future__ import annotations

from collections.abc import Callable

from .protocol import mavlink

M = mavlink

STREAM_GROUPS: dict[int, tuple[int, ...]] = {
    M.MAV_DATA_STREAM_EXTENDED_STATUS: (M.MAVLINK_MSG_ID_SYS_STATUS,
                                        M.MAVLINK_MSG_ID_MISSION_CURRENT,
                                        M.MAVLINK_MSG_ID_GPS_RAW_INT,
                                        M.MAVLINK_MSG_ID_FENCE_STATUS),
    M.MAV_DATA_STREAM_POSITION: (M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    M.MAV_DATA_STREAM_EXTRA1: (M.MAVLINK_MSG_ID_ATTITUDE,),
    M.MAV_DATA_STREAM_EXTRA2: (M.MAVLINK_MSG_ID_VFR_HUD,),
    M.MAV_DATA_STREAM_EXTRA3: (M.MAVLINK_MSG_ID_SYSTEM_TIME, M.MAVLINK_MSG_ID_BATTERY_STATUS,
                               M.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
                               M.MAVLINK_MSG_ID_TERRAIN_REPORT),
}
"""Copter's REQUEST_DATA_STREAM groups, restricted to the messages this vehicle sends
(TERRAIN_REPORT only over terrain: ``request_stream``'s ``sends``)."""

HEARTBEAT_INTERVAL_S = 1.0


class StreamSchedule:
    """Which messages one link streams and when each is next due (simulated seconds)."""

    def __init__(self) -> None:
        self._interval_s: dict[int, float] = {M.MAVLINK_MSG_ID_HEARTBEAT: HEARTBEAT_INTERVAL_S}
        self._next_s: dict[int, float] = {}

    def set_interval(self, msg_id: int, interval_s: float | None, now_s: float) -> None:
        """Stream ``msg_id`` every ``interval_s`` seconds, or stop it (None)."""
        if interval_s is None or interval_s <= 0:
            self._interval_s.pop(msg_id, None)
            self._next_s.pop(msg_id, None)
            return
        self._interval_s[msg_id] = interval_s
        self._next_s[msg_id] = now_s

    def interval_s(self, msg_id: int) -> float | None:
        """Current interval of ``msg_id``; None when it is not streamed."""
        return self._interval_s.get(msg_id)

    def request_stream(self, stream_id: int, rate_hz: int, start: bool, now_s: float,
                       sends: Callable[[int], bool] | None = None) -> None:
        """REQUEST_DATA_STREAM: set every message of a group (0 = all groups) that the vehicle
        ``sends`` (all of them if None)."""
        groups = (STREAM_GROUPS.values() if stream_id == M.MAV_DATA_STREAM_ALL
                  else [STREAM_GROUPS.get(stream_id, ())])
        interval = 1.0 / rate_hz if start and rate_hz > 0 else None
        for group in groups:
            for msg_id in group:
                if sends is None or sends(msg_id):
                    self.set_interval(msg_id, interval, now_s)

    def due(self, now_s: float) -> list[int]:
        """Messages due at ``now_s``; advances their schedule."""
        out = []
        for msg_id, interval in self._interval_s.items():
            nxt = self._next_s.get(msg_id, now_s)
            if now_s + 1e-9 >= nxt:
                out.append(msg_id)
                nxt += interval
                self._next_s[msg_id] = nxt if nxt > now_s else now_s + interval
        return out
