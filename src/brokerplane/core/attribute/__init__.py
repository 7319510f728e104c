"""Attributes: key/value metadata on accounts (cTrader traders), groups and managers."""
