"""`handoff ledger list|retry|release`: every message that arrived, its status and outcome; failed ones sent back
to work; quarantined (spam) or bulk ones released by a person."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.access.disclosure import Disclosure
    from handoff.intake.ledger import LedgerEntry
    from handoff.wiring import Parts


def register(app: typer.Typer) -> None:
    ledger = typer.Typer(help="The intake ledger: what arrived and what became of it.", no_args_is_help=True)
    app.add_typer(ledger, name="ledger")

    @ledger.command("list")
    def list_command(
        status: str = typer.Option(None, help="A state (received, parsed, processed) or an outcome (failed, ...)."),
        limit: int = typer.Option(50, help="At most this many, newest first."),
        offset: int = typer.Option(0, help="Skip this many."),
        json_output: bool = typer.Option(False, "--json", help="Print one JSON document for scripts."),
        show_contact_data: bool = typer.Option(
            False, "--show-contact-data", help="Addresses and phone numbers whole (each such read is audited)."
        ),
        actor: str = typer.Option("cli", "--actor", help="Who reads (kept in the audit log)."),
    ) -> None:
        """List ledger entries, e.g. `handoff ledger list --status failed`; contact data masked as the API does."""
        from handoff.access.disclosure import operator_disclosure
        from handoff.cli.output import emit_json, say
        from handoff.intake.service import counts, list_entries
        from handoff.store.db import transaction
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        with transaction(parts.sessions) as session:  # a whole read's audit line commits with it
            view = operator_disclosure(session, actor=f"cli:{actor}", contact_data=show_contact_data)
            shown = [_shown(view, entry) for entry in list_entries(session, status, limit, offset)]
            totals = counts(session)
        parts.close()
        if json_output:
            emit_json({"counts": totals, "entries": shown})
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "status", "source", "from", "subject", "reason / error", box=None)
        for entry in shown:
            table.add_row(
                str(entry["id"]),
                entry["display_status"],
                entry["source"],
                entry["sender"] or "",
                (entry["subject"] or "")[:50],
                (entry["reason"] or entry["error"] or "")[:70],
            )
        Console().print(table)
        say(", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "the ledger is empty")

    @ledger.command("retry")
    def retry_command(
        ids: list[int] = typer.Argument(None, help="Ledger ids of failed entries."),
        all_failed: bool = typer.Option(False, "--all-failed", help="Retry every failed entry."),
        process: bool = typer.Option(True, help="Process them now (otherwise a running worker picks them up)."),
        json_output: bool = typer.Option(False, "--json", help="Print one JSON document for scripts."),
    ) -> None:
        """Send failed entries back to the worker: `handoff ledger retry 12 13` or `--all-failed`."""
        from handoff.cli.output import emit_json, say
        from handoff.errors import InvalidInput
        from handoff.intake.service import process_entries, retry
        from handoff.wiring import build

        if bool(ids) == all_failed:
            raise InvalidInput("give ledger ids or --all-failed (one of the two)")
        parts = build()
        parts.migrate()
        retried = retry(parts.sessions, None if all_failed else list(ids))
        if process and retried:
            process_entries(parts, retried)
        results = _outcomes(parts, retried)
        parts.close()
        if json_output:
            emit_json({"retried": retried, "entries": results})
            return
        for entry in results:
            say(f"{entry['id']}: {entry['status']} {entry['reason'] or ''}".rstrip())
        say(f"retried {len(retried)} entr{'y' if len(retried) == 1 else 'ies'}")

    @ledger.command("release")
    def release_command(
        ids: list[int] = typer.Argument(..., help="Ledger ids of spam or bulk entries."),
        actor: str = typer.Option("cli", "--actor", help="Who decides (kept in the audit log)."),
        process: bool = typer.Option(True, help="Process them now (otherwise a running worker picks them up)."),
        json_output: bool = typer.Option(False, "--json", help="Print one JSON document for scripts."),
    ) -> None:
        """Let quarantined or bulk mail through: `handoff ledger release 12` (processed without the spam check)."""
        from handoff.cli.output import emit_json, say
        from handoff.intake.service import process_entries, release
        from handoff.store.db import transaction
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        with transaction(parts.sessions) as session:
            released = release(session, list(ids), actor=f"cli:{actor}")
        if process:
            process_entries(parts, released)
        results = _outcomes(parts, released)
        parts.close()
        if json_output:
            emit_json({"released": released, "entries": results})
            return
        for entry in results:
            say(f"{entry['id']}: {entry['status']} {entry['reason'] or ''}".rstrip())


def _shown(view: Disclosure, entry: LedgerEntry) -> dict[str, Any]:
    """An entry as `GET /v1/ledger` masks it (its `details`, which quote the mail's claims, too)."""
    from handoff.intake.ledger import FREE_TEXT

    return view.show(
        entry.to_dict(), free_text=(*FREE_TEXT, "details"), subject=f"ledger:{entry.id}", account_id=entry.account_id
    )


def _outcomes(parts: Parts, ids: list[int]) -> list[dict[str, Any]]:
    """What became of retried or released entries: id, status and reason, the reason masked (it can echo a header)."""
    from handoff.access.disclosure import operator_disclosure
    from handoff.intake.service import get_entries

    with parts.sessions() as session:
        view = operator_disclosure(session, actor="cli")
        found = get_entries(session, ids)
        shown = [_shown(view, found[i]) for i in ids if i in found]
    return [{"id": e["id"], "status": e["display_status"], "reason": e["reason"] or e["error"]} for e in shown]
