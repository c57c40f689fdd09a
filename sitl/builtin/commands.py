"""COMMAND_LONG and COMMAND_INT handling: every command gets a COMMAND_ACK with ArduPilot's result.

Unknown commands are answered MAV_RESULT_UNSUPPORTED; refusals are FAILED (arming, mode changes,
take-off) or DENIED (invalid parameters), as ``GCS_MAVLINK::handle_command_*`` answers them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .copter import FORCE_MAGIC, Copter
from .protocol import CopterMode, mavlink, parse_mode
from .streams import StreamSchedule
from .telemetry import sendable

M = mavlink
ACCEPTED = M.MAV_RESULT_ACCEPTED
FAILED = M.MAV_RESULT_FAILED
DENIED = M.MAV_RESULT_DENIED
UNSUPPORTED = M.MAV_RESULT_UNSUPPORTED


@dataclass(frozen=True)
class Command:
    """A COMMAND_LONG or COMMAND_INT, normalised: lat/lon in degE7 when ``is_int``."""

    command: int
    params: tuple[float, float, float, float, float, float, float]
    is_int: bool = False
    frame: int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT
    x: int = 0
    y: int = 0

    @classmethod
    def from_long(cls, m: Any) -> Command:
        return cls(m.command, (m.param1, m.param2, m.param3, m.param4, m.param5, m.param6,
                               m.param7))

    @classmethod
    def from_int(cls, m: Any) -> Command:
        return cls(m.command, (m.param1, m.param2, m.param3, m.param4, m.x * 1e-7, m.y * 1e-7,
                               m.z), True, m.frame, m.x, m.y)

    def latlon_e7(self) -> tuple[int, int]:
        if self.is_int:
            return self.x, self.y
        return round(self.params[4] * 1e7), round(self.params[5] * 1e7)


class Context(Protocol):
    """What command handlers need from the vehicle besides the copter."""

    copter: Copter

    def send_to(self, link: Any, msg: Any) -> None: ...

    def streams_of(self, link: Any) -> StreamSchedule: ...

    def queue_message(self, link: Any, msg_id: int) -> None:
        """Send ``msg_id`` to ``link`` after the COMMAND_ACK."""


Handler = Callable[[Context, Any, Command], int]


def _arm_disarm(ctx: Context, link: Any, cmd: Command) -> int:
    force = int(cmd.params[1]) == FORCE_MAGIC
    if cmd.params[0] == 1:
        return ACCEPTED if ctx.copter.arm(force=force) else FAILED
    if cmd.params[0] == 0:
        return ACCEPTED if ctx.copter.disarm(force=force) else FAILED
    return DENIED


def set_mode_common(copter: Copter, base_mode: float, custom_mode: float) -> int:
    """``GCS_MAVLINK::_set_mode_common``: custom modes only."""
    if not int(base_mode) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        return DENIED
    try:
        mode = parse_mode(int(custom_mode))
    except ValueError:
        return FAILED
    return ACCEPTED if copter.set_mode(mode) else FAILED


def _do_set_mode(ctx: Context, link: Any, cmd: Command) -> int:
    return set_mode_common(ctx.copter, cmd.params[0], cmd.params[1])


def _takeoff(ctx: Context, link: Any, cmd: Command) -> int:
    alt = cmd.params[6]
    if cmd.is_int and cmd.frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
        alt -= ctx.copter.home_alt_m
    return ACCEPTED if ctx.copter.takeoff(alt) else FAILED


def _mode(mode: CopterMode) -> Handler:
    def handler(ctx: Context, link: Any, cmd: Command) -> int:
        return ACCEPTED if ctx.copter.set_mode(mode) else FAILED
    return handler


def _mission_start(ctx: Context, link: Any, cmd: Command) -> int:
    if cmd.params[0] != 0 or cmd.params[1] != 0:
        return DENIED
    cop = ctx.copter
    if not cop.set_mode(CopterMode.AUTO):
        return FAILED
    cop.auto_armed = True
    if not cop.auto.running:
        cop.auto.start_or_resume()
    return ACCEPTED


def _set_message_interval(ctx: Context, link: Any, cmd: Command) -> int:
    msg_id, interval_us = int(cmd.params[0]), cmd.params[1]
    if not sendable(ctx.copter, msg_id):
        return FAILED
    interval = None if interval_us <= 0 else interval_us * 1e-6
    ctx.streams_of(link).set_interval(msg_id, interval, ctx.copter.time_s)
    return ACCEPTED


def _get_message_interval(ctx: Context, link: Any, cmd: Command) -> int:
    msg_id = int(cmd.params[0])
    if not sendable(ctx.copter, msg_id):
        return FAILED
    interval = ctx.streams_of(link).interval_s(msg_id)
    ctx.send_to(link, M.MAVLink_message_interval_message(
        msg_id, -1 if interval is None else int(interval * 1e6)))
    return ACCEPTED


def _send_later(ctx: Context, link: Any, msg_id: int) -> int:
    if not sendable(ctx.copter, msg_id):
        return FAILED
    ctx.queue_message(link, msg_id)
    return ACCEPTED


def _request_message(ctx: Context, link: Any, cmd: Command) -> int:
    msg_id = int(cmd.params[0])
    if msg_id == M.MAVLINK_MSG_ID_HOME_POSITION and not ctx.copter.home_set:
        return FAILED
    return _send_later(ctx, link, msg_id)


def _get_home(ctx: Context, link: Any, cmd: Command) -> int:
    if not ctx.copter.home_set:
        return FAILED
    return _send_later(ctx, link, M.MAVLINK_MSG_ID_HOME_POSITION)


def _capabilities(ctx: Context, link: Any, cmd: Command) -> int:
    return _send_later(ctx, link, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)


def _cam_trigg_dist(ctx: Context, link: Any, cmd: Command) -> int:
    cop = ctx.copter
    for shot in cop.camera.set_trigger_distance(cmd.params[0], cop.pose(), cmd.params[2] == 1):
        cop.events.camera_shot(shot)
    return ACCEPTED


def _digicam_control(ctx: Context, link: Any, cmd: Command) -> int:
    cop = ctx.copter
    if cmd.params[4] == 1:
        cop.events.camera_shot(cop.camera.take_picture(cop.pose()))
    return ACCEPTED


def _image_start(ctx: Context, link: Any, cmd: Command) -> int:
    cop = ctx.copter
    for shot in cop.camera.start_capture(cmd.params[1], int(cmd.params[2]), cop.pose()):
        cop.events.camera_shot(shot)
    return ACCEPTED


def _image_stop(ctx: Context, link: Any, cmd: Command) -> int:
    ctx.copter.camera.stop_capture()
    return ACCEPTED


def _change_speed(ctx: Context, link: Any, cmd: Command) -> int:
    cop = ctx.copter
    if cop.mode not in (CopterMode.AUTO, CopterMode.GUIDED):
        return FAILED
    cop.change_speed(int(cmd.params[0]), cmd.params[1])
    return ACCEPTED


def _set_home(ctx: Context, link: Any, cmd: Command) -> int:
    cop = ctx.copter
    if cmd.params[0] == 1:
        if not cop.position_ok:
            return FAILED
        cop.set_home_here()
        return ACCEPTED
    lat, lon = cmd.latlon_e7()
    if (lat, lon) == (0, 0) or abs(lat) > 90 * 10**7 or abs(lon) > 180 * 10**7:
        return FAILED
    cop.set_home(lat, lon, cmd.params[6])
    return ACCEPTED


def _set_mission_current(ctx: Context, link: Any, cmd: Command) -> int:
    return ACCEPTED if ctx.copter.auto.set_current(int(cmd.params[0])) else FAILED


def _fence_enable(ctx: Context, link: Any, cmd: Command) -> int:
    value = int(cmd.params[0])
    if value not in (0, 1):
        return DENIED
    ctx.copter.params.set("FENCE_ENABLE", value)
    return ACCEPTED


def _reposition(ctx: Context, link: Any, cmd: Command) -> int:
    cop = ctx.copter
    if cop.mode is not CopterMode.GUIDED:
        if not int(cmd.params[1]) & M.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE:
            return FAILED
        if not cop.set_mode(CopterMode.GUIDED):
            return FAILED
    lat, lon = cmd.latlon_e7()
    if not cmd.is_int and (math.isnan(cmd.params[4]) or math.isnan(cmd.params[5])):
        return FAILED
    north, east = cop.frame.to_ne_e7(lat, lon)
    alt = cmd.params[6]
    if cmd.frame not in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
        alt += cop.home_alt_m
    return ACCEPTED if cop.guided_goto(north, east, alt) else FAILED


HANDLERS: dict[int, Handler] = {
    M.MAV_CMD_COMPONENT_ARM_DISARM: _arm_disarm,
    M.MAV_CMD_DO_SET_MODE: _do_set_mode,
    M.MAV_CMD_NAV_TAKEOFF: _takeoff,
    M.MAV_CMD_NAV_RETURN_TO_LAUNCH: _mode(CopterMode.RTL),
    M.MAV_CMD_NAV_LAND: _mode(CopterMode.LAND),
    M.MAV_CMD_MISSION_START: _mission_start,
    M.MAV_CMD_SET_MESSAGE_INTERVAL: _set_message_interval,
    M.MAV_CMD_GET_MESSAGE_INTERVAL: _get_message_interval,
    M.MAV_CMD_REQUEST_MESSAGE: _request_message,
    M.MAV_CMD_GET_HOME_POSITION: _get_home,
    M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES: _capabilities,
    M.MAV_CMD_DO_SET_CAM_TRIGG_DIST: _cam_trigg_dist,
    M.MAV_CMD_DO_DIGICAM_CONTROL: _digicam_control,
    M.MAV_CMD_IMAGE_START_CAPTURE: _image_start,
    M.MAV_CMD_IMAGE_STOP_CAPTURE: _image_stop,
    M.MAV_CMD_DO_CHANGE_SPEED: _change_speed,
    M.MAV_CMD_DO_SET_HOME: _set_home,
    M.MAV_CMD_DO_SET_MISSION_CURRENT: _set_mission_current,
    M.MAV_CMD_DO_FENCE_ENABLE: _fence_enable,
    M.MAV_CMD_DO_REPOSITION: _reposition,
}

INT_COMMANDS = frozenset({
    M.MAV_CMD_DO_REPOSITION, M.MAV_CMD_DO_SET_HOME, M.MAV_CMD_NAV_TAKEOFF,
    M.MAV_CMD_DO_SET_MODE, M.MAV_CMD_MISSION_START, M.MAV_CMD_NAV_RETURN_TO_LAUNCH,
    M.MAV_CMD_NAV_LAND, M.MAV_CMD_DO_CHANGE_SPEED, M.MAV_CMD_DO_SET_MISSION_CURRENT,
    M.MAV_CMD_DO_FENCE_ENABLE, M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAV_CMD_REQUEST_MESSAGE,
    M.MAV_CMD_COMPONENT_ARM_DISARM, M.MAV_CMD_DO_SET_CAM_TRIGG_DIST,
})
"""Commands also accepted as COMMAND_INT; others are UNSUPPORTED that way."""


def handle(ctx: Context, link: Any, cmd: Command) -> int:
    """Run one command and return its MAV_RESULT."""
    if cmd.is_int and cmd.command not in INT_COMMANDS:
        return UNSUPPORTED
    handler = HANDLERS.get(cmd.command)
    if handler is None:
        return UNSUPPORTED
    try:
        return handler(ctx, link, cmd)
    except (ValueError, OverflowError):  # NaN or infinite where a number is needed
        return DENIED
