"""The mission protocol's client side as explicit state machines, free of sockets and clocks.

:class:`UploadMachine` and :class:`DownloadMachine` are fed messages (``on_request``,
``on_ack``, ``on_count``, ``on_item``) and timeouts (``on_timeout`` when ``deadline`` passes),
each with the current time, and answer with the :class:`Out` messages to send. Drive them with
:mod:`missions.fly.transfer.protocol`; test them with scripted exchanges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly.transfer.wire import WireItem


@dataclass(frozen=True)
class TransferConfig:
    """Timing and retry rules of a transfer.

    Attributes
    ----------
    timeout_s
        Wait for the first answer (to MISSION_COUNT or MISSION_REQUEST_LIST), seconds.
    item_timeout_s
        Wait for the answer to one item, seconds.
    retries
        Re-sends in a row without progress before the attempt fails.
    attempts
        Whole transfers tried before giving up (a lossy link may exhaust one attempt).
    window
        Download requests kept in flight.
    verify
        Download after an upload and compare.
    min_timeout_s
        With ``adaptive``, the shortest wait: once round trips have been measured, waits are
        ``srtt + 4 × rttvar`` (RFC 6298) clamped to ``min_timeout_s`` .. the fixed value above,
        so a fast link recovers a lost packet quickly and a slow one is never cut shorter than
        it answers; never longer than the fixed timeouts.
    adaptive
        Measure round trips (Karn's rule: never on a re-sent message) and shorten waits.
    """

    timeout_s: float = 1.5
    item_timeout_s: float = 0.25
    retries: int = 5
    attempts: int = 3
    window: int = 5
    verify: bool = True
    min_timeout_s: float = 0.05
    adaptive: bool = True


@dataclass
class RttEstimator:
    """Smoothed round-trip time (RFC 6298), shared by the transfers on one link."""

    srtt_s: float | None = None
    rttvar_s: float = 0.0

    def sample(self, rtt_s: float) -> None:
        if rtt_s < 0:
            return
        if self.srtt_s is None:
            self.srtt_s, self.rttvar_s = rtt_s, rtt_s / 2
        else:
            self.rttvar_s = 0.75 * self.rttvar_s + 0.25 * abs(self.srtt_s - rtt_s)
            self.srtt_s = 0.875 * self.srtt_s + 0.125 * rtt_s

    def timeout(self, config: TransferConfig, ceiling_s: float) -> float:
        """The wait for one answer: ``ceiling_s`` until measured, then the adaptive value."""
        if not config.adaptive or self.srtt_s is None:
            return ceiling_s
        rto = self.srtt_s + 4.0 * self.rttvar_s
        return min(ceiling_s, max(config.min_timeout_s, rto))


class Phase(Enum):
    """Where a transfer is."""

    IDLE = "idle"
    STARTING = "starting"  # MISSION_COUNT / MISSION_REQUEST_LIST sent, no answer yet
    TRANSFERRING = "transferring"
    DONE = "done"
    FAILED = "failed"


class Outcome(Enum):
    """How a finished upload ended."""

    ACCEPTED = "accepted"
    UNCERTAIN = "uncertain"  # final ACK lost, then MISSION_ERROR: verify decides


@dataclass(frozen=True)
class Out:
    """Something a state machine wants sent: ``kind`` is "count", "item", "request_list",
    "request" or "ack"; ``value`` the seq, count or ACK type."""

    kind: str
    value: int = 0


@dataclass(frozen=True)
class Failure:
    """Why a transfer attempt failed; ``retryable`` failures start a new attempt."""

    reason: str
    retryable: bool
    seq: int = -1
    ack_type: int = -1


# MISSION_ACK results that say "the transfer went wrong", not "this item is wrong".
_PROTOCOL_ERRORS = frozenset({mavlink.MAV_MISSION_ERROR, mavlink.MAV_MISSION_OPERATION_CANCELLED,
                              mavlink.MAV_MISSION_INVALID_SEQUENCE})


def ack_name(ack_type: int) -> str:
    """``MAV_MISSION_INVALID_PARAM1`` for 5, etc."""
    entry = mavlink.enums["MAV_MISSION_RESULT"].get(ack_type)
    return entry.name if entry is not None else f"result {ack_type}"


def _exhausted(config: TransferConfig, phase: Phase, misses: int, stalled_s: float) -> bool:
    """Out of retries: more than ``config.retries`` re-sends without progress, and (when
    adaptive timeouts made re-sends cheaper than the fixed ones) at least as long without
    progress as those retries would take at the fixed timeouts."""
    if misses <= config.retries:
        return False
    ceiling = config.timeout_s if phase is Phase.STARTING else config.item_timeout_s
    return not config.adaptive or stalled_s >= config.retries * ceiling - 1e-9


@dataclass
class UploadMachine:
    """Client side of one upload attempt of ``count`` items.

    Feed it :meth:`start`, then :meth:`on_request`, :meth:`on_ack` and :meth:`on_timeout` (when
    :attr:`deadline` passes); each returns the messages to send.
    """

    count: int
    config: TransferConfig = field(default_factory=TransferConfig)
    phase: Phase = Phase.IDLE
    deadline: float = math.inf
    outcome: Outcome | None = None
    failure: Failure | None = None
    highest_requested: int = -1
    last_sent: int = -1
    last_was_retry: bool = False
    final_resent: bool = False
    misses: int = 0
    retries_total: int = 0
    progress_at: float = 0.0
    rtt: RttEstimator = field(default_factory=RttEstimator)
    _sent_at: float = -1.0  # when the last message was sent, if it was not a re-send

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.DONE, Phase.FAILED)

    def start(self, now: float) -> list[Out]:
        self.phase = Phase.STARTING
        self.progress_at = now
        self.deadline = now + self.rtt.timeout(self.config, self.config.timeout_s)
        self._sent_at = now
        return [Out("count", self.count)]

    def _measure(self, now: float) -> None:
        if self._sent_at >= 0:
            self.rtt.sample(now - self._sent_at)
            self._sent_at = -1.0

    def on_request(self, seq: int, now: float) -> list[Out]:
        """MISSION_REQUEST(_INT) for ``seq``: send that item (again, for a duplicate)."""
        if self.finished or not 0 <= seq < self.count:
            return []
        if seq > self.highest_requested:
            self.highest_requested = seq
            self.misses = 0
            self.progress_at = now
            self._measure(now)
        return self._send(seq, now, retry=False)

    def on_ack(self, ack_type: int, now: float) -> list[Out]:
        """MISSION_ACK for this mission type."""
        if self.finished:
            return []
        if ack_type == mavlink.MAV_MISSION_ACCEPTED:
            if self.count == 0 or self.highest_requested == self.count - 1:
                self._measure(now)
                self._finish(Outcome.ACCEPTED)
            return []  # else a stale ACK from an earlier transfer
        if ack_type == mavlink.MAV_MISSION_INVALID_SEQUENCE:
            nxt = self.last_sent + 1
            if self.last_was_retry and self.phase is Phase.TRANSFERRING and nxt < self.count:
                self.highest_requested = max(self.highest_requested, nxt)
                self.misses = 0
                self.progress_at = now
                return self._send(nxt, now, retry=False)
            return []  # the answer to a duplicate we sent for a duplicate request
        if ack_type == mavlink.MAV_MISSION_ERROR and self.final_resent:
            self._finish(Outcome.UNCERTAIN)
            return []
        # A protocol error answering a re-send, a cancel, or a MISSION_ERROR to an item
        # before the last (the vehicle gave up on a slow transfer and has no upload open)
        # says the transfer broke: start again. After the last item it is the vehicle's
        # verdict on the whole plan (e.g. "Fence exceeds storage size"): a refusal.
        abandoned = (ack_type == mavlink.MAV_MISSION_ERROR and self.phase is Phase.TRANSFERRING
                     and 0 <= self.last_sent < self.count - 1)
        retryable = ack_type in _PROTOCOL_ERRORS and (
            self.last_was_retry or abandoned
            or ack_type == mavlink.MAV_MISSION_OPERATION_CANCELLED)
        self.phase = Phase.FAILED
        self.failure = Failure(ack_name(ack_type), retryable, self.last_sent, ack_type)
        return []

    def on_timeout(self, now: float) -> list[Out]:
        """Nothing useful arrived before :attr:`deadline`: re-send, or fail."""
        if self.finished:
            return []
        self.misses += 1
        self.retries_total += 1
        if self._exhausted(now):
            what = ("answer to MISSION_COUNT" if self.phase is Phase.STARTING
                    else f"answer after item {self.last_sent}")
            self.phase = Phase.FAILED
            self.failure = Failure(f"no {what} after {self.config.retries} retries", True,
                                   self.last_sent)
            return []
        self._sent_at = -1.0
        if self.phase is Phase.STARTING:
            self.deadline = now + self.rtt.timeout(self.config, self.config.timeout_s)
            return [Out("count", self.count)]
        return self._send(self.highest_requested, now, retry=True)

    def _exhausted(self, now: float) -> bool:
        return _exhausted(self.config, self.phase, self.misses, now - self.progress_at)

    def _send(self, seq: int, now: float, *, retry: bool) -> list[Out]:
        self.phase = Phase.TRANSFERRING
        self.last_sent = seq
        self.last_was_retry = retry
        if retry and seq == self.count - 1:
            self.final_resent = True
        if not retry and seq == self.highest_requested:
            self._sent_at = now
        self.deadline = now + self.rtt.timeout(self.config, self.config.item_timeout_s)
        return [Out("item", seq)]

    def _finish(self, outcome: Outcome) -> None:
        self.phase = Phase.DONE
        self.outcome = outcome
        self.deadline = math.inf


@dataclass
class DownloadMachine:
    """Client side of one download attempt, with ``config.window`` requests in flight."""

    config: TransferConfig = field(default_factory=TransferConfig)
    phase: Phase = Phase.IDLE
    deadline: float = math.inf
    failure: Failure | None = None
    count: int = -1
    items: dict[int, WireItem] = field(default_factory=dict)
    outstanding: set[int] = field(default_factory=set)
    next_seq: int = 0
    misses: int = 0
    retries_total: int = 0
    progress_at: float = 0.0
    rtt: RttEstimator = field(default_factory=RttEstimator)
    _asked_at: dict[int, float] = field(default_factory=dict)  # first requests only (Karn)

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.DONE, Phase.FAILED)

    def start(self, now: float) -> list[Out]:
        self.phase = Phase.STARTING
        self.progress_at = now
        self.deadline = now + self.rtt.timeout(self.config, self.config.timeout_s)
        self._asked_at[-1] = now
        return [Out("request_list")]

    def on_count(self, count: int, now: float) -> list[Out]:
        if self.phase is not Phase.STARTING:
            return []  # a duplicate answer
        if -1 in self._asked_at:
            self.rtt.sample(now - self._asked_at.pop(-1))
        self.count = count
        self.misses = 0
        self.progress_at = now
        if count == 0:
            return self._done()
        self.phase = Phase.TRANSFERRING
        return self._fill(now)

    def on_item(self, seq: int, item: WireItem, now: float) -> list[Out]:
        if self.phase is not Phase.TRANSFERRING or not 0 <= seq < self.count:
            return []
        self.outstanding.discard(seq)
        if seq in self.items:
            return []
        if seq in self._asked_at:
            self.rtt.sample(now - self._asked_at.pop(seq))
        self.items[seq] = item
        self.misses = 0
        self.progress_at = now
        if len(self.items) == self.count:
            return self._done()
        # The vehicle answers in order: an earlier seq still missing was lost; ask again now.
        gaps = [Out("request", s) for s in sorted(self.outstanding) if s < seq]
        for out in gaps:
            self._asked_at.pop(out.value, None)
        return gaps + self._fill(now)

    def on_ack(self, ack_type: int, now: float) -> list[Out]:
        """An error ACK during a download (e.g. DENIED while another upload is open)."""
        if self.finished or ack_type == mavlink.MAV_MISSION_ACCEPTED:
            return []
        self.phase = Phase.FAILED
        self.failure = Failure(ack_name(ack_type), True, -1, ack_type)
        return []

    def on_timeout(self, now: float) -> list[Out]:
        if self.finished:
            return []
        self.misses += 1
        self.retries_total += 1
        if _exhausted(self.config, self.phase, self.misses, now - self.progress_at):
            self.phase = Phase.FAILED
            self.failure = Failure(f"download stalled after {self.config.retries} retries",
                                   True)
            return []
        self._asked_at.clear()
        if self.phase is Phase.STARTING:
            self.deadline = now + self.rtt.timeout(self.config, self.config.timeout_s)
            return [Out("request_list")]
        self.deadline = now + self.rtt.timeout(self.config, self.config.item_timeout_s)
        return [Out("request", s) for s in sorted(self.outstanding)]

    def _fill(self, now: float) -> list[Out]:
        out = []
        while len(self.outstanding) < self.config.window and self.next_seq < self.count:
            if self.next_seq not in self.items:
                self.outstanding.add(self.next_seq)
                self._asked_at[self.next_seq] = now
                out.append(Out("request", self.next_seq))
            self.next_seq += 1
        self.deadline = now + self.rtt.timeout(self.config, self.config.item_timeout_s)
        return out

    def _done(self) -> list[Out]:
        self.phase = Phase.DONE
        self.deadline = math.inf
        return [Out("ack", mavlink.MAV_MISSION_ACCEPTED)]

    def result(self) -> list[WireItem]:
        return [self.items[s] for s in range(self.count)]

