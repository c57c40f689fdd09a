"""The copter state machine: modes, arming, take-off and landing, one simulation step.

It owns the airframe, battery and camera, reads its parameters on every step and reports what a
ground station should hear through :class:`Events`; it knows nothing about sockets or MAVLink
framing. AUTO mission execution lives in :mod:`.auto`, failsafe checks in :mod:`.failsafes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from . import nav
from .auto import AutoExecutor
from .battery import Battery, Load
from .camera import Camera, CameraShot, Pose
from .failsafes import Failsafes, Fault
from .fence import FenceShapes, fence_names
from .geo import LocalFrame, distance_e7_m
from .kinematics import Airframe, Limits
from .mission_items import WireItem
from .params import ParamStore
from .protocol import ARMABLE_MODES, POSITION_MODES, CopterMode, mavlink
from .terrain import Ground, Terrain

SEV_INFO = mavlink.MAV_SEVERITY_INFO
SEV_WARNING = mavlink.MAV_SEVERITY_WARNING
SEV_CRITICAL = mavlink.MAV_SEVERITY_CRITICAL
FORCE_MAGIC = 21196
"""param2 of COMPONENT_ARM_DISARM that forces arming or disarming."""
TRACK_PERIOD_S = 0.1
CONTACT_M = 1e-3
"""Within this of the ground (or held at it by the ground clamp), a flying copter touches it."""
CONTACT_CLEAR_M = 0.5
"""Height above the ground at which a terrain contact is over (the next one is reported)."""
_TERRAIN_FRAMES = frozenset({mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT,
                             mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})


class Events(Protocol):
    """What the copter tells the ground stations."""

    def text(self, severity: int, text: str) -> None: ...

    def item_reached(self, seq: int) -> None: ...

    def mission_current(self) -> None: ...

    def camera_shot(self, shot: CameraShot) -> None: ...

    def home_changed(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One sample of the flown track (recorded every 0.1 s of simulated time while armed)."""

    time_s: float
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    mode: str
    armed: bool


class Copter:
    """State of the simulated ArduCopter.

    Parameters
    ----------
    frame
        Local metric frame centred on the initial home.
    home_alt_m
        Initial home altitude above mean sea level, metres; the ground (everywhere without
        ``terrain``, where it has no height with one).
    params
        The parameter table the behaviour reads.
    events
        Receiver of what the ground stations should hear.
    warmup_s
        Simulated seconds before GPS and EKF are ready (arming refused until then).
    link_clock
        The clock of ground-station deadlines (default: simulated time).
    terrain
        Ground heights to fly over (None: flat ground at ``home_alt_m``). The copter starts on
        the ground at the frame origin; terrain-relative items fly above it; flying into it is
        stopped there and reported once per contact ("Crash: hit terrain ...").
    """

    def __init__(self, frame: LocalFrame, home_alt_m: float, params: ParamStore, events: Events,
                 *, warmup_s: float = 2.0, link_clock: Callable[[], float] | None = None,
                 terrain: Terrain | None = None) -> None:
        self.frame = frame
        # What times the ground station (the auto-disarm after arming: DISARM_DELAY gives the
        # pilot or the GCS that long to take off) runs on the link clock; default: sim time.
        self._link_clock: Callable[[], float] = link_clock or self._sim_time
        self._landed_armed_since: float | None = None
        self.params = params
        self.events = events
        self.terrain = terrain
        self.ground = Ground(terrain, frame, home_alt_m)
        self.ground_alt_m = self.ground.alt_m(0.0, 0.0)
        """Ground altitude (m AMSL) under the copter (updated every step over terrain)."""
        self.origin_alt_m = self.ground_alt_m
        """Altitude of the EKF origin (where the copter started)."""
        self.terrain_contact = False
        self.warmup_s = warmup_s
        self.time_s = 0.0
        self.body = Airframe(alt_m=self.ground_alt_m)
        self.home_lat_e7 = 0
        self.home_lon_e7 = 0
        self.home_alt_m = home_alt_m
        self.home_set = False
        self.ekf_ready = False
        self.mode = CopterMode.STABILIZE
        self.armed = False
        self.landed = True
        self.auto_armed = False
        self.activity: nav.Activity = nav.Idle()
        self.battery = Battery(params["BATT_CAPACITY"])
        self.camera = Camera()
        self.auto = AutoExecutor(self)
        self.faults: set[Fault] = set()
        self.speed_xy_override: float | None = None
        self.speed_up_override: float | None = None
        self.speed_dn_override: float | None = None
        self.fence_shapes = FenceShapes()
        self.rally_points: tuple[WireItem, ...] = ()
        self.fence_breach_mask = 0
        self.fence_breach_count = 0
        self.failsafe_battery = 0  # 0 none, 1 low, 2 critical
        self.failsafe_gcs = False
        self.failsafe_ekf = False
        self.last_gcs_heartbeat_s: float | None = None  # on the link clock (real seconds)
        self.track: list[TrackPoint] = []
        self.failsafes = Failsafes(self)
        self._landed_armed_since = None
        self._next_track_s = 0.0
        self._next_check_s = 0.0

    # ------------------------------------------------------------------ derived state
    @property
    def position_ok(self) -> bool:
        """Whether the EKF has a usable position (after warm-up, GPS present)."""
        return self.ekf_ready and Fault.GPS_LOSS not in self.faults

    @property
    def latlon_e7(self) -> tuple[int, int]:
        lat, lon = self.frame.to_latlon(self.body.north_m, self.body.east_m)
        return round(lat * 1e7), round(lon * 1e7)

    @property
    def alt_rel_m(self) -> float:
        """Altitude above home, metres."""
        return self.body.alt_m - self.home_alt_m

    @property
    def home_ne(self) -> tuple[float, float]:
        return self.frame.to_ne_e7(self.home_lat_e7, self.home_lon_e7)

    @property
    def prearm_ok(self) -> bool:
        """The SYS_STATUS pre-arm bit: all pre-arm checks pass."""
        return self._prearm_failure() is None

    @property
    def is_landing(self) -> bool:
        """LAND mode, or the landing stage of an RTL (in RTL or AUTO)."""
        act = self.auto.activity if self.mode is CopterMode.AUTO else self.activity
        return (self.mode is CopterMode.LAND or isinstance(act, nav.Land)
                or (isinstance(act, nav.Rtl) and act.landing))

    def pose(self) -> Pose:
        lat, lon = self.latlon_e7
        b = self.body
        return Pose(self.time_s, lat, lon, b.alt_m, self.alt_rel_m, math.degrees(b.roll_rad),
                    math.degrees(b.pitch_rad), math.degrees(b.yaw_rad) % 360.0)

    # ------------------------------------------------------------------ limits
    def limits(self) -> Limits:
        p = self.params
        speed = self.speed_xy_override or p["WPNAV_SPEED"] / 100.0
        act = self.auto.activity if self.mode is CopterMode.AUTO else self.activity
        if (isinstance(act, nav.Rtl) and act.stage is nav.RtlStage.RETURN
                and p["RTL_SPEED"] > 0):
            speed = p["RTL_SPEED"] / 100.0
        return Limits(
            speed_xy_m_s=max(speed, 0.2),
            accel_xy_m_s2=max(p["WPNAV_ACCEL"] / 100.0, 0.5),
            speed_up_m_s=max(self.speed_up_override or p["WPNAV_SPEED_UP"] / 100.0, 0.1),
            speed_down_m_s=max(self.speed_dn_override or p["WPNAV_SPEED_DN"] / 100.0, 0.1),
            accel_z_m_s2=max(p["WPNAV_ACCEL_Z"] / 100.0, 0.2),
        )

    def env(self, dt: float) -> nav.Env:
        p = self.params
        high = p["LAND_SPEED_HIGH"] if p["LAND_SPEED_HIGH"] > 0 else p["WPNAV_SPEED_DN"]
        return nav.Env(limits=self.limits(), dt=dt, ground_alt_m=self.ground_alt_m,
                       wp_radius_m=max(p["WPNAV_RADIUS"] / 100.0, 0.05),
                       land_speed_m_s=max(p["LAND_SPEED"] / 100.0, 0.3),
                       land_speed_high_m_s=max(high / 100.0, 0.3),
                       land_alt_low_m=p["LAND_ALT_LOW"] / 100.0,
                       terrain=self.terrain is not None)

    def change_speed(self, speed_type: int, speed_m_s: float) -> None:
        """DO_CHANGE_SPEED: 0/1 horizontal, 2 climb, 3 descent; speeds <= 0 are ignored."""
        if speed_m_s <= 0:
            return
        if speed_type == 2:
            self.speed_up_override = speed_m_s
        elif speed_type == 3:
            self.speed_dn_override = speed_m_s
        else:
            self.speed_xy_override = speed_m_s

    # ------------------------------------------------------------------ home and locations
    def set_home(self, lat_e7: int, lon_e7: int, alt_m: float) -> None:
        self.home_lat_e7, self.home_lon_e7, self.home_alt_m = lat_e7, lon_e7, alt_m
        self.home_set = True
        self.events.home_changed()

    def set_home_here(self) -> None:
        self.set_home(*self.latlon_e7, self.body.alt_m)

    def item_alt_m(self, item: WireItem, default_alt_m: float) -> float:
        """Altitude AMSL of a stored item (0 means keep ``default_alt_m``); terrain-relative
        items are above the ground at the item (flat ground without terrain: above home)."""
        if item.z == 0:
            return default_alt_m
        if item.frame == mavlink.MAV_FRAME_GLOBAL:
            return item.z
        if item.frame in _TERRAIN_FRAMES and self.terrain is not None:
            north, east = ((self.body.north_m, self.body.east_m) if item.x == 0 and item.y == 0
                           else self.frame.to_ne_e7(item.x, item.y))
            return self.ground.alt_m(north, east) + item.z
        return self.home_alt_m + item.z

    def item_above_ground_m(self, item: WireItem) -> float | None:
        """Height above the ground to follow on the way to a terrain-relative item (None: an
        item at a fixed altitude, or no terrain)."""
        if self.terrain is None or item.frame not in _TERRAIN_FRAMES or item.z == 0:
            return None
        return item.z

    def item_location(self, item: WireItem,
                      default: tuple[float, float, float]) -> tuple[float, float, float]:
        """North, east, altitude of an item; zero lat/lon or altitude take the default's."""
        if item.x == 0 and item.y == 0:
            north, east = default[0], default[1]
        else:
            north, east = self.frame.to_ne_e7(item.x, item.y)
        return north, east, self.item_alt_m(item, default[2])

    def rtl_plan(self) -> nav.RtlPlan:
        """Where and how RTL returns: nearest rally point or home (``AP_Rally``)."""
        p = self.params
        lat, lon = self.latlon_e7
        target = (self.home_lat_e7, self.home_lon_e7)
        best: tuple[float, tuple[int, int]] | None = None
        for r in self.rally_points:
            d = distance_e7_m(lat, lon, r.x, r.y)
            if best is None or d < best[0]:
                best = (d, (r.x, r.y))
        limit_m = p["RALLY_LIMIT_KM"] * 1000.0
        if best is not None and not (limit_m > 0 and best[0] > limit_m):
            home_d = distance_e7_m(lat, lon, *target)
            if not p["RALLY_INCL_HOME"] or best[0] < home_d:
                target = best[1]
        dist = distance_e7_m(lat, lon, *target)
        ret = nav.rtl_return_alt_m(height_m=self.alt_rel_m, distance_m=dist,
                                   rtl_alt_m=p["RTL_ALT"] / 100.0,
                                   climb_min_m=p["RTL_CLIMB_MIN"] / 100.0,
                                   cone_slope=p["RTL_CONE_SLOPE"])
        final = p["RTL_ALT_FINAL"] / 100.0
        return nav.RtlPlan(target_ne=self.frame.to_ne_e7(*target),
                           return_alt_m=self.home_alt_m + ret,
                           loiter_s=max(p["RTL_LOIT_TIME"], 0) / 1000.0,
                           final_alt_m=self.home_alt_m + final if final > 0 else None)

    # ------------------------------------------------------------------ stored plans
    def on_mission(self, items: Sequence[WireItem]) -> None:
        self.auto.set_items(tuple(items))
        self.events.mission_current()

    def on_fence(self, items: Sequence[WireItem]) -> None:
        self.fence_shapes = FenceShapes.from_items(items, self.frame)

    def on_rally(self, items: Sequence[WireItem]) -> None:
        self.rally_points = tuple(items)

    # ------------------------------------------------------------------ modes
    def set_mode(self, mode: CopterMode, *, announce: bool = True) -> bool:
        """Change flight mode as ``Copter::set_mode`` does; False (with a STATUSTEXT) if refused."""
        mode = CopterMode(mode)
        if mode is self.mode:
            return True
        problem = self._mode_problem(mode)
        if problem is not None:
            if announce:
                self.events.text(SEV_WARNING, problem)
            return False
        if self.mode is CopterMode.AUTO:
            self.auto.stop()
        self.mode = mode
        self.speed_xy_override = self.speed_up_override = self.speed_dn_override = None
        self._enter_mode(mode)
        return True

    def _mode_problem(self, mode: CopterMode) -> str | None:
        if mode in POSITION_MODES and not self.position_ok:
            return f"Mode change failed: {mode.name} requires position"
        if mode is CopterMode.AUTO:
            if len(self.auto.items) <= 1:
                return "Mode change failed: AUTO has no mission"
            if self.armed and self.landed and not self.auto.starts_with_takeoff():
                return "Auto: Missing Takeoff Cmd"
        return None

    def _enter_mode(self, mode: CopterMode) -> None:
        if mode is CopterMode.AUTO:
            self.auto.start_or_resume()
        elif self.landed:
            self.activity = nav.Idle()
        elif mode is CopterMode.RTL:
            self.activity = nav.Rtl(self.rtl_plan())
        elif mode is CopterMode.LAND:
            self.activity = nav.Land()
        else:
            self.activity = nav.Hold()

    def guided_goto(self, north_m: float, east_m: float, alt_m: float) -> bool:
        """A GUIDED position target (SET_POSITION_TARGET_GLOBAL_INT, DO_REPOSITION)."""
        if self.mode is not CopterMode.GUIDED or not self.armed or self.landed:
            return False
        self.activity = nav.Goto(north_m, east_m, alt_m)
        return True

    # ------------------------------------------------------------------ arming
    def _prearm_failure(self) -> str | None:
        if not self.params["ARMING_CHECK"]:
            return None
        if Fault.ARMING_REFUSED in self.faults:
            return "PreArm: Injected fault"
        if not self.ekf_ready:
            return "PreArm: AHRS: waiting for home"
        if Fault.GPS_LOSS in self.faults:
            return "PreArm: GPS 1: Bad fix"
        if self.failsafe_battery:
            return "PreArm: Battery 1 low voltage failsafe"
        if self.params["FENCE_ENABLE"]:
            mask = self.failsafes.fence_breaches()
            if mask:
                return f"PreArm: Fence: vehicle outside {fence_names(mask)}"
        return None

    def arm(self, *, force: bool = False) -> bool:
        """Arm (COMPONENT_ARM_DISARM); False with a "PreArm:"/"Arm:" STATUSTEXT when refused."""
        if self.armed:
            return True
        if not force:
            problem = self._prearm_failure()
            if problem is None and self.mode not in ARMABLE_MODES:
                problem = "Arm: Mode not armable"
            if problem is None and self.mode in POSITION_MODES and not self.position_ok:
                problem = "Arm: Mode requires position"
            if problem is not None:
                self.events.text(SEV_CRITICAL, problem)
                return False
        self.armed, self.landed, self.auto_armed = True, True, False
        self._landed_armed_since = None
        if self.position_ok:
            self.set_home_here()
        self._record_track(force=True)
        return True

    def disarm(self, *, force: bool = False) -> bool:
        """Disarm; refused in flight unless forced."""
        if not self.armed:
            return True
        if not self.landed and not force:
            self.events.text(SEV_CRITICAL, "Disarm: vehicle is flying")
            return False
        self.armed = False
        self.auto_armed = False
        if self.mode is CopterMode.AUTO:
            self.auto.stop()
        self.activity = nav.Idle() if self.landed else nav.Land()
        self._record_track(force=True)
        return True

    def takeoff(self, alt_rel_m: float) -> bool:
        """NAV_TAKEOFF in GUIDED: armed, on the ground, climb to ``alt_rel_m`` above home."""
        if self.mode is not CopterMode.GUIDED or not self.armed or not self.landed:
            return False
        alt = self.home_alt_m + max(alt_rel_m, 0.0)
        self.activity = nav.Takeoff(alt, self.body.north_m, self.body.east_m)
        self.auto_armed = True
        return True

    # ------------------------------------------------------------------ step
    def step(self, dt: float) -> None:
        """Advance the simulation by ``dt`` seconds."""
        self.time_s += dt
        if not self.ekf_ready and self.time_s >= self.warmup_s:
            self.ekf_ready = True
            self.events.text(SEV_INFO, "EKF3 IMU0 origin set")
            self.events.text(SEV_INFO, "EKF3 IMU0 is using GPS")
            if not self.home_set:
                self.set_home_here()
        self._fly(dt)
        self.battery.capacity_mah = self.params["BATT_CAPACITY"]
        self.battery.step(Load(self.armed, not self.landed, self.body.ground_speed_m_s,
                               self.body.vu_m_s), dt)
        for shot in self.camera.update(self.pose()):
            self.events.camera_shot(shot)
        if self.time_s >= self._next_check_s:  # failsafe checks at 10 Hz
            self._next_check_s = self.time_s + 0.1
            self.failsafes.check()
        self._record_track()

    def _fly(self, dt: float) -> None:
        env = self.env(dt)
        if self.mode is CopterMode.AUTO and self.armed:
            self.auto.step(env)
        elif self.armed or not self.landed:
            self.activity.step(self.body, env)
        if self.terrain is not None:
            self._follow_terrain(env.ground_alt_m)
        if self.landed and self.body.alt_m > self.ground_alt_m + 0.05:
            self.landed = False
            self.auto_armed = True
        act = self.auto.activity if self.mode is CopterMode.AUTO else self.activity
        if isinstance(act, nav.Land | nav.Rtl) and act.done and not self.landed and (
                self.body.alt_m <= self.ground_alt_m + 1e-3):
            self.landed = True
            if self.mode in (CopterMode.LAND, CopterMode.RTL):
                self.disarm()
        if not self.armed and self.landed:
            self.body.stop()
        self._auto_disarm(dt)

    def _follow_terrain(self, ground_before_m: float) -> None:
        """The ground under the copter where it has moved to: keep it above, report hitting it.

        ``ground_before_m`` is the ground the step was clamped at (where the copter was)."""
        b = self.body
        ground = self.ground.alt_m(b.north_m, b.east_m)
        self.ground_alt_m = ground
        touching = b.alt_m <= max(ground, ground_before_m) + CONTACT_M
        if b.alt_m < ground:
            b.alt_m = ground
            b.vu_m_s = max(b.vu_m_s, 0.0)
        if b.alt_m - ground > CONTACT_CLEAR_M:
            self.terrain_contact = False
        elif touching and not self.landed and not self.is_landing and not self.terrain_contact:
            self.terrain_contact = True
            self.events.text(SEV_CRITICAL, f"Crash: hit terrain at {ground:.1f} m AMSL")

    def _sim_time(self) -> float:
        return self.time_s

    def link_now(self) -> float:
        """The clock of ground-station deadlines (real seconds whatever the speed-up: a ground
        station's heartbeats and replies come in real time)."""
        return self._link_clock()

    def _auto_disarm(self, dt: float) -> None:
        if not (self.armed and self.landed) or self.auto_armed:
            self._landed_armed_since = None
            return
        now = self.link_now()
        if self._landed_armed_since is None:
            self._landed_armed_since = now
        delay = self.params["DISARM_DELAY"]
        if delay > 0 and now - self._landed_armed_since >= delay:
            self.disarm()

    def _record_track(self, *, force: bool = False) -> None:
        if not force and (not self.armed or self.time_s < self._next_track_s):
            return
        self._next_track_s = self.time_s + TRACK_PERIOD_S
        lat, lon = self.frame.to_latlon(self.body.north_m, self.body.east_m)
        self.track.append(TrackPoint(self.time_s, lat, lon, self.alt_rel_m, self.mode.name,
                                     self.armed))
