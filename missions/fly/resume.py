"""Where a partly flown plan stands, saved in the plan's ``flight/`` folder, and how to go on.

``flight/state.json`` records per sortie whether it was completed and the last mission item the
vehicle reported reached (MISSION_ITEM_REACHED, numbered as in the sortie's ``.plan``: seq 1 is
the first item after home). :func:`resume_items` builds the mission that continues from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from missions.plan.items import Cmd, MissionItem
from survey.core.errors import InputError
from survey.core.files import atomic_write_text, read_json
from survey.core.plan_folder import FlightFolder


@dataclass
class SortieProgress:
    """One sortie's progress: ``last_reached`` is a plan seq (1 = first item), 0 for none.

    While the sortie is in the air, ``mission`` holds the plan seq of each item of the mission
    on the vehicle and ``expected`` the plan seqs it must reach, so that another ``survey fly
    --resume`` can attach to it (after a crash of the ground station, or a lost link) and
    follow it to landing. Both are None once it has landed.
    """

    completed: bool = False
    last_reached: int = 0
    mission: list[int] | None = None
    expected: list[int] | None = None

    @property
    def in_flight(self) -> bool:
        return self.mission is not None


@dataclass
class FlightProgress:
    """Every sortie's progress, keyed by sortie number."""

    sorties: dict[int, SortieProgress] = field(default_factory=dict)

    def of(self, number: int) -> SortieProgress:
        return self.sorties.setdefault(number, SortieProgress())

    @classmethod
    def load(cls, folder: Path) -> FlightProgress:
        """Read ``folder/state.json``; an empty progress when there is none.

        Raises
        ------
        InputError
            The file exists but is damaged.
        """
        path = FlightFolder(folder).state
        if not path.exists():
            return cls()
        doc = read_json(path)
        try:
            return cls({int(k): SortieProgress(bool(v["completed"]), int(v["last_reached"]),
                                               _ints(v.get("mission")), _ints(v.get("expected")))
                        for k, v in doc["sorties"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(path, f"damaged flight state ({e}); delete it to start over") \
                from None

    def save(self, folder: Path) -> None:
        """Write ``folder/state.json`` atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"sorties": {str(k): {"completed": v.completed, "last_reached": v.last_reached,
                                    **({"mission": v.mission, "expected": v.expected}
                                       if v.mission is not None else {})}
                           for k, v in sorted(self.sorties.items())}}
        atomic_write_text(FlightFolder(folder).state, json.dumps(doc, indent=2) + "\n")


def _ints(value: object) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError(f"expected a list of item numbers, got {value!r}")
    return [int(v) for v in value]


_CARRIED = (Cmd.DO_CHANGE_SPEED, Cmd.DO_SET_CAM_TRIGG_DIST)


def resume_items(items: list[MissionItem], last_reached: int) -> tuple[list[MissionItem],
                                                                       list[int]]:
    """The mission that re-flies a sortie from item ``last_reached`` (plan seq, 1-based).

    It takes off as the plan does, flies to the last reached position with the camera off,
    restores the speed and camera triggering in force there, and goes on with the rest.

    Returns
    -------
    tuple
        The items, and for each of them the plan seq it stands for (for progress reports).

    Examples
    --------
    >>> from missions.plan.items import takeoff, waypoint, trigger_distance, return_to_launch
    >>> plan = [takeoff(0, 0, 30), waypoint(0, 1e-3, 30), trigger_distance(5),
    ...         waypoint(1e-3, 1e-3, 30), waypoint(1e-3, 0, 30), trigger_distance(0),
    ...         return_to_launch()]
    >>> items, seqs = resume_items(plan, 4)
    >>> seqs
    [1, 4, 3, 5, 6, 7]
    >>> [int(it.command) for it in items] == [22, 16, 206, 16, 206, 20]
    True
    """
    if last_reached <= 1:
        return list(items), list(range(1, len(items) + 1))
    k = last_reached - 1  # index into items
    first = 0 if items and items[0].command == Cmd.NAV_TAKEOFF else None
    out: list[MissionItem] = []
    seqs: list[int] = []
    if first is not None:
        out.append(items[0])
        seqs.append(1)
    out.append(items[k])
    seqs.append(k + 1)
    last_of: dict[int, int] = {}
    for i in range(k):
        if items[i].command in _CARRIED:
            last_of[int(items[i].command)] = i
    for i in sorted(last_of.values()):
        out.append(items[i])
        seqs.append(i + 1)
    out += items[k + 1:]
    seqs += list(range(k + 2, len(items) + 1))
    return out, seqs
