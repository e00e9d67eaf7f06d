"""The `handoff` command line: one module per noun, heavy imports inside commands."""
