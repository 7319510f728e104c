"""Storage: the only package that speaks SQL; SQLite and PostgreSQL behind the core's ports."""
