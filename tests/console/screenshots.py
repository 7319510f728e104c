"""The console's screenshots in docs/screenshots/, taken by the browser tests.

A test run does not rewrite them (so `make test` leaves the tree as it found it): the browser
tests write one only under `BROKERPLANE_SCREENSHOTS=1` (`make screenshots`), and then only when
it is missing or stale; `BROKERPLANE_SCREENSHOTS=all` rewrites every one (after the demo data
changed, say). "Stale" is decided without comparing pixels, which the data on the pages (times,
logins, prices) changes on every run: each PNG carries, in a `tEXt` chunk, a fingerprint of the
sources its page is drawn from (its template, the templates it extends or includes, and the
stylesheet). test_screenshots.py checks, in every run, that each screenshot exists and that its
fingerprint is that of the current sources: change a page's template or the stylesheet and the
check fails until `make screenshots` takes the picture again."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, meta

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONSOLE = Path(__file__).resolve().parents[2] / "src" / "brokerplane" / "api" / "console"
ENV_WRITE = "BROKERPLANE_SCREENSHOTS"
KEYWORD = b"brokerplane-sources"

# Each screenshot and the template of the page it shows.
SHOTS = {
    "signin": "signin.html",
    "overview": "overview.html",
    "accounts": "accounts.html",
    "account": "account.html",
    "confirm": "confirm.html",
    "held": "outcome.html",
    "approvals": "approvals.html",
    "risk": "risk.html",
    "audit": "audit.html",
    "admin": "admin.html",
    "security": "security.html",
}


def sources(template: str) -> list[str]:
    """The template and every template it extends or includes, transitively."""
    env = Environment(loader=FileSystemLoader(str(CONSOLE / "templates")), autoescape=True)
    seen: list[str] = []
    todo = [template]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        text = (CONSOLE / "templates" / name).read_text()
        todo.extend(t for t in meta.find_referenced_templates(env.parse(text)) if t)
    return sorted(seen)


def fingerprint(name: str) -> str:
    digest = hashlib.sha256()
    files = [CONSOLE / "templates" / t for t in sources(SHOTS[name])]
    for path in [*files, CONSOLE / "static" / "console.css"]:
        data = path.read_bytes()
        digest.update(f"{path.name}:{len(data)}:".encode() + data)
    return digest.hexdigest()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    out, at = [], 8  # after the signature
    while at + 8 <= len(png):
        (size,) = struct.unpack(">I", png[at : at + 4])
        out.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + size]))
        at += 12 + size
    return out


def stamped(png: bytes, value: str) -> bytes:
    """The PNG with one tEXt chunk `brokerplane-sources` holding `value`, before its IEND."""
    kept = [(k, d) for k, d in _chunks(png) if not (k == b"tEXt" and d.startswith(KEYWORD + b"\0"))]
    text = (b"tEXt", KEYWORD + b"\0" + value.encode())
    body = [*kept[:-1], text, kept[-1]]  # IEND last
    return png[:8] + b"".join(_chunk(k, d) for k, d in body)


def stamp_of(png: bytes) -> str | None:
    """The value of the PNG's `brokerplane-sources` tEXt chunk; None without one."""
    for kind, data in _chunks(png):
        if kind == b"tEXt" and data.startswith(KEYWORD + b"\0"):
            return data[len(KEYWORD) + 1 :].decode("latin-1")
    return None


def stale(name: str) -> str | None:
    """Why docs/screenshots/<name>.png is not current; None when it is."""
    path = SCREENSHOTS / f"{name}.png"
    if not path.exists():
        return f"{path.name} is missing"
    if stamp_of(path.read_bytes()) != fingerprint(name):
        return f"{path.name} was taken from other sources than {', '.join(sources(SHOTS[name]))}"
    return None


def wanted(name: str) -> bool:
    """Whether this run should (re)write the screenshot."""
    assert name in SHOTS, f"add {name} to SHOTS in tests/console/screenshots.py"
    mode = os.environ.get(ENV_WRITE, "").strip().lower()
    return mode == "all" or (mode in ("1", "true", "yes", "on") and stale(name) is not None)


def save(name: str, png: bytes) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(stamped(png, fingerprint(name)))
