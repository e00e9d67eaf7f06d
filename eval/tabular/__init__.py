"""tabular numbers."""
