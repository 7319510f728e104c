"""Symbols: instrument settings shared by every dialect."""
