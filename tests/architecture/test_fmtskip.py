"""tools/fmtskip.py keeps `# fmt: skip` only on tables the formatter would spoil (and where
removing it would push a file over the line limit), and a second run changes nothing. The
whole tree is checked by `make check` (`tools/fmtskip.py --check`); these are its rules on
small files."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "fmtskip.py"

pytestmark = pytest.mark.skipif(
    shutil.which("ruff") is None and not Path(sys.executable).with_name("ruff").exists(),
    reason="needs ruff",
)

PACKED = """\
def f(a: int, b: int, c: int) -> int:
    return (a +
            b + c)  # fmt: skip
"""

ALIGNED = """\
LIMITS = {
    "port":     (1, 65535),
    "workers":  (1, 64),
}  # fmt: skip
"""

ROWS = """\
CASES = dict(rows=[  # each row at the formatter's deeper indent would pass 100 columns
    ("deposit", "100.00", "balance", 10000, (100000, 10000, 3975), "a long description, here: xx"),
    ("withdrawal", "-5.25", "balance", -525, (100000, 10000, 3975), "a long description, too: xx"),
    ("credit", "12.00", "credit_in", 1200, (100000, 10000, 3975), "a longer description, too: xx"),
])  # fmt: skip
"""


@cache
def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fmtskip", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fmtskip", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _decide(tmp_path: Path, text: str) -> list[tuple[bool, str]]:
    path = tmp_path / "sample.py"
    path.write_text(text)
    return [(d.keep, d.why) for d in _tool().decide([path])]


def test_a_hand_wrapped_statement_loses_its_marker(tmp_path: Path) -> None:
    assert _decide(tmp_path, PACKED) == [(False, "not a table")]


def test_an_aligned_table_keeps_its_marker(tmp_path: Path) -> None:
    assert _decide(tmp_path, ALIGNED) == [(True, "aligned table")]


def test_rows_the_formatter_would_break_keep_their_marker(tmp_path: Path) -> None:
    assert _decide(tmp_path, ROWS) == [(True, "row table")]


def test_a_marker_stays_where_its_removal_would_pass_the_line_limit(tmp_path: Path) -> None:
    grows = 'VALUE = {"a": 1, "b": 2,}  # fmt: skip\n'  # a magic trailing comma: 4 lines
    filler = "".join(f"X{n} = {n}\n" for n in range(497))
    assert _decide(tmp_path, filler + grows) == [(True, "file limit")]
    assert _decide(tmp_path, filler[: -11 * 3] + grows) == [(False, "not a table")]


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    tool = _tool()
    path = tmp_path / "sample.py"
    path.write_text(PACKED + "\n\n" + ALIGNED)
    tool.apply(tool.decide([path]))
    once = path.read_text()
    assert "return a + b + c\n" in once and once.count("# fmt: skip") == 1
    tool.apply(tool.decide([path]))
    assert path.read_text() == once
