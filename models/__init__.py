"""The domain: tables, lifecycle, errors and the pure rules."""
