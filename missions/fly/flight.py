"""Fly a planned survey: per sortie upload, pre-flight checks, take-off, AUTO, watch, record.

:func:`fly_plan` reads the plan folder written by ``survey plan`` (``sortie_NN.plan``), and for
each sortie: checks the vehicle is ready (SYS_STATUS pre-arm, 3D GPS fix, EKF, battery), uploads
fence, rally points and mission (each verified by download), switches to GUIDED, arms, switches
to AUTO and starts the mission, then follows it until the vehicle has landed and disarmed.
Progress goes to ``on_event`` as :class:`FlightEvent`; telemetry is logged as JSON lines in
``flight/sortie_NN.jsonl`` and camera shots (CAMERA_FEEDBACK) in ``flight/sortie_NN_photos.json``;
``flight/state.json`` remembers the last reached item so ``resume=True`` goes on from there.

A mode change away from AUTO, a failsafe STATUSTEXT or a disarm before the end is reported and
ends the sortie (the camera trigger is stopped); the plan then stops with
:class:`~survey.core.errors.FlightAborted`. ``KeyboardInterrupt`` while flying commands RTL first.

A link that goes quiet in flight is waited for (``FlightConfig.link_lost_timeout_s``) with the
vehicle's last known state reported; when it comes back the flight is followed on, through
whatever failsafe the vehicle chose, to landing. A vehicle found already flying a sortie that
``flight/state.json`` records as in the air is attached to with ``resume=True`` and followed to
landing (after ``survey fly`` was killed, say).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink
from pyproj import Geod

from missions.fly import commands as cmd
from missions.fly.fence_upload import enable_fence, flown_lonlat, upload_fence
from missions.fly.link import DEFAULT_RATES_HZ, Link, Message, Subscription, request_rates
from missions.fly.resume import FlightProgress, SortieProgress, resume_items
from missions.fly.transfer.protocol import MissionType, TransferConfig, upload
from missions.fly.vehicle_info import (
    VehicleInfo,
    missing_equipment,
    read_vehicle_info,
    require,
    write_vehicle_info,
)
from missions.fly.vehicle_state import VehicleState
from missions.plan.export.qgc import QgcPlanFile, read_qgc_plan
from missions.plan.items import Cmd
from survey.core.errors import (
    FlightAborted,
    InputError,
    LinkError,
    LinkTimeout,
    ParamError,
    SurveyError,
    VehicleRefused,
    WrongVehicle,
)
from survey.core.files import atomic_write_text
from survey.core.mavlink import CopterMode, mode_name
from survey.core.plan_folder import FlightFolder, PlanFolder

COPTER_TYPES = frozenset({
    mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_TYPE_HEXAROTOR, mavlink.MAV_TYPE_OCTOROTOR,
    mavlink.MAV_TYPE_TRICOPTER, mavlink.MAV_TYPE_COAXIAL, mavlink.MAV_TYPE_HELICOPTER,
    mavlink.MAV_TYPE_DODECAROTOR, mavlink.MAV_TYPE_DECAROTOR,
})
_REACHED_COMMANDS = frozenset({Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF, Cmd.NAV_LAND,
                               Cmd.NAV_RETURN_TO_LAUNCH})
_FINAL_COMMANDS = frozenset({Cmd.NAV_LAND, Cmd.NAV_RETURN_TO_LAUNCH})
_FOLLOWED = ("HEARTBEAT", "MISSION_ITEM_REACHED", "MISSION_CURRENT", "CAMERA_FEEDBACK",
             "STATUSTEXT")
_FAILSAFE_TEXT = re.compile(r"failsafe|battery .* (low|critical)|fence breach|ekf|radio|gcs",
                            re.IGNORECASE)
_BREACH_TEXT = re.compile(r"\bbreached\b", re.IGNORECASE)
"""ArduCopter's fence breach ("Polygon breached", "Max Alt and Polygon breached"), sent at
NOTICE severity, below the WARNING that other failsafes use."""
_LOGGED = frozenset({"HEARTBEAT", "GLOBAL_POSITION_INT", "SYS_STATUS", "BATTERY_STATUS",
                     "GPS_RAW_INT", "MISSION_CURRENT", "MISSION_ITEM_REACHED", "CAMERA_FEEDBACK",
                     "STATUSTEXT", "HOME_POSITION", "EKF_STATUS_REPORT", "VFR_HUD"})

_GEOD = Geod(ellps="WGS84")


class EventKind(Enum):
    """What a :class:`FlightEvent` reports."""

    SORTIE_START = "sortie_start"
    UPLOADED = "uploaded"
    ARMED = "armed"
    CURRENT = "current"  # the vehicle heads for item ``seq``
    REACHED = "reached"
    PHOTO = "photo"
    MODE = "mode"
    STATUSTEXT = "statustext"
    FAILSAFE = "failsafe"
    DISARMED = "disarmed"
    SORTIE_DONE = "sortie_done"
    WAITING_BATTERY = "waiting_battery"
    LINK_LOST = "link_lost"  # no heartbeat: the text carries the vehicle's last known state
    LINK_BACK = "link_back"
    ATTACHED = "attached"  # following a sortie already in the air


@dataclass(frozen=True)
class FlightEvent:
    """One thing that happened. ``seq`` and ``total`` are plan item numbers (1-based)."""

    kind: EventKind
    sortie: int
    text: str = ""
    seq: int = 0
    total: int = 0


@dataclass(frozen=True)
class FlightConfig:
    """Timing and thresholds of a flight.

    Attributes
    ----------
    ready_timeout_s
        Wait for a GPS fix and EKF position (ArduPilot SITL needs ~42 s of sim time).
    prearm_grace_s
        Then wait this long for the SYS_STATUS pre-arm bit before trying to arm anyway.
    sortie_timeout_s
        Longest a sortie may take from start to disarm, seconds (real time).
    min_battery_pct
        Battery needed before take-off, percent.
    max_home_offset_m
        The vehicle must stand this close to the plan's home: the route, the fences and the
        altitudes above home all assume it takes off there.
    battery_timeout_s
        Wait for a fresh battery between sorties.
    command_timeout_s
        Wait for each COMMAND_ACK.
    heartbeat_timeout_s
        In flight, the vehicle's heartbeat may be missing this long before the link counts as
        lost.
    link_lost_timeout_s
        Then wait this long for it to come back (reporting every ``link_report_s``) before
        giving up with :class:`~survey.core.errors.LinkTimeout`; the vehicle's own GCS failsafe
        (FS_GCS_ENABLE) decides what it does meanwhile.
    link_report_s
        How often to repeat the vehicle's last known state while the link is lost.
    transfer
        Mission protocol timeouts and retries.
    """

    ready_timeout_s: float = 120.0
    prearm_grace_s: float = 5.0
    sortie_timeout_s: float = 3600.0
    min_battery_pct: float = 90.0
    max_home_offset_m: float = 50.0
    battery_timeout_s: float = 600.0
    command_timeout_s: float = 1.5
    heartbeat_timeout_s: float = 5.0
    link_lost_timeout_s: float = 120.0
    link_report_s: float = 15.0
    transfer: TransferConfig = field(default_factory=TransferConfig)


@dataclass(frozen=True)
class Photo:
    """A camera shot as CAMERA_FEEDBACK reported it."""

    index: int
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float
    time_usec: int
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0


@dataclass(frozen=True)
class SortieResult:
    """How one sortie went (item numbers are the plan's, 1-based)."""

    number: int
    completed: bool
    reached: tuple[int, ...]
    photos: tuple[Photo, ...]
    interruptions: tuple[str, ...]
    log_path: Path
    photos_path: Path
    photos_planned: int | None = None
    """How many photos the plan's ``summary.json`` expects of this sortie (None: unknown)."""


@dataclass(frozen=True)
class FlightResult:
    """Every sortie flown by :func:`fly_plan`."""

    sorties: tuple[SortieResult, ...]
    vehicle: VehicleInfo | None = None
    """What flew them (AUTOPILOT_VERSION), also in ``flight/vehicle.json``."""

    @property
    def completed(self) -> bool:
        return all(s.completed for s in self.sorties)


EventCallback = Callable[[FlightEvent], None]
BatterySwap = Callable[[int], None]
"""Called with the next sortie's number once the vehicle has landed and disarmed (simulation:
refill the battery; a real drone: tell the crew)."""


def sortie_files(plan_dir: Path) -> dict[int, Path]:
    """``{number: path}`` of the ``sortie_NN.plan`` files in ``plan_dir``.

    Raises
    ------
    InputError
        No such folder, or no sortie files in it.
    """
    if not plan_dir.is_dir():
        raise InputError(plan_dir, "not a folder (expected the output of `survey plan`)")
    found = PlanFolder(plan_dir).sortie_plans()
    if not found:
        raise InputError(plan_dir, "no sortie_NN.plan files (run `survey plan` first)")
    return dict(sorted(found.items()))


def load_sorties(plan_dir: str | Path, sorties: Sequence[int] | None = None
                 ) -> dict[int, QgcPlanFile]:
    """Read the sorties to fly (default all, in order) from a plan folder.

    Raises
    ------
    InputError
        No plan folder or sortie files, an unknown sortie number, a damaged ``.plan``.
    """
    plan_dir = Path(plan_dir)
    files = sortie_files(plan_dir)
    wanted = list(files) if sorties is None else list(sorties)
    for n in wanted:
        if n not in files:
            raise ParamError("sorties", f"no sortie {n} in {plan_dir} (have "
                             f"{', '.join(map(str, files))})")
    return {n: read_qgc_plan(files[n]) for n in wanted}


def planned_photos(plan_dir: Path) -> dict[int, int]:
    """Photos per sortie as ``survey plan`` counted them (``summary.json``; empty if absent)."""
    try:
        doc = json.loads(PlanFolder(plan_dir).summary.read_text(encoding="utf-8"))
        return {int(s["number"]): int(s["photos"]) for s in doc["sorties"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _takes_photos(plan: QgcPlanFile) -> bool:
    return any((it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 > 0)
               or it.command == Cmd.IMAGE_START_CAPTURE for it in plan.items)


def _ground_distance_m(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    """Distance on the WGS84 ellipsoid, metres."""
    return float(_GEOD.inv(lon0, lat0, lon1, lat1)[2])


def check_vehicle(link: Link) -> None:
    """Refuse a vehicle that is not an ArduPilot multicopter.

    Raises
    ------
    WrongVehicle
    """
    hb = link.heartbeat
    if hb is None:
        raise LinkError(f"{link.url}: no heartbeat yet")
    if hb.autopilot != mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA or hb.type not in COPTER_TYPES:
        kind = mavlink.enums["MAV_TYPE"].get(hb.type)
        pilot = mavlink.enums["MAV_AUTOPILOT"].get(hb.autopilot)
        raise WrongVehicle(
            f"{link.url}: the vehicle is {kind.name if kind else hb.type} with "
            f"{pilot.name if pilot else hb.autopilot}; survey plans fly on an ArduPilot "
            "multicopter (ArduCopter)")


def fly_plan(link: Link, plan_dir: str | Path, *, sorties: Sequence[int] | None = None,
             resume: bool = False, on_event: EventCallback | None = None,
             battery_swap: BatterySwap | None = None,
             config: FlightConfig = FlightConfig()) -> FlightResult:
    """Fly a plan's sorties one after the other.

    Parameters
    ----------
    link
        An open link to the vehicle.
    plan_dir
        The folder ``survey plan`` wrote.
    sorties
        Sortie numbers to fly (default: all, in order).
    resume
        Skip sorties ``flight/state.json`` marks completed and continue a partly flown one
        from its last reached item.
    on_event
        Receives every :class:`FlightEvent`.
    battery_swap
        Called between sorties after landing and disarm.
    config
        Timeouts and thresholds.

    Raises
    ------
    InputError
        A plan file is missing or damaged (checked before anything is sent).
    WrongVehicle
        The vehicle is not an ArduPilot copter.
    VehicleRefused
        Not ready to arm, arming or a mode change refused (with the vehicle's reason).
    MissionRejected
        An upload was refused or did not read back as sent.
    FlightAborted
        A sortie ended early (failsafe, mode change, Ctrl-C): RTL or LAND is under way.
    LinkTimeout, LinkError
        The vehicle stopped answering.
    """
    plan_dir = Path(plan_dir)
    plans = load_sorties(plan_dir, sorties)  # every file checked before anything is sent
    wanted = list(plans)
    check_vehicle(link)
    info = read_vehicle_info(link, timeout_s=config.command_timeout_s * 2)
    needs = {"mission_int"} | {"fence" for p in plans.values() if p.fence} | {
        "rally" for p in plans.values() if p.rally}
    require(info, sorted(needs), missing_equipment(
        link, camera=any(_takes_photos(p) for p in plans.values()),
        battery_monitor=len(plans) > 1, timeout_s=config.command_timeout_s))
    request_rates(link, DEFAULT_RATES_HZ)
    flight_dir = PlanFolder(plan_dir).flight.path
    write_vehicle_info(flight_dir, info)
    if resume:
        progress = FlightProgress.load(flight_dir)
    else:  # start the chosen sorties afresh, keep what is known about the others
        try:
            progress = FlightProgress.load(flight_dir)
        except InputError:
            progress = FlightProgress()
        for n in wanted:
            progress.sorties[n] = SortieProgress()
    emit = on_event or (lambda e: None)
    emit(FlightEvent(EventKind.STATUSTEXT, wanted[0] if wanted else 0,
                     f"vehicle: ArduPilot {info.version} ({info.git_hash or 'no git hash'})"))
    photos_planned = planned_photos(plan_dir)
    todo = [n for n in wanted if not progress.of(n).completed]
    attach = _sortie_to_attach(link, todo, progress, resume)
    state = VehicleState(link)
    results = []
    try:
        for i, n in enumerate(todo):
            if i > 0:
                _between_sorties(state, n, emit, battery_swap, config)
            sortie = _Sortie(link, state, n, plans[n], flight_dir, progress, emit, config,
                             photos_planned.get(n))
            result = sortie.attach() if n == attach else sortie.fly()
            results.append(result)
            if not result.completed:
                raise FlightAborted(f"sortie {n} interrupted: "
                                    f"{'; '.join(result.interruptions) or 'ended early'}; "
                                    f"resume with `resume` from item {progress.of(n).last_reached}")
    finally:
        state.close()
    return FlightResult(tuple(results), info)


def _sortie_to_attach(link: Link, todo: list[int], progress: FlightProgress,
                      resume: bool) -> int | None:
    """The sortie in the air to follow, when the vehicle is armed; None when it is not.

    Raises
    ------
    VehicleRefused
        Armed, and not resuming, or no sortie recorded as in the air.
    """
    hb = link.heartbeat
    if hb is None or not hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED:
        return None
    mode = mode_name(hb.custom_mode)
    if not resume:
        raise VehicleRefused("start a sortie", f"it is already armed, in {mode}; to follow "
                             "the sortie in the air to landing, run again with `resume`")
    flying = [n for n in todo if progress.of(n).in_flight]
    if not flying:
        raise VehicleRefused("start a sortie", f"it is already armed, in {mode}, and "
                             f"{PlanFolder.FLIGHT}/state.json records no sortie of this plan "
                             "in the air to follow; land it first")
    return flying[0]


def _between_sorties(state: VehicleState, number: int, emit: EventCallback,
                     battery_swap: BatterySwap | None, config: FlightConfig) -> None:
    emit(FlightEvent(EventKind.WAITING_BATTERY, number, "waiting for a fresh battery"))
    if battery_swap is not None:
        battery_swap(number)
    state.wait_until(lambda s: (s.battery_pct or 0) >= config.min_battery_pct,
                     config.battery_timeout_s,
                     f"battery of {config.min_battery_pct:g} % for sortie {number}")


class _Sortie:
    """One sortie from pre-flight checks to disarm."""

    def __init__(self, link: Link, state: VehicleState, number: int, plan: QgcPlanFile,
                 flight_dir: Path, progress: FlightProgress, emit: EventCallback,
                 config: FlightConfig, photos_planned: int | None = None) -> None:
        self.link, self.state, self.number, self.plan = link, state, number, plan
        self.flight_dir, self.progress, self.emit, self.config = (flight_dir, progress, emit,
                                                                  config)
        self.photos_planned = photos_planned
        self.total = len(plan.items)
        self.log_path = FlightFolder(flight_dir).log(number)
        self.photos_path = FlightFolder(flight_dir).photos(number)
        self.reached: list[int] = []
        self.photos: list[Photo] = []
        self.interruptions: list[str] = []
        self.log: IO[str] | None = None
        self._log_lock = threading.Lock()
        self.t0 = time.monotonic()

    # ------------------------------------------------------------------ phases
    def fly(self) -> SortieResult:
        sp = self.progress.of(self.number)
        items, self.seq_map = resume_items(self.plan.items, sp.last_reached)
        self.expected = {self.seq_map[i] for i, it in enumerate(items)
                         if it.command in _REACHED_COMMANDS}
        if sp.last_reached > 1:
            self.expected = {s for s in self.expected if s >= sp.last_reached}
        self.emit(FlightEvent(EventKind.SORTIE_START, self.number,
                              f"sortie {self.number}: {self.total} items" +
                              (f", resuming at item {sp.last_reached}" if sp.last_reached > 1
                               else ""), sp.last_reached, self.total))
        self.preflight()
        tc = self.config.transfer
        flown = flown_lonlat(self.plan.home, self.plan.items, self.plan.rally)
        upload_fence(self.link, self.plan.fence, flown, config=tc, on_note=lambda text: self.emit(
            FlightEvent(EventKind.STATUSTEXT, self.number, text, 0, self.total)))
        if self.plan.fence:
            enable_fence(self.link, timeout_s=self.config.command_timeout_s)
        upload(self.link, MissionType.RALLY, [r.item() for r in self.plan.rally], config=tc)
        upload(self.link, MissionType.MISSION, items, home=self.plan.home, config=tc)
        self.emit(FlightEvent(EventKind.UPLOADED, self.number,
                              f"uploaded {len(items)} items, fence (enabled) and rally "
                              "(verified)", 0,
                              self.total))
        self.flight_dir.mkdir(parents=True, exist_ok=True)
        self._write_photos()
        self._record("w", self.watch)
        return self._finish()

    def attach(self) -> SortieResult:
        """Follow a sortie already in the air (``state.json`` says which mission it flies) to
        landing, adding to its telemetry log and photos."""
        sp = self.progress.of(self.number)
        assert sp.mission is not None and sp.expected is not None
        self.seq_map, self.expected = list(sp.mission), set(sp.expected)
        self.reached = sorted(s for s in self.expected if s <= sp.last_reached)
        self.photos = self._read_photos()
        hb = self.link.heartbeat
        mode = mode_name(hb.custom_mode) if hb is not None else "?"
        self.emit(FlightEvent(EventKind.SORTIE_START, self.number,
                              f"sortie {self.number}: {self.total} items, in the air",
                              sp.last_reached, self.total))
        self.emit(FlightEvent(EventKind.ATTACHED, self.number,
                              f"attached to the sortie in the air, in {mode}: item "
                              f"{sp.last_reached} reached, {len(self.photos)} photos so far",
                              sp.last_reached, self.total))
        if hb is not None and hb.custom_mode != CopterMode.AUTO:
            self.interruptions.append(f"found in {mode} when attached")
        self._record("a", lambda: self.watch(attached=True))
        return self._finish()

    def _record(self, mode: str, body: Callable[[], None]) -> None:
        """Run ``body`` with telemetry logged to the sortie's log (opened with ``mode``)."""
        with open(self.log_path, mode, encoding="utf-8") as log:
            self.log = log
            remove = self.link.add_listener(self._log_message)
            try:
                body()
            finally:
                remove()
                with self._log_lock:
                    self.log = None
                self._write_photos()

    def _finish(self) -> SortieResult:
        """Landed and disarmed: judge the sortie, save the progress, report."""
        # A warning (say, a low battery on the way home) does not undo a sortie whose every
        # waypoint was reached; it is still reported. A failsafe that cut the mission short
        # leaves waypoints unreached.
        sp = self.progress.of(self.number)
        completed = self.expected <= set(self.reached)
        sp.completed = completed
        sp.mission = sp.expected = None  # on the ground: nothing to attach to
        self.progress.save(self.flight_dir)
        planned = self.photos_planned
        if completed and planned and len(self.photos) < planned:
            self.emit(FlightEvent(EventKind.STATUSTEXT, self.number,
                                  f"warning: {len(self.photos)} photos of the {planned} "
                                  "planned (check the camera's CAMERA_FEEDBACK and the "
                                  "trigger distance)", max(self.reached, default=0),
                                  self.total))
        self.emit(FlightEvent(EventKind.SORTIE_DONE, self.number,
                              ("completed" if completed else "interrupted")
                              + f", {len(self.photos)} photos"
                              + (f" of {planned} planned" if planned else ""),
                              max(self.reached, default=0), self.total))
        return SortieResult(self.number, completed, tuple(self.reached), tuple(self.photos),
                            tuple(self.interruptions), self.log_path, self.photos_path,
                            planned)

    def preflight(self) -> None:
        """GPS 3D fix and EKF position, battery, not armed. A failing SYS_STATUS pre-arm bit is
        waited on briefly, then arming is tried anyway: the vehicle's refusal says why."""
        cfg = self.config
        try:
            snap = self.state.wait_until(lambda s: (s.gps_fix or 0) >= 3 and s.ekf_ok,
                                         cfg.ready_timeout_s, "GPS fix and EKF position")
        except LinkTimeout:
            reasons = self.state.snapshot().not_ready_reasons()
            raise VehicleRefused("start sortie", f"not ready to arm after "
                                 f"{cfg.ready_timeout_s:g} s: " + ", ".join(reasons)) from None
        try:
            snap = self.state.wait_until(lambda s: s.ready_to_arm,
                                         min(cfg.prearm_grace_s, cfg.ready_timeout_s),
                                         "pre-arm checks")
        except LinkTimeout:
            pass  # the arming attempt will carry the vehicle's own reason
        if snap.armed:
            raise VehicleRefused("start sortie", "it is already armed")
        if snap.battery_pct is None:  # SYS_STATUS may not have come yet: wait, don't guess
            try:
                snap = self.state.wait_until(lambda s: s.battery_pct is not None,
                                             cfg.ready_timeout_s, "a battery report")
            except LinkTimeout:
                raise VehicleRefused("start sortie", f"no battery level in "
                                     f"{cfg.ready_timeout_s:g} s of SYS_STATUS (is a battery "
                                     "monitor configured? BATT_MONITOR)") from None
        if (snap.battery_pct or 0) < cfg.min_battery_pct:
            raise VehicleRefused("start sortie", f"battery at {snap.battery_pct} %, need "
                                 f"{cfg.min_battery_pct:g} %")
        if snap.lat_deg is not None and snap.lon_deg is not None:
            lat0, lon0 = self.plan.home[0], self.plan.home[1]
            off = _ground_distance_m(lat0, lon0, snap.lat_deg, snap.lon_deg)
            if off > cfg.max_home_offset_m:
                raise VehicleRefused(
                    "start sortie", f"the vehicle is {off:.0f} m from the plan's home "
                    f"{lat0:.6f},{lon0:.6f}; take off from there or re-plan with `home_latlon`")

    def start(self) -> None:
        t = self.config.command_timeout_s
        cmd.set_mode(self.link, CopterMode.GUIDED, timeout_s=t)
        sp = self.progress.of(self.number)
        # from the arming on, another `survey fly --resume` can attach to this sortie
        sp.mission, sp.expected = list(self.seq_map), sorted(self.expected)
        self.progress.save(self.flight_dir)
        try:
            cmd.arm(self.link, timeout_s=t)
        except BaseException:
            sp.mission = sp.expected = None
            self.progress.save(self.flight_dir)
            raise
        self.emit(FlightEvent(EventKind.ARMED, self.number, "armed"))
        cmd.set_mode(self.link, CopterMode.AUTO, timeout_s=t)
        cmd.start_mission(self.link, timeout_s=t)

    def watch(self, *, attached: bool = False) -> None:
        """Follow the sortie until the vehicle disarms: started here, or (``attached``) found
        in the air. Ctrl-C: RTL, then re-raise."""
        hb = self.link.heartbeat
        with self.link.subscribe(_FOLLOWED) as sub:
            try:
                if attached:
                    self._follow(sub, mode=hb.custom_mode if hb is not None else None,
                                 armed_seen=True)
                else:
                    self.start()
                    self._follow(sub)
            except KeyboardInterrupt:
                self._make_safe("Ctrl-C")
                raise

    def _follow(self, sub: Subscription, *, mode: int | None = None,
                armed_seen: bool = False) -> None:
        """Messages until the vehicle disarms. ``mode`` None: until a heartbeat shows AUTO
        (the first ones after the mode change may still say GUIDED)."""
        clock = self.link.clock
        cfg = self.config
        deadline = clock() + cfg.sortie_timeout_s
        last_hb = clock()
        lost: _LostLink | None = None
        current = 0
        progressed = False  # MISSION_CURRENT seen changing in AUTO
        while True:
            now = clock()
            if now >= deadline:
                self._make_safe(f"sortie {self.number} still flying after "
                                f"{cfg.sortie_timeout_s:g} s")
                raise LinkTimeout(f"end of sortie {self.number} (disarm)",
                                  cfg.sortie_timeout_s, "RTL commanded")
            wait_until = lost.next_wake() if lost else last_hb + cfg.heartbeat_timeout_s
            try:
                msg = sub.get(max(min(deadline, wait_until) - now, 0.0))
            except LinkTimeout:
                if clock() >= deadline:
                    continue
                if lost is None:
                    lost = _LostLink(self, last_hb)
                lost.tick()  # reports, or gives up with LinkTimeout
                continue
            if lost is not None:
                lost.back()
                lost = None
                last_hb = clock()
            kind = msg.get_type()
            if kind == "HEARTBEAT":
                last_hb = clock()
                armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
                if mode is None and msg.custom_mode == CopterMode.AUTO:
                    mode = msg.custom_mode
                elif mode is not None and msg.custom_mode != mode:
                    self._mode_changed(mode, msg.custom_mode)
                    mode = msg.custom_mode
                if armed and not armed_seen:
                    armed_seen = True
                elif armed_seen and not armed:
                    if progressed and current == self.total and mode == CopterMode.AUTO \
                            and self.plan.items[-1].command in _FINAL_COMMANDS:
                        self._passed(current + 1)  # landed by the mission's own RTL/LAND
                    self.emit(FlightEvent(EventKind.DISARMED, self.number, "landed and disarmed",
                                          max(self.reached, default=0), self.total))
                    return
            elif kind == "MISSION_ITEM_REACHED":
                self._reached(msg.seq)
            elif kind == "MISSION_CURRENT":
                seq = self._plan_seq(msg.seq)
                if seq and seq != current:
                    # The first value may be left over from before the upload; once it has
                    # changed in AUTO it is the mission's progress: heading for ``seq`` means
                    # every item before it is done, even if a MISSION_ITEM_REACHED was lost
                    # (ArduPilot drops messages when the link's buffer is full).
                    progressed = progressed or (mode is not None and current != 0)
                    current = seq
                    if progressed:
                        self._passed(seq)
                    self.emit(FlightEvent(EventKind.CURRENT, self.number, "", seq, self.total))
            elif kind == "CAMERA_FEEDBACK":
                self._photo(msg)
            elif kind == "STATUSTEXT":
                self._statustext(msg)

    # ------------------------------------------------------------------ reactions
    def _plan_seq(self, vehicle_seq: int) -> int:
        i = vehicle_seq - 1  # vehicle seq 0 is home
        return self.seq_map[i] if 0 <= i < len(self.seq_map) else 0

    def _passed(self, seq: int) -> None:
        """Every expected item before plan item ``seq`` is done."""
        self._done(sorted(s for s in self.expected if s < seq and s not in self.reached))

    def _done(self, seqs: list[int]) -> None:
        """Record plan items ``seqs`` as reached; the last waypoint or take-off among them is
        where a resume goes on from."""
        self.reached.extend(seqs)
        last = max((s for s in seqs if self.plan.items[s - 1].command in
                    (Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF)), default=0)
        sp = self.progress.of(self.number)
        if last > sp.last_reached:
            sp.last_reached = last
            self.progress.save(self.flight_dir)

    def _reached(self, vehicle_seq: int) -> None:
        seq = self._plan_seq(vehicle_seq)
        if not seq or seq in self.reached:
            return
        # ArduPilot runs items in order but keeps one pending MISSION_ITEM_REACHED per link:
        # items that complete together (take-off, then a speed change) report only the last.
        # Reaching ``seq`` means every expected item before it was passed.
        self._passed(seq)
        self._done([seq])
        self.emit(FlightEvent(EventKind.REACHED, self.number, "", seq, self.total))

    def _photo(self, msg: Message) -> None:
        photo = Photo(int(msg.img_idx), msg.lat * 1e-7, msg.lng * 1e-7, float(msg.alt_msl),
                      float(msg.alt_rel), int(msg.time_usec), float(msg.roll),
                      float(msg.pitch), float(msg.yaw))
        if any(p.index == photo.index and p.time_usec == photo.time_usec for p in self.photos):
            return  # the same shot seen again (a message repeated after a reconnect)
        self.photos.append(photo)
        self._write_photos()  # on disk at once: a ground station that is killed keeps them
        self.emit(FlightEvent(EventKind.PHOTO, self.number, f"photo {len(self.photos)}",
                              max(self.reached, default=0), self.total))

    def _statustext(self, msg: Message) -> None:
        text = cmd._text(msg)
        breach = bool(_BREACH_TEXT.search(text))
        failsafe = breach or (msg.severity <= mavlink.MAV_SEVERITY_WARNING
                              and _FAILSAFE_TEXT.search(text))
        if breach:  # where it happened, for the report
            snap = self.state.snapshot()
            if snap.lat_deg is not None and snap.lon_deg is not None:
                text += (f" at {snap.lat_deg:.6f},{snap.lon_deg:.6f}, "
                         f"{snap.alt_rel_m or 0.0:.0f} m above home")
        if failsafe:
            self.interruptions.append(text)
        self.emit(FlightEvent(EventKind.FAILSAFE if failsafe else EventKind.STATUSTEXT,
                              self.number, text))

    def _mode_changed(self, old: int, new: int) -> None:
        text = f"mode {mode_name(old)} → {mode_name(new)}"
        self.emit(FlightEvent(EventKind.MODE, self.number, text))
        if old == CopterMode.AUTO and not self.expected <= set(self.reached):
            self.interruptions.append(f"left AUTO for {mode_name(new)} before the end")
            self._stop_camera()

    def _make_safe(self, why: str) -> None:
        """Flying: RTL. Armed on the ground: disarm. Disarmed: nothing."""
        snap = self.state.snapshot()
        t = self.config.command_timeout_s
        try:
            if snap.armed and (snap.alt_rel_m or 0.0) > 0.5:
                self.interruptions.append(f"{why}: RTL commanded")
                cmd.set_mode(self.link, CopterMode.RTL, timeout_s=t)
            elif snap.armed:
                self.interruptions.append(f"{why}: disarmed on the ground")
                cmd.disarm(self.link, timeout_s=t)
        finally:
            self._stop_camera()
            self.progress.save(self.flight_dir)

    def _stop_camera(self) -> None:
        try:
            cmd.stop_camera_trigger(self.link, timeout_s=self.config.command_timeout_s)
        except SurveyError:
            pass  # best effort: the mission's own trigger-stop item may have run already

    # ------------------------------------------------------------------ records
    def _log_message(self, msg: Message) -> None:
        if msg.get_type() not in _LOGGED:
            return
        row: dict[str, Any] = {"t_s": round(time.monotonic() - self.t0, 3)}
        for key, value in msg.to_dict().items():
            row["type" if key == "mavpackettype" else key] = (
                value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
        with self._log_lock:
            if self.log is not None:
                self.log.write(json.dumps(row, default=str) + "\n")

    def _write_photos(self) -> None:
        doc = {"sortie": self.number, "photos": [p.__dict__ for p in self.photos]}
        atomic_write_text(self.photos_path, json.dumps(doc, indent=1) + "\n")

    def _read_photos(self) -> list[Photo]:
        """The photos an earlier ``survey fly`` recorded of this sortie (none if unreadable)."""
        try:
            doc = json.loads(self.photos_path.read_text(encoding="utf-8"))
            return [Photo(**p) for p in doc["photos"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []


class _LostLink:
    """A link gone quiet in flight: waits for it, repeating the vehicle's last known state."""

    def __init__(self, sortie: _Sortie, last_heartbeat: float) -> None:
        self.s = sortie
        self.since = last_heartbeat
        self.next_report = sortie.link.clock()
        cfg = sortie.config
        self.give_up = last_heartbeat + cfg.heartbeat_timeout_s + cfg.link_lost_timeout_s

    def next_wake(self) -> float:
        return min(self.next_report, self.give_up)

    def last_seen(self) -> str:
        snap = self.s.state.snapshot()
        where = (f"at {snap.lat_deg:.6f},{snap.lon_deg:.6f}, "
                 f"{snap.alt_rel_m or 0.0:.0f} m above home"
                 if snap.lat_deg is not None and snap.lon_deg is not None else "position unknown")
        battery = f", battery {snap.battery_pct:g} %" if snap.battery_pct is not None else ""
        reached = max(self.s.reached, default=0)
        return (f"last seen in {snap.mode or '?'} {where}{battery}, item {reached}/"
                f"{self.s.total} reached")

    def tick(self) -> None:
        s, now = self.s, self.s.link.clock()
        silent = now - self.since
        if now >= self.give_up:
            s.progress.save(s.flight_dir)
            raise LinkTimeout(
                f"vehicle HEARTBEAT during sortie {s.number}", round(silent, 1),
                f"link lost; {self.last_seen()}; the vehicle's own failsafe (FS_GCS_ENABLE) "
                "decides what it does; follow it when the link is back with `resume`")
        if now >= self.next_report:
            self.next_report = now + s.config.link_report_s
            s.emit(FlightEvent(EventKind.LINK_LOST, s.number,
                               f"link lost {silent:.0f} s ago, {self.last_seen()}; waiting "
                               f"{self.give_up - now:.0f} s more for it",
                               max(s.reached, default=0), s.total))

    def back(self) -> None:
        s = self.s
        silent = s.link.clock() - self.since
        s.emit(FlightEvent(EventKind.LINK_BACK, s.number, f"link back after {silent:.0f} s",
                           max(s.reached, default=0), s.total))
        try:  # a vehicle that rebooted, or a new connection, may have dropped the rates
            request_rates(s.link, DEFAULT_RATES_HZ, timeout_s=s.config.command_timeout_s,
                          retries=1)
        except SurveyError:
            pass
