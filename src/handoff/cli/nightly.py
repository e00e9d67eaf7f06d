"""`handoff nightly` (score, alert, digest), `handoff alerts` (list, snooze, resolve) and `handoff loop sync`."""

from __future__ import annotations

import typer

# Exit codes of `handoff nightly`, so cron and CI can tell the outcomes apart without reading JSON.
EXIT_FOR_STATUS = {"ok": 0, "warnings": 0, "degraded": 1, "failed": 3}


def _operator(session, actor: str, contact_data: bool = False):
    """The CLI's view of contact data (`access.disclosure.operator_disclosure`): masked unless asked, then audited."""
    from handoff.access.disclosure import operator_disclosure

    return operator_disclosure(session, actor=f"cli:{actor}", contact_data=contact_data)


def _shown(view, alert):
    """An alert with its free texts as `GET /v1/alerts` masks them."""
    from handoff.alerts.models import FREE_TEXT

    data = view.show(alert.model_dump(), free_text=FREE_TEXT, subject=f"alert:{alert.id}", account_id=alert.account_id)
    return type(alert)(**data)


def _parts():
    from handoff.wiring import build

    parts = build()
    parts.migrate()
    return parts


def register(app: typer.Typer) -> None:
    @app.command("nightly")
    def nightly(
        run_date: str | None = typer.Option(None, "--date", help="As-of date YYYY-MM-DD (default: today, UTC)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Score and decide, but write and send nothing."),
        as_json: bool = typer.Option(False, "--json", help="Print the run record as JSON."),
        engine: str | None = typer.Option(
            None, "--engine", help="local (one process) or dask (partitions on a Dask cluster); default HANDOFF_ENGINE."
        ),
    ) -> None:
        """Score every active account with the champion churn model, update alerts, send each owner one digest.

        Idempotent per date: a second run sends nothing twice and only retries failed channels.
        Cron: `0 2 * * * cd /srv/handoff && .venv/bin/handoff nightly --json >> var/nightly.log 2>&1`.
        """
        from handoff.cli.output import emit_json, parse_day, progress_callback, say
        from handoff.errors import InvalidInput
        from handoff.wiring import nightly_job

        if engine is not None and engine not in ("local", "dask"):
            raise InvalidInput(f"--engine must be local or dask, not {engine!r}")
        parts = _parts()
        try:
            bar = progress_callback(enabled=not as_json)
            run = nightly_job(
                parts, run_date=parse_day(run_date, "--date"), dry_run=dry_run, progress=bar, engine=engine
            )
        finally:
            parts.close()
        if as_json:
            emit_json(run.model_dump(mode="json"))
        else:
            counts = run.counts
            say(
                f"nightly {run.run_date} [{run.status}]{' (dry run)' if dry_run else ''}: "
                f"{counts.get('accounts_scored', 0)} accounts scored with churn model {run.model_version or '-'}, "
                f"{counts.get('alerts_open', 0)} alerts opened, {counts.get('alerts_update', 0)} updated, "
                f"{counts.get('alerts_reopen', 0)} re-opened, {counts.get('digests_composed', 0)} digests, "
                f"{counts.get('deliveries_sent', 0)} sent, {counts.get('deliveries_failed', 0)} failed "
                f"in {run.duration_s:.1f}s"
            )
            for problem in run.problems:
                where = ", ".join(f"{k}={v}" for k, v in problem.items() if k not in ("kind", "detail"))
                say(f"  problem {problem['kind']}: {problem['detail']}{f' ({where})' if where else ''}")
        raise typer.Exit(EXIT_FOR_STATUS.get(run.status, 1))

    alerts_app = typer.Typer(help="Churn-risk alerts: list, snooze, resolve.", no_args_is_help=True)
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("list")
    def list_command(
        owner: str | None = typer.Option(None, "--owner", help="Only this owner's accounts (team member id)."),
        status: str | None = typer.Option(None, "--status", help="open, snoozed or resolved."),
        limit: int = typer.Option(50, "--limit", min=1, max=1000),
        offset: int = typer.Option(0, "--offset"),
        as_json: bool = typer.Option(False, "--json", help="One JSON document per alert (JSON lines)."),
        show_contact_data: bool = typer.Option(
            False, "--show-contact-data", help="Addresses and phone numbers whole (each such read is audited)."
        ),
        actor: str = typer.Option("cli", "--actor", help="Who reads (kept in the audit log)."),
    ) -> None:
        """Alerts, riskiest first; contact data in their texts masked as the API does."""
        from handoff.alerts.service import list_alerts
        from handoff.cli.output import emit_jsonl, say
        from handoff.store.db import transaction

        parts = _parts()
        try:
            with transaction(parts.sessions) as session:  # a whole read's audit line commits with it
                view = _operator(session, actor, show_contact_data)
                found = [
                    _shown(view, alert)
                    for alert in list_alerts(session, owner_id=owner, status=status, limit=limit, offset=offset)
                ]
        finally:
            parts.close()
        for alert in found:
            if as_json:
                emit_jsonl(alert.model_dump(mode="json"))
            else:
                say(
                    f"{alert.id}  {alert.status:<8} {alert.probability:5.0%}  {alert.cause:<9} "
                    f"{alert.account_name or alert.account_id}  owner={alert.owner_id or '-'}  "
                    f"{alert.changes.get('text', '')}"
                )
        if not found and not as_json:
            say("no alerts")

    @alerts_app.command("snooze")
    def snooze_command(
        alert_id: str = typer.Argument(..., help="Alert id."),
        until: str = typer.Option(..., "--until", help="Last quiet day, YYYY-MM-DD."),
        reason: str = typer.Option(..., "--reason", help="Why (kept in the alert's history)."),
        actor: str = typer.Option("cli", "--actor", help="Who snoozes it."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Quiet an alert until a date; a jump in risk lifts the snooze early."""
        from handoff.alerts.service import snooze_alert
        from handoff.cli.output import emit_json, parse_day, say
        from handoff.errors import InvalidInput
        from handoff.store.db import transaction

        end = parse_day(until, "--until")
        if end is None:
            raise InvalidInput("--until is required")
        parts = _parts()
        try:
            with transaction(parts.sessions) as session:
                snoozed = snooze_alert(session, alert_id, until=end, reason=reason, actor=actor)
                alert = _shown(_operator(session, actor), snoozed)
        finally:
            parts.close()
        if as_json:
            emit_json(alert.model_dump(mode="json"))
        else:
            say(f"alert {alert.id} snoozed until {alert.snoozed_until}")

    @alerts_app.command("resolve")
    def resolve_command(
        alert_id: str = typer.Argument(..., help="Alert id."),
        note: str | None = typer.Option(None, "--note", help="What was done."),
        actor: str = typer.Option("cli", "--actor", help="Who resolves it."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Close an alert; the account may raise a new one on a later run."""
        from handoff.alerts.service import resolve_alert
        from handoff.cli.output import emit_json, say
        from handoff.store.db import transaction

        parts = _parts()
        try:
            with transaction(parts.sessions) as session:
                alert = _shown(_operator(session, actor), resolve_alert(session, alert_id, actor=actor, note=note))
        finally:
            parts.close()
        if as_json:
            emit_json(alert.model_dump(mode="json"))
        else:
            say(f"alert {alert.id} resolved")

    @alerts_app.command("runs")
    def runs_command(
        limit: int = typer.Option(10, "--limit", min=1, max=1000), as_json: bool = typer.Option(False, "--json")
    ) -> None:
        """The latest nightly run records."""
        from handoff.alerts.service import list_runs
        from handoff.cli.output import emit_jsonl, say

        parts = _parts()
        try:
            with parts.sessions() as session:
                runs = list_runs(session, limit=limit)
        finally:
            parts.close()
        for run in runs:
            if as_json:
                emit_jsonl(run.model_dump(mode="json"))
            else:
                say(f"{run.run_date} {run.status:<9} {run.counts} problems={len(run.problems)} {run.duration_s}s")

    loop_app = typer.Typer(help="The CRM <-> project loop.", no_args_is_help=True)
    app.add_typer(loop_app, name="loop")

    @loop_app.command("sync")
    def loop_sync(
        run_date: str | None = typer.Option(None, "--date", help="As-of date YYYY-MM-DD (default: today, UTC)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Improvement tasks from low surveys, projects for won deals, progress events (the nightly run does it too)."""
        from handoff.cli.output import emit_json, parse_day, say
        from handoff.clock import today
        from handoff.loop.service import ChampionEstimator, sync_loop

        parts = _parts()
        try:
            as_of = parse_day(run_date, "--date") or today()
            estimator = ChampionEstimator(parts.settings, as_of)
            report = sync_loop(parts.sessions, as_of=as_of, settings=parts.settings.alerts, estimator=estimator)
        finally:
            parts.close()
        if as_json:
            emit_json({"counts": report.counts, "problems": report.problems})
        else:
            say(", ".join(f"{key} {value}" for key, value in report.counts.items()) or "nothing to do")
            for problem in report.problems:
                say(f"  problem {problem['kind']}: {problem['detail']}")
