"""MAVLink 2 signing on the built-in vehicle, as ArduPilot does it (``GCS_Signing.cpp``).

SETUP_SIGNING while disarmed stores the key for the vehicle's life (ArduPilot keeps it in
storage; an all-zero key with a zero timestamp turns signing off again) and activates it at
once on every link, present and future: the vehicle signs all it sends and drops incoming
messages that are unsigned or wrongly signed, except RADIO_STATUS and RADIO (which radios
inject). Armed, SETUP_SIGNING is refused with ArduPilot's STATUSTEXT (:data:`REFUSED_ARMED`),
sent on the asking link only. Once signing is on, a SETUP_SIGNING must itself be signed with
the current key to be heard.

Every link has its own pymavlink codec; each gets the key, its own ``link_id`` and a
timestamp (10 µs units since 2015-01-01, :data:`SIGNING_EPOCH`) of one minute past the key's
initial timestamp, as ArduPilot's ``load_signing_key``, or the wall clock if that is later (as
a vehicle with GPS time). Unlike ArduPilot there is no console port that accepts unsigned
traffic: every link of the built-in vehicle is a telemetry link.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

from .protocol import mavlink

SIGNING_EPOCH = 1420070400
"""2015-01-01 00:00 UTC, the origin of MAVLink signing timestamps."""
ACCEPTED_UNSIGNED = frozenset({mavlink.MAVLINK_MSG_ID_RADIO_STATUS, mavlink.MAVLINK_MSG_ID_RADIO})
"""Messages accepted without a valid signature (ArduPilot's ``accept_list``)."""
REFUSED_ARMED = "ERROR: Won't setup signing when armed"
"""ArduPilot's answer (MAV_SEVERITY_WARNING) to SETUP_SIGNING while armed."""
_KEY_DELAY = 60 * 100_000  # ArduPilot starts one minute past the stored timestamp


def signing_timestamp(now_s: float | None = None) -> int:
    """Signing time (10 µs units since :data:`SIGNING_EPOCH`) of Unix time ``now_s`` (default
    now), as pymavlink counts it.

    >>> signing_timestamp(SIGNING_EPOCH + 2.0)
    200000
    """
    now = time.time() if now_s is None else now_s
    return int((max(now, SIGNING_EPOCH) - SIGNING_EPOCH) * 100_000)


class SignedLink(Protocol):
    """What signing needs of a link: its codec and its id."""

    mav: Any
    link_id: int


def _accept_unsigned(mav: Any, msg_id: int) -> bool:
    return msg_id in ACCEPTED_UNSIGNED


class VehicleSigning:
    """The vehicle's signing key (None: signing off) and its application to links."""

    def __init__(self) -> None:
        self.key: bytes | None = None
        self._timestamp = 0

    def setup(self, key: bytes, initial_timestamp: int, links: Iterable[SignedLink]) -> None:
        """Store ``key`` (all zeros with a zero timestamp: signing off) and apply it to
        ``links`` at once (SETUP_SIGNING accepted)."""
        off = initial_timestamp == 0 and not any(key)
        self.key = None if off else bytes(key)
        self._timestamp = initial_timestamp + _KEY_DELAY
        for link in links:
            self.attach(link)

    def attach(self, link: SignedLink) -> None:
        """Make ``link`` sign with the vehicle's key and refuse what is not signed with it
        (a new link, or every link after SETUP_SIGNING)."""
        signing = link.mav.signing
        if self.key is None:
            signing.secret_key = None
            signing.sign_outgoing = False
            signing.allow_unsigned_callback = None
            return
        signing.secret_key = self.key
        signing.sign_outgoing = True
        signing.allow_unsigned_callback = _accept_unsigned
        signing.link_id = link.link_id & 0xFF
        signing.timestamp = max(self._timestamp, signing_timestamp())
