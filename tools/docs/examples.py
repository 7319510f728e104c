"""Run the shell examples of a docs page against a fresh server and compare their output.

A page's examples are its ```console blocks (docs/CONTRIBUTING-docs.md explains the syntax):

    $ a command                      <- "$ " starts a command
    > its continuation line          <- "> " continues it (a here-document, a long JSON body)
    the output the reader sees       <- every other line, compared with what the command prints
    {"id": …, "time": "…"}           <- "…" stands for any text within the line
    …                                <- a line that is only "…" stands for any number of lines

Every page runs on a server of its own: a temporary directory as the working directory, its
`var/` a fresh data directory holding `var/demo.json` (from `brokerplane demo --json`), and
`brokerplane serve` on free ports (tools/docs/pageserver.py). Checking several pages, the demo
is loaded once, into a template data directory that each page's `var/` is a copy of
(`demo_template`): the same database, key file and demo.json as a `brokerplane demo` of its
own, without its second or two of CPU per page. Commands run in one bash process per page, in
page order, so shell variables carry from one example to the next, as they do for a reader.
Commands say `http://127.0.0.1:8080` (and the MT5 TCP port 4430); the runner points them at the
page's own ports and writes the output back with the documented ones. `.venv/bin/brokerplane`
and `brokerplane` are the brokerplane under test.

    python tools/docs/examples.py docs/getting-started.md          # check one page
    python tools/docs/examples.py --update docs/getting-started.md # write the actual output in

--update runs the page twice and writes each command's output in, with what differs between
the two runs (secrets, generated ids) and times written as "…"; read the diff before keeping it.
Each of the two runs loads the demo of its own, so that the demo's secrets differ and are masked.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pageserver import ROOT, PageServer, demo_template

DOCS = ROOT / "docs"
ELLIPSIS = "…"
SHELL_LANGS = {"bash", "sh", "shell", "zsh"}
NOT_TESTED = re.compile(r"<!--\s*not-tested:\s*\S.*?-->")
FILE_MARK = re.compile(r"<!--\s*file:\s*([\w.-]+)\s*-->")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
MARK = "@@bp-docs-example@@"
PAGE_TIMEOUT_S = 600.0  # a loaded CI machine; a page takes 10-60 s when it is not


@dataclass
class Example:
    """One command of a page and the output the page shows for it."""

    path: Path
    line: int  # 1-based line of the "$ " line
    command: str
    expected: list[str]
    out_start: int  # 0-based index in the page's lines of the first output line
    out_end: int  # 0-based index one past the last output line

    @property
    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


@dataclass
class Block:
    lang: str
    start: int  # 0-based index of the opening fence line
    end: int  # 0-based index of the closing fence line
    body: list[str]
    excused: bool  # a <!-- not-tested: reason --> comment stands right before it
    file: str | None = None  # a <!-- file: NAME --> comment stands right before it


def blocks(text: str) -> Iterator[Block]:
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        lang = m.group("info").strip().split(" ")[0].lower() if m.group("info").strip() else ""
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        prev = i - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        excused = prev >= 0 and bool(NOT_TESTED.search(lines[prev]))
        named = FILE_MARK.search(lines[prev]) if prev >= 0 else None
        body = [line[indent:] if line[:indent].strip() == "" else line for line in lines[i + 1 : j]]
        yield Block(lang, i, j, body, excused, named.group(1) if named else None)
        i = j + 1


def untested_shell_blocks(path: Path) -> list[str]:
    """Shell blocks that are neither examples (console) nor excused with a reason."""
    text = path.read_text(encoding="utf-8")
    return [
        f"{_shown(path)}:{b.start + 1}: a ```{b.lang} block; make it ```console "
        "(tested) or put <!-- not-tested: why --> before it"
        for b in blocks(text)
        if b.lang in SHELL_LANGS and not b.excused
    ]


def parse(path: Path) -> list[Example]:
    examples: list[Example] = []
    for block in blocks(path.read_text(encoding="utf-8")):
        if block.lang != "console" or block.excused:
            continue
        current: Example | None = None
        for k, line in enumerate(block.body):
            index = block.start + 1 + k
            if line.startswith("$ ") or line == "$":
                if current is not None:
                    examples.append(current)
                current = Example(path, index + 1, line[2:], [], index + 1, index + 1)
            elif current is None:
                raise ValueError(f"{path}:{index + 1}: a console block must start with '$ '")
            elif (line.startswith("> ") or line == ">") and not current.expected:
                current.command += "\n" + line[2:]
                current.out_start = current.out_end = index + 1
            else:
                current.expected.append(line)
                current.out_end = index + 1
        if current is not None:
            examples.append(current)
    return examples


# ---------------------------------------------------------------------------- matching


def _line_matches(pattern: str, line: str) -> bool:
    """Glob match with "…" as the only wildcard: literal pieces found leftmost, in order."""
    pieces = pattern.split(ELLIPSIS)
    if len(pieces) == 1:
        return pattern == line
    first, last = pieces[0], pieces[-1]
    if not line.startswith(first) or not line[len(first) :].endswith(last):
        return False
    if len(line) < len(first) + len(last):
        return False
    pos, end = len(first), len(line) - len(last)
    for piece in pieces[1:-1]:
        found = line.find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return True


def _run_matches(patterns: Sequence[str], lines: Sequence[str], at: int) -> bool:
    return at + len(patterns) <= len(lines) and all(
        _line_matches(p, lines[at + i]) for i, p in enumerate(patterns)
    )


def matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether the output lines match the documented ones ("…" lines match any lines)."""
    expected, actual = _trim(expected), _trim(actual)
    runs: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == ELLIPSIS:
            runs.append([])
        else:
            runs[-1].append(line)
    if len(runs) == 1:
        return _run_matches(runs[0], actual, 0) and len(runs[0]) == len(actual)
    first, last = runs[0], runs[-1]
    if not _run_matches(first, actual, 0):
        return False
    tail_at = len(actual) - len(last)
    if tail_at < len(first) or not _run_matches(last, actual, tail_at):
        return False
    pos = len(first)
    for run in runs[1:-1]:
        while pos + len(run) <= tail_at and not _run_matches(run, actual, pos):
            pos += 1
        if pos + len(run) > tail_at:
            return False
        pos += len(run)
    return True


def _trim(lines: Sequence[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


# ---------------------------------------------------------------------------- running


def page_files(path: Path) -> dict[str, str]:
    """The blocks a page asks the reader to save (<!-- file: NAME --> before the block)."""
    return {
        b.file: "\n".join(b.body) + "\n"
        for b in blocks(path.read_text(encoding="utf-8"))
        if b.file is not None
    }


def run_page(
    path: Path, examples: Sequence[Example] | None = None, template: Path | None = None
) -> list[str]:
    """Each example's actual output (in the documented ports), in order; the page's `var/` is
    a copy of `template` (`demo_template`) when given, else the demo is loaded for it."""
    examples = parse(path) if examples is None else examples
    if not examples:
        return []
    workdir = Path(tempfile.mkdtemp(prefix="bp-docs-"))
    server: PageServer | None = None
    try:
        server = PageServer(workdir, template)
        for name, content in page_files(path).items():
            (workdir / name).write_text(server.to_local(content), encoding="utf-8")
        script = ["set +e"]
        for i, ex in enumerate(examples):
            script.append(f"printf '\\n{MARK} {i}\\n'")
            # ":" first: a command that is only a comment still makes a valid group
            script.append("{ :\n" + server.to_local(ex.command) + "\n} 2>&1 </dev/null")
        script.append(f"printf '\\n{MARK} end\\n'")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc"],
            input="\n".join(script) + "\n",
            cwd=workdir,
            env=server.env,
            capture_output=True,
            check=False,
            text=True,
            timeout=PAGE_TIMEOUT_S,
        )
        outputs = _split(done.stdout, len(examples))
        if outputs is None:
            raise RuntimeError(
                f"{path}: the page's shell stopped early (exit {done.returncode}):\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return [server.to_doc(o) for o in outputs]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _split(stdout: str, count: int) -> list[str] | None:
    parts = re.split(rf"\n?{re.escape(MARK)} (\d+|end)\n", "\n" + stdout)
    # parts: [before, "0", out0, "1", out1, ..., "end", after]
    found = {parts[k]: parts[k + 1] for k in range(1, len(parts) - 1, 2)}
    if "end" not in found:
        return None
    return [found.get(str(i), "") for i in range(count)]


def check_page(path: Path, template: Path | None = None) -> list[str]:
    """Mismatches of one page, each with the command, the documented and the actual output
    (`template`: as for `run_page`)."""
    examples = parse(path)
    problems = untested_shell_blocks(path)
    actual = run_page(path, examples, template)
    for ex, out in zip(examples, actual, strict=True):
        got = out.split("\n")
        if not matches(ex.expected, got):
            diff = "\n".join(
                difflib.unified_diff(
                    _trim(ex.expected), _trim(got), "documented", "actual", lineterm=""
                )
            )
            problems.append(f"{ex.where}: $ {ex.command}\n{diff}")
    return problems


# ---------------------------------------------------------------------------- --update

VOLATILE = [
    re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"(?<![\d.])1[7-9]\d{11}(?![\d.])"),  # epoch milliseconds
    re.compile(r"(?<=[\"'])1[7-9]\d{8}(?=[\"'])"),  # epoch seconds, as MT5 writes them
    re.compile(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT"),  # HTTP dates
    re.compile(r"(?<=bpk_)[A-Za-z0-9_-]+"),  # native API keys
    re.compile(r"(?<=whk_)[0-9a-f]+"),  # TraderEvolution webhook keys
]
# What is left between two masked pieces when the pieces' random text happened to share a few
# characters ("…-…", "…@…"): one mask.
NEAR_MASKS = re.compile(f'{ELLIPSIS}[^\\s",:{{}}\\[\\]]{{1,3}}{ELLIPSIS}')
TOKEN = re.compile(r"[A-Za-z0-9_]+|\s+|.", re.S)


def _mask_differences(one: str, two: str) -> str:
    for pattern in VOLATILE:
        one, two = pattern.sub(ELLIPSIS, one), pattern.sub(ELLIPSIS, two)
    a, b = TOKEN.findall(one), TOKEN.findall(two)
    out: list[str] = []
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(a[i1:i2])
        elif not out or out[-1] != ELLIPSIS:
            out.append(ELLIPSIS)
    text = re.sub(f"{ELLIPSIS}+", ELLIPSIS, "".join(out))
    while NEAR_MASKS.search(text):
        text = NEAR_MASKS.sub(ELLIPSIS, text)
    return text


ERROR_TEXT = re.compile(r'"(?:detail|errorMessage|description|reason)"')  # errors are kept whole
WIDTH = 150  # --update shortens longer lines to end at a comma, then "…"
MAX_LINES = 12  # and longer outputs to their first lines, then a "…" line


def _shorten(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if len(line) > WIDTH and not ERROR_TEXT.search(line):
            cut = line.rfind(",", 0, WIDTH)
            line = line[: cut + 1] + ELLIPSIS if cut > 20 else line
        out.append(line)
    if len(out) > MAX_LINES:
        out = [*out[: MAX_LINES - 4], ELLIPSIS]
    return out


def update_page(path: Path, *, force: bool = False) -> int:
    """Write each example's actual output into the page where it no longer matches. Each run
    loads the demo of its own (no template): the demo's secrets differ between the two runs
    and so are written as "…", never as they are."""
    examples = parse(path)
    with ThreadPool() as pool:
        first, second = pool.map(lambda _: run_page(path, examples), [0, 1])
    lines = path.read_text(encoding="utf-8").split("\n")
    changed = 0
    for ex, one, two in sorted(
        zip(examples, first, second, strict=True), key=lambda t: -t[0].out_start
    ):
        if not force and all(matches(ex.expected, out.split("\n")) for out in (one, two)):
            continue
        masked = _shorten(_trim(_mask_differences(one, two).split("\n")))
        lines[ex.out_start : ex.out_end] = masked
        changed += 1
    path.write_text("\n".join(lines), encoding="utf-8")
    return changed


_T = TypeVar("_T")
_R = TypeVar("_R")


class ThreadPool:
    def __enter__(self) -> ThreadPool:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(2)
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown()

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        return list(self._pool.map(fn, items))


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", type=Path, help="pages (default: every docs page)")
    parser.add_argument("--update", action="store_true", help="write the actual output in")
    parser.add_argument("--force", action="store_true", help="with --update: every output")
    args = parser.parse_args(argv)
    chosen = [p.resolve() for p in args.pages] or pages()
    if args.update:
        for page in chosen:
            written = update_page(page, force=args.force)
            print(f"{_shown(page)}: {written} outputs written")
        return 0
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bp-docs-demo-") as where:
        template = demo_template(Path(where)) if len(chosen) > 1 else None
        for page in chosen:
            problems = check_page(page, template)
            failed += bool(problems)
            for problem in problems:
                print(problem, end="\n\n")
            print(f"{_shown(page)}: {'FAILED' if problems else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
