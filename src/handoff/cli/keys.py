"""`handoff keys`: create (shown once), list and revoke the API keys the service accepts."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="API keys with roles: admin, pm, sales, account_owner, integration.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(
        role: str = typer.Option(..., "--role", help="admin, pm, sales, account_owner or integration."),
        name: str | None = typer.Option(None, "--name", help="A label to recognise the key by."),
        owner: str | None = typer.Option(
            None, "--owner", help="Team member id the key acts for (required for account_owner)."
        ),
        expires: str | None = typer.Option(
            None, "--expires", help="30d, 12h, 2w, or a date (valid through that day, UTC); default: never."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Create a key and print it once; only its hash is stored."""
        from handoff.access.keys import create_key, parse_expiry
        from handoff.errors import InvalidInput
        from handoff.store.db import transaction
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        with transaction(parts.sessions) as session:
            if owner is not None and not _is_team_member(session, owner):
                raise InvalidInput(f"no team member {owner!r} in the CRM: --owner takes a team_members id")
            expires_at = parse_expiry(expires) if expires else None
            key, record = create_key(session, role=role, name=name, owner_id=owner, expires_at=expires_at)
        _show_new_key(key, record, as_json)

    @keys.command("list")
    def list_(
        include_revoked: bool = typer.Option(False, "--all", help="Include revoked keys."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """The keys (never the keys themselves: id, name, role, owner, prefix)."""
        from dataclasses import asdict

        from handoff.access.keys import list_keys
        from handoff.cli.output import emit_json
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        with parts.sessions() as session:
            found = list_keys(session, include_revoked=include_revoked)
        if as_json:
            emit_json([asdict(k) for k in found])
            return
        for k in found:
            typer.echo(f"{k.id}  {k.prefix}…  {k.role:<13} {k.name}  owner={k.owner_id or '-'}  {k.state()}")

    @keys.command("rotate")
    def rotate(
        key_id: str = typer.Argument(..., help="The key's id (or its printed prefix)."),
        grace: str | None = typer.Option(
            None, "--grace", help="Keep the old key working this long (e.g. 1h, 1d) while clients move; default: 0."
        ),
        expires: str | None = typer.Option(
            None, "--expires", help="The new key's expiry; default: the old key's lifetime, or never."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """A new secret for the same name, role and owner, printed once; the old key is revoked (or expires)."""
        from datetime import timedelta

        from handoff.access.keys import parse_expiry, parse_span, rotate_key
        from handoff.store.db import transaction
        from handoff.wiring import build

        grace_span = parse_span(grace) if grace else timedelta(0)
        expires_at = parse_expiry(expires) if expires else None
        parts = build()
        parts.migrate()
        with transaction(parts.sessions) as session:
            key, record, old = rotate_key(session, key_id, grace=grace_span, expires_at=expires_at)
        _show_new_key(key, record, as_json, replaced=old)

    @keys.command("revoke")
    def revoke(
        key_id: str = typer.Argument(..., help="The key's id (or its printed prefix)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Revoke a key; the service refuses it within a few seconds."""
        from dataclasses import asdict

        from handoff.access.keys import revoke_key
        from handoff.cli.output import emit_json, say
        from handoff.store.db import transaction
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        with transaction(parts.sessions) as session:
            record = revoke_key(session, key_id)
        if as_json:
            emit_json(asdict(record))
            return
        say(f"revoked {record.id} ({record.name})")


def _show_new_key(key: str, record, as_json: bool, replaced=None) -> None:
    """The key's one appearance: on stdout (or in the JSON), never again; the rest is said on stderr."""
    from handoff.cli.output import emit_json, say

    expires = record.expires_at.isoformat() + "Z" if record.expires_at else None
    if as_json:
        document = {"key": key, "id": record.id, "name": record.name, "role": record.role, "owner_id": record.owner_id}
        document["expires_at"] = expires
        if replaced is not None:
            document["replaced"] = {"id": replaced.id, "state": replaced.state()}
        emit_json(document)
        return
    typer.echo(key)
    until = f", expires {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else ""
    say(f"[dim]{record.role} key {record.name!r} (id {record.id}{until}); store it now, it is not shown again[/dim]")
    if replaced is not None:
        say(f"[dim]replaces {replaced.id}: {replaced.state()}[/dim]")


def _is_team_member(session, member_id: str) -> bool:
    from sqlalchemy import select

    from handoff.store.crm_tables import CRM_TABLES

    members = CRM_TABLES["team_members"]
    return session.execute(select(members.c.id).where(members.c.id == member_id)).first() is not None
