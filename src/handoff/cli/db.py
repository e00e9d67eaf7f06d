"""`handoff db`: create or upgrade the store's schema."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="The store: schema migrations.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("upgrade")
    def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
        """Apply migrations up to REVISION (SQLite under HANDOFF_HOME, or HANDOFF_DATABASE_URL)."""
        from handoff.cli.output import say
        from handoff.settings import Settings
        from handoff.store.migrate import upgrade as run_upgrade

        settings = Settings()
        settings.ensure_home()
        run_upgrade(settings.resolved_database_url, revision)
        say(f"database at {_redacted(settings.resolved_database_url)} is at {revision}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
