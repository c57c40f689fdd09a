"""Point-mass multicopter kinematics: acceleration-limited moves in a local north/east/up frame.

There is no wind and no aerodynamics beyond a drag-like forward tilt. The vehicle follows the
straight leg between waypoints (steering back onto it when off to one side) at a speed it can
still brake from in time, so its track is the planned lines plus corners rounded within a few
metres of the waypoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GRAVITY_M_S2 = 9.80665
DRAG_PER_M = 0.01
"""Drag-like deceleration per (m/s)²: about 6° of forward tilt at 10 m/s."""
YAW_RATE_RAD_S = math.radians(90.0)
XTRACK_GAIN_PER_S = 1.0
"""Cross-track correction: metres per second of sideways speed per metre off the leg."""


@dataclass(frozen=True)
class Limits:
    """Speed and acceleration limits for one step (all in metres and seconds, up positive)."""

    speed_xy_m_s: float
    accel_xy_m_s2: float
    speed_up_m_s: float
    speed_down_m_s: float
    accel_z_m_s2: float


@dataclass
class Airframe:
    """Position (north/east metres from the frame origin, altitude AMSL), velocity, attitude."""

    north_m: float = 0.0
    east_m: float = 0.0
    alt_m: float = 0.0
    vn_m_s: float = 0.0
    ve_m_s: float = 0.0
    vu_m_s: float = 0.0
    roll_rad: float = 0.0
    pitch_rad: float = 0.0
    yaw_rad: float = 0.0
    roll_rate: float = 0.0
    pitch_rate: float = 0.0
    yaw_rate: float = 0.0

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.vn_m_s, self.ve_m_s)

    def distance_xy_m(self, north_m: float, east_m: float) -> float:
        return math.hypot(north_m - self.north_m, east_m - self.east_m)

    def stop(self) -> None:
        """Zero velocity and attitude (on the ground)."""
        self.vn_m_s = self.ve_m_s = self.vu_m_s = 0.0
        self.roll_rad = self.pitch_rad = 0.0
        self.roll_rate = self.pitch_rate = self.yaw_rate = 0.0


def _approach_speed(distance: float, speed: float, accel: float, dt: float,
                    end_speed: float = 0.0) -> float:
    """Highest speed from which the vehicle can still slow to ``end_speed`` within ``distance``."""
    return min(speed, math.sqrt(end_speed**2 + 2.0 * accel * distance),
               max(distance / dt, end_speed))


def corner_speed_m_s(turn_rad: float, speed_m_s: float, accel_m_s2: float,
                     overshoot_m: float = 0.5) -> float:
    """Speed at which to pass a waypoint where the path turns by ``turn_rad`` so that the
    sideways overshoot stays under ``overshoot_m``.

    >>> corner_speed_m_s(0.0, 10.0, 2.5)
    10.0
    >>> round(corner_speed_m_s(math.pi / 2, 10.0, 2.5), 2)
    1.58
    """
    lateral = math.sqrt(2.0 * accel_m_s2 * overshoot_m)
    sine = math.sin(min(abs(turn_rad), math.pi / 2))
    return speed_m_s if sine < 1e-6 else min(speed_m_s, lateral / sine)


def _wanted_velocity(body: Airframe, target: tuple[float, float],
                     origin: tuple[float, float] | None, limits: Limits,
                     dt: float, end_speed: float) -> tuple[float, float]:
    dn, de = target[0] - body.north_m, target[1] - body.east_m
    dist = math.hypot(dn, de)
    if dist < 1e-6:
        return 0.0, 0.0
    s = _approach_speed(dist, limits.speed_xy_m_s, limits.accel_xy_m_s2, dt, end_speed)
    if origin is not None:
        ln, le = target[0] - origin[0], target[1] - origin[1]
        length = math.hypot(ln, le)
        if length > 1.0:
            un, ue = ln / length, le / length
            rn, re = body.north_m - origin[0], body.east_m - origin[1]
            along = rn * un + re * ue
            if length - along > 1.0:  # follow the leg; near its end, head straight in
                xn, xe = rn - along * un, re - along * ue
                wn = un * s - xn * XTRACK_GAIN_PER_S
                we = ue * s - xe * XTRACK_GAIN_PER_S
                w = math.hypot(wn, we)
                if w > limits.speed_xy_m_s:
                    wn, we = wn / w * limits.speed_xy_m_s, we / w * limits.speed_xy_m_s
                return wn, we
    return dn / dist * s, de / dist * s


def _leg_unit(origin: tuple[float, float] | None, target_n: float | None,
              target_e: float | None) -> tuple[float, float] | None:
    if origin is None or target_n is None or target_e is None:
        return None
    ln, le = target_n - origin[0], target_e - origin[1]
    length = math.hypot(ln, le)
    return (ln / length, le / length) if length > 1.0 else None


def _limit_accel(dvn: float, dve: float, max_dv: float,
                 leg: tuple[float, float] | None) -> tuple[float, float]:
    """Clip a velocity change to ``max_dv``; on a leg, sideways correction comes first."""
    if leg is None:
        dv = math.hypot(dvn, dve)
        return (dvn, dve) if dv <= max_dv else (dvn / dv * max_dv, dve / dv * max_dv)
    un, ue = leg
    along = dvn * un + dve * ue
    xn, xe = dvn - along * un, dve - along * ue
    cross = math.hypot(xn, xe)
    if cross > max_dv:
        xn, xe, cross = xn / cross * max_dv, xe / cross * max_dv, max_dv
    room = math.sqrt(max(max_dv**2 - cross**2, 0.0))
    along = max(-room, min(room, along))
    return along * un + xn, along * ue + xe


def step_xy(body: Airframe, target_n: float | None, target_e: float | None,
            limits: Limits, dt: float, origin: tuple[float, float] | None = None,
            end_speed: float = 0.0) -> None:
    """Move horizontally toward a target (or brake to a stop when the target is None).

    With an ``origin``, follow the straight leg from origin to target, steering back onto it
    when off to one side; arrive at ``end_speed`` (0: stop at the target).
    """
    vn0, ve0 = body.vn_m_s, body.ve_m_s
    if target_n is None or target_e is None:
        want_n = want_e = 0.0
    else:
        want_n, want_e = _wanted_velocity(body, (target_n, target_e), origin, limits, dt,
                                          end_speed)
    dvn, dve = _limit_accel(want_n - vn0, want_e - ve0, limits.accel_xy_m_s2 * dt,
                            _leg_unit(origin, target_n, target_e))
    body.vn_m_s, body.ve_m_s = vn0 + dvn, ve0 + dve
    body.north_m += (vn0 + body.vn_m_s) * 0.5 * dt
    body.east_m += (ve0 + body.ve_m_s) * 0.5 * dt
    _update_attitude(body, dvn / dt, dve / dt, dt)


def step_z(body: Airframe, *, target_alt_m: float | None = None,
           climb_rate_m_s: float | None = None, limits: Limits, dt: float,
           ground_alt_m: float) -> None:
    """Move vertically toward an altitude, or at a climb rate; never below the ground."""
    if target_alt_m is not None:
        dz = target_alt_m - body.alt_m
        speed = limits.speed_up_m_s if dz > 0 else limits.speed_down_m_s
        want = math.copysign(_approach_speed(abs(dz), speed, limits.accel_z_m_s2, dt), dz)
    else:
        want = climb_rate_m_s or 0.0
    dv = max(-limits.accel_z_m_s2 * dt, min(limits.accel_z_m_s2 * dt, want - body.vu_m_s))
    v0 = body.vu_m_s
    body.vu_m_s = v0 + dv
    body.alt_m += (v0 + body.vu_m_s) * 0.5 * dt
    if body.alt_m <= ground_alt_m:
        body.alt_m = ground_alt_m
        body.vu_m_s = max(body.vu_m_s, 0.0)


def _update_attitude(body: Airframe, an: float, ae: float, dt: float) -> None:
    speed = body.ground_speed_m_s
    if speed > 1.0:
        course = math.atan2(body.ve_m_s, body.vn_m_s)
        err = (course - body.yaw_rad + math.pi) % (2 * math.pi) - math.pi
        turn = max(-YAW_RATE_RAD_S * dt, min(YAW_RATE_RAD_S * dt, err))
    else:
        turn = 0.0
    body.yaw_rad = (body.yaw_rad + turn + math.pi) % (2 * math.pi) - math.pi
    body.yaw_rate = turn / dt
    # thrust tilts toward the commanded acceleration plus the drag it must overcome
    drag = DRAG_PER_M * speed
    tn, te = an + body.vn_m_s * drag, ae + body.ve_m_s * drag
    cy, sy = math.cos(body.yaw_rad), math.sin(body.yaw_rad)
    forward, right = tn * cy + te * sy, -tn * sy + te * cy
    pitch = -math.atan2(forward, GRAVITY_M_S2)
    roll = math.atan2(right, GRAVITY_M_S2)
    body.pitch_rate = (pitch - body.pitch_rad) / dt
    body.roll_rate = (roll - body.roll_rad) / dt
    body.pitch_rad, body.roll_rad = pitch, roll
