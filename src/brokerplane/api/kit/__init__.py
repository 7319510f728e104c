"""What every dialect shares and none owns: idempotency wiring, the held-operation wording."""
