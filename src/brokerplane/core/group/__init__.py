"""Groups: the templates trading accounts inherit (currency, leverage, margin, password policy)."""
