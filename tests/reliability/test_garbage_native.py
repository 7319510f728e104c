"""Garbage against the native API: schemathesis generates requests from the OpenAPI document
the app serves, valid and invalid, for every operation; no answer may be a 5xx and every
answer must be one the document describes (status, content type, body, headers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis.errors import Unsatisfiable
from hypothesis.internal.conjecture import engine as hypothesis_engine
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from tests.dialects.native import conftest as native
from tests.dialects.native.conftest import Api
from tests.reliability.garbage_support import (
    Books,
    check_books,
    garbage_runtime,
    garbage_settings,
    no_server_errors,
    tally_for,
)

# The native tests' `api` fixture (a key with every scope), over the runtime below.
api = native.api


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    yield from garbage_runtime(database_url, tmp_path)


# What every answer must satisfy: no 5xx; a status, content type, body and headers the document
# describes; and input the document forbids refused with a 4xx. Left out: positive data
# acceptance, because a request the document allows may still be refused with a documented 400
# (a cursor the API never returned, "XYZ" as a currency, an empty group name): the document
# describes shapes, the services judge values.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


# Hypothesis gives up on a strategy (Unsatisfiable) once it is 99% sure fewer than 1 draw in
# 100 is valid: 458 draws with none valid. A dozen operations have no invalid input to make (a
# path of free text, no parameters at all), and proving it so cost most of this test's time.
# 99% sure of fewer than 1 in 20 takes 89 draws: with the derandomized profile the same
# operations are found impossible and the others send the same requests as with 458.
GIVE_UP_AFTER = 89


def _is_money(method: str, path: str) -> bool:
    return method == "POST" and ("/balances/" in path or path.endswith("/approve"))


def test_native_openapi_garbage(
    api: Api, admin: Actor, summary: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hypothesis_engine, "INVALID_THRESHOLD_BASE", GIVE_UP_AFTER)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    # The document declares the bearer key scheme; every call here sends a valid key, so the
    # credential is not part of the garbage (a "bad" Authorization would not be sent).
    schema.config.generation.update(with_security_parameters=False)
    before = Books.read(api.runtime, admin)
    auth = api.headers()
    tally = tally_for("native", api.runtime)
    failures: list[str] = []
    impossible: list[str] = []  # operations the mode cannot make input for
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document itself is broken here
            raise result.err()
        operation = result.ok()
        for mode in GenerationMode:
            # filter_too_much: for a plain string in a path there is hardly any invalid value.
            # A quarter of the profile's examples: there are about 40 operations in two modes.
            @garbage_settings(scale=0.25, suppress=(HealthCheck.filter_too_much,))
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: schemathesis.Case[Any]) -> None:
                response = case.call(headers=auth)
                tally.count(case.method, case.formatted_path, response.status_code)
                case.validate_response(response, checks=CHECKS, headers=auth)

            try:
                exercise()
            except Unsatisfiable:
                impossible.append(f"{operation.label} [{mode.value}]")
            except (Exception, BaseExceptionGroup) as err:  # every operation runs before failing
                failures.append(f"{operation.label} [{mode.value}]: {err}")
    tally.report(summary, f"no input possible for {len(impossible)}: {', '.join(impossible)}")
    assert not failures, "\n\n".join(failures)
    no_server_errors(tally)
    check_books(api.runtime, admin, before, tally.acknowledged(_is_money))
