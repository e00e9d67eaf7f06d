"""intake numbers."""
