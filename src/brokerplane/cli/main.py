"""The `brokerplane` command: the root group, which loads each command's module only when it
runs, so `brokerplane --help` (and every command's start-up) pays only for what it uses.

Each command group lives in a module of its own, named after it (cli/serve.py, cli/db.py with
cli/dbcreate.py, cli/manager.py, cli/key.py, ...); what several share is cli/common.py. The
server that `serve` runs is the server package.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from brokerplane.cli.common import BrokerplaneGroup

# name -> (module, attribute, the line `brokerplane --help` shows)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("brokerplane.cli.serve", "serve", "Migrate the database to head and serve the API."),
    "backup": (
        "brokerplane.cli.backup",
        "backup",
        "Copy the SQLite database to FILE while the server runs, then verify the copy.",
    ),
    "db": (
        "brokerplane.cli.db",
        "db",
        "Schema migrations: create, upgrade, current revision, drift check.",
    ),
    "demo": (
        "brokerplane.cli.demo",
        "demo",
        "Migrate and load the demo data once; print its secrets.",
    ),
    "manager": (
        "brokerplane.cli.manager",
        "manager",
        ("Back-office managers: their rights, reach and password (the owners of API keys)."),
    ),
    "key": ("brokerplane.cli.key", "key", "Native API keys: create, list, rotate, revoke."),
    "audit": (
        "brokerplane.cli.audit",
        "audit",
        "The keyed, hash-chained audit trail: verify, checkpoint, rotate the key.",
    ),
    "ledger": ("brokerplane.cli.ledger", "ledger", "The ledger of money operations."),
    "approvals": (
        "brokerplane.cli.approvals",
        "approvals",
        "Approval of high-value money operations.",
    ),
    "maintenance": (
        "brokerplane.cli.maintenance",
        "maintenance",
        "Purge expired request ids and old events; expire overdue approvals.",
    ),
    "events": (
        "brokerplane.cli.events",
        "events_group",
        ("The event feed CRMs read (GET /v1/events): every committed change, in commit order."),
    ),
    "quotes": (
        "brokerplane.cli.quotes",
        "quotes",
        "Quotes: feed them from a file or stdin, list the latest.",
    ),
    "tls": (
        "brokerplane.cli.tls",
        "tls_group",
        "Certificates for the HTTPS listener (brokerplane serve --mt5-tls-port).",
    ),
}


class LazyGroup(BrokerplaneGroup):
    """Lists COMMANDS from the table above and imports a command's module when it is run (or
    its own --help is asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="brokerplane", prog_name="brokerplane")
def main() -> None:
    """brokerplane: the open management plane for brokers.

    Settings come from BROKERPLANE_* environment variables; flags override them.
    """


def __getattr__(name: str) -> Any:
    """`from brokerplane.cli.main import uvicorn_config` (and mt5_tcp_server, serve) as before
    the commands and the server moved to modules of their own."""
    if name in ("uvicorn_config", "mt5_tcp_server"):
        from brokerplane.server import listeners

        return getattr(listeners, name)
    if name == "serve":
        from brokerplane.cli import serve as serve_module

        return serve_module.serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    main()
