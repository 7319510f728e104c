"""MT5 trade commands."""
