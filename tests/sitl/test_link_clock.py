"""The built-in vehicle's timers that time the ground station run on real seconds whatever the
speed-up (#11: at speed-up 100 a busy client missed deadlines of a few milliseconds)."""

from __future__ import annotations

import time

from missions import fly_commands as cmd
from missions.fly_commands import CopterMode
from missions.link import connect
from sitl.builtin import BuiltinCopter

HOME = (36.07, 139.98)


def test_auto_disarm_gives_the_ground_station_real_seconds_to_take_off() -> None:
    """DISARM_DELAY 2: at speed-up 100 in simulated time that was 20 ms between ARM and the
    take-off command; now the copter stays armed for 2 real seconds."""
    with BuiltinCopter(*HOME, 20.0, speedup=100.0, params={"DISARM_DELAY": 2}) as v, \
            connect(v.url, timeout_s=10) as link:
        v.wait_for(lambda s: s.ready, timeout_s=30)
        cmd.set_mode(link, CopterMode.GUIDED)
        before = time.monotonic()
        cmd.arm(link)
        st = v.wait_for(lambda s: not s.armed, timeout_s=30)  # it disarms by itself...
        assert st.landed
        assert time.monotonic() - before >= 2.0  # ...after 2 real seconds
