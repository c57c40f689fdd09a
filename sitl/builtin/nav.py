"""What the vehicle is doing right now: hold, go to a point, take off, land, return to launch.

Each activity moves the airframe one step and says when it is done; flight modes and the AUTO
executor choose activities, the activities know nothing about modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

from .kinematics import Airframe, Limits, step_xy, step_z

TOUCHDOWN_S = 1.0
"""Time on the ground, descending, before the land detector reports landed."""
RTL_ABS_MIN_CLIMB_M = 2.5


@dataclass(frozen=True)
class Env:
    """What an activity may read each step besides the airframe."""

    limits: Limits
    dt: float
    ground_alt_m: float
    wp_radius_m: float
    land_speed_m_s: float
    land_speed_high_m_s: float
    land_alt_low_m: float
    terrain: bool = False
    """Over terrain: a target below the ground is reached on the ground (flat ground: never)."""


class Activity:
    """Base class: one step of motion; ``done`` once the activity's goal is met."""

    done = False

    def step(self, body: Airframe, env: Env) -> None:
        raise NotImplementedError

    @property
    def target_ne(self) -> tuple[float, float] | None:
        """The horizontal point the activity heads for, if any."""
        return None


class Idle(Activity):
    """On the ground, motors idle or stopped."""

    def step(self, body: Airframe, env: Env) -> None:
        body.stop()


class Hold(Activity):
    """Brake to a stop, then hold that point at ``alt_m`` (the current altitude if None)."""

    def __init__(self, alt_m: float | None = None) -> None:
        self.alt_m = alt_m
        self.point: tuple[float, float] | None = None

    def step(self, body: Airframe, env: Env) -> None:
        if self.alt_m is None:
            self.alt_m = body.alt_m
        if self.point is None and body.ground_speed_m_s < 0.05:
            self.point = (body.north_m, body.east_m)
        n, e = self.point if self.point else (None, None)
        step_xy(body, n, e, env.limits, env.dt)
        step_z(body, target_alt_m=self.alt_m, limits=env.limits, dt=env.dt,
               ground_alt_m=env.ground_alt_m)

    @property
    def target_ne(self) -> tuple[float, float] | None:
        return self.point


class Climb(Hold):
    """Brake to a stop and climb (or descend) to ``alt_m`` there; done when both are reached."""

    def __init__(self, alt_m: float) -> None:
        super().__init__(alt_m)

    def step(self, body: Airframe, env: Env) -> None:
        super().step(body, env)
        self.done = self.done or (self.point is not None
                                  and abs(body.alt_m - (self.alt_m or 0.0)) < 0.1)


class Goto(Activity):
    """Fly the leg from ``origin`` (where the vehicle is, if None) to a point, arriving at
    ``end_speed_m_s`` (0 stops there; more keeps going into the next leg); done when within the
    waypoint radius (3-D) and slowed to the end speed; then hold there.

    With ``above_ground_m`` the altitude target follows the ground under the vehicle (a
    terrain-relative waypoint): ``alt_m`` becomes that ground plus ``above_ground_m`` each step.
    """

    def __init__(self, north_m: float, east_m: float, alt_m: float,
                 origin: tuple[float, float] | None = None, end_speed_m_s: float = 0.0,
                 above_ground_m: float | None = None) -> None:
        self.north_m, self.east_m, self.alt_m = north_m, east_m, alt_m
        self.origin = origin
        self.end_speed_m_s = end_speed_m_s
        self.above_ground_m = above_ground_m

    def step(self, body: Airframe, env: Env) -> None:
        if self.above_ground_m is not None:
            self.alt_m = env.ground_alt_m + self.above_ground_m
        leg = self.origin is not None and self.above_ground_m is None
        if self.origin is None:
            self.origin = (body.north_m, body.east_m)
        if self._origin_alt_m is None:
            self._origin_alt_m = body.alt_m
        end_speed = 0.0 if self.done else self.end_speed_m_s
        limits, alt = env.limits, self.alt_m
        if leg and not self.done:
            limits, alt = self._along_the_leg(body, env.limits)
        step_xy(body, self.north_m, self.east_m, limits, env.dt, self.origin, end_speed)
        step_z(body, target_alt_m=alt, limits=env.limits, dt=env.dt,
               ground_alt_m=env.ground_alt_m)
        if not self.done:
            goal = max(self.alt_m, env.ground_alt_m) if env.terrain else self.alt_m
            d = math.hypot(body.distance_xy_m(self.north_m, self.east_m), body.alt_m - goal)
            slow = body.ground_speed_m_s <= self.end_speed_m_s + 0.3 or d <= 0.2
            self.done = d <= env.wp_radius_m and slow

    _origin_alt_m: float | None = None
    _LEAD_M = 3.0  # the altitude target runs this far ahead along the leg

    def _along_the_leg(self, body: Airframe, limits: Limits) -> tuple[Limits, float]:
        """A mission leg is flown along the straight 3-D line from its origin (AC_WPNav): the
        altitude target moves with the progress along the leg, and the horizontal speed is
        capped so that the climb or descent it needs stays within the vertical limit."""
        assert self.origin is not None and self._origin_alt_m is not None
        ln, le = self.north_m - self.origin[0], self.east_m - self.origin[1]
        length = math.hypot(ln, le)
        dz = self.alt_m - self._origin_alt_m
        if length < 1.0 or abs(dz) < 0.5:
            return limits, self.alt_m
        rn, re = body.north_m - self.origin[0], body.east_m - self.origin[1]
        along = (rn * ln + re * le) / length
        f = min(1.0, max(0.0, (along + self._LEAD_M) / length))
        rate = limits.speed_up_m_s if dz > 0 else limits.speed_down_m_s
        cap = rate * length / abs(dz)
        if cap < limits.speed_xy_m_s:
            limits = replace(limits, speed_xy_m_s=cap)
        return limits, self._origin_alt_m + f * dz

    @property
    def target_ne(self) -> tuple[float, float]:
        return (self.north_m, self.east_m)


class Takeoff(Activity):
    """Climb straight up to ``alt_m``; done within 10 cm of it."""

    def __init__(self, alt_m: float, north_m: float, east_m: float) -> None:
        self.alt_m, self.point = alt_m, (north_m, east_m)

    def step(self, body: Airframe, env: Env) -> None:
        step_xy(body, *self.point, env.limits, env.dt)
        step_z(body, target_alt_m=self.alt_m, limits=env.limits, dt=env.dt,
               ground_alt_m=env.ground_alt_m)
        self.done = self.done or body.alt_m >= self.alt_m - 0.1


class Land(Activity):
    """Descend (LAND_SPEED_HIGH, then LAND_SPEED below LAND_ALT_LOW) and touch down.

    With a point, first fly there at the current altitude. Done once landed.
    """

    def __init__(self, point: tuple[float, float] | None = None) -> None:
        self.point = point
        self._reposition = point is not None
        self._alt_m: float | None = None
        self._ground_s = 0.0

    def step(self, body: Airframe, env: Env) -> None:
        if self._alt_m is None:
            self._alt_m = body.alt_m
        if self.point is None:
            self.point = (body.north_m, body.east_m)
        step_xy(body, *self.point, env.limits, env.dt)
        if self._reposition:
            step_z(body, target_alt_m=self._alt_m, limits=env.limits, dt=env.dt,
                   ground_alt_m=env.ground_alt_m)
            self._reposition = body.distance_xy_m(*self.point) > env.wp_radius_m
            return
        height = body.alt_m - env.ground_alt_m
        rate = env.land_speed_m_s if height < env.land_alt_low_m else env.land_speed_high_m_s
        step_z(body, climb_rate_m_s=-rate, limits=env.limits, dt=env.dt,
               ground_alt_m=env.ground_alt_m)
        if body.alt_m <= env.ground_alt_m + 1e-3:
            self._ground_s += env.dt
            if self._ground_s >= TOUCHDOWN_S:
                self.done = True
                body.stop()

    @property
    def target_ne(self) -> tuple[float, float] | None:
        return self.point


class RtlStage(Enum):
    CLIMB = "climb"
    RETURN = "return"
    LOITER = "loiter"
    FINAL_DESCENT = "final descent"
    LAND = "land"


@dataclass(frozen=True)
class RtlPlan:
    """Where RTL returns to and at what altitudes (metres AMSL), and how long it loiters there."""

    target_ne: tuple[float, float]
    return_alt_m: float
    loiter_s: float
    final_alt_m: float | None
    """Altitude to stop at instead of landing (RTL_ALT_FINAL > 0), or None to land."""


def rtl_return_alt_m(*, height_m: float, distance_m: float, rtl_alt_m: float,
                     climb_min_m: float, cone_slope: float) -> float:
    """RTL return height above home (``ModeRTL::compute_return_target``).

    >>> rtl_return_alt_m(height_m=30, distance_m=500, rtl_alt_m=15, climb_min_m=0, cone_slope=3)
    30.0
    >>> rtl_return_alt_m(height_m=1, distance_m=2, rtl_alt_m=15, climb_min_m=0, cone_slope=3)
    6.0
    """
    target = max(rtl_alt_m, 0.3, height_m + max(climb_min_m, 0.0))
    if cone_slope >= 0.5:
        target = min(target, max(distance_m * cone_slope, height_m + RTL_ABS_MIN_CLIMB_M))
    return float(max(target, height_m))


class Rtl(Activity):
    """Climb to the return altitude, fly back, loiter, then land (or stop at the final altitude).

    Done once landed (or on reaching the final altitude).
    """

    def __init__(self, plan: RtlPlan) -> None:
        self.plan = plan
        self.stage = RtlStage.CLIMB
        self._inner: Activity | None = None
        self._loiter_s = 0.0

    def step(self, body: Airframe, env: Env) -> None:
        if self._inner is None:
            self._inner = Climb(self.plan.return_alt_m)
        self._inner.step(body, env)
        if not self._inner.done:
            return
        if self.stage is RtlStage.CLIMB:
            self.stage = RtlStage.RETURN
            self._inner = Goto(*self.plan.target_ne, self.plan.return_alt_m)
        elif self.stage is RtlStage.RETURN:
            self.stage = RtlStage.LOITER
            self._inner = Goto(*self.plan.target_ne, self.plan.return_alt_m)
            self._inner.done = True
        elif self.stage is RtlStage.LOITER:
            self._loiter_s += env.dt
            if self._loiter_s >= self.plan.loiter_s:
                if self.plan.final_alt_m is None:
                    self.stage, self._inner = RtlStage.LAND, Land(self.plan.target_ne)
                else:
                    self.stage = RtlStage.FINAL_DESCENT
                    self._inner = Goto(*self.plan.target_ne, self.plan.final_alt_m)
        else:
            self.done = True

    @property
    def landing(self) -> bool:
        return self.stage is RtlStage.LAND

    @property
    def target_ne(self) -> tuple[float, float]:
        return self.plan.target_ne
