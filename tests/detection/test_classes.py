import pytest

from survey.core.damage import (
    XBD_DROPPED_SUBTYPES,
    DamageClass,
    class_names,
    is_damaged,
)


@pytest.mark.parametrize(
    ("subtype", "expected"),
    [
        ("no-damage", DamageClass.INTACT),
        ("minor-damage", DamageClass.MINOR),
        ("major-damage", DamageClass.MAJOR),
        ("destroyed", DamageClass.DESTROYED),
    ],
)
def test_from_xbd_subtype_round_trips(subtype: str, expected: DamageClass) -> None:
    assert DamageClass.from_xbd_subtype(subtype) is expected
    assert expected.xbd_subtype == subtype


@pytest.mark.parametrize("subtype", ["un-classified", "damaged", ""])
def test_unknown_subtype_lists_valid_values(subtype: str) -> None:
    with pytest.raises(ValueError, match="no-damage, minor-damage, major-damage, destroyed"):
        DamageClass.from_xbd_subtype(subtype)


def test_unclassified_is_dropped() -> None:
    assert "un-classified" in XBD_DROPPED_SUBTYPES


def test_ids_are_yolo_order_and_fema_names() -> None:
    assert class_names() == {0: "intact", 1: "minor", 2: "major", 3: "destroyed"}
    assert [c.fema_name for c in DamageClass] == ["affected", "minor", "major", "destroyed"]


def test_damaged_is_major_or_destroyed() -> None:
    assert {c for c in DamageClass if is_damaged(c)} == {DamageClass.MAJOR, DamageClass.DESTROYED}
    with pytest.raises(ValueError):
        is_damaged(7)
