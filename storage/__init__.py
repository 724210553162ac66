"""Storage: the engine, the unit of work, the set-based writer, database-error translation."""
