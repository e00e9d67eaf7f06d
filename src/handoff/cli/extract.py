"""`handoff extract`: tasks in files or JSONL messages, one JSON line per input; nothing is written to the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

NOTES_SUFFIXES = {".md", ".markdown", ".txt", ".vtt", ".notes"}


def register(app: typer.Typer) -> None:
    @app.command("extract")
    def extract(
        files: list[Path] = typer.Argument(None, help="Files: .eml (raw RFC 822) or notes (.md, .txt, .vtt)."),
        jsonl: Path | None = typer.Option(
            None, "--jsonl", help="JSONL input: {id, kind, raw} or {id, kind, text, sent_at}."
        ),
        roster_file: Path | None = typer.Option(None, "--roster", help="YAML/JSON list of {id, name, email, aliases}."),
        sent_at: str | None = typer.Option(
            None, "--sent-at", help="ISO send time for notes files (default: file time)."
        ),
        as_json: bool = typer.Option(True, "--json/--no-json", help="Output is always JSON lines; kept for symmetry."),
    ) -> None:
        """Extract tasks with the configured extractor (offline unless HANDOFF_LLM__BASE_URL is set)."""
        from handoff.errors import InvalidInput

        if not files and jsonl is None:
            raise InvalidInput("give FILE... or --jsonl IN.jsonl")
        from handoff.cli.output import emit_jsonl
        from handoff.extraction.extractor import build_extractor
        from handoff.redaction import protect
        from handoff.settings import Settings

        settings = Settings()
        protect(settings.secret_values())
        extractor = build_extractor(settings)
        roster = _roster(roster_file, settings)
        for item in _inputs(files or [], jsonl, sent_at):
            emit_jsonl(_run(extractor, roster, item, settings))


def _inputs(files: list[Path], jsonl: Path | None, sent_at: str | None):
    import json

    from handoff.errors import InvalidInput

    for path in files:
        if not path.is_file():
            raise InvalidInput(f"{path}: no such file")
        data = path.read_bytes()
        if path.suffix.lower() in NOTES_SUFFIXES:
            when = sent_at or _file_time(path)
            yield {"id": str(path), "kind": "notes", "text": data.decode("utf-8", "replace"), "sent_at": when}
        else:
            yield {"id": str(path), "kind": "email", "raw_bytes": data}
    if jsonl is not None:
        if not jsonl.is_file():
            raise InvalidInput(f"{jsonl}: no such file")
        with jsonl.open(encoding="utf-8", errors="replace") as handle:  # a bad byte spoils its line, not the run
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as error:
                    yield {"id": f"{jsonl}:{number}", "error": f"line {number} is not JSON: {error.msg}"}
                    continue
                yield item if isinstance(item, dict) else {"id": f"{jsonl}:{number}", "error": "not a JSON object"}


def _file_time(path: Path) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()


def _roster(path: Path | None, settings: Any) -> list:
    from handoff.extraction.model import TeamMember

    if path is not None:
        import yaml

        from handoff.errors import InvalidInput

        try:
            rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            return [
                TeamMember(str(r["id"]), str(r["name"]), r.get("email"), tuple(r.get("aliases") or ())) for r in rows
            ]
        except (OSError, KeyError, TypeError, yaml.YAMLError) as error:
            raise InvalidInput(f"{path}: not a roster list ({error})") from error
    return _store_roster(settings)


def _store_roster(settings: Any) -> list:
    """The roster from the store when one exists; reading only (no migration, no file created)."""
    if settings.database_url is None and not (settings.resolved_home / "handoff.db").exists():
        return []
    from sqlalchemy.exc import SQLAlchemyError

    from handoff.store.db import make_engine, make_session_factory
    from handoff.tasks.service import load_roster

    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            return load_roster(session)
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def _message(item: dict[str, Any], settings: Any):
    from datetime import datetime

    from handoff.errors import InvalidInput
    from handoff.extraction.model import MessageText

    kind = item.get("kind", "email")
    if kind not in ("email", "notes"):
        raise InvalidInput(f"kind must be 'email' or 'notes', not {kind!r}")
    raw = item.get("raw_bytes") or (item["raw"].encode("utf-8") if isinstance(item.get("raw"), str) else None)
    if raw is not None:
        return _parse_raw(raw, kind, settings)
    text = item.get("text")
    if not isinstance(text, str):
        raise InvalidInput("each input needs 'raw' or 'text'")
    try:
        when = datetime.fromisoformat(str(item.get("sent_at")))
    except ValueError as error:
        raise InvalidInput(f"sent_at must be an ISO datetime, not {item.get('sent_at')!r}") from error
    if when.tzinfo is None:
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    recipients = item.get("recipients") or []
    if not isinstance(recipients, list):
        raise InvalidInput(f"recipients must be a list of addresses, not {type(recipients).__name__}")
    return MessageText(
        text=text,
        sent_at=when,
        kind=kind,
        sender=item.get("sender"),
        recipients=tuple(str(r) for r in recipients),
        subject=item.get("subject"),
    )


def _parse_raw(raw: bytes, kind: str, settings: Any):
    """Intake's reader (forwards credited to the original sender, quotes and signatures removed)."""
    from dataclasses import replace

    from handoff.intake.reading import read_email
    from handoff.intake.worker import message_text

    reading = read_email(raw, own_addresses=[a.lower() for a in settings.inbox.recipients])
    return replace(message_text(reading), kind="notes" if kind == "notes" else "email")


def _run(extractor: Any, roster: list, item: dict[str, Any], settings: Any) -> dict[str, Any]:
    from handoff.errors import HandoffError

    identifier = str(item.get("id", ""))
    if "error" in item:
        return {"id": identifier, "tasks": [], "error": item["error"]}
    try:
        message = _message(item, settings)
    except (HandoffError, KeyError, ValueError, TypeError, UnicodeError) as error:
        return {"id": identifier, "tasks": [], "error": str(error)}
    try:
        drafts = extractor.extract(message, roster) if message.text.strip() else []
    except Exception as error:  # one message the extractor cannot read must not end the run for the rest
        return {"id": identifier, "tasks": [], "error": f"extraction failed: {type(error).__name__}: {error}"}
    return {"id": identifier, "tasks": [task_line(draft) for draft in drafts]}


def task_line(draft: Any) -> dict[str, Any]:
    """The contract's task shape."""
    return {
        "title": draft.title.value,
        "assignee": draft.assignee.value,
        "due": draft.due.value.isoformat() if draft.due.value else None,
        "priority": draft.priority.value,
        "confidence": round(float(draft.confidence), 4),
        "evidence": draft.evidence,
    }
