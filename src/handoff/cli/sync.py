"""`handoff sync push`, `pull`, `export`, `import`, `hooks register`: tasks out to Jira, Asana, Trello, changes back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.wiring import Parts

# Exit codes, so cron can tell "all delivered" from "some wait" and "some were refused".
EXIT_OK, EXIT_PENDING, EXIT_FAILED = 0, 1, 4


def register(app: typer.Typer) -> None:
    sync_app = typer.Typer(help="Accepted tasks out to Jira, Asana and Trello (docs/sync.md).", no_args_is_help=True)
    app.add_typer(sync_app, name="sync")

    @sync_app.command("push")
    def push_command(
        target: str | None = typer.Option(None, "--target", help="Only this target: jira, asana or trello."),
        limit: int | None = typer.Option(None, "--limit", min=1, max=10_000, help="At most this many (batch size)."),
        retry_failed: bool = typer.Option(
            False, "--retry-failed", help="Put refused tasks (401/403/404) back first, after fixing the settings."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the outcome of each task as one JSON document."),
    ) -> None:
        """Push every accepted task still pending; a task already in the target (found by its marker) is linked,
        never created twice. Exit 0: all sent; 1: some wait for a retry; 4: some were refused."""
        from handoff.cli.output import emit_json, say
        from handoff.store.db import transaction
        from handoff.sync.mapping_file import mapping_path
        from handoff.sync.outbox import push
        from handoff.sync.outbox import retry_failed as requeue

        with _store(needs_target=True) as parts:
            if retry_failed:
                with transaction(parts.sessions) as session:
                    requeued = requeue(session, target=target)
                if not as_json:
                    say(f"{requeued} refused task(s) back in the queue")
            report = push(
                parts.sessions,
                parts.settings.sync,
                mapping_path=mapping_path(parts.settings),
                target=target,
                limit=limit,
            )
        if as_json:
            emit_json(report.as_dict())
        else:
            for outcome in report.outcomes:
                where = outcome.url or outcome.remote_id or ""
                note = f"  {outcome.error}" if outcome.error else ""
                say(f"{outcome.task_id} → {outcome.target}: {outcome.status} {where}{note}".rstrip())
            counts = report.as_dict()
            say(
                f"sync: {counts['sent']} sent, {counts['pending']} to retry, {counts['failed']} refused, "
                f"{counts['skipped']} skipped"
            )
        if report.count("failed"):
            raise typer.Exit(EXIT_FAILED)
        raise typer.Exit(EXIT_PENDING if report.count("pending") else EXIT_OK)

    @sync_app.command("pull")
    def pull_command(
        target: str | None = typer.Option(None, "--target", help="Only this target: jira, asana or trello."),
        as_json: bool = typer.Option(
            False, "--json", help="Print the outcome of each linked item as one JSON document."
        ),
    ) -> None:
        """Read every linked issue, task or card back and apply its status, assignee and due date (the fallback for
        webhooks a tool did not deliver). Exit 0: all read; 1: some could not be read."""
        from handoff.sync.pullback import pull

        with _store(needs_target=True) as parts:
            report = pull(parts.sessions, parts.settings.sync, target=target)
        _print_read_back(report, as_json, ("applied", "unchanged", "stale", "gone", "failed"))
        raise typer.Exit(EXIT_PENDING if report.counts.get("failed") else EXIT_OK)

    @sync_app.command("export")
    def export_command(
        target: str = typer.Option(..., "--target", help="jira or asana: the tool whose CSV importer reads the file."),
        out: Path | None = typer.Option(None, "--out", help="Write the file here (default: standard output)."),
    ) -> None:
        """Every open task as a CSV file for the tool's own importer (no API access needed); each row carries the
        handoff marker, so `handoff sync import` knows the tool's export of it again."""
        from handoff.cli.output import say
        from handoff.sync.file_store import export_tasks

        with _store(needs_target=False) as parts:
            text, count = export_tasks(parts.sessions, parts.settings.sync, target)
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8", newline="")
            say(f"{count} task(s) written to {out} for {target}'s CSV importer")

    @sync_app.command("import")
    def import_command(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The tool's export of its items."),
        target: str = typer.Option(..., "--target", help="jira (CSV), asana (CSV) or trello (board JSON)."),
        as_json: bool = typer.Option(False, "--json", help="Print the outcome of each item as one JSON document."),
    ) -> None:
        """Apply a tool's export (Jira's or Asana's CSV export, Trello's JSON board export) like `sync pull`: each
        handoff item's status, assignee and due date reach its task, and the task is linked to the item."""
        from handoff.errors import InvalidInput
        from handoff.sync.file_store import import_export

        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(f"{file} is not UTF-8 text") from None
        with _store(needs_target=False) as parts:
            report = import_export(parts.sessions, parts.settings.sync, target, text)
        _print_read_back(report, as_json, ("applied", "unchanged", "stale", "unlinked"))

    hooks_app = typer.Typer(help="The tools' webhooks to this service (docs/sync.md, Webhooks).", no_args_is_help=True)
    sync_app.add_typer(hooks_app, name="hooks")

    @hooks_app.command("register")
    def register_command(
        target: str | None = typer.Option(None, "--target", help="Only this target: jira, asana or trello."),
        as_json: bool = typer.Option(False, "--json", help="Print each target's registration as one JSON document."),
    ) -> None:
        """Register each configured tool's webhook to <HANDOFF_SYNC__PUBLIC_URL>/v1/hooks/<tool>; a hook already there
        is reused, so running it again makes nothing twice. The service must be up and reachable: Asana makes its
        handshake and Trello its HEAD check while the hook is made. Exit 0: all registered; 4: some failed."""
        from handoff.cli.output import emit_json, say
        from handoff.sync.registration import register_hooks

        with _store(needs_target=True) as parts:
            results = register_hooks(parts.sessions, parts.settings.sync, target=target)
        if as_json:
            emit_json({"hooks": [result.as_dict() for result in results]})
        else:
            for result in results:
                if result.outcome == "failed":
                    say(f"{result.target}: failed  {result.detail}")
                else:
                    said = "registered" if result.outcome == "created" else "already registered, reused"
                    say(f"{result.target}: {said} (hook {result.hook_id}) → {result.url}")
        raise typer.Exit(EXIT_FAILED if any(result.outcome == "failed" for result in results) else EXIT_OK)


@contextmanager
def _store(*, needs_target: bool) -> Iterator[Parts]:
    """The store, migrated, for one sync command; a clear error first when it needs a target and none is configured."""
    from handoff.errors import InvalidInput
    from handoff.wiring import build

    parts = build()
    try:
        if needs_target and not parts.settings.sync.targets():
            raise InvalidInput("no sync target is configured (HANDOFF_SYNC__JIRA__*, __ASANA__*, __TRELLO__*)")
        parts.migrate()
        yield parts
    finally:
        parts.close()


def _print_read_back(report, as_json: bool, outcomes: tuple[str, ...]) -> None:
    """What `sync pull` or `sync import` applied: a line per task and the counts, or the JSON report."""
    from handoff.cli.output import emit_json, say

    counts = report.as_dict()
    if as_json:
        emit_json(counts)
        return
    for item in report.items:
        note = f"  {item['error']}" if item.get("error") else ""
        say(f"{item['task_id']} ← {item['target']}: {item['outcome']}{note}")
    say(", ".join(f"{counts.get(name, 0)} {name}" for name in outcomes))
