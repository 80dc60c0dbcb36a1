"""Persistent storage: SQLAlchemy 2 models and Alembic migrations (SQLite or PostgreSQL)."""
