"""MT5 request parameters (lenient in) and answers (exact out), and the command registry.

In: query parameters, a JSON body whatever the content type, or a form body; the body wins
over the query; names match whatever their case, `_` or `-` (`pass_main`, `pass-main`,
`PassMain`); numbers quoted or bare; MT5 escaping (`\\|`, `\\=`, `\\\\`) in query values.
Out: `{"retcode": "0 Done", "answer": ...}` with every scalar a JSON string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from brokerplane.api import jsonbody
from brokerplane.api.kit.idempotency import SentKey
from brokerplane.api.mt5.errors import ERR_NOTFOUND, ERR_PARAMS, Mt5Error, retcode
from brokerplane.application.app import Application
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.idempotency import StoredResponse
from brokerplane.core.money import out_of_range, parse_integer
from brokerplane.core.validate import MAX_ID
from brokerplane.paramnames import norm

# Every integer parameter is a signed 64-bit number (what the database and MT5 keep) unless the
# command bounds it more narrowly: a larger one is 3 Invalid parameters, never a query.
INT_LOW, INT_HIGH = -(2**63), 2**63 - 1

_ESCAPED = re.compile(r"\\([\\|=])")

T = TypeVar("T")


def unescape(value: str) -> str:
    return _ESCAPED.sub(r"\1", value)


class Params:
    """A request's parameters by normalised name; the JSON body (if an object) kept whole."""

    def __init__(self, query: Iterable[tuple[str, str]], body: bytes) -> None:
        self.values: dict[str, Any] = {norm(k): unescape(v) for k, v in query}
        self.body: dict[str, Any] = {}
        self.body_list: list[Any] | None = None
        text = body.strip()
        if not text:
            return
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            raise Mt5Error(ERR_PARAMS, "the body is not UTF-8") from None
        if decoded[:1] in "{[":
            try:
                parsed = jsonbody.loads(decoded)
            except ValueError:
                raise Mt5Error(ERR_PARAMS, "the body is not valid JSON") from None
            if isinstance(parsed, dict):
                self.body = parsed
                self.values.update({norm(k): v for k, v in parsed.items()})
            else:
                self.body_list = parsed
            return
        self.values.update({norm(k): unescape(v) for k, v in parse_qsl(decoded)})

    @classmethod
    def decoded(cls, pairs: Iterable[tuple[str, str]], body: bytes) -> Params:
        """Parameters already unescaped (the TCP protocol's command line; empty values are not
        given) and a JSON body, which wins over them."""
        params = cls((), body)
        params.values = {norm(k): v for k, v in pairs if v != ""} | params.values
        return params

    def has(self, *names: str) -> bool:
        return any(norm(n) in self.values for n in names)

    def raw(self, *names: str) -> Any:
        for name in names:
            key = norm(name)
            if key in self.values:
                return self.values[key]
        return None

    def text(self, *names: str, default: str | None = None) -> str | None:
        value = self.raw(*names)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise Mt5Error(ERR_PARAMS, f"{names[0]} must be a string")
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def integer(
        self,
        *names: str,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        value = self.raw(*names)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        if isinstance(value, bool):
            value = int(value)
        try:
            number = parse_integer(value if isinstance(value, int) else str(value), names[0])
        except ValidationError as err:
            if out_of_range(err):
                raise Mt5Error(ERR_PARAMS, f"{names[0]} is out of range") from None
            raise Mt5Error(ERR_PARAMS, f"{names[0]} must be an integer") from None
        low = INT_LOW if low is None else low
        high = INT_HIGH if high is None else high
        if not low <= number <= high:
            raise Mt5Error(ERR_PARAMS, f"{names[0]} is out of range")
        return number

    def require_integer(self, *names: str, low: int | None = None, high: int | None = None) -> int:
        value = self.integer(*names, low=low, high=high)
        if value is None:
            raise Mt5Error(ERR_PARAMS, f"{names[0]} is required")
        return value

    def require_text(self, *names: str) -> str:
        value = self.text(*names)
        if value is None or not value.strip():
            raise Mt5Error(ERR_PARAMS, f"{names[0]} is required")
        return value

    def logins(self, *names: str) -> list[int] | None:
        value = self.raw(*names)
        if value is None:
            return None
        parts = value if isinstance(value, list) else str(value).split(",")
        texts = [str(p).strip() for p in parts if str(p).strip()]
        # ASCII digits only: int() alone would take "1_000" and other scripts' digits
        if any(not (t.isascii() and t.isdigit() and len(t) <= 19) for t in texts):
            raise Mt5Error(ERR_PARAMS, f"{names[0]} must be a comma list of logins")
        numbers = [int(t) for t in texts]
        if any(not 1 <= n <= MAX_ID for n in numbers):
            raise Mt5Error(ERR_PARAMS, f"{names[0]}: every login or id is 1 to {MAX_ID}")
        return numbers


@dataclass
class Context:
    """What a command handler gets: parameters, the session's actor and the core."""

    params: Params
    actor: Actor
    services: Application
    # the idempotency key the request carried (Idempotency-Key / x-request-id headers)
    key: SentKey | None = None


@dataclass
class Answer:
    """A command's answer: `answer` (omitted when None) and top-level extras under `code`
    (0 Done, or a refusal that is the command's outcome); `replay`: the answer of an
    idempotency key's earlier use, rendered again from its stored result; `replayed`: such an
    answer stored by a version before results were stored as data, sent as it was."""

    answer: Any = None
    top: dict[str, Any] = field(default_factory=dict)
    code: int = 0
    replay: bool = False
    replayed: StoredResponse | None = None

    def body(self) -> dict[str, Any]:
        return envelope_body(self.code, self.answer, **self.top)


def envelope_body(code: int, answer: Any = None, **top: Any) -> dict[str, Any]:
    """`{"retcode": "0 Done", ...top, "answer": ...}` with every scalar a string."""
    body: dict[str, Any] = {"retcode": retcode(code)}
    body.update({k: stringify(v) for k, v in top.items()})
    if answer is not None:
        body["answer"] = stringify(answer)
    return body


Handler = Callable[[Context], Answer]
COMMANDS: dict[str, Handler] = {}


def command(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler under its command paths (`user/get`, ...)."""

    def register(fn: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = fn
        return fn

    return register


def stringify(value: Any) -> Any:
    """Every scalar as a JSON string, as MT5 clients (Go's mt5tk among them) require."""
    if isinstance(value, Mapping):
        return {str(k): stringify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [stringify(v) for v in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return str(int(value.timestamp()))
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


# ---- lists: a name, a mask, `next` -----------------------------------------------------------

MASK_LIMIT = 5_000  # MT5 answers at most this many objects to a mask, then retcode 14
PARTIAL = 14


def name_param(params: Params, name: str) -> str | None:
    """A name parameter (`group=`, `symbol=`) with surrounding blanks removed; None if blank."""
    value = params.text(name)
    return value.strip() if value is not None and value.strip() else None


def mask_param(params: Params) -> str:
    """The `mask` parameter (a comma list, or a JSON array of parts); 3 when absent or blank."""
    value = params.raw("mask")
    if isinstance(value, list):
        value = ",".join(str(part) for part in value)
    text = "" if value is None or isinstance(value, dict) else str(value)
    if not text.strip():
        raise Mt5Error(ERR_PARAMS, "give a name or a mask")
    return text.strip()


def capped(items: Sequence[Any]) -> Answer:
    """At most MASK_LIMIT items; more are cut off and answered with `14 Partial error`."""
    if len(items) > MASK_LIMIT:
        return Answer(list(items[:MASK_LIMIT]), code=PARTIAL)
    return Answer(list(items))


def next_of(params: Params, items: Sequence[T], render: Callable[[T], dict[str, Any]]) -> Answer:
    index = params.require_integer("index", low=0)
    count = params.integer("count", default=1, low=0)
    if index >= len(items):
        raise Mt5Error(ERR_NOTFOUND, f"no item at index {index}")
    if count is None or count <= 1:
        return Answer(render(items[index]))
    end = index + min(count, MASK_LIMIT)
    answer = capped([render(item) for item in items[index:end]])
    if count > MASK_LIMIT and len(items) - index > MASK_LIMIT:
        answer.code = PARTIAL
    return answer


def capped_list(items: Sequence[T], render: Callable[[T], dict[str, Any]]) -> Answer:
    """The rendering of at most MASK_LIMIT + 1 items, capped (14 when there were more)."""
    return capped([render(item) for item in items[: MASK_LIMIT + 1]])
