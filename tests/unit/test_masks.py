"""MT5-style name masks: positive parts admit, `!` parts exclude, case does not matter."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerplane.core.errors import InvalidMask
from brokerplane.core.masks import (
    MAX_LENGTH,
    MAX_PARTS,
    MAX_STARS,
    fold,
    matches,
    matches_any,
    parse,
    select,
)


@pytest.mark.parametrize(
    ("name", "admitted"),
    [
        ("demo\\forex", True),
        ("demo\\vip\\eu", True),
        ("demo\\vip", False),
        ("real\\forex", False),
        ("demo", False),
    ],
)
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


# --- linear-time matching, limits, and agreement with a plain reference -------------------


def _reference(mask: str, name: str) -> bool:
    """The meaning of a mask spelled out the obvious way: each part a shell-style pattern
    where only `*` is special, ASCII letters folded, exclusions winning."""

    def fold(text: str) -> str:
        return "".join(c.lower() if c.isascii() else c for c in text)

    def part_matches(part: str) -> bool:
        regex = ".*".join(re.escape(piece) for piece in fold(part).split("*"))
        return re.fullmatch(regex, fold(name), re.DOTALL) is not None

    include, exclude = [], []
    for raw in mask.split(","):
        part = raw.strip()
        if not part:
            continue
        if part.startswith("!"):
            exclude.append(part[1:].strip())
        else:
            include.append(part)
    if any(part_matches(p) for p in exclude):
        return False
    return not include or any(part_matches(p) for p in include)


MASK_TEXT = st.text(alphabet="aAbB*\\,! ._%\n", max_size=12)
NAME_TEXT = st.text(alphabet="aAbB\\ ._%*\nÄä", max_size=12)


@settings(max_examples=2000, deadline=None)
@given(mask=MASK_TEXT, name=NAME_TEXT)
def test_masks_admit_exactly_what_the_plain_reference_admits(mask: str, name: str) -> None:
    assert matches(mask, name) is _reference(mask, name)


@settings(max_examples=500, deadline=None)
@given(mask=MASK_TEXT, names=st.lists(NAME_TEXT, max_size=3))
def test_matches_any_is_admitted_by_one_name_unless_any_name_is_excluded(
    mask: str, names: list[str]
) -> None:
    parsed = parse(mask)
    excluded = any(p.admits(fold(n)) for p in parsed.exclude for n in names)
    admitted = not parsed.include or any(p.admits(fold(n)) for p in parsed.include for n in names)

    assert matches_any(mask, *names) is (not excluded and admitted)


def test_star_matches_across_line_breaks_as_the_database_does() -> None:
    assert matches("a*b", "a\nb")
    assert not matches("ab", "ab\n")


def test_runs_of_stars_are_one_star() -> None:
    assert parse("a**b***c,***").include == parse("a*b*c,*").include
    assert matches("a**b", "ab") and matches("a**b", "axxb") and not matches("a**b", "a")


def test_pieces_of_a_pattern_do_not_overlap_at_the_ends() -> None:
    # head and tail may not share characters of the name
    assert not matches("ab*ba", "aba")
    assert matches("ab*ba", "abba")
    assert not matches("a*a*a", "aa")
    assert matches("a*a*a", "aaa")


_PATHOLOGICAL = [
    "*a*a*a*a*a*a*a*a*a*a*a*a*b",
    "*a" * 15 + "*b",
    ("*a" * 15 + "*b,") * 4 + "!" + "*a" * 15 + "*c",
]


def test_pathological_masks_are_answered_at_once() -> None:
    """On a backtracking matcher these never finish (hours); the probe runs in a child process
    so a regression fails after ten seconds instead of freezing the test run."""
    code = (
        "from brokerplane.core.masks import matches\n"
        f"masks = {_PATHOLOGICAL!r}\n"
        "for mask in masks:\n"
        "    for n in (30, 300, 3000):\n"
        "        assert not matches(mask, 'a' * n)\n"
        "        assert matches(mask, 'a' * n + 'b')\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=10,
        env=env,
        check=False,
    )

    assert done.stdout.strip() == "ok", done.stderr


def test_a_mask_at_every_limit_is_accepted() -> None:
    longest = ("x" * (MAX_LENGTH - 1)) + "*"
    assert matches(longest, "x" * (MAX_LENGTH - 1) + "tail")
    many = ",".join(f"g{n}" for n in range(MAX_PARTS))
    assert matches(many, f"g{MAX_PARTS - 1}")
    starry = "*".join("a" * (MAX_STARS + 1))
    assert matches(starry, "a" * (MAX_STARS + 1))


@pytest.mark.parametrize(
    ("mask", "says"),
    [
        pytest.param("a" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH} characters", id="long"),
        pytest.param(",".join("g" * (MAX_PARTS + 1)), f"at most {MAX_PARTS}", id="parts"),
        pytest.param("*a" * (MAX_STARS + 1), f"at most {MAX_STARS} '*'", id="stars"),
        pytest.param("demo\\*,!" + "*a" * (MAX_STARS + 1), f"at most {MAX_STARS}", id="negated"),
    ],
)
def test_a_mask_beyond_a_limit_is_refused_naming_the_field(mask: str, says: str) -> None:
    with pytest.raises(InvalidMask) as refused:
        parse(mask, "group")

    assert refused.value.code == "validation.mask"
    assert refused.value.fields[0].field == "group"
    assert says in refused.value.fields[0].message
    with pytest.raises(InvalidMask):
        matches(mask, "anything")
