"""Built-in MAVLink vehicle: a simulated ArduCopter 4.x to fly against without ArduPilot SITL.

Start one, connect any MAVLink 2 ground station to :attr:`BuiltinCopter.url`, fly it::

    with BuiltinCopter(35.3606, 138.7274, 100.0, speedup=40,
                       params={"BATT_FS_LOW_ACT": 2}) as vehicle:
        link = mavutil.mavlink_connection(vehicle.url, source_system=255)
        ...
        track = vehicle.track()          # where it flew, for no-fly-zone checks

Where a ground station looks it behaves as ArduCopter does: heartbeat and custom modes, only
HEARTBEAT until streams are requested (SET_MESSAGE_INTERVAL or REQUEST_DATA_STREAM), a warm-up
before it can arm, the parameter protocol, COMMAND_ACK results, the mission protocol for
MISSION/FENCE/RALLY with ArduPilot's error codes and 1 s / 8 s timeouts (real seconds), items
returned on download as ArduPilot stores them (seq 0 is home; location items in
MAV_FRAME_GLOBAL_RELATIVE_ALT, others in frame 0, parameters it does not keep set to 0), AUTO
execution with MISSION_ITEM_REACHED, camera distance triggering with CAMERA_FEEDBACK, RTL,
and battery, fence, GCS-heartbeat and EKF failsafes driven by their parameters.

The ground is flat at home unless the vehicle is given a terrain (``terrain=`` a
:class:`mapping.dem.Dem`, or any :class:`Terrain`): then take-off, landing and the ground clamp
follow it, MAV_FRAME_GLOBAL_TERRAIN_ALT items fly above it, flying into it is stopped there and
reported ("Crash: hit terrain" STATUSTEXT), and TERRAIN_REPORT can be streamed.

Test hooks (plain methods): :meth:`~BuiltinCopter.state`, :meth:`~BuiltinCopter.wait_for`,
:meth:`~BuiltinCopter.track`, :meth:`~BuiltinCopter.camera_shots`,
:meth:`~BuiltinCopter.status_texts`, :meth:`~BuiltinCopter.received_messages`,
:meth:`~BuiltinCopter.stored_items`, :meth:`~BuiltinCopter.set_battery_remaining_pct`,
:meth:`~BuiltinCopter.swap_battery` (the between-sorties swap both simulators have),
:meth:`~BuiltinCopter.inject_fault` / :meth:`~BuiltinCopter.clear_fault`,
:meth:`~BuiltinCopter.get_param` / :meth:`~BuiltinCopter.set_param`.

>>> vehicle = BuiltinCopter(35.0, 139.0, speedup=20, params={"BATT_FS_LOW_ACT": 2})
>>> vehicle.get_param("WPNAV_SPEED"), vehicle.get_param("BATT_FS_LOW_ACT")
(1000.0, 2.0)
"""

from .camera import CameraShot, Pose
from .copter import TrackPoint
from .failsafes import Fault
from .mission_items import WireItem
from .protocol import CopterMode
from .terrain import Terrain
from .vehicle import BuiltinCopter, InboundMessage, StatusText, VehicleState

__all__ = [
    "BuiltinCopter",
    "CameraShot",
    "CopterMode",
    "Fault",
    "InboundMessage",
    "Pose",
    "StatusText",
    "Terrain",
    "TrackPoint",
    "VehicleState",
    "WireItem",
]
