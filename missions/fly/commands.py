"""Commands to an ArduCopter: mode changes, arming, take-off, mission start, camera trigger.

Each waits for COMMAND_ACK, raises :class:`~survey.core.errors.VehicleRefused` with the vehicle's
result and any STATUSTEXT it sent meanwhile (ArduPilot explains a refused arm with "PreArm: …"),
and addresses the vehicle's real system and component ids.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly.link import Link, command_long, result_name
from survey.core.errors import LinkTimeout, VehicleRefused
from survey.core.mavlink import CopterMode

_TEXT_GRACE_S = 0.3


def run_command(link: Link, action: str, command: int, *params: float,
                timeout_s: float = 1.5, retries: int = 3) -> None:
    """Send a command and require MAV_RESULT_ACCEPTED.

    Raises
    ------
    VehicleRefused
        Another result; the message carries it and the STATUSTEXTs sent meanwhile.
    LinkTimeout
        No COMMAND_ACK.
    """
    with link.subscribe("STATUSTEXT") as texts:
        result = command_long(link, command, *params, timeout_s=timeout_s, retries=retries)
        if result == mavlink.MAV_RESULT_ACCEPTED:
            return
        said = [_text(m) for m in _drain(texts)]
        if not said:  # the explanation may trail the ACK
            try:
                said.append(_text(texts.get(_TEXT_GRACE_S)))
            except LinkTimeout:
                pass
    reason = result_name(result)
    if said:
        reason += ": " + " / ".join(said)
    raise VehicleRefused(action, reason)


def _drain(sub: object) -> list[object]:
    out = []
    while (msg := sub.poll()) is not None:  # type: ignore[attr-defined]
        out.append(msg)
    return out


def _text(msg: object) -> str:
    text = msg.text  # type: ignore[attr-defined]
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text).rstrip("\0")


def set_mode(link: Link, mode: CopterMode, *, timeout_s: float = 1.5) -> None:
    """Switch flight mode (MAV_CMD_DO_SET_MODE) and wait for the heartbeat to show it.

    Raises
    ------
    VehicleRefused, LinkTimeout
    """
    run_command(link, f"change mode to {mode.name}", mavlink.MAV_CMD_DO_SET_MODE,
                mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, int(mode), timeout_s=timeout_s)
    if link.heartbeat is None or link.heartbeat.custom_mode != mode:
        link.expect("HEARTBEAT", timeout_s * 2, lambda h: h.custom_mode == mode)


def arm(link: Link, *, timeout_s: float = 1.5) -> None:
    """Arm the motors (refused in AUTO by ArduCopter: arm in GUIDED first)."""
    run_command(link, "arm", mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout_s=timeout_s)


def disarm(link: Link, *, timeout_s: float = 1.5) -> None:
    """Disarm (refused in flight)."""
    run_command(link, "disarm", mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, timeout_s=timeout_s)


def takeoff(link: Link, alt_m: float, *, timeout_s: float = 1.5) -> None:
    """GUIDED take-off to ``alt_m`` above home."""
    run_command(link, f"take off to {alt_m:g} m", mavlink.MAV_CMD_NAV_TAKEOFF,
                0, 0, 0, 0, 0, 0, alt_m, timeout_s=timeout_s)


def start_mission(link: Link, *, first_seq: int = 0, timeout_s: float = 1.5) -> None:
    """MAV_CMD_MISSION_START (from ``first_seq``; 0 = from the start)."""
    run_command(link, "start the mission", mavlink.MAV_CMD_MISSION_START, first_seq, 0,
                timeout_s=timeout_s)


def set_current_item(link: Link, seq: int, *, timeout_s: float = 1.5) -> None:
    """Make mission item ``seq`` the next to fly (MISSION_SET_CURRENT; answered by
    MISSION_CURRENT)."""
    link.send(link.mav.mission_set_current_encode(link.target_system, link.target_component,
                                                  seq))
    link.expect("MISSION_CURRENT", timeout_s * 2, lambda m: m.seq == seq)


def stop_camera_trigger(link: Link, *, timeout_s: float = 1.5) -> None:
    """MAV_CMD_DO_SET_CAM_TRIGG_DIST 0: stop distance triggering (QGC #5737)."""
    run_command(link, "stop the camera", mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0, 0, 0,
                timeout_s=timeout_s)


def set_param(link: Link, name: str, value: float, *, timeout_s: float = 1.5,
              retries: int = 3) -> float:
    """Set a parameter and return the value the vehicle echoes (PARAM_VALUE).

    Raises
    ------
    LinkTimeout
        No PARAM_VALUE for ``name``.
    """
    with link.subscribe("PARAM_VALUE") as values:
        for attempt in range(retries + 1):
            link.send(link.mav.param_set_encode(
                link.target_system, link.target_component, name.encode("ascii"), float(value),
                mavlink.MAV_PARAM_TYPE_REAL32))
            try:
                msg = values.get(timeout_s, lambda m: _param_id(m) == name,
                                 what=f"PARAM_VALUE {name}")
            except LinkTimeout:
                if attempt == retries:
                    raise
                continue
            return float(msg.param_value)
    raise AssertionError("unreachable")


def get_param(link: Link, name: str, *, timeout_s: float = 1.5, retries: int = 2
              ) -> float | None:
    """A parameter's value (PARAM_REQUEST_READ), or None when the vehicle has no such
    parameter (ArduPilot does not answer for an unknown name)."""
    with link.subscribe("PARAM_VALUE") as values:
        for _ in range(retries + 1):
            link.send(link.mav.param_request_read_encode(
                link.target_system, link.target_component, name.encode("ascii"), -1))
            try:
                msg = values.get(timeout_s, lambda m: _param_id(m) == name,
                                 what=f"PARAM_VALUE {name}")
            except LinkTimeout:
                continue
            return float(msg.param_value)
    return None


def _param_id(msg: object) -> str:
    pid = msg.param_id  # type: ignore[attr-defined]
    return (pid.decode("ascii", "replace") if isinstance(pid, bytes) else pid).rstrip("\0")
