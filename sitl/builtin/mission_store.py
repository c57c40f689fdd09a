"""Vehicle side of the mission item protocol for MISSION, FENCE and RALLY, as ArduPilot runs it.

One :class:`ItemProtocol` per ``mission_type`` (``GCS_MAVLink/MissionItemProtocol.cpp``):

- MISSION_COUNT starts an upload; the vehicle requests each item in turn (MISSION_REQUEST_INT,
  or MISSION_REQUEST like Copter 4.7 when ``request_int`` is false) and accepts MISSION_ITEM_INT
  or a legacy MISSION_ITEM in reply.
- An item whose seq is not the one requested (a duplicate, or out of order) gets
  MISSION_ACK(INVALID_SEQUENCE) and no new request; an item from another system gets DENIED.
- No item for 1 s (simulated): the request is sent again. No item for 8 s: the upload is
  abandoned with MISSION_ACK(OPERATION_CANCELLED) and "... upload timeout".
- A rejected item ends the upload with that item's error code. Uploads are staged: the stored
  plan changes only when the whole transfer is accepted (ArduPilot truncates the stored
  mission as soon as MISSION_COUNT arrives; keeping the old plan is the documented intent of
  the protocol and what this project relies on).
- An item arriving when no upload is open gets MISSION_ERROR (a re-sent last item after a lost
  final ACK included, although the plan was stored).
- MISSION seq 0 is home: uploads may send anything there, downloads always return home.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import mission_items as mi
from .mission_items import WireItem
from .protocol import mavlink

RESEND_S = 1.0
"""Seconds without an item before the vehicle requests it again (on the link clock)."""
ABANDON_S = 8.0
"""Seconds without an item before the vehicle abandons the upload (on the link clock).

Both time the ground station, which runs in real time, so the vehicle counts them in real
seconds whatever its speed-up (:meth:`BuiltinCopter.link_time`): at speed-up 100 in simulated
time they would be 10 and 80 ms, which a ground station on a busy machine cannot meet."""


class Link(Protocol):
    """Where replies go: one connected ground station."""

    def send(self, msg: Any) -> None: ...


Notify = Callable[[int, str], None]
"""Callback sending a STATUSTEXT (severity, text) to the ground stations."""


@dataclass
class _Upload:
    link: Link
    sysid: int
    compid: int
    count: int
    next_seq: int = 0
    items: list[WireItem] = field(default_factory=list)
    last_receive_s: float = 0.0
    last_request_s: float = 0.0


@dataclass(frozen=True)
class TypeRules:
    """What differs between MISSION, FENCE and RALLY."""

    mission_type: int
    name: str
    max_items: int
    store_item: Callable[[WireItem], tuple[int, WireItem | None]]
    validate: Callable[[Sequence[WireItem]], str | None] = lambda items: None
    complete_text: str | None = None


MISSION_RULES = TypeRules(mavlink.MAV_MISSION_TYPE_MISSION, "Mission", mi.MISSION_MAX_ITEMS,
                          mi.store_mission_item, complete_text="Flight plan received")
FENCE_RULES = TypeRules(mavlink.MAV_MISSION_TYPE_FENCE, "Fence", mi.FENCE_MAX_ITEMS,
                        mi.store_fence_item, validate=mi.validate_fence)
RALLY_RULES = TypeRules(mavlink.MAV_MISSION_TYPE_RALLY, "Rally", mi.RALLY_MAX_ITEMS,
                        mi.store_rally_item, complete_text="Rally points received")


class ItemProtocol:
    """Stored items of one mission type and the transfers that read and replace them.

    Parameters
    ----------
    rules
        The type's limits, item conversion and whole-plan validation.
    notify
        Sends a STATUSTEXT to the ground stations.
    on_commit
        Called with the new items after an accepted upload or a clear.
    home_item
        MISSION type only: returns seq 0 (home) for downloads.
    can_clear
        Returns False while clearing is refused (a running mission).
    request_int
        Request items with MISSION_REQUEST_INT (True) or MISSION_REQUEST (False).
    """

    def __init__(self, rules: TypeRules, *, notify: Notify,
                 on_commit: Callable[[tuple[WireItem, ...]], None] = lambda items: None,
                 home_item: Callable[[], WireItem] | None = None,
                 can_clear: Callable[[], bool] = lambda: True,
                 request_int: bool = True) -> None:
        self.rules = rules
        self._notify = notify
        self._on_commit = on_commit
        self._home_item = home_item
        self._can_clear = can_clear
        self._request_int = request_int
        self._items: tuple[WireItem, ...] = ()
        self._upload: _Upload | None = None

    # ------------------------------------------------------------------ state
    @property
    def items(self) -> tuple[WireItem, ...]:
        """Stored items in download form (MISSION: index 0 is the home placeholder)."""
        return self._items

    @property
    def receiving(self) -> bool:
        """Whether an upload is open."""
        return self._upload is not None

    def replace_items(self, items: Sequence[WireItem]) -> None:
        """Store ``items`` directly (no protocol), e.g. the home placeholder at boot."""
        self._items = tuple(items)
        self._on_commit(self._items)

    # ------------------------------------------------------------------ replies
    def _ack(self, link: Link, msg: Any, result: int) -> None:
        link.send(mavlink.MAVLink_mission_ack_message(
            msg.get_srcSystem(), msg.get_srcComponent(), result, self.rules.mission_type))

    def _request(self, now_s: float) -> None:
        up = self._upload
        assert up is not None
        cls = (mavlink.MAVLink_mission_request_int_message if self._request_int
               else mavlink.MAVLink_mission_request_message)
        up.link.send(cls(up.sysid, up.compid, up.next_seq, self.rules.mission_type))
        up.last_request_s = now_s

    # ------------------------------------------------------------------ upload
    def handle_count(self, link: Link, msg: Any, now_s: float) -> None:
        """MISSION_COUNT: start (or restart) an upload."""
        up = self._upload
        if up is not None and (msg.get_srcSystem(), msg.get_srcComponent()) != (up.sysid,
                                                                                 up.compid):
            self._ack(link, msg, mavlink.MAV_MISSION_DENIED)
            return
        self._upload = None
        if msg.count > self.rules.max_items:
            self._ack(link, msg, mavlink.MAV_MISSION_NO_SPACE)
            self._notify(mavlink.MAV_SEVERITY_WARNING,
                         f"Only {self.rules.max_items} items are supported")
            return
        self._upload = _Upload(link, msg.get_srcSystem(), msg.get_srcComponent(), msg.count,
                               last_receive_s=now_s)
        if msg.count == 0:
            self._complete(link, msg)
            return
        self._request(now_s)

    def handle_item(self, link: Link, msg: Any, item: WireItem, seq: int, now_s: float) -> None:
        """MISSION_ITEM_INT (or a converted MISSION_ITEM) for this mission type."""
        up = self._upload
        if up is None:
            self._ack(link, msg, mavlink.MAV_MISSION_ERROR)
            return
        if seq != up.next_seq:
            self._ack(link, msg, mavlink.MAV_MISSION_INVALID_SEQUENCE)
            return
        if (msg.get_srcSystem(), msg.get_srcComponent()) != (up.sysid, up.compid):
            self._ack(link, msg, mavlink.MAV_MISSION_DENIED)
            return
        result, stored = self.rules.store_item(item)
        if result == mavlink.MAV_MISSION_ACCEPTED and stored is not None:
            result = self._check_jump(stored, up)
        if result != mavlink.MAV_MISSION_ACCEPTED or stored is None:
            self._ack(link, msg, result)
            self._upload = None
            return
        up.items.append(stored)
        up.last_receive_s = now_s
        up.next_seq += 1
        if up.next_seq >= up.count:
            self._complete(link, msg)
        else:
            self._request(now_s)

    def _check_jump(self, item: WireItem, up: _Upload) -> int:
        if item.command != mavlink.MAV_CMD_DO_JUMP:
            return mavlink.MAV_MISSION_ACCEPTED
        target = int(item.param1)
        if target == 0 or target >= up.count:
            return mavlink.MAV_MISSION_ERROR
        return mavlink.MAV_MISSION_ACCEPTED

    def _complete(self, link: Link, msg: Any) -> None:
        up = self._upload
        assert up is not None
        self._upload = None
        problem = self.rules.validate(up.items)
        if problem is not None:
            self._notify(mavlink.MAV_SEVERITY_WARNING, problem)
            self._notify(mavlink.MAV_SEVERITY_WARNING, f"{self.rules.name} validation failed")
            self._ack(link, msg, mavlink.MAV_MISSION_ERROR)
            return
        self._items = tuple(up.items)
        self._on_commit(self._items)
        if self.rules.complete_text:
            self._notify(mavlink.MAV_SEVERITY_INFO, self.rules.complete_text)
        self._ack(link, msg, mavlink.MAV_MISSION_ACCEPTED)

    def update(self, now_s: float) -> None:
        """Re-request after :data:`RESEND_S`, abandon after :data:`ABANDON_S` (link clock)."""
        up = self._upload
        if up is None:
            return
        if now_s - up.last_receive_s > ABANDON_S:
            self._upload = None
            up.link.send(mavlink.MAVLink_mission_ack_message(
                up.sysid, up.compid, mavlink.MAV_MISSION_OPERATION_CANCELLED,
                self.rules.mission_type))
            self._notify(mavlink.MAV_SEVERITY_WARNING, f"{self.rules.name} upload timeout")
        elif now_s - up.last_request_s > RESEND_S:
            self._request(now_s)

    # ------------------------------------------------------------------ download
    def handle_request_list(self, link: Link, msg: Any) -> None:
        """MISSION_REQUEST_LIST: reply with MISSION_COUNT."""
        if self._upload is not None:
            self._ack(link, msg, mavlink.MAV_MISSION_DENIED)
            return
        link.send(mavlink.MAVLink_mission_count_message(
            msg.get_srcSystem(), msg.get_srcComponent(), len(self._items),
            self.rules.mission_type))

    def handle_request(self, link: Link, msg: Any, as_int: bool) -> None:
        """MISSION_REQUEST_INT (``as_int``) or MISSION_REQUEST: send one stored item."""
        if self._upload is not None:
            self._ack(link, msg, mavlink.MAV_MISSION_DENIED)
            return
        seq = msg.seq
        mtype = self.rules.mission_type
        if mtype == mavlink.MAV_MISSION_TYPE_MISSION and seq == 0 and self._home_item:
            item: WireItem | None = self._home_item()
        elif seq < len(self._items):
            item = self._items[seq]
        else:
            item = None
        if item is None:
            if mtype == mavlink.MAV_MISSION_TYPE_MISSION:
                link.send(mavlink.MAVLink_mission_count_message(
                    msg.get_srcSystem(), msg.get_srcComponent(), len(self._items), mtype))
                self._ack(link, msg, mavlink.MAV_MISSION_ERROR)
            elif mtype == mavlink.MAV_MISSION_TYPE_FENCE and seq == len(self._items):
                self._ack(link, msg, mavlink.MAV_MISSION_ERROR)
            else:
                self._ack(link, msg, mavlink.MAV_MISSION_INVALID_SEQUENCE)
            return
        head = (msg.get_srcSystem(), msg.get_srcComponent(), seq, item.frame, item.command, 0, 1,
                item.param1, item.param2, item.param3, item.param4)
        if as_int:
            link.send(mavlink.MAVLink_mission_item_int_message(
                *head, item.x, item.y, item.z, mtype))
            return
        result, x, y = mi.item_to_float_xy(item)
        if result != mavlink.MAV_MISSION_ACCEPTED:
            self._ack(link, msg, result)
            return
        link.send(mavlink.MAVLink_mission_item_message(*head, x, y, item.z, mtype))

    # ------------------------------------------------------------------ clear
    def handle_clear_all(self, link: Link, msg: Any) -> None:
        """MISSION_CLEAR_ALL: ACCEPTED, or ERROR during an upload or a running mission."""
        if self._upload is not None or not self._can_clear():
            self._ack(link, msg, mavlink.MAV_MISSION_ERROR)
            return
        self._items = ()
        self._on_commit(self._items)
        self._ack(link, msg, mavlink.MAV_MISSION_ACCEPTED)
