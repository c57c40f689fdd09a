"""Inbound MAVLink: route each message a ground station sends to the part of the vehicle that
answers it (parameters, mission transfers, commands, modes, stream requests, heartbeats)."""

from __future__ import annotations

import math
from typing import Any, Protocol

from . import commands, telemetry
from . import mission_items as mi
from .copter import Copter
from .mission_store import ItemProtocol
from .params import ParamStore
from .protocol import AUTOPILOT_COMPONENT, mavlink
from .server import Link
from .signing import REFUSED_ARMED, VehicleSigning

M = mavlink
_POSITION_IGNORED = (M.POSITION_TARGET_TYPEMASK_X_IGNORE | M.POSITION_TARGET_TYPEMASK_Y_IGNORE
                     | M.POSITION_TARGET_TYPEMASK_Z_IGNORE)


class Vehicle(commands.Context, Protocol):
    """What the dispatcher needs from the vehicle facade."""

    copter: Copter
    params: ParamStore
    sysid: int
    protocols: dict[int, ItemProtocol]
    signing: VehicleSigning

    def broadcast(self, msg: Any) -> None: ...

    def links(self) -> list[Link]: ...

    def text_to(self, link: Link, severity: int, text: str) -> None: ...

    def param_changed(self, name: str) -> None: ...

    def flush_queued(self, link: Link) -> None: ...

    def link_time(self) -> float: ...


def addressed_to_us(msg: Any, sysid: int) -> bool:
    """False for messages aimed at another system or component (ArduPilot routes those on)."""
    target = getattr(msg, "target_system", 0)
    if target not in (0, sysid):
        return False
    return getattr(msg, "target_component", 0) in (0, AUTOPILOT_COMPONENT)


def param_value(params: ParamStore, name: str) -> Any:
    return M.MAVLink_param_value_message(name.encode(), params[name], params.param_type(name),
                                         len(params), params.index_of(name))


def _param_name(raw: Any) -> str:
    name = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return name.split("\x00", 1)[0]


class Dispatcher:
    """Handles every inbound message for one vehicle."""

    def __init__(self, vehicle: Vehicle) -> None:
        self.v = vehicle
        self._handlers = {
            "HEARTBEAT": self._heartbeat,
            "PARAM_REQUEST_LIST": self._param_list,
            "PARAM_REQUEST_READ": self._param_read,
            "PARAM_SET": self._param_set,
            "MISSION_COUNT": self._mission_count,
            "MISSION_ITEM_INT": self._mission_item_int,
            "MISSION_ITEM": self._mission_item,
            "MISSION_REQUEST_LIST": self._mission_request_list,
            "MISSION_REQUEST_INT": self._mission_request_int,
            "MISSION_REQUEST": self._mission_request,
            "MISSION_CLEAR_ALL": self._mission_clear_all,
            "MISSION_SET_CURRENT": self._mission_set_current,
            "COMMAND_LONG": self._command_long,
            "COMMAND_INT": self._command_int,
            "SET_MODE": self._set_mode,
            "REQUEST_DATA_STREAM": self._request_data_stream,
            "SET_POSITION_TARGET_GLOBAL_INT": self._position_target,
            "SETUP_SIGNING": self._setup_signing,
        }

    def handle(self, link: Link, msg: Any) -> None:
        """Process one message received on ``link``."""
        handler = self._handlers.get(msg.get_type())
        if handler is None or not addressed_to_us(msg, self.v.sysid):
            return
        handler(link, msg)

    # ------------------------------------------------------------------ heartbeat
    def _heartbeat(self, link: Link, msg: Any) -> None:
        if msg.get_srcSystem() == int(self.v.params["SYSID_MYGCS"]):
            self.v.copter.last_gcs_heartbeat_s = self.v.copter.link_now()

    # ------------------------------------------------------------------ parameters
    def _param_list(self, link: Link, msg: Any) -> None:
        for name in self.v.params:
            link.send(param_value(self.v.params, name))

    def _param_read(self, link: Link, msg: Any) -> None:
        params = self.v.params
        try:
            name = (params.name_at(msg.param_index) if msg.param_index >= 0
                    else _param_name(msg.param_id))
            link.send(param_value(params, name))
        except (IndexError, KeyError):
            return  # ArduPilot does not answer for unknown parameters

    def _param_set(self, link: Link, msg: Any) -> None:
        name = _param_name(msg.param_id)
        try:
            self.v.params.set(name, msg.param_value)
        except (KeyError, ValueError):
            return
        self.v.param_changed(name)
        self.v.broadcast(param_value(self.v.params, name))

    # ------------------------------------------------------------------ missions
    def _protocol(self, link: Link, msg: Any) -> ItemProtocol | None:
        proto = self.v.protocols.get(msg.mission_type)
        if proto is None:
            link.send(M.MAVLink_mission_ack_message(msg.get_srcSystem(), msg.get_srcComponent(),
                                                    M.MAV_MISSION_UNSUPPORTED, msg.mission_type))
        return proto

    def _mission_count(self, link: Link, msg: Any) -> None:
        proto = self._protocol(link, msg)
        if proto:
            proto.handle_count(link, msg, self.v.link_time())

    def _mission_item_int(self, link: Link, msg: Any) -> None:
        self._item(link, msg, mi.item_from_int(msg))

    def _mission_item(self, link: Link, msg: Any) -> None:
        result, item = mi.item_from_float(msg)
        if item is None:
            link.send(M.MAVLink_mission_ack_message(msg.get_srcSystem(), msg.get_srcComponent(),
                                                    result, msg.mission_type))
            return
        self._item(link, msg, item)

    def _item(self, link: Link, msg: Any, item: mi.WireItem) -> None:
        if msg.mission_type == M.MAV_MISSION_TYPE_MISSION and msg.current in (2, 3):
            self._guided_item(link, msg, item)
            return
        proto = self._protocol(link, msg)
        if proto:
            proto.handle_item(link, msg, item, msg.seq, self.v.link_time())

    def _guided_item(self, link: Link, msg: Any, item: mi.WireItem) -> None:
        """current=2: "fly to" in GUIDED; current=3: change altitude only."""
        result, stored = mi.store_mission_item(item)
        cop = self.v.copter
        if stored is not None:
            b = cop.body
            default = (b.north_m, b.east_m, b.alt_m)
            north, east, alt = cop.item_location(stored, default)
            if msg.current == 3:
                north, east = b.north_m, b.east_m
            ok = cop.guided_goto(north, east, alt)
            result = M.MAV_MISSION_ACCEPTED if ok else M.MAV_MISSION_ERROR
        link.send(M.MAVLink_mission_ack_message(msg.get_srcSystem(), msg.get_srcComponent(),
                                                result, M.MAV_MISSION_TYPE_MISSION))

    def _mission_request_list(self, link: Link, msg: Any) -> None:
        proto = self._protocol(link, msg)
        if proto:
            proto.handle_request_list(link, msg)

    def _mission_request_int(self, link: Link, msg: Any) -> None:
        proto = self._protocol(link, msg)
        if proto:
            proto.handle_request(link, msg, as_int=True)

    def _mission_request(self, link: Link, msg: Any) -> None:
        proto = self._protocol(link, msg)
        if proto:
            proto.handle_request(link, msg, as_int=False)

    def _mission_clear_all(self, link: Link, msg: Any) -> None:
        if msg.mission_type == M.MAV_MISSION_TYPE_ALL:
            for receiving in self.v.protocols.values():
                if receiving.receiving:
                    receiving.handle_clear_all(link, msg)
                    return
            for each in self.v.protocols.values():
                each.handle_clear_all(_Mute(), msg)
            link.send(M.MAVLink_mission_ack_message(msg.get_srcSystem(), msg.get_srcComponent(),
                                                    M.MAV_MISSION_ACCEPTED,
                                                    M.MAV_MISSION_TYPE_ALL))
            return
        proto = self._protocol(link, msg)
        if proto:
            proto.handle_clear_all(link, msg)

    def _mission_set_current(self, link: Link, msg: Any) -> None:
        if self.v.copter.auto.set_current(msg.seq):
            self.v.broadcast(telemetry.mission_current(self.v.copter))

    # ------------------------------------------------------------------ commands and modes
    def _ack(self, link: Link, msg: Any, command: int, result: int) -> None:
        link.send(M.MAVLink_command_ack_message(command, result, 0, 0, msg.get_srcSystem(),
                                                msg.get_srcComponent()))

    def _run_command(self, link: Link, msg: Any, cmd: commands.Command) -> None:
        result = commands.handle(self.v, link, cmd)
        self._ack(link, msg, cmd.command, result)
        self.v.flush_queued(link)

    def _command_long(self, link: Link, msg: Any) -> None:
        self._run_command(link, msg, commands.Command.from_long(msg))

    def _command_int(self, link: Link, msg: Any) -> None:
        self._run_command(link, msg, commands.Command.from_int(msg))

    def _set_mode(self, link: Link, msg: Any) -> None:
        result = commands.set_mode_common(self.v.copter, msg.base_mode, msg.custom_mode)
        self._ack(link, msg, M.MAVLINK_MSG_ID_SET_MODE, result)

    def _request_data_stream(self, link: Link, msg: Any) -> None:
        cop = self.v.copter
        link.streams.request_stream(msg.req_stream_id, msg.req_message_rate,
                                    bool(msg.start_stop), cop.time_s,
                                    lambda msg_id: telemetry.sendable(cop, msg_id))

    def _position_target(self, link: Link, msg: Any) -> None:
        if msg.type_mask & _POSITION_IGNORED == _POSITION_IGNORED:
            return
        cop = self.v.copter
        alt = msg.alt
        if msg.coordinate_frame not in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
            alt += cop.home_alt_m
        if math.isnan(alt):
            return
        north, east = cop.frame.to_ne_e7(msg.lat_int, msg.lon_int)
        cop.guided_goto(north, east, alt)


    # ------------------------------------------------------------------ signing
    def _setup_signing(self, link: Link, msg: Any) -> None:
        """ArduPilot's ``handle_setup_signing``: refused while armed, else the key is kept and
        every link signs with it from now on."""
        if self.v.copter.armed:
            self.v.text_to(link, M.MAV_SEVERITY_WARNING, REFUSED_ARMED)
            return
        self.v.signing.setup(bytes(msg.secret_key), int(msg.initial_timestamp), self.v.links())


class _Mute:
    def send(self, msg: Any) -> None:
        pass
