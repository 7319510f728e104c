"""Every shell example of the docs runs, in page order, against a fresh server of its page's own,
and prints what the page shows (docs/CONTRIBUTING-docs.md: the syntax and the markers). Each
page's data directory is a copy of one loaded with the demo once per test process."""

from __future__ import annotations

from pathlib import Path

import examples
import pageserver
import pytest

PAGES = examples.pages()


def _id(page: Path) -> str:
    return page.relative_to(examples.DOCS).as_posix()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the demo loaded, for each page's `var/` to be a copy of."""
    return pageserver.demo_template(tmp_path_factory.mktemp("docs-demo"))


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_example_on_the_page_prints_what_the_page_shows(
    page: Path, demo_template: Path
) -> None:
    problems = examples.check_page(page, demo_template)
    assert not problems, "\n\n".join(problems)


def test_the_pages_hold_examples_and_every_shell_block_is_one_or_says_why_not() -> None:
    assert len(PAGES) >= 10
    assert sum(len(examples.parse(p)) for p in PAGES) >= 8
    assert [line for p in PAGES for line in examples.untested_shell_blocks(p)] == []


def test_a_page_is_parsed_into_commands_with_continuations_and_outputs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```console\n$ A=1\n$ echo $A \\\n>   two\n1 two\n$ printf 'x\\ny\\n'\nx\n…\n```\n"
        "\n<!-- not-tested: an example of an excuse -->\n```bash\nmake serve\n```\n"
        "\n```sh\nrm -rf /\n```\n",
        encoding="utf-8",
    )
    found = examples.parse(page)
    assert [(e.command, e.expected) for e in found] == [
        ("A=1", []),
        ("echo $A \\\n  two", ["1 two"]),
        ("printf 'x\\ny\\n'", ["x", "…"]),
    ]
    assert [e.line for e in found] == [4, 5, 8]
    assert len(examples.untested_shell_blocks(page)) == 1


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (["a"], ["a"], True),
        (["a"], ["b"], False),
        (['{"id":…,"n":2}'], ['{"id":17,"n":2}'], True),
        (['{"id":…,"n":2}'], ['{"id":17,"n":3}'], False),
        (["…"], ["x", "y"], True),
        (["…"], [], True),
        (["a", "…", "z"], ["a", "b", "c", "z"], True),
        (["a", "…", "z"], ["a", "b", "c"], False),
        (["a", "…", "c", "…"], ["a", "b", "c", "d"], True),
        (["a…b…c"], ["abc"], True),
        (["a…b…c"], ["acb"], False),
        (["x…x"], ["x"], False),
        (["a"], ["a", "b"], False),
        (["a", ""], ["a"], True),
        (["a..."], ["abc"], False),
    ],
)
def test_output_is_matched_with_the_ellipsis_markers(
    expected: list[str], actual: list[str], ok: bool
) -> None:
    assert examples.matches(expected, actual) is ok


def test_update_writes_what_differs_between_two_runs_as_an_ellipsis() -> None:
    one = '{"key":"bpk_ab12_x9","time":"2026-12-07T06:12:01.5Z","n":1}'
    two = '{"key":"bpk_cd34_y8","time":"2026-12-07T06:12:02.7Z","n":1}'
    assert examples._mask_differences(one, two) == '{"key":"bpk_…","time":"…","n":1}'
