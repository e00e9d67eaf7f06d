"""alerts numbers."""
