"""The `brokerplane` command line: serve, db, demo, manager, key and audit commands."""
