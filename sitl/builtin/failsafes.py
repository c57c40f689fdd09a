"""Failsafes (``ArduCopter/events.cpp``, ``AP_BattMonitor``, ``AC_Fence``): battery low and
critical, geofence breach, loss of GCS heartbeats and loss of position (EKF), each with the
action its parameter selects. Checked at 10 Hz of simulated time.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING

from . import nav
from .fence import breaches, fence_names
from .protocol import POSITION_MODES, CopterMode, mavlink

if TYPE_CHECKING:
    from .copter import Copter

SEV_WARNING = mavlink.MAV_SEVERITY_WARNING
SEV_CRITICAL = mavlink.MAV_SEVERITY_CRITICAL


class Fault(Enum):
    """Faults a test can inject (there is no wind model)."""

    GPS_LOSS = "gps_loss"
    """No GPS fix: pre-arm fails; in flight the EKF failsafe lands (FS_EKF_ACTION)."""
    ARMING_REFUSED = "arming_refused"
    """A pre-arm check fails ("PreArm: Injected fault")."""
    TELEMETRY_LOSS = "telemetry_loss"
    """The radio link is dead both ways (the vehicle drops what it sends and receives)."""


# Copter ``FailsafeAction`` per parameter value, reduced to what this vehicle can do
# (SmartRTL falls back to RTL or LAND as Copter does without a SmartRTL path).
BATT_ACTIONS = {0: None, 1: "land", 2: "rtl", 3: "rtl", 4: "land", 5: "disarm", 6: "rtl",
                7: "land"}
FENCE_ACTIONS = {0: None, 1: "rtl", 2: "land", 3: "rtl", 4: "brake", 5: "land", 6: "rtl"}
GCS_ACTIONS = {0: None, 1: "rtl", 2: "continue", 3: "rtl", 4: "land", 5: "land", 6: "rtl"}


class Failsafes:
    """Failsafe timers and checks for one copter (its flags live on the copter)."""

    def __init__(self, copter: Copter) -> None:
        self.c = copter
        self._low_since: dict[int, float | None] = {1: None, 2: None}

    def reset_battery(self) -> None:
        """Forget the low-voltage timers (after a battery swap)."""
        self._low_since = {1: None, 2: None}

    def check(self) -> None:
        self._battery()
        self._fence()
        self._gcs()
        self._ekf()

    # ------------------------------------------------------------------ action
    def act(self, action: str | None) -> None:
        """Do a failsafe action: "rtl", "land", "brake", "disarm" or "continue" (AUTO only)."""
        c = self.c
        if action is None or not c.armed:
            return
        if c.landed:
            c.disarm()
            return
        if action == "continue" and c.mode is CopterMode.AUTO:
            return
        if action != "disarm" and c.is_landing:
            return  # "Continuing Landing"
        if action == "disarm":
            c.disarm(force=True)
        elif action == "brake" and c.set_mode(CopterMode.BRAKE, announce=False):
            return
        elif action in ("rtl", "continue") and c.set_mode(CopterMode.RTL, announce=False):
            return
        if c.mode is not CopterMode.LAND and not c.set_mode(CopterMode.LAND, announce=False):
            c.mode, c.activity = CopterMode.LAND, nav.Land()  # LAND needs no position

    # ------------------------------------------------------------------ battery
    def _battery(self) -> None:
        c = self.c
        p, b = c.params, c.battery
        level = 0
        for lvl, volt_name, mah_name in ((1, "BATT_LOW_VOLT", "BATT_LOW_MAH"),
                                        (2, "BATT_CRT_VOLT", "BATT_CRT_MAH")):
            if p[volt_name] > 0 and b.voltage_v < p[volt_name]:
                since = self._low_since[lvl]
                if since is None:
                    self._low_since[lvl] = c.time_s
                elif c.time_s - since >= p["BATT_LOW_TIMER"]:
                    level = lvl
            else:
                self._low_since[lvl] = None
            if p[mah_name] > 0 and b.remaining_mah < p[mah_name]:
                level = lvl
        if level <= c.failsafe_battery:
            return
        c.failsafe_battery = level
        kind = "low" if level == 1 else "critical"
        c.events.text(SEV_WARNING, f"Battery 1 is {kind} {b.voltage_v:.2f}V used "
                                   f"{b.consumed_mah:.0f} mAh")
        act_param = "BATT_FS_LOW_ACT" if level == 1 else "BATT_FS_CRT_ACT"
        self.act(BATT_ACTIONS.get(int(p[act_param]), "rtl"))

    # ------------------------------------------------------------------ fence
    def fence_breaches(self) -> int:
        """FENCE_TYPE bits of the fences the vehicle is breaching now."""
        c = self.c
        p = c.params
        hn, he = c.home_ne
        return breaches(c.fence_shapes, int(p["FENCE_TYPE"]), north_m=c.body.north_m,
                        east_m=c.body.east_m, alt_rel_m=c.alt_rel_m,
                        home_distance_m=math.hypot(c.body.north_m - hn, c.body.east_m - he),
                        alt_max_m=p["FENCE_ALT_MAX"], radius_m=p["FENCE_RADIUS"])

    def _fence(self) -> None:
        c = self.c
        if not c.params["FENCE_ENABLE"] or not c.armed:
            c.fence_breach_mask = 0
            return
        mask = self.fence_breaches()
        new = mask & ~c.fence_breach_mask
        c.fence_breach_mask = mask
        if not new:
            return
        c.fence_breach_count += 1
        if not c.landed:
            c.events.text(mavlink.MAV_SEVERITY_NOTICE, f"{fence_names(new)} breached")
        self.act(FENCE_ACTIONS.get(int(c.params["FENCE_ACTION"]), "rtl"))

    # ------------------------------------------------------------------ GCS heartbeat
    def _gcs(self) -> None:
        c = self.c
        p = c.params
        if not p["FS_GCS_ENABLE"] or c.last_gcs_heartbeat_s is None:
            return
        lost = c.link_now() - c.last_gcs_heartbeat_s > p["FS_GCS_TIMEOUT"]  # real s
        if lost and not c.failsafe_gcs:
            c.failsafe_gcs = True
            if c.armed:
                c.events.text(SEV_CRITICAL, "GCS Failsafe")
                self.act(GCS_ACTIONS.get(int(p["FS_GCS_ENABLE"]), "rtl"))
        elif not lost and c.failsafe_gcs:
            c.failsafe_gcs = False
            c.events.text(SEV_CRITICAL, "GCS Failsafe Cleared")

    # ------------------------------------------------------------------ position (EKF)
    def _ekf(self) -> None:
        c = self.c
        bad = Fault.GPS_LOSS in c.faults and c.ekf_ready
        if bad and not c.failsafe_ekf:
            c.failsafe_ekf = True
            if c.armed and not c.landed and c.mode in POSITION_MODES:
                c.events.text(SEV_CRITICAL, "EKF Failsafe: changed to LAND mode")
                c.auto.stop()
                c.mode, c.activity = CopterMode.LAND, nav.Land()
        elif not bad:
            c.failsafe_ekf = False
