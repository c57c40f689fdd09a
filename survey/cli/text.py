"""Text from files and options, made safe to show in the terminal.

Every name the CLI prints (file names, photo names, vehicle messages) goes through
:func:`escape`: rich markup is escaped (a name never styles the output) and control
characters are shown as ``\\xNN`` (a name never moves the cursor or colours the terminal).
"""

from __future__ import annotations

import re

from rich.markup import escape as _markup_escape

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape(text: object) -> str:
    r"""``text`` as plain, printable terminal text for rich.

    >>> escape("a\x1b[31mred[/b]")
    'a\\x1b[31mred\\[/b]'
    >>> escape("Jōsō photo 1.jpg\tok")
    'Jōsō photo 1.jpg\tok'
    """
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                         else f"\\u{ord(m.group()):04x}", str(text))
    return _markup_escape(shown)
