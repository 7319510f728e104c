"""MT5-style name masks: positive parts admit, `!` parts exclude, case does not matter."""

from __future__ import annotations

import pytest

from brokerplane.core.masks import matches, select


@pytest.mark.parametrize(
    ("name", "admitted"),
    [("demo\\forex", True), ("demo\\vip\\eu", True), ("demo\\vip", False),
     ("real\\forex", False), ("demo", False)],
)  # fmt: skip
def test_mask_admits_its_positive_parts_less_its_exclusions(name: str, admitted: bool) -> None:
    assert matches("demo\\*,!demo\\vip", name) is admitted


def test_exclusion_wins_over_a_positive_part_in_any_order() -> None:
    assert not matches("!demo\\vip,demo\\*", "demo\\vip")
    assert not matches("demo\\vip,!demo\\*", "demo\\vip")


def test_mask_of_exclusions_only_admits_everything_else() -> None:
    assert matches("!demo\\*", "real\\forex")
    assert not matches("!demo\\*", "demo\\forex")
    assert not matches("!demo\\*,!real\\vip", "real\\vip")


def test_mask_ignores_case_on_both_sides() -> None:
    assert matches("DEMO\\*", "demo\\Forex")
    assert not matches("demo\\*,!DEMO\\VIP", "Demo\\Vip")


def test_star_admits_everything_and_a_plain_name_only_itself() -> None:
    assert matches("*", "anything\\at\\all")
    assert matches("real\\vip", "real\\vip")
    assert not matches("real\\vip", "real\\vip2")


def test_star_in_the_middle_matches_any_run_of_characters() -> None:
    assert matches("real\\*\\vip", "real\\eu\\vip")
    assert matches("real\\*\\vip", "real\\eu\\north\\vip")
    assert not matches("real\\*\\vip", "real\\eu\\std")


def test_regex_characters_in_a_mask_are_literal() -> None:
    assert matches("demo.x[1]", "demo.x[1]")
    assert not matches("demo.x", "demoax")
    assert not matches("a+", "aa")


def test_spaces_around_parts_and_empty_parts_are_ignored() -> None:
    assert matches(" demo\\a , ,real\\b ", "real\\b")
    assert matches(" demo\\a , ,real\\b ", "demo\\a")
    assert not matches(" demo\\a , ! real\\b ", "real\\b")


def test_select_keeps_the_admitted_names_in_their_order() -> None:
    names = ["real\\b", "demo\\vip", "demo\\a", "real\\a"]

    assert select("*\\a,real\\*,!real\\b", names) == ["demo\\a", "real\\a"]
