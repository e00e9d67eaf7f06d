"""models numbers."""
