"""Settings are built without pydantic when every value is plain (brokerplane.settings.plain): the
plain path must give exactly what pydantic gives, value and type, and leave to pydantic every
value it is not sure of, so that pydantic's error is the one shown."""

from __future__ import annotations

import itertools
import os
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest

from brokerplane import settings as s
from brokerplane.settings import FIELDS, Settings, pydantic_model
from brokerplane.settings import plain as fast

SAMPLES: dict[str, list[Any]] = {
    "int": [
        "0",
        "1",
        "08",
        "+5",
        " 7",
        "64",
        "65535",
        "65536",
        "-1",
        "1.0",
        "abc",
        "",
        "1_000",
        "99999999999999999999",
        5,
        0,
        True,
        2.0,
        None,
    ],
    "float": [
        "0",
        "5",
        "5.5",
        "1e3",
        "inf",
        "nan",
        "-1",
        " 2",
        "0.0000001",
        "3601",
        "1e300",
        1,
        2.5,
        float("inf"),
        True,
        None,
        "",
    ],
    "Decimal": ["0", "5", "1.50", "1e3", "-1", "NaN", 5, Decimal("2.5"), Decimal("Infinity"), ""],
    "bool": [
        "true",
        "False",
        "YES",
        "no",
        "1",
        "0",
        "on",
        "off",
        "t",
        "f",
        "y",
        "n",
        "maybe",
        "",
        " yes",
        1,
        0,
        True,
        None,
    ],
    "str": [
        "",
        "x",
        " native , mt5 ",
        "mt5,fix",
        "json",
        " JSON",
        "xml",
        "debug",
        "x" * 2000,
        "10.0.0.1, 10.0.0.0/24",
        "*",
        "bad ip",
        "sqlite:///x.db",
        "postgresql://u@h/db",
        5,
        None,
    ],
    "Path": ["", "var", "/tmp/x", " ", Path("p"), None, 5],
    "SecretStr": ["abc", "", None],
}


def _kind(annotation: str) -> str:
    return annotation.removesuffix(" | None")


def _outcome(given: dict[str, Any]) -> tuple[str, Any]:
    """What pydantic makes of `given`: every value with its type, or the errors."""
    try:
        model = pydantic_model()(**given)
    except pydantic.ValidationError as exc:
        return "error", [(e["loc"], e["msg"]) for e in exc.errors()]
    return "ok", {n: (repr(getattr(model, n)), type(getattr(model, n))) for n in FIELDS}


def _built(given: dict[str, Any]) -> tuple[str, Any]:
    try:
        made = Settings(**given)
    except pydantic.ValidationError as exc:
        return "error", [(e["loc"], e["msg"]) for e in exc.errors()]
    return "ok", {n: (repr(getattr(made, n)), type(getattr(made, n))) for n in FIELDS}


def _cases() -> list[dict[str, Any]]:
    one_each = [
        {name: value} for name, spec in FIELDS.items() for value in SAMPLES[_kind(spec.annotation)]
    ]
    rnd = random.Random(24)
    names = list(FIELDS)
    mixed = []
    for _ in range(400):
        picked = rnd.sample(names, rnd.randint(2, 5))
        mixed.append({n: rnd.choice(SAMPLES[_kind(FIELDS[n].annotation)]) for n in picked})
    return [{}, *one_each, *mixed]


def test_the_plain_path_gives_what_pydantic_gives_or_leaves_the_value_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.upper().startswith(s.ENV_PREFIX):
            monkeypatch.delenv(name)
    plain_taken = 0
    for given in _cases():
        plain = fast.plain(FIELDS, given)
        expected = _outcome(given)
        if plain is not None:
            plain_taken += 1
            assert expected[0] == "ok", (given, expected)
            shown = {n: (repr(v), type(v)) for n, v in plain.items()}
            assert shown == expected[1], given
        assert _built(given) == expected, given
    assert plain_taken > 100  # the plain path is the usual one, not a curiosity


def test_defaults_and_plain_environment_values_are_built_without_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BROKERPLANE_PORT", "9090")
    monkeypatch.setenv("BROKERPLANE_ACCESS_LOG", "false")
    monkeypatch.setenv("BROKERPLANE_DIALECTS", " native , mt5 ")
    given = s.environment(FIELDS)
    assert fast.plain(FIELDS, given) is not None
    made = Settings()
    assert (made.port, made.access_log, made.dialects) == (9090, False, "native,mt5")
    assert made.read_max_lag_s == 5.0 and isinstance(made.read_max_lag_s, float)


def test_a_wrong_value_is_pydantics_error_naming_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings(port="99999")
    assert caught.value.errors()[0]["loc"] == ("port",)
    with pytest.raises(pydantic.ValidationError, match="login_range_from must not exceed"):
        Settings(login_range_from=10, login_range_to=5)


def test_the_model_has_every_field_with_its_type_bounds_and_description() -> None:
    fields = Settings.model_fields
    assert list(fields) == list(FIELDS)
    assert fields["port"].annotation is int and fields["port"].default == 8080
    assert [type(m).__name__ for m in fields["port"].metadata] == ["Ge", "Le"]
    assert fields["data_dir"].description == "where the embedded database lives"
    assert str(fields["audit_key"].annotation) == "pydantic.types.SecretStr | None"


def test_a_copy_takes_the_update_unvalidated_and_leaves_the_original() -> None:
    base = Settings(port=9000)
    copied = base.model_copy(update={"port": 9001})
    assert (base.port, copied.port) == (9000, 9001)
    assert copied != base and base.model_copy() == base
    assert "port=9000" in repr(base)


@pytest.mark.parametrize(("left", "right"), list(itertools.combinations(["0", "00", "1"], 2)))
def test_numbers_written_two_ways_are_the_same_number(left: str, right: str) -> None:
    a, b = Settings(audit_legacy_until=left), Settings(audit_legacy_until=right)
    assert (a.audit_legacy_until == b.audit_legacy_until) == (int(left) == int(right))


def test_a_cross_field_error_never_shows_the_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic words a model-level error with the input's head and tail; the audit key,
    read last from the environment, would show in it."""
    for name in list(os.environ):
        if name.upper().startswith("BROKERPLANE_"):
            monkeypatch.delenv(name)
    secret = "c2VjcmV0LWF1ZGl0LWtleS1zZWNyZXQta2V5"
    monkeypatch.setenv("BROKERPLANE_LOGIN_RANGE_FROM", "10")
    monkeypatch.setenv("BROKERPLANE_LOGIN_RANGE_TO", "5")
    monkeypatch.setenv("BROKERPLANE_AUDIT_KEY", secret)
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings()
    shown = str(caught.value) + repr(caught.value) + repr(caught.value.errors())
    assert "login_range_from must not exceed login_range_to" in shown
    assert not any(secret[i : i + 6] in shown for i in range(len(secret) - 5)), shown
    monkeypatch.delenv("BROKERPLANE_LOGIN_RANGE_TO")
    made = Settings()
    assert made.audit_key is not None and made.audit_key.get_secret_value() == secret
    assert secret not in repr(made) and secret not in str(made)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("read_max_lag_s", 10**400),
        ("webhook_timeout_s", -(10**400)),
        ("port", 10**400),
        ("webhook_hosts", "a\udcffb"),
        ("host", "a\udcffb"),
        ("database_url", "\ud800"),
    ],
    ids=[
        "huge-int-float",
        "huge-negative-float",
        "huge-int",
        "surrogate-bounded-str",
        "surrogate-str",
        "surrogate-url",
    ],
)
def test_what_the_plain_path_cannot_hold_is_pydantics_to_decide(
    name: str, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An int too large for a float is pydantic's error, not an OverflowError; a lone
    surrogate (an undecodable byte in the environment) is refused where pydantic refuses it."""
    for env in list(os.environ):
        if env.upper().startswith(s.ENV_PREFIX):
            monkeypatch.delenv(env)
    assert _built({name: value}) == _outcome({name: value})
