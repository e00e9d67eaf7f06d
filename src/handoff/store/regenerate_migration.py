"""Rewrites the initial migration from the current schema (`make migration`), while no release has shipped.

Until the first release every table change is folded into `0001_initial`; after it, use
`alembic revision --autogenerate` for additive revisions instead.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from handoff.store.migrate import alembic_config

VERSIONS = Path(__file__).parent / "migrations" / "versions"


def main() -> None:
    for old in VERSIONS.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        config = alembic_config(f"sqlite:///{tmp}/empty.db")
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
    generated = next(VERSIONS.glob("0001_*.py"))
    target = VERSIONS / "0001_initial.py"
    generated.rename(target)
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(target)], check=False)
    subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--quiet", str(target)], check=False)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
