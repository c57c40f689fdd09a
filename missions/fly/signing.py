"""MAVLink 2 signing from the ground station's side: giving a vehicle our key, or finding it
already has it, then refusing unsigned traffic.

:func:`missions.fly.link.connect` with a key calls :func:`prepare` on the fresh connection (sign
everything sent; while the handshake runs accept the vehicle's HEARTBEAT and STATUSTEXT
unsigned, nothing else) and, once the vehicle's first heartbeat arrived, :func:`start_signing`:

- heartbeat signed with our key: the vehicle already has it; nothing is sent (SETUP_SIGNING
  again would rewrite the vehicle's key storage and reset its signing clock, and ArduPilot
  refuses it while armed: a key already set must keep working in flight);
- unsigned heartbeat: SETUP_SIGNING goes out (signed; a vehicle without a key reads anything),
  re-sent at most once a second while heartbeats keep coming unsigned (it has no
  acknowledgement and a radio may lose it), until a heartbeat signed with our key arrives, or
  the vehicle answers with a STATUSTEXT about signing (ArduPilot, armed: "ERROR: Won't setup
  signing when armed"), or ``timeout_s`` passes;
- heartbeat signed with another key: refused at once, nothing sent.

Afterwards only RADIO_STATUS and RADIO, which SiK radios inject unsigned, are accepted without
our signature, as ArduPilot does (``GCS_Signing.cpp``).

"Signed with our key" is told by the signature itself (SHA-256 of key and frame): pymavlink
also rejects a correctly signed message whose timestamp is over a minute behind ours (a vehicle
without GPS restarts its signing clock from its last saved value), and such a vehicle has our
key; it catches up from our signed heartbeats and is then accepted.
"""

from __future__ import annotations

import hashlib
import time
from enum import Enum
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from survey.core.errors import LinkError, LinkTimeout, VehicleRefused

if TYPE_CHECKING:
    from missions.fly.link import Link

ACCEPTED_UNSIGNED = frozenset({mavlink.MAVLINK_MSG_ID_RADIO_STATUS, mavlink.MAVLINK_MSG_ID_RADIO})
"""Messages accepted without our signature once signing is on (what radios inject)."""
_DURING_SETUP = ACCEPTED_UNSIGNED | {mavlink.MAVLINK_MSG_ID_HEARTBEAT,
                                     mavlink.MAVLINK_MSG_ID_STATUSTEXT}
RESEND_S = 1.0
"""Least interval between two SETUP_SIGNING while the vehicle's heartbeats stay unsigned."""
SIGNING_EPOCH = 1420070400
"""2015-01-01 00:00 UTC: MAVLink signing timestamps count 10 µs units from here."""


class Signature(Enum):
    """How a received message was signed, as far as our key can tell."""

    NONE = "unsigned"
    OURS = "signed with our key"
    OTHER = "signed with another key"


def signing_timestamp(now_s: float | None = None) -> int:
    """MAVLink signing time (10 µs units since :data:`SIGNING_EPOCH`) for Unix time ``now_s``
    (default: now), as pymavlink counts it.

    >>> signing_timestamp(SIGNING_EPOCH + 1.5)
    150000
    """
    now = time.time() if now_s is None else now_s
    return int((max(now, SIGNING_EPOCH) - SIGNING_EPOCH) * 100_000)


def _accept_during_setup(mav: Any, msg_id: int) -> bool:
    return msg_id in _DURING_SETUP


def _accept_after_setup(mav: Any, msg_id: int) -> bool:
    return msg_id in ACCEPTED_UNSIGNED


def prepare(conn: Any, key: bytes) -> None:
    """Sign everything ``conn`` (a pymavlink connection) sends with ``key``; until
    :func:`start_signing` finishes, accept the vehicle's HEARTBEAT and STATUSTEXT unsigned."""
    conn.setup_signing(key, sign_outgoing=True, allow_unsigned_callback=_accept_during_setup)


def carry_over(old_conn: Any, new_conn: Any) -> Any:
    """Give ``new_conn``, a transport reopened in place of ``old_conn``, the same signing state
    (key, link id, timestamp, seen streams, what is accepted unsigned); returns ``new_conn``.
    Without it a reopened link would send unsigned, and a signing vehicle ignore it."""
    old, new = old_conn.mav.signing, new_conn.mav.signing
    if old.secret_key is not None:
        new.secret_key = old.secret_key
        new.sign_outgoing = old.sign_outgoing
        new.allow_unsigned_callback = old.allow_unsigned_callback
        new.link_id = old.link_id
        new.timestamp = max(new.timestamp, old.timestamp)
        new.stream_timestamps = dict(old.stream_timestamps)
    return new_conn


def signature(msg: Any, key: bytes) -> Signature:
    """Whether ``msg`` (a received pymavlink message) carried no signature, one made with
    ``key`` or one made with another key (a replayed or stale timestamp still counts as
    ours: only the key is judged here)."""
    if not msg._header.incompat_flags & mavlink.MAVLINK_IFLAG_SIGNED:
        return Signature.NONE
    if msg.get_signed():
        return Signature.OURS
    frame = bytes(msg.get_msgbuf())
    digest = hashlib.sha256(key + frame[:-6]).digest()[:6]
    return Signature.OURS if digest == frame[-6:] else Signature.OTHER


def send_setup_signing(link: Link, key: bytes) -> None:
    """Give the vehicle the signing key (SETUP_SIGNING has no acknowledgement)."""
    link.send(link.mav.setup_signing_encode(link.target_system, link.target_component, key,
                                            link.conn.mav.signing.timestamp))


def _other_key(link: Link) -> LinkError:
    return LinkError(f"{link.url}: the vehicle signs with another MAVLink key: give that key "
                     "with `signing_key`, or clear the vehicle's key over its USB port")


def start_signing(link: Link, key: bytes, heartbeat: Any, *, timeout_s: float) -> bool:
    """Make sure the vehicle signs with ``key``, starting from its first ``heartbeat``;
    afterwards unsigned or wrongly signed messages (other than :data:`ACCEPTED_UNSIGNED`) are
    refused. ``link`` was opened with :func:`prepare`.

    Returns
    -------
    bool
        True if the key was sent (the vehicle had none), False if it already signed with it.

    Raises
    ------
    LinkError
        The vehicle signs with another key.
    VehicleRefused
        It answered SETUP_SIGNING with a STATUSTEXT about signing (e.g. armed), which is
        given.
    LinkTimeout
        No heartbeat signed with ``key`` within ``timeout_s`` seconds of sending it.
    """
    first = signature(heartbeat, key)
    if first is Signature.OTHER:
        raise _other_key(link)
    sent = False
    if not heartbeat.get_signed():
        with link.subscribe(("HEARTBEAT", "STATUSTEXT")) as sub:
            if first is Signature.NONE:
                send_setup_signing(link, key)
                sent = True
            _await_signed_heartbeat(link, key, sub, timeout_s, sent)
    link.conn.mav.signing.allow_unsigned_callback = _accept_after_setup
    return sent


def _await_signed_heartbeat(link: Link, key: bytes, sub: Any, timeout_s: float,
                            sending: bool) -> None:
    clock = link.clock
    deadline = clock() + timeout_s
    last_sent = clock()
    while True:
        remaining = deadline - clock()
        try:
            if remaining <= 0:
                raise LinkTimeout("HEARTBEAT signed with our key", timeout_s)
            msg = sub.get(remaining, what="HEARTBEAT signed with our key")
        except LinkTimeout:
            detail = ("it did not take the key sent with SETUP_SIGNING" if sending else
                      "it signs with our key but its signing clock is over a minute behind")
            raise LinkTimeout("HEARTBEAT signed with our key", timeout_s, detail) from None
        if msg.get_type() == "STATUSTEXT":
            text = _text(msg)
            if sending and "signing" in text.lower() \
                    and msg.severity <= mavlink.MAV_SEVERITY_WARNING:
                raise VehicleRefused("take the signing key", text)
            continue
        if msg.get_signed():
            return
        kind = signature(msg, key)
        if kind is Signature.OTHER:
            raise _other_key(link)
        if kind is Signature.NONE and sending and clock() - last_sent >= RESEND_S:
            send_setup_signing(link, key)
            last_sent = clock()


def _text(msg: Any) -> str:
    text = msg.text
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).rstrip("\0").strip()
