"""Damage classes on the xBD / FEMA scale.

The class id is the YOLO class index, so the order here is the order of ``names`` in every
dataset yaml and every model this project trains. xBD's ``un-classified`` subtype is not a class:
converters drop those buildings (see :data:`XBD_DROPPED_SUBTYPES`).
"""

from __future__ import annotations

from enum import IntEnum

XBD_DROPPED_SUBTYPES: frozenset[str] = frozenset({"un-classified"})
"""xBD subtypes that carry no damage level; their buildings are left out of datasets."""


class DamageClass(IntEnum):
    """Building damage level; the value is the YOLO class id.

    ============  ================  ==========
    member        xBD subtype       FEMA (PDA)
    ============  ================  ==========
    INTACT        no-damage         affected
    MINOR         minor-damage      minor
    MAJOR         major-damage      major
    DESTROYED     destroyed         destroyed
    ============  ================  ==========

    Examples
    --------
    >>> DamageClass.from_xbd_subtype("major-damage")
    <DamageClass.MAJOR: 2>
    >>> DamageClass.DESTROYED.label, DamageClass.INTACT.xbd_subtype, DamageClass.INTACT.fema_name
    ('destroyed', 'no-damage', 'affected')
    """

    INTACT = 0
    MINOR = 1
    MAJOR = 2
    DESTROYED = 3

    @property
    def label(self) -> str:
        """Short lower-case name used in dataset yamls and reports (``"intact"``, ...)."""
        return self.name.lower()

    @property
    def xbd_subtype(self) -> str:
        """The ``properties.subtype`` string xBD labels use for this class."""
        return _XBD_SUBTYPES[self]

    @property
    def fema_name(self) -> str:
        """The FEMA preliminary damage assessment category this class maps onto."""
        return _FEMA_NAMES[self]

    @classmethod
    def from_xbd_subtype(cls, subtype: str) -> DamageClass:
        """The class of an xBD ``subtype`` string.

        Raises
        ------
        ValueError
            For ``un-classified`` (check :data:`XBD_DROPPED_SUBTYPES` first) or any unknown
            string; the message lists the valid values.
        """
        for member, name in _XBD_SUBTYPES.items():
            if name == subtype:
                return member
        valid = ", ".join(_XBD_SUBTYPES.values())
        raise ValueError(f"unknown xBD damage subtype {subtype!r}; expected one of: {valid}")

    @classmethod
    def from_label(cls, label: object) -> DamageClass:
        """The class of a :attr:`label` (``"intact"``, ...), as files and the store hold it.

        Raises
        ------
        ValueError
            For any other value; the message lists the valid labels.

        Examples
        --------
        >>> DamageClass.from_label("minor")
        <DamageClass.MINOR: 1>
        >>> DamageClass.from_label("wrecked")
        Traceback (most recent call last):
        ...
        ValueError: damage 'wrecked' is not one of intact, minor, major, destroyed
        """
        for member in cls:
            if member.label == label:
                return member
        raise ValueError(f"damage {label!r} is not one of {', '.join(c.label for c in cls)}")


_XBD_SUBTYPES: dict[DamageClass, str] = {
    DamageClass.INTACT: "no-damage",
    DamageClass.MINOR: "minor-damage",
    DamageClass.MAJOR: "major-damage",
    DamageClass.DESTROYED: "destroyed",
}
_FEMA_NAMES: dict[DamageClass, str] = {
    DamageClass.INTACT: "affected",
    DamageClass.MINOR: "minor",
    DamageClass.MAJOR: "major",
    DamageClass.DESTROYED: "destroyed",
}

DAMAGED_CLASSES: frozenset[DamageClass] = frozenset({DamageClass.MAJOR, DamageClass.DESTROYED})
"""Classes counted as *damaged* in the damaged-vs-intact view (minor counts as intact)."""


def is_damaged(cls: DamageClass | int) -> bool:
    """Whether a class (or class id) is *damaged*: major or destroyed.

    Examples
    --------
    >>> [is_damaged(c) for c in DamageClass]
    [False, False, True, True]
    >>> is_damaged(3)
    True
    """
    return DamageClass(int(cls)) in DAMAGED_CLASSES


def class_names() -> dict[int, str]:
    """YOLO ``names`` mapping: class id → label.

    Examples
    --------
    >>> class_names()
    {0: 'intact', 1: 'minor', 2: 'major', 3: 'destroyed'}
    """
    return {int(c): c.label for c in DamageClass}
