"""api numbers."""
