"""The screenshots in the docs are current: each one the docs show exists and was taken from
the page's present template and stylesheet (tests/console/screenshots.py; `make screenshots`
retakes the stale ones). No browser: this runs in every `make test`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.console import screenshots

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(screenshots.SHOTS))
def test_each_screenshot_exists_and_is_current(name: str) -> None:
    why = screenshots.stale(name)
    assert why is None, f"{why}: run `make screenshots` and commit docs/screenshots/"


def test_the_docs_show_only_screenshots_the_tests_take() -> None:
    shown = set()
    for doc in (ROOT / "README.md", ROOT / "docs" / "console.md"):
        shown |= set(re.findall(r"screenshots/([a-z0-9_-]+)\.png", doc.read_text()))
    assert shown <= set(screenshots.SHOTS)
    on_disk = {p.stem for p in screenshots.SCREENSHOTS.glob("*.png")}
    assert on_disk == set(screenshots.SHOTS)


def test_a_stamp_survives_the_round_trip() -> None:
    png = (screenshots.SCREENSHOTS / "signin.png").read_bytes()
    again = screenshots.stamped(screenshots.stamped(png, "abc"), "def")
    assert screenshots.stamp_of(again) == "def"
    assert again.count(screenshots.KEYWORD) == 1 and again.endswith(b"IEND\xaeB`\x82")
