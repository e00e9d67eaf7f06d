"""Web app benchmarks."""
