"""Settings: every knob of brokerplane, read from BROKERPLANE_* variables and CLI flags.

Validation is pydantic's: each field's type, bounds and validators make a pydantic model
(`pydantic_model()`), whose errors the CLI and the server show. Building that model and
importing pydantic cost a CLI command about a fifth of its start-up, so a Settings whose values are
all plain (a value for each field that pydantic would take unchanged or convert in the one
obvious way: digits for a number, true/false, a path, a string within its bounds) is built
without it; any other value, and every value pydantic would refuse, goes through the model,
which decides and words the error. tests/unit/test_settings_fast_path.py holds the two ways to
the same result.

The package: spec.py what a field is and where values come from, fields.py the Settings class
(every field, declared once), rules.py the validators both ways run, plain.py the way without
pydantic, model.py the pydantic model.
"""

from __future__ import annotations

from brokerplane.settings.fields import FIELDS, Settings, pydantic_model
from brokerplane.settings.spec import (
    DIALECTS,
    ENV_PREFIX,
    LOG_FORMATS,
    LOG_LEVELS,
    MIN_RETENTION,
    MIN_RETENTION_DAYS,
    environment,
)

__all__ = [
    "DIALECTS",
    "ENV_PREFIX",
    "FIELDS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MIN_RETENTION",
    "MIN_RETENTION_DAYS",
    "Settings",
    "environment",
    "pydantic_model",
]
