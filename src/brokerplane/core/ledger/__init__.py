"""The ledger: money movements on accounts."""
