"""`handoff inbox smtp|imap` (the mail sources) and `handoff ingest PATH...` (files into the ledger, then tasks)."""

from __future__ import annotations

from pathlib import Path

import typer


def _parts():
    from handoff.wiring import build

    parts = build()
    parts.migrate()
    return parts


def _start_worker(parts):
    import threading

    from handoff.intake.service import run_worker

    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(parts, stop), name="ingest-worker", daemon=True)
    thread.start()
    return stop, thread


def _serve_until_signal(shutdown) -> None:
    """Block until Ctrl-C or SIGTERM, then shut down (the inbox must not be killed mid-write by a plain exit)."""
    import signal
    import threading

    stopped = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopped.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped.wait(0.5):  # a timed wait: signal handlers run between waits
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutdown()


def register(app: typer.Typer) -> None:
    inbox = typer.Typer(
        help="Mail sources: the SMTP inbox handoff runs, and an IMAP mailbox it polls.", no_args_is_help=True
    )
    app.add_typer(inbox, name="inbox")

    @inbox.command("smtp")
    def smtp(
        host: str = typer.Option(None, help="Address to listen on (default: HANDOFF_INBOX__SMTP_HOST)."),
        port: int = typer.Option(None, help="Port to listen on (default: HANDOFF_INBOX__SMTP_PORT, 2525)."),
        worker: bool = typer.Option(True, help="Also run the ingest worker that turns received mail into tasks."),
    ) -> None:
        """Run the SMTP inbox until Ctrl-C: mail for the configured recipients lands in the ledger."""
        import threading

        from handoff.cli.output import say
        from handoff.intake.sources.smtp import smtp_inbox

        parts = _parts()
        for warning in parts.settings.warnings():
            say(f"[yellow]warning:[/yellow] {warning}")
        server = smtp_inbox(parts, host, port)
        server.start()
        stop = threading.Event()
        if worker:
            stop, _ = _start_worker(parts)
        inbox_settings = parts.settings.inbox
        say(
            f"smtp inbox on {server.controller.hostname}:{server.controller.port} for "
            f"{', '.join(inbox_settings.recipients)}; Ctrl-C stops it"
        )
        _serve_until_signal(lambda: (stop.set(), server.stop(), parts.close()))

    @inbox.command("imap")
    def imap(
        once: bool = typer.Option(False, "--once", help="Poll once and exit instead of polling forever."),
        worker: bool = typer.Option(True, help="Also run the ingest worker (with --once: process what was fetched)."),
        json_output: bool = typer.Option(False, "--json", help="With --once: print what was fetched as JSON."),
    ) -> None:
        """Poll the IMAP mailbox set in HANDOFF_INBOX__IMAP_*; a UID cursor in the store survives restarts."""
        import threading

        from handoff.cli.output import emit_json, say
        from handoff.intake.service import process_entries
        from handoff.intake.sources.imap import ImapSource

        parts = _parts()
        source = ImapSource(parts)
        if once:
            result = source.poll_once()
            processed = process_entries(parts, result.ledger_ids) if worker and result.ledger_ids else 0
            document = {"fetched": result.fetched, "ledger_ids": result.ledger_ids, "processed": processed,
                        "uidvalidity": result.uidvalidity, "last_uid": result.last_uid,
                        "skipped": result.skipped}  # fmt: skip
            if json_output:
                emit_json(document)
            else:
                say(f"fetched {result.fetched} message(s) from {source.cursor_key}; cursor at UID {result.last_uid}")
                for item in result.skipped:
                    say(f"skipped folder {item['folder']}  ({item['reason']})")
            parts.close()
            return
        stop = threading.Event()
        worker_stop = _start_worker(parts)[0] if worker else threading.Event()
        say(f"polling {source.cursor_key} every {parts.settings.inbox.imap_poll_s:g}s; Ctrl-C stops it")
        poller = threading.Thread(target=source.run, args=(stop,), name="imap-poller", daemon=True)
        poller.start()
        _serve_until_signal(lambda: (stop.set(), worker_stop.set(), poller.join(timeout=60), parts.close()))

    @app.command("ingest")
    def ingest(
        paths: list[Path] = typer.Argument(
            ..., help="Maildir folders, mbox files (any name), .eml or other RFC 822 files, .txt/.md/.vtt notes."
        ),
        json_output: bool = typer.Option(False, "--json", help="Print one JSON document for scripts."),
        wait_s: float = typer.Option(120.0, help="How long to wait for messages another worker is processing."),
    ) -> None:
        """Ledger every message in PATHS, process them, and report each one's status and each input not taken.

        Exit 0 when every input was ingested or skipped with a reason; 1 when some messages were still held by
        another worker after --wait-s; 2 when a path given does not exist (the others are still ingested)."""
        import time

        from handoff.cli.output import emit_json, progress_bar, say
        from handoff.intake.service import get_entries, process_entries
        from handoff.intake.sources.files import receive_files

        parts = _parts()
        with progress_bar("reading files", enabled=not json_output) as show:
            intake = receive_files(parts, paths, on_progress=show)
        arrivals = intake.arrivals
        ids = [a.entry.id for a in arrivals if not a.entry.done]
        deadline = time.monotonic() + wait_s
        with progress_bar("processing", enabled=not json_output) as show:
            waiting, finished = len(ids), 0
            while True:
                finished += process_entries(parts, ids, on_progress=lambda n, base=finished: show(base + n, waiting))
                with parts.sessions() as session:
                    entries = get_entries(session, [a.entry.id for a in arrivals])
                ids = [i for i, e in entries.items() if not e.done]
                if not ids or time.monotonic() > deadline:
                    break
                time.sleep(0.5)  # another worker holds the rest; its lease or its commit will free them
        messages = [
            {
                "path": a.path,
                "message_id": entries[a.entry.id].message_id,
                "status": entries[a.entry.id].display_status,
                "reason": entries[a.entry.id].reason or entries[a.entry.id].error,
                "ledger_id": a.entry.id,
            }
            for a in arrivals
        ]
        skipped = [{"path": s.path, "reason": s.reason} for s in intake.skipped]
        by_status: dict[str, int] = {}
        for message in messages:
            by_status[message["status"]] = by_status.get(message["status"], 0) + 1
        parts.close()
        if json_output:
            emit_json({"total": len(messages), "by_status": by_status, "messages": messages, "skipped": skipped})
        else:
            for message in messages:
                reason = f"  ({message['reason']})" if message["reason"] else ""
                say(f"{message['status']:<14} {message['path']}{reason}")
            for item in skipped:
                say(f"{'skipped':<14} {item['path']}  ({item['reason']})")
            counted = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
            say(f"{len(messages)} message(s): {counted or 'none'}; {len(skipped)} input(s) skipped")
        for missing in intake.missing:
            say(f"error: no such file or folder: {missing}")
        if intake.missing:
            raise typer.Exit(2)
        if ids:
            raise typer.Exit(1)
