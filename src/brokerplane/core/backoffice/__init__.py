"""The back office of TraderEvolution's nouns: brandings, plans, account presets, users with
their accounts and statuses, back-office sessions and users' webhook keys."""
