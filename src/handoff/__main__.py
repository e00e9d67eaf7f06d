"""`python -m handoff` runs the CLI."""

from handoff.cli.main import run

if __name__ == "__main__":
    run()
