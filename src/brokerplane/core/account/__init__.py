"""Trading accounts: opening, changing, disabling and reading them."""
