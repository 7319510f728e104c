"""Write the synchronous client from the asynchronous one: `python tools/unasync.py`.

The client's asynchronous modules (src/brokerplane/client/_async*.py) are the one hand-written
surface; each has a synchronous twin (_sync*.py) made from it by the rules below (`async def`
is `def`, `await` goes, `AsyncClient` is `Client`, ...), then sorted and formatted by ruff.
`python tools/unasync.py --check` exits 1 when a twin is not what the rules make (the client
tests run it), so the two never drift apart.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "src" / "brokerplane" / "client"
SOURCES = ("_async_base.py", "_async_accounts.py", "_async_integration.py", "_async.py")
RULES: tuple[tuple[str, str], ...] = (
    (r"\basync def\b", "def"),
    (r"\bawait ", ""),
    (r"\basync (for|with)\b", r"\1"),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"__aiter__", "__iter__"),
    (r"\baclose\b", "close"),
    (r"\baiter_raw\b", "iter_raw"),
    (r"\bAsyncGenerator\[(\w+), None\]", r"Generator[\1, None, None]"),
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bhttpx\.AsyncBaseTransport\b", "httpx.BaseTransport"),
    (r"\bhttpx\.AsyncClient\b", "httpx.Client"),
    (r"\bAsync(Client|CsvExport|Sender)\b", r"\1"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"^import asyncio\n", ""),
    (r"\b_async(_\w+)?\b", r"_sync\1"),
    (r"\bAn asynchronous\b", "A synchronous"),
    (r"\b([Tt])he asynchronous\b", r"\1he synchronous"),
)


def synchronous(source: str, name: str) -> str:
    text = source
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    target = name.replace("_async", "_sync")
    head = f"# Generated from {name} by tools/unasync.py: edit that file, not this one.\n"
    # imports sorted again, `for x in y: yield x` as `yield from y`, then formatted
    fixed = _ruff(
        "check",
        "--fix",
        "--unsafe-fixes",
        "--select",
        "I,UP028",
        "--exit-zero",
        "--quiet",
        text=head + text,
        name=target,
    )
    return _ruff("format", text=fixed, name=target)


def _ruff(*args: str, text: str, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", name, "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in SOURCES:
        want = synchronous((CLIENT / name).read_text(), name)
        twin = CLIENT / name.replace("_async", "_sync")
        if twin.exists() and twin.read_text() == want:
            continue
        stale.append(twin.name)
        if not check:
            twin.write_text(want)
    if check and stale:
        print("not made from the asynchronous client:", ", ".join(stale), file=sys.stderr)
        print("run: python tools/unasync.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
