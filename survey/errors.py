"""The project's one error tree.

Library code raises these; only the CLI turns them into a one-line message and an exit code.
"""

from __future__ import annotations

from os import PathLike


class SurveyError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code: int = 1


class InputError(SurveyError):
    """Bad input from a file or an option: the user can fix it.

    Parameters
    ----------
    source
        The file (or option name, e.g. ``--home``) that holds the problem.
    problem
        What is wrong, in a few words.
    """

    exit_code = 2

    def __init__(self, source: str | PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class PlanningError(SurveyError):
    """The inputs are valid but no plan satisfies them (e.g. the area is fully blocked)."""

    exit_code = 2
