"""AUTO mode: the mission executor (``AP_Mission`` + ``ModeAuto``), simplified.

Navigation commands run one at a time; the "do" commands found between two navigation commands
start when the vehicle sets off for the second one (ArduPilot's order). A completed command
sends MISSION_ITEM_REACHED (navigation commands and the "do" commands Copter itself verifies;
camera commands, handled inside AP_Mission, send none). At the end of the mission the vehicle
holds position in AUTO, or disarms if it has landed. Leaving AUTO stops the mission; coming back
resumes it at the interrupted command (MIS_RESTART=0) or restarts it (MIS_RESTART=1).
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import TYPE_CHECKING

from . import nav
from .kinematics import corner_speed_m_s
from .mission_items import NAV_COMMANDS, WireItem
from .protocol import mavlink

if TYPE_CHECKING:
    from .copter import Copter

C = mavlink
_REACHED_DO = frozenset({
    C.MAV_CMD_DO_CHANGE_SPEED, C.MAV_CMD_DO_SET_HOME, C.MAV_CMD_DO_SET_ROI,
    C.MAV_CMD_DO_MOUNT_CONTROL, C.MAV_CMD_DO_GUIDED_LIMITS, C.MAV_CMD_DO_FENCE_ENABLE,
    C.MAV_CMD_DO_LAND_START, C.MAV_CMD_CONDITION_DELAY, C.MAV_CMD_CONDITION_DISTANCE,
    C.MAV_CMD_CONDITION_YAW, C.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
})
_WAYPOINTS = frozenset({C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_SPLINE_WAYPOINT,
                        C.MAV_CMD_NAV_LOITER_UNLIM, C.MAV_CMD_NAV_LOITER_TIME,
                        C.MAV_CMD_NAV_LOITER_TURNS, C.MAV_CMD_NAV_LOITER_TO_ALT})
_MAX_JUMP_LOOPS = 64


class MissionState(IntEnum):
    """MISSION_CURRENT.mission_state values."""

    NO_MISSION = C.MISSION_STATE_NO_MISSION
    NOT_STARTED = C.MISSION_STATE_NOT_STARTED
    ACTIVE = C.MISSION_STATE_ACTIVE
    PAUSED = C.MISSION_STATE_PAUSED
    COMPLETE = C.MISSION_STATE_COMPLETE


class AutoExecutor:
    """Runs the stored mission for a :class:`~sitl.builtin.copter.Copter`."""

    def __init__(self, copter: Copter) -> None:
        self.copter = copter
        self.items: tuple[WireItem, ...] = ()
        self.state = MissionState.NO_MISSION
        self.nav_index = 0
        self.activity: nav.Activity = nav.Idle()
        self._hold_s = 0.0
        self._held_s = 0.0
        self._dos: list[int] = []
        self._do_started_s: float | None = None
        self._jumps: dict[int, int] = {}

    # ------------------------------------------------------------------ plan
    def set_items(self, items: tuple[WireItem, ...]) -> None:
        """A new mission was stored (index 0 is home)."""
        self.items = items
        if self.state is not MissionState.ACTIVE:
            self.state = (MissionState.NOT_STARTED if len(items) > 1
                          else MissionState.NO_MISSION)
            self.nav_index = 0
        elif self.nav_index >= len(items):
            self._complete()

    def starts_with_takeoff(self) -> bool:
        """Whether the first navigation command is a take-off (``starts_with_takeoff_cmd``)."""
        for item in self.items[1:]:
            if item.command in NAV_COMMANDS:
                return item.command == C.MAV_CMD_NAV_TAKEOFF
        return False

    @property
    def running(self) -> bool:
        return self.state is MissionState.ACTIVE

    # ------------------------------------------------------------------ start / stop
    def start_or_resume(self) -> None:
        """Enter AUTO: resume an interrupted mission, otherwise start from item 1."""
        cop = self.copter
        if (self.state is MissionState.PAUSED and self.nav_index > 0
                and not cop.params["MIS_RESTART"]):
            self._run_from(self.nav_index)
        else:
            self._jumps.clear()
            self._run_from(1)

    def stop(self) -> None:
        """Leave AUTO: an active mission becomes paused at its current command."""
        if self.state is MissionState.ACTIVE:
            self.state = MissionState.PAUSED

    def set_current(self, seq: int) -> bool:
        """MISSION_SET_CURRENT / DO_SET_MISSION_CURRENT: continue from ``seq``."""
        if not 1 <= seq < len(self.items):
            return False
        if self.state is MissionState.ACTIVE:
            self._run_from(seq)
        else:
            self.nav_index = seq
            self.state = MissionState.PAUSED
            self.copter.events.mission_current()
        return True

    def _run_from(self, index: int) -> None:
        self.state = MissionState.ACTIVE
        self._advance(index)

    def _complete(self) -> None:
        cop = self.copter
        self.state = MissionState.COMPLETE
        cop.events.mission_current()
        if cop.landed:
            self.activity = nav.Idle()
            cop.disarm()
        else:
            self.activity = nav.Hold()

    # ------------------------------------------------------------------ scanning
    def _advance(self, index: int) -> None:
        """Find the next navigation command at or after ``index``; queue the do commands."""
        loops = 0
        dos: list[int] = []
        while index < len(self.items):
            item = self.items[index]
            if item.command == C.MAV_CMD_DO_JUMP:
                loops += 1
                if loops > _MAX_JUMP_LOOPS:
                    break
                times = int(item.param2)
                done = self._jumps.get(index, 0)
                if times < 0 or done < times:
                    self._jumps[index] = done + 1
                    index = int(item.param1)
                else:
                    index += 1
                continue
            if item.command in NAV_COMMANDS:
                self._dos = dos
                self._do_started_s = None
                self._start_nav(index)
                self._run_dos()
                return
            dos.append(index)
            index += 1
        self._dos = dos
        self._do_started_s = None
        self._run_dos()
        self._complete()

    # ------------------------------------------------------------------ navigation commands
    def _default_location(self) -> tuple[float, float, float]:
        act, b = self.activity, self.copter.body
        if isinstance(act, nav.Goto) and act.done:
            return act.north_m, act.east_m, act.alt_m
        return b.north_m, b.east_m, b.alt_m

    def _leg_origin(self) -> tuple[float, float] | None:
        """Where the next leg starts: the last waypoint reached (the vehicle itself if None)."""
        act = self.activity
        if isinstance(act, nav.Goto) and act.done:
            return act.north_m, act.east_m
        return None

    def _start_nav(self, index: int) -> None:
        cop = self.copter
        item = self.items[index]
        self.nav_index = index
        self._hold_s, self._held_s = 0.0, 0.0
        cmd = item.command
        here = (cop.body.north_m, cop.body.east_m, cop.body.alt_m)
        if cmd == C.MAV_CMD_NAV_TAKEOFF:
            alt = max(cop.item_alt_m(item, cop.body.alt_m), cop.body.alt_m)
            self.activity = nav.Takeoff(alt, cop.body.north_m, cop.body.east_m)
        elif cmd in _WAYPOINTS:
            north, east, alt = cop.item_location(item, self._default_location())
            origin = self._leg_origin()
            if cmd in (C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_SPLINE_WAYPOINT,
                       C.MAV_CMD_NAV_LOITER_TIME):
                self._hold_s = item.param1
            end_speed = 0.0
            if cmd in (C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_SPLINE_WAYPOINT) and not item.param1:
                start = origin or (here[0], here[1])
                end_speed = self._corner_speed(index, start, (north, east, alt))
            self.activity = nav.Goto(north, east, alt, origin, end_speed,
                                     cop.item_above_ground_m(item))
            if cmd == C.MAV_CMD_NAV_LOITER_TURNS:
                speed = max(cop.limits().speed_xy_m_s, 1.0)
                self._hold_s = item.param1 * 2 * math.pi * max(abs(item.param3), 1.0) / speed
            elif cmd == C.MAV_CMD_NAV_LOITER_UNLIM:
                self._hold_s = math.inf
        elif cmd == C.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT:
            self.activity = nav.Goto(here[0], here[1], cop.item_alt_m(item, here[2]))
        elif cmd == C.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self.activity = nav.Rtl(cop.rtl_plan())
        elif cmd == C.MAV_CMD_NAV_LAND:
            point = None if item.x == 0 and item.y == 0 else cop.frame.to_ne_e7(item.x, item.y)
            self.activity = nav.Land(point)
        elif cmd == C.MAV_CMD_NAV_DELAY:
            self.activity = nav.Hold()
            self.activity.done = True
            self._hold_s = max(item.param1, 0.0)
        else:  # NAV_GUIDED_ENABLE and anything else: nothing to fly
            self.activity = nav.Hold()
            self.activity.done = True
        cop.events.mission_current()

    def _corner_speed(self, index: int, start: tuple[float, float],
                      target: tuple[float, float, float]) -> float:
        """Speed to pass waypoint ``index`` at: full speed straight on, slow for a sharp turn,
        stop when the next navigation command is not a waypoint (``set_next_wp``)."""
        nxt = next((it for it in self.items[index + 1:] if it.command in NAV_COMMANDS), None)
        if nxt is None or nxt.command not in (C.MAV_CMD_NAV_WAYPOINT,
                                              C.MAV_CMD_NAV_SPLINE_WAYPOINT):
            return 0.0
        cop = self.copter
        n2, e2, _ = cop.item_location(nxt, target)
        leg_in = math.atan2(target[1] - start[1], target[0] - start[0])
        leg_out = math.atan2(e2 - target[1], n2 - target[0])
        if math.hypot(target[0] - start[0], target[1] - start[1]) < 0.5 or math.hypot(
                n2 - target[0], e2 - target[1]) < 0.5:
            return 0.0
        turn = abs((leg_out - leg_in + math.pi) % (2 * math.pi) - math.pi)
        limits = cop.limits()
        return corner_speed_m_s(turn, limits.speed_xy_m_s, limits.accel_xy_m_s2)

    def _nav_finished(self, dt: float) -> bool:
        if not self.activity.done:
            return False
        if isinstance(self.activity, nav.Land):
            return self.copter.landed
        if isinstance(self.activity, nav.Rtl):
            return self.copter.landed or not self.activity.landing
        self._held_s += dt
        return self._held_s >= self._hold_s

    # ------------------------------------------------------------------ do commands
    def _run_dos(self) -> None:
        while self._dos:
            index = self._dos[0]
            item = self.items[index]
            if not self._do_finished(item):
                return
            self._dos.pop(0)
            self._do_started_s = None
            if item.command in _REACHED_DO:
                self.copter.events.item_reached(index)

    def _do_finished(self, item: WireItem) -> bool:
        """Start (first call) and verify one do command; True when it is complete."""
        cop = self.copter
        cmd = item.command
        if self._do_started_s is None:
            self._do_started_s = cop.time_s
            self._start_do(item)
        if cmd == C.MAV_CMD_CONDITION_DELAY:
            return cop.time_s - self._do_started_s >= item.param1
        if cmd == C.MAV_CMD_CONDITION_DISTANCE:
            target = self.activity.target_ne
            return target is None or cop.body.distance_xy_m(*target) <= item.param1
        return True

    def _start_do(self, item: WireItem) -> None:
        cop = self.copter
        cmd = item.command
        shots = []
        if cmd == C.MAV_CMD_DO_CHANGE_SPEED:
            cop.change_speed(int(item.param1), item.param2)
        elif cmd == C.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            shots = cop.camera.set_trigger_distance(item.param1, cop.pose(), item.param3 == 1)
        elif cmd == C.MAV_CMD_IMAGE_START_CAPTURE:
            shots = cop.camera.start_capture(item.param2, int(item.param3), cop.pose())
        elif cmd == C.MAV_CMD_IMAGE_STOP_CAPTURE:
            cop.camera.stop_capture()
        elif cmd == C.MAV_CMD_DO_DIGICAM_CONTROL and item.x == 1:
            shots = [cop.camera.take_picture(cop.pose())]
        elif cmd == C.MAV_CMD_DO_SET_HOME:
            if item.param1 == 1 or (item.x == 0 and item.y == 0):
                cop.set_home_here()
            else:
                cop.set_home(item.x, item.y, cop.item_alt_m(item, cop.home_alt_m))
        elif cmd == C.MAV_CMD_DO_FENCE_ENABLE:
            cop.params.set("FENCE_ENABLE", 1 if item.param1 >= 1 else 0)
        for shot in shots:
            cop.events.camera_shot(shot)

    # ------------------------------------------------------------------ step
    def step(self, env: nav.Env) -> None:
        """One step in AUTO (armed)."""
        cop = self.copter
        if cop.landed and not cop.auto_armed:
            cop.body.stop()
            return
        self.activity.step(cop.body, env)
        if self.state is not MissionState.ACTIVE:
            return
        self._run_dos()
        if self._nav_finished(env.dt):
            index = self.nav_index
            cop.events.item_reached(index)
            self._advance(index + 1)
