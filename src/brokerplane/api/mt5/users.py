"""MT5 users commands."""
