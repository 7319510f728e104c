"""Audit: the append-only, hash-chained record of who changed what."""
