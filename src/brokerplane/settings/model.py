"""The settings' pydantic model: what validates, and words the error of, any value the plain
path (settings.plain) does not take. Importing pydantic and building the model cost a CLI
command about a fifth of its start-up, so both wait for the first value that needs them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brokerplane.settings.rules import BLANK_IS_UNSET, FIELD_VALIDATORS, check_together
from brokerplane.settings.spec import Spec

if TYPE_CHECKING:
    from pydantic import BaseModel


def _classmethod_of(rule: Callable[[str], str]) -> Callable[[type, str], str]:
    def validate(cls: type, value: str) -> str:
        return rule(value)

    return validate


def build_model(specs: Mapping[str, Spec]) -> type[BaseModel]:
    """The pydantic model of the fields `specs` declares (settings.fields caches it)."""
    from pydantic import (
        ConfigDict,
        Field,
        SecretStr,
        create_model,
        field_validator,
        model_validator,
    )

    def blank_is_unset(cls: type, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def check(model: BaseModel) -> BaseModel:
        check_together(model.__dict__)
        return model

    validators: dict[str, Any] = {
        "_blank_is_unset": field_validator(*BLANK_IS_UNSET, mode="before")(blank_is_unset),
        "_together": model_validator(mode="after")(check),
    }
    for name, rule in FIELD_VALIDATORS.items():
        validators[f"_{name}"] = field_validator(name)(_classmethod_of(rule))
    namespace = {"Path": Path, "Decimal": Decimal, "SecretStr": SecretStr}
    fields: dict[str, Any] = {
        name: (
            eval(spec.annotation, namespace),  # our own annotations
            Field(spec.default, description=spec.description, **spec.bounds),
        )
        for name, spec in specs.items()
    }
    model: type[BaseModel] = create_model(
        "Settings",
        __config__=ConfigDict(extra="ignore", validate_default=True, allow_inf_nan=False),
        __validators__=validators,
        __module__="brokerplane.settings",
        **fields,
    )
    return model


def secrets_hidden(given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` with the audit key as a SecretStr: pydantic words a cross-field error with the
    whole input (`input_value={...}`, its head and tail), which must not show the key."""
    key = given.get("audit_key")
    if not isinstance(key, str):
        return dict(given)
    from pydantic import SecretStr

    return {**given, "audit_key": SecretStr(key)}
