"""The reference pages, generated from the code at build time (tools/docs/hooks.py), so they
cannot drift: every setting of brokerplane.settings.Settings, the --help of every command, every
core error in each dialect's error table, the scopes, and the native API's OpenAPI document.

    python tools/docs/reference.py cli        # print one page (cli, configuration, errors,
                                              # scopes, openapi) to check it by eye
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

GENERATED = "<!-- generated from the code by tools/docs/reference.py at build time: do not edit -->"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------- configuration


def settings_rows() -> list[dict[str, str]]:
    from pydantic_core import PydanticUndefined

    from brokerplane.settings import ENV_PREFIX as prefix
    from brokerplane.settings import Settings

    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is PydanticUndefined:
            shown = "(required)"
        elif default is None:
            shown = "unset"
        elif default == "":
            shown = '""'
        else:
            shown = str(getattr(default, "get_secret_value", lambda d=default: d)())
        kind = getattr(field.annotation, "__name__", None) or str(field.annotation)
        rows.append(
            {
                "name": name,
                "env": (prefix + name).upper(),
                "type": kind.replace("typing.", ""),
                "default": shown,
                "description": field.description or "",
            }
        )
    return rows


def configuration_page() -> str:
    lines = [
        "# Configuration",
        "",
        GENERATED,
        "",
        (
            "Every setting is an environment variable (`BROKERPLANE_` and the name in capitals); "
            "the `serve` command's flags override some of them ([Command line](cli.md)). What the "
            "settings mean together, and the values production needs, is in "
            "[Running in production](../production.md)."
        ),
        "",
        "| variable | type | default | what |",
        "|---|---|---|---|",
    ]
    for row in settings_rows():
        lines.append(
            f"| `{row['env']}` | {_cell(row['type'])} | `{_cell(row['default'])}` | "
            f"{_cell(row['description'])} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- command line


def commands() -> Iterator[tuple[list[str], Any]]:
    """(path, click command) of every command and group, depth first, in declaration order."""
    import click

    from brokerplane.cli.main import main

    def walk(path: list[str], cmd: click.Command) -> Iterator[tuple[list[str], Any]]:
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(click.Context(cmd)):
                sub = cmd.get_command(click.Context(cmd), name)
                if sub is not None and not sub.hidden:
                    yield from walk([*path, name], sub)

    yield from walk([], main)


def help_text(path: list[str]) -> str:
    from click.testing import CliRunner

    from brokerplane.cli.main import main

    result = CliRunner().invoke(
        main, [*path, "--help"], prog_name="brokerplane", terminal_width=100
    )
    if result.exit_code != 0:
        raise RuntimeError(f"brokerplane {' '.join(path)} --help failed: {result.output}")
    return result.output.rstrip()


def cli_page() -> str:
    lines = [
        "# Command line",
        "",
        GENERATED,
        "",
        (
            "Every command takes `--database-url` and `--data-dir` (or their `BROKERPLANE_` "
            "variables, [Configuration](configuration.md)) and acts as the system: audit records "
            "name the operator `brokerplane-cli`. Errors print one line with their code and exit "
            "2; checks that find a problem exit 1. Below is the `--help` of every command."
        ),
        "",
    ]
    for path, _cmd in commands():
        title = " ".join(["brokerplane", *path])
        lines += [f"## `{title}`", "", "```text", help_text(path), "```", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- errors


def error_rows() -> list[dict[str, str]]:
    from brokerplane.api.ctrader.errors import ERROR_TABLE as CTRADER
    from brokerplane.api.mt5.errors import ERROR_TABLE as MT5
    from brokerplane.api.mt5.errors import retcode
    from brokerplane.api.native.errors import ERROR_TABLE as NATIVE
    from brokerplane.api.traderevolution.errors import ERROR_TABLE as TE
    from brokerplane.core.errors import all_error_classes

    def find(table: dict[type, Any], cls: type) -> Any:
        for base in cls.__mro__:
            if base in table:
                return table[base]
        return None

    rows = []
    order = {cls: i for i, cls in enumerate(NATIVE)}
    for cls in sorted(all_error_classes(), key=lambda c: (order.get(c, 10**6), c.__name__)):
        native, mt5, ctrader, te = (find(t, cls) for t in (NATIVE, MT5, CTRADER, TE))
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        rows.append(
            {
                "error": cls.__name__,
                "code": getattr(cls, "code", ""),
                "what": doc,
                "native": f"{native[0]} {native[1]}" if native else "",
                "mt5": retcode(mt5) if mt5 is not None else "",
                "ctrader": f"{ctrader[0]} {ctrader[1]}" if ctrader else "",
                "traderevolution": f"{te[0]} {te[1]}" if te else "",
            }
        )
    return rows


def errors_page() -> str:
    lines = [
        "# Error codes",
        "",
        GENERATED,
        "",
        (
            "Every error a caller can cause is a core error with a stable dotted `code`; each "
            "dialect answers it in its own words. The native API answers "
            "`application/problem+json` with `code` ([The native API](../dialects/native.md)); MT5 "
            "a `retcode` (HTTP 200, or 403 for the sign-in errors); cTrader "
            '`{"error": {"errorCode", "description"}}`; TraderEvolution '
            '`{"errorCode", "errorMessage"}`. A row names the most specific mapping; a dialect '
            "page may say more about when each is answered."
        ),
        "",
        "| error | code | native | MT5 | cTrader | TraderEvolution | what |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in error_rows():
        lines.append(
            f"| `{r['error']}` | `{r['code']}` | {_cell(r['native'])} | {_cell(r['mt5'])} | "
            f"{_cell(r['ctrader'])} | {_cell(r['traderevolution'])} | {_cell(r['what'])} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- scopes


def scopes() -> tuple[str, ...]:
    from brokerplane.core.actor import SCOPES

    return SCOPES


def scope_routes() -> dict[str, list[str]]:
    """Native routes by the scopes their OpenAPI operation names (x-scopes or its text)."""
    spec = openapi_document()
    found: dict[str, list[str]] = {s: [] for s in scopes()}
    for path, methods in sorted(spec.get("paths", {}).items()):
        for method, op in methods.items():
            if not isinstance(op, dict):
                continue
            text = " ".join(str(op.get(k, "")) for k in ("summary", "description"))
            declared = op.get("x-scopes") or ()  # from the route's commands (core.actor.needs)
            for scope in scopes():
                named = f"`{scope}`" in text or f" {scope}" in text or f"{scope}," in text
                if scope in declared or named:
                    found[scope].append(f"`{method.upper()} {path}`")
    return found


def scopes_page() -> str:
    lines = [
        "# Scopes",
        "",
        GENERATED,
        "",
        (
            "A native API key holds scopes, each a right of its manager; MT5, cTrader and "
            "TraderEvolution sign-ins act with all of the manager's rights. What each allows, and "
            "how reach narrows it, is in [Managers, rights and reach](../concepts/reach.md). "
            "`admin` implies every other scope."
        ),
        "",
        "| scope | native routes that declare it (`x-scopes`) or whose description names it |",
        "|---|---|",
    ]
    routes = scope_routes()
    for scope in scopes():
        shown = ", ".join(routes[scope][:40]) or "—"
        lines.append(f"| `{scope}` | {shown} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- OpenAPI


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The native app's OpenAPI document, from an app over a throwaway SQLite database.

    Built once per process (cached): every page that needs it shares the one document.
    """
    from brokerplane import bootstrap
    from brokerplane.api.app import create_app
    from brokerplane.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        saved = {k: v for k, v in os.environ.items() if k.startswith("BROKERPLANE_")}
        for k in saved:
            del os.environ[k]
        try:
            settings = Settings(
                data_dir=Path(tmp),
                database_url=f"sqlite:///{tmp}/openapi.db",
                audit_key="00" * 32,
            )
        finally:
            os.environ.update(saved)
        runtime = bootstrap.build(settings, provision_key=False)
        try:
            spec: dict[str, Any] = create_app(runtime).openapi()
        finally:
            runtime.close()
    return spec


def _schema_name(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items'))}"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_schema_name(s) or s.get("type", "") for s in schema[key])
    return str(schema.get("type", ""))


def openapi_page() -> str:
    spec = openapi_document()
    lines = [
        "# OpenAPI (native API)",
        "",
        GENERATED,
        "",
        (
            f"The native API's OpenAPI {spec.get('openapi', '')} document, as the server serves it "
            "at `/openapi.json` (and browses it at `/docs`). The document itself is "
            "[openapi.json](openapi.json), written at build time; every route and schema is below."
        ),
        "",
    ]
    for path, methods in sorted(spec.get("paths", {}).items()):
        for method, op in methods.items():
            if not isinstance(op, dict):
                continue
            lines += [f"## `{method.upper()} {path}`", ""]
            if op.get("summary"):
                lines += [_cell(op["summary"]), ""]
            if op.get("description"):
                lines += [op["description"].strip(), ""]
            params = op.get("parameters", [])
            if params:
                lines += ["| parameter | in | required | type | what |", "|---|---|---|---|---|"]
                for p in params:
                    lines.append(
                        f"| `{p.get('name')}` | {p.get('in')} | "
                        f"{'yes' if p.get('required') else 'no'} | "
                        f"{_cell(_schema_name(p.get('schema')))} | "
                        f"{_cell(p.get('description', ''))} |"
                    )
                lines.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                lines += [f"Body ({media}): {_schema_name(content.get('schema'))}", ""]
            responses = op.get("responses", {})
            if responses:
                lines += ["| status | what | body |", "|---|---|---|"]
                for status, resp in responses.items():
                    content = resp.get("content", {})
                    first: dict[str, Any] = next(iter(content.values()), {})
                    schema = first.get("schema") if content else None
                    lines.append(
                        f"| {status} | {_cell(resp.get('description', ''))} | "
                        f"{_cell(_schema_name(schema))} |"
                    )
                lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        lines += [f"### {name}", ""]
        if schema.get("description"):
            lines += [schema["description"].strip(), ""]
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        if props:
            lines += ["| field | type | required | what |", "|---|---|---|---|"]
            for field, prop in props.items():
                lines.append(
                    f"| `{field}` | {_cell(_schema_name(prop))} | "
                    f"{'yes' if field in required else 'no'} | "
                    f"{_cell(prop.get('description', ''))} |"
                )
            lines.append("")
    return "\n".join(lines) + "\n"


def openapi_json() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"


PAGES = {
    "reference/configuration.md": configuration_page,
    "reference/cli.md": cli_page,
    "reference/errors.md": errors_page,
    "reference/scopes.md": scopes_page,
    "reference/openapi.md": openapi_page,
}


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "cli"
    if name == "openapi.json":
        print(openapi_json(), end="")
    else:
        print(PAGES[f"reference/{name}.md"](), end="")
