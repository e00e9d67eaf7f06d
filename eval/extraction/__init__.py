"""extraction numbers."""
