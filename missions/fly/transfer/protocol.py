"""The MAVLink mission protocol, client side: upload and download of MISSION, FENCE and RALLY.

One implementation for the three transfer types; they differ only in ``mission_type``. Each
transfer is an explicit state machine (:class:`UploadMachine`, :class:`DownloadMachine`) that
knows nothing about sockets or time: it is fed messages and timeouts and answers with what to
send, so it is tested without a vehicle. :func:`upload` and :func:`download` drive them over a
:class:`~missions.fly.link.Link`.

Protocol rules followed (mavlink devguide, ArduPilot ``MissionItemProtocol.cpp`` and autotest):

- MISSION_ITEM_INT only; MISSION_REQUEST and MISSION_REQUEST_INT are both answered.
- Timeouts: 1.5 s for the first answer (count, list), 0.25 s per item; at most 5 retries in a row
  without progress; a failed transfer is restarted from the start (``attempts``).
- Duplicate requests are answered again. MISSION_ACK(INVALID_SEQUENCE) after a re-sent item
  means "I already have it: send the next".
- An error MISSION_ACK aborts: the vehicle keeps its old plan and :class:`MissionRejected`
  names the item and the answer. MISSION_ERROR after a re-sent *last* item (its final ACK was
  lost) may mean the plan was stored: such an upload is accepted only if it reads back right.
- Every upload is verified by downloading it and comparing (normalised as ArduPilot stores
  items). Downloads keep ``window`` requests in flight (MAVProxy keeps 5).
- MISSION seq 0 is home: uploads send the plan's home there, downloads skip it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from missions.fly.link import Link, command_name
from missions.fly.transfer.machines import (
    DownloadMachine,
    Failure,
    Out,
    Outcome,
    Phase,
    RttEstimator,
    TransferConfig,
    UploadMachine,
    ack_name,
)
from missions.fly.transfer.wire import (
    MissionType,
    WireItem,
    compare,
    from_wire,
    home_wire_item,
    to_wire,
)
from missions.plan.items import MissionItem
from survey.core.errors import LinkTimeout, MissionRejected

__all__ = [
    "DownloadMachine", "MissionType", "Out", "Outcome", "Phase", "TransferConfig",
    "TransferReport", "UploadMachine", "WireItem", "ack_name", "compare", "download",
    "download_wire", "home_wire_item", "upload", "upload_wire",
]


@dataclass(frozen=True)
class TransferReport:
    """What an upload took."""

    mission_type: MissionType
    items: int
    attempts: int
    retries: int
    duration_s: float
    verified: bool


_UPLOAD_REPLIES = ("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK")
_DOWNLOAD_REPLIES = ("MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ACK")


def _send_out(link: Link, mtype: MissionType, out: Out, wire: Sequence[WireItem]) -> None:
    ts, tc, mav = link.target_system, link.target_component, link.mav
    if out.kind == "count":
        link.send(mav.mission_count_encode(ts, tc, out.value, mtype))
    elif out.kind == "item":
        it = wire[out.value]
        link.send(mav.mission_item_int_encode(
            ts, tc, out.value, it.frame, it.command, 0, int(it.autocontinue), it.param1,
            it.param2, it.param3, it.param4, it.x, it.y, it.z, mtype))
    elif out.kind == "request_list":
        link.send(mav.mission_request_list_encode(ts, tc, mtype))
    elif out.kind == "request":
        link.send(mav.mission_request_int_encode(ts, tc, out.value, mtype))
    elif out.kind == "ack":
        link.send(mav.mission_ack_encode(ts, tc, out.value, mtype))
    else:
        raise ValueError(f"unknown output {out.kind!r}")


def _dispatch(machine: UploadMachine | DownloadMachine, msg: Any, now: float) -> list[Out]:
    kind = msg.get_type()
    if kind == "MISSION_ACK":
        return machine.on_ack(msg.type, now)
    if isinstance(machine, UploadMachine):
        return machine.on_request(msg.seq, now)
    if kind == "MISSION_COUNT":
        return machine.on_count(msg.count, now)
    return machine.on_item(msg.seq, WireItem.from_msg(msg), now)


def _drive(link: Link, mtype: MissionType, machine: UploadMachine | DownloadMachine,
           types: Sequence[str], wire: Sequence[WireItem]) -> None:
    """Run ``machine`` to its end. Replies are answered on the link's reader thread as they
    arrive (no thread hand-off on the critical path); this thread handles the deadlines."""
    wanted = frozenset(types)
    lock = threading.Lock()
    finished = threading.Event()

    def send(outs: list[Out]) -> None:
        for out in outs:
            _send_out(link, mtype, out, wire)
        if machine.finished:
            finished.set()

    def on_message(msg: Any) -> None:
        if msg.get_type() not in wanted or getattr(msg, "mission_type", 0) != mtype:
            return
        with lock:
            if not machine.finished:
                send(_dispatch(machine, msg, link.clock()))

    remove = link.add_listener(on_message)
    try:
        with lock:
            send(machine.start(link.clock()))
        while True:
            with lock:
                if machine.finished:
                    return
                now = link.clock()
                wait = machine.deadline - now
                if wait <= 0:
                    send(machine.on_timeout(now))
                    continue
            finished.wait(min(wait, 0.1))
            link.check()
    finally:
        remove()


def _rtt_of(link: Link) -> RttEstimator:
    """The round-trip estimate kept with the link, so each transfer starts from what the last
    one measured."""
    est = getattr(link, "mission_rtt", None)
    if not isinstance(est, RttEstimator):
        est = RttEstimator()
        link.mission_rtt = est  # type: ignore[attr-defined]
    return est


def upload_wire(link: Link, mission_type: MissionType, wire: Sequence[WireItem], *,
                config: TransferConfig | None = None) -> tuple[Outcome, int, int]:
    """Upload ``wire`` (MISSION: seq 0 is home) without verifying.

    Returns
    -------
    tuple
        The outcome, the attempts made and the re-sends in all.

    Raises
    ------
    MissionRejected
        The vehicle refused an item (its old plan stays).
    LinkTimeout
        Every attempt ran out of retries.
    """
    config = config or TransferConfig()
    retries = 0
    rtt = _rtt_of(link)
    reason = "no attempt made"
    for attempt in range(1, config.attempts + 1):
        machine = UploadMachine(len(wire), config, rtt=rtt)
        _drive(link, mission_type, machine, _UPLOAD_REPLIES, wire)
        retries += machine.retries_total
        if machine.outcome is not None:
            return machine.outcome, attempt, retries
        failure = machine.failure
        assert failure is not None
        if not failure.retryable:
            raise MissionRejected(_rejection(mission_type, wire, failure),
                                  ack_type=failure.ack_type, seq=failure.seq)
        reason = failure.reason
    raise LinkTimeout(f"{mission_type.label} upload acknowledgement",
                      config.attempts * config.timeout_s,
                      f"{config.attempts} attempts failed, the last: {reason}")


def _rejection(mtype: MissionType, wire: Sequence[WireItem], failure: Failure) -> str:
    if 0 <= failure.seq < len(wire):
        seq = failure.seq
        what = f"item {seq} ({command_name(wire[seq].command)})"
    else:
        what = "the upload"
    return (f"the vehicle rejected {mtype.label} {what}: {failure.reason}; "
            "it keeps its previous plan")


def download_wire(link: Link, mission_type: MissionType, *,
                  config: TransferConfig | None = None) -> list[WireItem]:
    """Every stored item of ``mission_type`` as the vehicle returns it (MISSION: with home).

    Raises
    ------
    LinkTimeout
        Every attempt stalled or was refused.
    """
    config = config or TransferConfig()
    rtt = _rtt_of(link)
    for _ in range(config.attempts):
        machine = DownloadMachine(config, rtt=rtt)
        _drive(link, mission_type, machine, _DOWNLOAD_REPLIES, ())
        if machine.phase is Phase.DONE:
            return machine.result()
    assert machine.failure is not None
    raise LinkTimeout(f"{mission_type.label} download", config.attempts * config.timeout_s,
                      machine.failure.reason)


def upload(link: Link, mission_type: MissionType, items: Sequence[MissionItem], *,
           home: tuple[float, float, float] | None = None,
           config: TransferConfig | None = None) -> TransferReport:
    """Upload a plan's items and verify them by downloading.

    Parameters
    ----------
    link
        An open link.
    mission_type
        MISSION, FENCE or RALLY.
    items
        The items (for MISSION the items after home, numbered from seq 1).
    home
        MISSION only: ``(lat_deg, lon_deg, alt_amsl_m)`` sent as seq 0 (the vehicle replaces it
        with its own home); default zeros.
    config
        Timeouts and retries.

    Raises
    ------
    MissionRejected
        The vehicle refused an item, or the download differs from what was sent.
    LinkTimeout
        The link was too bad for every attempt.
    """
    config = config or TransferConfig()
    started = time.monotonic()
    wire = [to_wire(it) for it in items]
    if mission_type is MissionType.MISSION:
        wire.insert(0, home_wire_item(*(home or (0.0, 0.0, 0.0))))
    outcome, attempts, retries = upload_wire(link, mission_type, wire, config=config)
    verified = False
    if config.verify or outcome is Outcome.UNCERTAIN:
        got = download_wire(link, mission_type, config=config)
        problems = compare(wire, got, mission_type)
        if problems:
            raise MissionRejected(f"{mission_type.label} read back differs from the upload: "
                                  + "; ".join(problems[:3]))
        verified = True
    return TransferReport(mission_type, len(items), attempts, retries,
                          time.monotonic() - started, verified)


def download(link: Link, mission_type: MissionType, *,
             config: TransferConfig | None = None) -> list[MissionItem]:
    """The vehicle's stored items (MISSION: without home at seq 0)."""
    config = config or TransferConfig()
    wire = download_wire(link, mission_type, config=config)
    if mission_type is MissionType.MISSION:
        wire = wire[1:]
    return [from_wire(w) for w in wire]


