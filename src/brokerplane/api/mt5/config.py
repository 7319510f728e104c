"""MT5 config commands."""
