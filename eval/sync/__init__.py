"""Sync benchmarks."""
