"""Pure domain logic: no network, database, clock or environment reads."""
