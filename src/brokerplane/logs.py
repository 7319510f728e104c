"""The server's log: one format for every line (brokerplane's, uvicorn's and the access log),
as text or as JSON, with the time, level, request id, dialect, manager and latency.

Text (the default) is one line per record, fields as `name=value`:

    2026-12-07T06:40:00.123Z INFO brokerplane.access: GET /v1/users 200 request_id=req_1a
    dialect=native manager=1000 latency_ms=3.12 client=127.0.0.1

(one line; wrapped here). JSON (`--log-format json`, BROKERPLANE_LOG_FORMAT=json) is one object
per line with the same fields. What a client sent (a path, a request id, a login name) can never
start a line of its own: control characters are written as escapes (`\\n`, `\\x1b`), a field
value with a space or a quote is quoted, and a traceback's lines are indented. Secrets are
masked first (redact.RedactSecrets runs on every handler).

Fields of the request being served reach every record logged while serving it (an
authentication failure, an unexpected error) through a context variable the access-log
middleware sets (api/observe.py); it holds the request's `state` dict, where dialects note the
manager once they know it.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from typing import Any

from brokerplane.redact import redact

FORMATS = ("text", "json")
ACCESS_LOGGER = "brokerplane.access"

# The current request's state dict (request_id, dialect, manager), or None outside a request.
REQUEST: ContextVar[dict[str, Any] | None] = ContextVar("brokerplane_request", default=None)

# Fields taken from a record (set by `extra=` or by RequestFields), in this order.
FIELDS = (
    "request_id",
    "dialect",
    "manager",
    "method",
    "path",
    "status",
    "latency_ms",
    "client",
    "command",
    "transport",
)
# The text format leaves out what its message already says (`GET /v1/users 200`).
TEXT_FIELDS = ("request_id", "dialect", "manager", "latency_ms", "client", "transport")

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def clean(text: str) -> str:
    """`text` with every control character (C0, DEL, C1, the Unicode line separators) written as
    an escape, so it stays on its line."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in "\n\r\t":
            out.append(_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def _value(value: object) -> str:
    """A field value for the text format: bare when it is one plain word, else quoted (a
    backslash or quote escaped with a backslash, control characters as escapes)."""
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return '"' + clean(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord, names: tuple[str, ...] = FIELDS) -> dict[str, Any]:
    """The record's request fields, in `names` order, those set only; strings redacted."""
    found: dict[str, Any] = {}
    for name in names:
        value = getattr(record, name, None)
        if value is None or value == "":
            continue
        found[name] = redact(value) if isinstance(value, str) else value
    return found


class RequestFields(logging.Filter):
    """Adds the current request's id, dialect and manager to records that do not carry them."""

    def filter(self, record: logging.LogRecord) -> bool:
        state = REQUEST.get()
        if state is not None:
            for name in ("request_id", "dialect", "manager"):
                if getattr(record, name, None) is None and state.get(name) is not None:
                    setattr(record, name, state[name])
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = clean(record.getMessage())
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {message}"
        fields = _fields(record, TEXT_FIELDS)
        if fields:
            line += " " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        extra = self._trace(record)
        if extra:
            # indented: a line of a traceback (or of a message it quotes) never looks like a
            # record of its own
            line += "\n" + "\n".join("    " + clean(part) for part in extra.splitlines())
        return line

    def _trace(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        parts = [p for p in (record.exc_text, record.stack_info) if p]
        return "\n".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def server_log_config(level: str, fmt: str = "text", *, access: bool = True) -> dict[str, Any]:
    """A logging.config.dictConfig for the server: one console handler (stderr) in `fmt`, with
    secrets masked and request fields added, for brokerplane's loggers and uvicorn's; the
    access log (brokerplane.access, at info) is left out when not `access`."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    level = "DEBUG" if level.upper() == "TRACE" else level.upper()
    formatter = TextFormatter if fmt == "text" else JsonFormatter
    chain = ["redact", "request"]
    quiet = {"handlers": ["default"], "level": level, "propagate": False, "filters": chain}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": "brokerplane.redact.RedactSecrets"},
            "request": {"()": f"{__name__}.RequestFields"},
        },
        "formatters": {"default": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
                "filters": chain,
            },
        },
        "loggers": {
            "uvicorn": dict(quiet),
            "uvicorn.error": {"level": level, "filters": chain},
            # replaced by brokerplane.access (one line per request, in this format)
            "uvicorn.access": {**quiet, "level": "WARNING"},
            ACCESS_LOGGER: {"level": level if access else "WARNING"},
            "brokerplane": {
                "handlers": ["default"],
                "level": level,
                # on to the root logger too, which the server leaves without handlers (no line
                # twice); a process that adds its own there (a test's log capture) still sees
                # these records
                "propagate": True,
                "filters": chain,
            },
        },
    }
