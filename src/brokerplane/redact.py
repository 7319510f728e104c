"""Log lines without secrets: the values of sensitive query parameters (tokens, passwords, the
MT5 handshake's answers) are written as `***` by every handler the server's logging sets up.

The access log writes each request's path with its query string, and the dialects carry
credentials there: cTrader's `?token=`, MT5's `password=`, `pass_main=`, `srv_rand_answer=`.
`RedactSecrets` is a logging filter that rewrites such `name=value` pairs in a record's message,
its arguments and its traceback before any formatter sees them. Headers and bodies are never
logged by brokerplane in the first place.

Names are read as the MT5 dialect reads them (`brokerplane.paramnames.norm`: any case, `_` and
`-` left out), so `P-A-S-S-W-O-R-D=` or `s_rv_rand_answer=` is as secret as `password=`. A
value that is a native API key (`bpk_...`) is a secret whatever its name, wherever it appears.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from brokerplane.paramnames import norm

MASK = "***"

# Parameter names (as `norm` gives them: lower case, no `_` or `-`) whose values are secrets,
# exactly ...
_EXACT = frozenset(
    norm(n)
    for n in (
        "key",
        "api_key",
        "auth",
        "authorization",
        "bearer",
        "code",
        "sig",
        "signature",
        "pwd",
        "srv_rand",
        "srv_rand_answer",
        "cli_rand",
        "cli_rand_answer",
        "hash",
        "hashed_password",
    )
)
# ... and by what they contain: pass*, *password*, *secret*, *token*, *apikey, and `*_key`
# (that one as written, `_` or `-` and all: `monkey` is no secret).
_PREFIXES = ("pass",)
_PARTS = ("password", "passwd", "secret", "token", "credential")
_SUFFIXES = ("apikey",)
_WRITTEN_SUFFIXES = ("_key",)
# A native API key (core/access/keys.py: bpk_<12 hex>_<url-safe secret>), anywhere.
_API_KEY = re.compile(r"bpk_[A-Za-z0-9_\-]+")

# name=value where a query string (or a log message listing parameters) has a pair.
_PAIR = re.compile(
    r"(?P<head>(?:^|[?&;\s,(\[{\"'])(?P<name>[A-Za-z0-9_.%\-\[\]]{1,64})=)"
    r"(?P<value>[^&#\s]*)"
)


def sensitive(name: str) -> bool:
    """Whether a query parameter of this name carries a secret."""
    written = unquote(name).strip().lower().replace("-", "_").rstrip("[]")
    plain = norm(written)
    if plain in _EXACT or written.endswith(_WRITTEN_SUFFIXES):
        return True
    if plain.startswith(_PREFIXES) or plain.endswith(_SUFFIXES):
        return True
    return any(part in plain for part in _PARTS)


def redact(text: str) -> str:
    """`text` with the value of every sensitive `name=value` pair, and every native API key,
    replaced by ***."""
    if "bpk_" in text:
        text = _API_KEY.sub(MASK, text)
    if "=" not in text:
        return text

    def mask(match: re.Match[str]) -> str:
        if match.group("value") and sensitive(match.group("name")):
            return match.group("head") + MASK
        return match.group(0)

    return _PAIR.sub(mask, text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value  # numbers stay numbers: %d must still format them
    shown = str(value)
    cleaned = redact(shown)
    return value if cleaned == shown else cleaned


class RedactSecrets(logging.Filter):
    """Rewrites a record's message, arguments and traceback text without secrets; never drops
    a record. Attach it to handlers, so records of every logger that reaches them pass it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        else:
            record.msg = _clean(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
