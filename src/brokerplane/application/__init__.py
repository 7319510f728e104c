"""The application layer: the transaction boundary between the dialects and the core's rules.

Dialects, the CLI and the server call `Application` (application.app); each call runs one
command or read of the core in one unit of work, with idempotency and group commit here.
"""
