"""The project's one error tree.

Library code raises these; only the CLI turns them into a one-line message and an exit code.
The codes tell a script what kind of failure it was (listed in ``survey fly --help``):

==== ==================================================================================
0    done
1    an unexpected error (a bug: please report it)
2    bad input: a file or option the user can fix; a simulator that cannot start
3    the link: cannot connect, no heartbeat, or lost in flight and not back in time
4    refused by the vehicle: not ready to arm, a command or an upload refused, not a copter
5    the flight was cut short: a failsafe, a mode change, a breach (state saved: --resume)
130  interrupted (Ctrl-C): RTL commanded
==== ==================================================================================
"""

from __future__ import annotations

from os import PathLike

EXIT_INPUT = 2
EXIT_LINK = 3
EXIT_REFUSED = 4
EXIT_ABORTED = 5


class SurveyError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code: int = 1


class InputError(SurveyError):
    """Bad input from a file or an option: the user can fix it.

    Parameters
    ----------
    source
        The file that holds the problem (a bad parameter value: :class:`ParamError`).
    problem
        What is wrong, in a few words.
    """

    exit_code = EXIT_INPUT

    def __init__(self, source: str | PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class ParamError(InputError):
    """A bad value of a parameter, named as the library names it (``"front_overlap"``,
    ``"url"``), never as a command line spells it: the CLI maps ``params`` to the running
    command's options (``survey.cli.errors``), so ``survey plan`` says ``--overlap``.

    Parameters
    ----------
    param
        The parameter's name, or the names of the ones that are wrong together.
    problem
        What is wrong, in a few words.

    >>> str(ParamError(("epochs", "batch"), "need epochs ≥ 1, batch ≥ 1"))
    'epochs/batch: need epochs ≥ 1, batch ≥ 1'
    """

    def __init__(self, param: str | tuple[str, ...], problem: str) -> None:
        self.params = (param,) if isinstance(param, str) else tuple(param)
        super().__init__("/".join(self.params), problem)


class ImageError(InputError):
    """An image file that cannot be used: missing, empty, truncated, corrupt or not an image."""


class PlanningError(SurveyError):
    """The inputs are valid but no plan satisfies them (e.g. the area is fully blocked)."""

    exit_code = 2


class LinkError(SurveyError):
    """The MAVLink connection cannot be opened or was lost (bad URL, refused, closed)."""

    exit_code = EXIT_LINK


class LinkTimeout(LinkError):
    """A wait on the vehicle passed its deadline (no heartbeat, no reply, no acknowledgement).

    Parameters
    ----------
    waiting_for
        What was awaited, in a few words (e.g. ``"HEARTBEAT"``).
    timeout_s
        How long it was awaited, seconds.
    """

    def __init__(self, waiting_for: str, timeout_s: float, detail: str = "") -> None:
        self.waiting_for = waiting_for
        self.timeout_s = timeout_s
        more = f" ({detail})" if detail else ""
        super().__init__(f"no {waiting_for} from the vehicle within {timeout_s:g} s{more}")


class WrongVehicle(SurveyError):
    """The vehicle on the link is not one this pipeline can fly (e.g. a plane, not a copter)."""

    exit_code = EXIT_REFUSED


class VehicleRefused(SurveyError):
    """The vehicle refused a command (COMMAND_ACK not accepted), with its reason if it sent one.

    Parameters
    ----------
    action
        What was asked, e.g. ``"arm"``.
    reason
        The vehicle's answer: the result name and any STATUSTEXT it sent.
    """

    exit_code = EXIT_REFUSED

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"vehicle refused to {action}: {reason}")


class MissionRejected(SurveyError):
    """An upload was refused (an error MISSION_ACK) or did not read back as sent.

    The vehicle keeps its previous plan when an upload is refused. ``ack_type`` is the
    MAV_MISSION_RESULT of a refusal (``None`` for a read-back mismatch) and ``seq`` the item
    it answered (``-1``: the count).
    """

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, *, ack_type: int | None = None, seq: int = -1) -> None:
        super().__init__(message)
        self.ack_type = ack_type
        self.seq = seq


class FlightAborted(SurveyError):
    """A sortie ended early: failsafe, RTL/LAND commanded elsewhere, disarm in the air, Ctrl-C."""

    exit_code = EXIT_ABORTED


class SimulatorError(SurveyError):
    """A simulator (built-in vehicle or ArduPilot SITL) could not be started."""

    exit_code = 2
