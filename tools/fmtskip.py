"""Keep `# fmt: skip` only where a table reads better than the formatter's layout.

    python tools/fmtskip.py [PATH ...]          remove the markers that are not needed, then
                                                `ruff format` the files it changed
    python tools/fmtskip.py --check [PATH ...]  list them and exit 1 if there is any (CI: the
                                                test in tests/architecture runs this)

PATHs default to src, tests, tools and bench. Each marker's statement (or compound statement
header, or decorator) is judged alone, the same way every run, so a second run changes nothing:

- it stays when the statement is a **table** the formatter would spoil:
  - *aligned*: two or more of its lines pad tokens with extra spaces to a shared column (the
    formatter collapses the padding), or
  - *rows*: a list, tuple, set or dict literal of three or more rows of one shape (tuples or
    lists of one length, dicts, or calls of one name), each row on one line, which the
    formatter would break across lines;
- it stays when removing it would push its file over 500 lines (the house limit): removals
  are taken smallest growth first while the file stays within the limit, and a file already
  over it takes only those that add no line;
- otherwise it goes, and the statement gets the formatter's layout.

A marker that no statement ends on (the formatter ignores it) goes too. Growth is measured by
formatting a copy of the file with that one marker removed (one `ruff format` run over all the
copies), so the tool needs ruff beside the Python running it, or on PATH.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("src", "tests", "tools", "bench")
MAX_LINES = 500
MIN_ROWS = 3
MARKER = re.compile(r"#\s*fmt:\s*skip\s*$")
PADDING = 2  # spaces between two tokens that only alignment explains (ruff writes one)


@dataclass(frozen=True)
class Marker:
    """One `# fmt: skip` comment: where it is and the unit (statement) it skips."""

    path: Path
    line: int  # 1-based line of the comment
    column: int  # where the comment starts
    unit: tuple[int, int] | None  # first and last line of the skipped unit; None: nothing
    node_index: int | None  # the unit's node in ast.walk order (the same after formatting)


@dataclass(frozen=True)
class Decision:
    marker: Marker
    keep: bool
    why: str  # "aligned table", "row table", "file limit", "not a table", "no statement"


def ruff() -> str:
    """The ruff beside this Python (the project's .venv), else the one on PATH."""
    here = Path(sys.executable).with_name("ruff")
    if here.exists():
        return str(here)
    found = shutil.which("ruff")
    if found is None:
        raise SystemExit("fmtskip: ruff not found (make venv)")
    return found


def python_files(paths: Iterable[str]) -> list[Path]:
    found: set[Path] = set()
    for name in paths:
        path = (ROOT / name) if not Path(name).is_absolute() else Path(name)
        if path.is_dir():
            found.update(p for p in path.rglob("*.py") if ".venv" not in p.parts)
        elif path.suffix == ".py":
            found.add(path)
    return sorted(found)


# --------------------------------------------------------------------------- finding markers


def _header_end(node: ast.AST, colons: Sequence[tokenize.TokenInfo]) -> int:
    """The line of the colon that ends a compound statement's header."""
    body = node.body  # type: ignore[attr-defined]
    first = (body[0].lineno, body[0].col_offset)
    at = node.pattern if isinstance(node, ast.match_case) else node
    start = (at.lineno, at.col_offset)  # type: ignore[attr-defined]
    return [t for t in colons if start <= t.start < first][-1].start[0]


def _units(tree: ast.Module, tokens: Sequence[tokenize.TokenInfo]) -> dict[int, tuple[int, int]]:
    """By last line: the node index and first line of each unit a marker may skip (the
    outermost unit ending on that line wins, as it does for the formatter)."""
    colons = [t for t in tokens if t.type == tokenize.OP and t.string == ":"]
    found: dict[int, tuple[int, int]] = {}
    for index, node in enumerate(ast.walk(tree)):
        spans: list[tuple[int, int]] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            spans += [(d.lineno, d.end_lineno or d.lineno) for d in node.decorator_list]
        body = getattr(node, "body", None)
        compound = isinstance(body, list) and body and isinstance(body[0], ast.stmt)
        if isinstance(node, ast.stmt | ast.ExceptHandler | ast.match_case) and compound:
            start = node.pattern.lineno if isinstance(node, ast.match_case) else node.lineno
            spans.append((start, _header_end(node, colons)))
        elif isinstance(node, ast.stmt):
            spans.append((node.lineno, node.end_lineno or node.lineno))
        for start, end in spans:
            if end not in found or start < found[end][1]:
                found[end] = (index, start)
    return found


def find_markers(path: Path, text: str) -> list[Marker]:
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    comments = [t for t in tokens if t.type == tokenize.COMMENT and MARKER.search(t.string)]
    if not comments:
        return []
    units = _units(ast.parse(text), tokens)
    markers = []
    for comment in comments:
        line = comment.start[0]
        unit = units.get(line)
        markers.append(
            Marker(
                path=path,
                line=line,
                column=comment.start[1],
                unit=(unit[1], line) if unit else None,
                node_index=unit[0] if unit else None,
            )
        )
    return markers


def without(text: str, markers: Iterable[Marker]) -> str:
    """`text` with these markers' comments removed (and the spaces before them)."""
    lines = text.splitlines(keepends=True)
    for marker in markers:
        raw = lines[marker.line - 1]
        body, end = raw[: marker.column], raw[len(raw.rstrip("\r\n")) :]
        rest = raw[marker.column : len(raw) - len(end)]
        kept = MARKER.sub("", rest).rstrip()
        lines[marker.line - 1] = (body.rstrip() + ("  " + kept if kept else "")) + end
    return "".join(lines)


# --------------------------------------------------------------------------- tables


def _padded_columns(tokens: Sequence[tokenize.TokenInfo]) -> dict[int, set[int]]:
    """By line: the columns of tokens preceded by alignment padding (not indentation, not the
    spaces before a comment)."""
    skip = (tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.NEWLINE)
    found: dict[int, set[int]] = {}
    previous: tokenize.TokenInfo | None = None
    for token in tokens:
        if token.type in (tokenize.INDENT, tokenize.DEDENT):
            continue
        if (
            previous is not None
            and previous.type not in skip
            and token.type not in (*skip, tokenize.COMMENT)
            and token.start[0] == previous.end[0]
            and token.start[1] - previous.end[1] >= PADDING
        ):
            found.setdefault(token.start[0], set()).add(token.start[1])
        previous = token
    return found


def is_aligned(unit: tuple[int, int], padded: dict[int, set[int]]) -> bool:
    columns = Counter(c for line in range(unit[0], unit[1] + 1) for c in padded.get(line, ()))
    return any(count >= 2 for count in columns.values())


def _shape(node: ast.expr) -> tuple[str, int | str] | None:
    if isinstance(node, ast.Tuple | ast.List):
        return (type(node).__name__, len(node.elts)) if len(node.elts) >= 2 else None
    if isinstance(node, ast.Dict):
        return ("Dict", 0)
    if isinstance(node, ast.Call):
        return ("Call", ast.unparse(node.func))
    return None


def _row_tables(node: ast.AST) -> Iterator[list[ast.expr]]:
    """The row lists of every table literal inside `node`: rows of one shape, at least
    MIN_ROWS (a dict's rows are its values)."""
    for inner in ast.walk(node):
        rows: list[ast.expr]
        if isinstance(inner, ast.List | ast.Tuple | ast.Set):
            rows = list(inner.elts)
        elif isinstance(inner, ast.Dict):
            rows = list(inner.values)
        else:
            continue
        shapes = {_shape(row) for row in rows}
        if len(rows) >= MIN_ROWS and len(shapes) == 1 and None not in shapes:
            yield rows


def _one_line(rows: Sequence[ast.expr]) -> bool:
    return all(row.lineno == row.end_lineno for row in rows)


def is_row_table(before: ast.AST, after: ast.AST) -> bool:
    """A table whose rows sit on one line each now, and would not after formatting."""
    for rows, formatted in zip(_row_tables(before), _row_tables(after), strict=False):
        if _one_line(rows) and not _one_line(formatted):
            return True
    return False


# --------------------------------------------------------------------------- deciding


def _format_all(texts: dict[str, str]) -> dict[str, str]:
    """Each text formatted by ruff with the project's settings (one run over copies)."""
    with tempfile.TemporaryDirectory(prefix="fmtskip-") as folder:
        base = Path(folder)
        for name, text in texts.items():
            (base / name).write_text(text)
        subprocess.run(
            [ruff(), "format", "--quiet", "--config", str(ROOT / "pyproject.toml"), folder],
            check=True,
            cwd=ROOT,
        )
        return {name: (base / name).read_text() for name in texts}


def _count(text: str) -> int:
    return len(text.splitlines())


def decide(files: Sequence[Path]) -> list[Decision]:
    texts = {path: path.read_text() for path in files}
    markers = {path: find_markers(path, text) for path, text in texts.items()}
    markers = {path: found for path, found in markers.items() if found}
    copies: dict[str, str] = {}
    for number, (path, found) in enumerate(markers.items()):
        copies[f"f{number}_base.py"] = texts[path]
        for index, marker in enumerate(found):
            copies[f"f{number}_m{index}.py"] = without(texts[path], [marker])
    formatted = _format_all(copies)
    decisions: list[Decision] = []
    for number, (path, found) in enumerate(markers.items()):
        tokens = list(tokenize.generate_tokens(io.StringIO(texts[path]).readline))
        padded = _padded_columns(tokens)
        nodes = list(ast.walk(ast.parse(texts[path])))
        base = _count(formatted[f"f{number}_base.py"])
        growth: dict[Marker, int] = {}
        verdict: dict[Marker, Decision] = {}
        for index, marker in enumerate(found):
            if marker.unit is None or marker.node_index is None:
                verdict[marker] = Decision(marker, False, "no statement")
                continue
            copy = formatted[f"f{number}_m{index}.py"]
            after = list(ast.walk(ast.parse(copy)))[marker.node_index]
            if is_aligned(marker.unit, padded):
                verdict[marker] = Decision(marker, True, "aligned table")
            elif is_row_table(nodes[marker.node_index], after):
                verdict[marker] = Decision(marker, True, "row table")
            else:
                growth[marker] = _count(copy) - base
        total = base + sum(g for g in growth.values() if g <= 0)
        for marker in sorted(growth, key=lambda m: (growth[m], m.line)):
            if growth[marker] <= 0 or total + growth[marker] <= MAX_LINES:
                total += max(growth[marker], 0)
                verdict[marker] = Decision(marker, False, "not a table")
            else:
                verdict[marker] = Decision(marker, True, "file limit")
        decisions += [verdict[marker] for marker in found]
    return decisions


def apply(decisions: Sequence[Decision]) -> list[Path]:
    """Remove the markers decided against, then format the files changed."""
    by_file: dict[Path, list[Marker]] = {}
    for decision in decisions:
        if not decision.keep:
            by_file.setdefault(decision.marker.path, []).append(decision.marker)
    for path, markers in by_file.items():
        path.write_text(without(path.read_text(), markers))
    changed = sorted(by_file)
    if changed:
        subprocess.run([ruff(), "format", "--quiet", *map(str, changed)], check=True, cwd=ROOT)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="every marker kept, why")
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    args = parser.parse_args(argv)
    decisions = decide(python_files(args.paths))
    removable = [d for d in decisions if not d.keep]
    kept = Counter(d.why for d in decisions if d.keep)

    def where(d: Decision) -> str:
        return f"{d.marker.path.relative_to(ROOT)}:{d.marker.line}"

    if args.verbose:
        for d in decisions:
            if d.keep:
                print(f"{where(d)}: kept ({d.why})")
    summary = ", ".join(f"{n} {why}" for why, n in sorted(kept.items())) or "none"
    if args.check:
        for d in removable:
            print(f"{where(d)}: `# fmt: skip` not needed ({d.why}); run tools/fmtskip.py")
        print(f"fmtskip: {len(removable)} to remove; kept: {summary}")
        return 1 if removable else 0
    changed = apply(removable)
    print(f"fmtskip: removed {len(removable)} in {len(changed)} files; kept: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
