"""`handoff up` (what `make run` calls): prepare store and models, then serve API, SMTP inbox, worker, scheduler."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        accounts: int | None = typer.Option(
            None,
            "--accounts",
            envvar="HANDOFF_UP_ACCOUNTS",
            min=10,
            help="Demo history size on first start (default: the full demo, 3000 accounts).",
        ),
        train: bool = typer.Option(True, "--train/--no-train", help="Train the models when no champion exists."),
        scheduler: bool = typer.Option(
            True, "--scheduler/--no-scheduler", help="Run the nightly churn job in-process (HANDOFF_SCHEDULER)."
        ),
        worker: bool = typer.Option(True, "--worker/--no-worker", help="Run the ingest worker in-process."),
    ) -> None:
        """Migrate, load the demo CRM on first start, train if needed, make a first admin key, and serve everything."""
        from handoff.cli.output import say
        from handoff.settings import Settings
        from handoff.wiring import build

        settings = Settings()
        parts = build(settings)
        say(f"[bold]handoff[/bold] — home {settings.resolved_home}")
        say("1/4 migrating the store …")
        parts.migrate()
        _ensure_demo(parts, accounts)
        if train:
            _ensure_models(parts)
        admin_key = _ensure_admin_key(parts)
        admin_link = _ensure_admin_user(parts)
        serve(parts, admin_key=admin_key, admin_link=admin_link, scheduler=scheduler, worker=worker)


def _ensure_demo(parts, accounts: int | None) -> None:
    from handoff.cli.output import say
    from handoff.crm.service import crm_is_empty, ensure_demo_data, load_demo_data

    if not crm_is_empty(parts.engine):
        say("2/4 CRM data present")
        return
    say(f"2/4 loading the demo CRM history ({accounts or 'default'} accounts) — first start only …")
    if accounts is None:
        ensure_demo_data(parts.engine)
    else:
        load_demo_data(parts.engine, accounts=accounts, replace=True)


def _ensure_models(parts) -> None:
    from handoff.cli.output import say
    from handoff.risk.registry import MODEL_NAMES, champion_version

    missing = tuple(name for name in MODEL_NAMES if champion_version(parts.settings, name) is None)
    if not missing:
        say("3/4 champion models present")
        return
    from handoff.cli.output import progress_callback
    from handoff.risk.training import train_all

    say(f"3/4 training {', '.join(missing)} on the CRM history (first start only; a minute or two) …")
    # Cards go under HANDOFF_HOME: bringing the system up must not rewrite the committed `models/` cards
    # (`handoff train` does, on purpose).
    cards = parts.settings.resolved_home / "models"
    result = train_all(parts, source="database", progress=progress_callback(), models=missing, cards_dir=cards)
    for name, outcome in result["models"].items():
        say(f"    {name}: version {outcome['version']}{' (champion)' if outcome['promoted'] else ''}")
    for name, reason in result["skipped"].items():
        say(f"    {name}: not trained ({reason}); its routes answer 503 until `handoff train` can")
    say(f"    model cards: {cards}")


def _ensure_admin_key(parts) -> str | None:
    """A first admin key when none exists; it is printed once, here, and never again."""
    from handoff.access.keys import create_key, has_active_admin
    from handoff.store.db import transaction

    with transaction(parts.sessions) as session:
        if has_active_admin(session):
            return None
        key, _ = create_key(session, role="admin", name="first-admin")
    return key


def _ensure_admin_user(parts) -> str | None:
    """A first admin person for the web app when none exists: their one-time sign-in link, printed once."""
    from datetime import timedelta

    from handoff.access.users import has_admin, invite
    from handoff.cli.users import sign_in_link
    from handoff.store.db import transaction

    with transaction(parts.sessions) as session:
        if has_admin(session):
            return None
        ttl = timedelta(hours=parts.settings.web.link_hours)
        token, _ = invite(session, email="admin@handoff.local", role="admin", name="First admin", link_ttl=ttl)
    return sign_in_link(parts.settings, token)


def serve(
    parts, *, admin_key: str | None, admin_link: str | None = None, scheduler: bool = True, worker: bool = True
) -> None:
    """Uvicorn in this thread; the SMTP inbox, ingest worker and nightly scheduler beside it; all stop together."""
    import threading

    import uvicorn

    from handoff.api.app import create_app
    from handoff.cli.output import say

    settings = parts.settings
    for warning in settings.warnings():  # a setting that works but leaves a door open: said at every start
        say(f"[yellow]warning:[/yellow] {warning}")
    stop = threading.Event()
    started: list = []
    from handoff.intake.sources.smtp import smtp_inbox

    inbox = smtp_inbox(parts)
    inbox.start()
    started.append(inbox.stop)
    if worker:
        from handoff.intake.service import run_worker

        thread = threading.Thread(target=run_worker, args=(parts, stop), name="handoff-worker", daemon=True)
        thread.start()
        started.append(lambda: thread.join(15))
    if settings.sync.targets():
        from handoff.sync.mapping_file import mapping_path
        from handoff.sync.outbox import run_pusher

        pushing = (parts.sessions, settings.sync, mapping_path(settings), stop)
        pusher = threading.Thread(target=run_pusher, args=pushing, name="handoff-sync", daemon=True)
        pusher.start()
        started.append(lambda: pusher.join(15))
        from handoff.sync.pullback import run_puller

        pulling = (parts.sessions, settings.sync, stop)
        puller = threading.Thread(target=run_puller, args=pulling, name="handoff-sync-pull", daemon=True)
        puller.start()
        started.append(lambda: puller.join(15))
    from handoff.events.delivery import run_deliverer

    # Always on: it only reads the outbox until someone subscribes (`POST /v1/hooks/subscriptions`).
    delivering = (parts.sessions, settings.hooks, stop)
    deliverer = threading.Thread(target=run_deliverer, args=delivering, name="handoff-hooks", daemon=True)
    deliverer.start()
    started.append(lambda: deliverer.join(15))
    if scheduler or settings.scheduler:
        from handoff.alerts.scheduler import NightlyScheduler
        from handoff.wiring import nightly_job

        def job(day):
            return nightly_job(parts, run_date=day)

        nightly = NightlyScheduler(job, hour_utc=settings.alerts.nightly_hour_utc).start()
        started.append(nightly.stop)

    say("4/4 serving")
    _print_banner(settings, admin_key, admin_link, worker=worker, scheduler=scheduler or settings.scheduler)
    config = uvicorn.Config(
        create_app(parts=parts),
        host=settings.api.host,
        port=settings.api.port,
        log_level="warning",
        access_log=False,
    )
    import signal

    def _terminate(_signum, _frame) -> None:
        raise SystemExit(0)

    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the handler it found; ours
    # turns SIGTERM into a normal exit, so the `finally` below stops the inbox, worker and scheduler.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        uvicorn.Server(config).run()
    finally:
        stop.set()
        for stop_part in reversed(started):
            try:
                stop_part()
            except Exception as error:  # shutting down: report, keep stopping the rest
                say(f"[yellow]while stopping: {error}[/yellow]")
        parts.close()
        say("handoff stopped")


def _print_banner(
    settings, admin_key: str | None, admin_link: str | None = None, *, worker: bool, scheduler: bool
) -> None:
    import sys

    api = f"http://{settings.api.host}:{settings.api.port}"
    smtp_host, smtp_port = settings.inbox.smtp_host, settings.inbox.smtp_port
    rcpt = settings.inbox.recipients[0] if settings.inbox.recipients else "tasks@handoff.local"
    lines = [
        "",
        f"  API          {api}   (OpenAPI docs: {api}/docs, health: {api}/healthz, metrics: {api}/metrics)",
        f"  SMTP inbox   {smtp_host}:{smtp_port}  → forward or Bcc mail to {rcpt}",
        f"  worker       {'running' if worker else 'off'}; nightly scheduler {'on' if scheduler else 'off'}"
        f" ({settings.alerts.nightly_hour_utc:02d}:00 UTC)",
        f"  sync         {', '.join(settings.sync.targets()) or 'off'} (docs/sync.md)",
        f"  web app      {settings.web_base_url}/app",
        f"  state        {settings.resolved_home}",
    ]
    if admin_link:
        lines += [
            "",
            f"  First admin sign-in link (works once): {admin_link}",
            "  Invite people: handoff users invite EMAIL --role pm|sales|account_owner|admin",
        ]
    if admin_key:
        lines += [
            "",
            # The one time the key is printed; the examples below name it only as $HANDOFF_KEY.
            f"  First admin key (shown once, store it now): export HANDOFF_KEY={admin_key}",
            "  More keys: handoff keys create --role pm|sales|account_owner|integration [--owner TEAM_MEMBER_ID]",
        ]
    lines += [
        "",
        "  Send a first email:",
        f"    swaks --server {smtp_host}:{smtp_port} --to {rcpt} --from jane@customer.example \\",
        "      --header 'Subject: Kickoff' --body 'Could you send the project plan by Friday?'",
        '    python -c "import smtplib; from email.message import EmailMessage as M; m=M(); '
        f"m['From']='jane@customer.example'; m['To']='{rcpt}'; m['Subject']='Kickoff'; "
        "m.set_content('Could you send the project plan by Friday?'); "
        f"smtplib.SMTP('{smtp_host}', {smtp_port}).send_message(m)\"",
        "  or through the API:",
        f'    curl -s -X POST {api}/v1/emails -H "Authorization: Bearer $HANDOFF_KEY" \\',
        "      -H 'Content-Type: message/rfc822' \\",
        "      --data-binary $'From: jane@customer.example\\r\\nSubject: Kickoff\\r\\n\\r\\nSend the plan by Friday.'",
        f'    curl -s {api}/v1/tasks -H "Authorization: Bearer $HANDOFF_KEY"',
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
