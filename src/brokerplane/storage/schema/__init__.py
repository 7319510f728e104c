"""The schema by noun (matching storage/repositories/): SQLAlchemy Core tables, one module a
noun. `brokerplane.storage.tables` gathers them; Alembic revisions must match them."""
