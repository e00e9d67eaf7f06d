"""CRM benchmarks: demo generation, bulk load and CSV import speed."""
