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
        for line in _run_batches(extractor, roster, _inputs(files or [], jsonl, sent_at), settings):
            emit_jsonl(line)


BATCH = 32  # messages whose sentences share one MiniLM call


def _run_batches(extractor: Any, roster: list, items: Any, settings: Any):
    """Output lines in input order; each batch is extracted at once, and alone again if the batch fails."""
    from itertools import islice

    items = iter(items)
    while batch := list(islice(items, BATCH)):
        read = [_read_item(item, roster, settings) for item in batch]
        messages = [value for value in read if not isinstance(value, dict)]
        try:
            drafts = iter(extractor.extract_many(messages, roster))
        except Exception:  # one message the batch cannot read: each alone, so only that one gets an error line
            drafts = iter([_extract_one(extractor, message, roster) for message in messages])
        for item, value in zip(batch, read, strict=True):
            if isinstance(value, dict):
                yield value
                continue
            found = next(drafts)
            if isinstance(found, str):
                yield {"id": str(item.get("id", "")), "tasks": [], "error": found}
            else:
                yield {"id": str(item.get("id", "")), "tasks": [task_line(draft) for draft in found]}


def _extract_one(extractor: Any, message: Any, roster: list) -> Any:
    try:
        return extractor.extract(message, roster)
    except Exception as error:  # one message the extractor cannot read must not end the run for the rest
        return f"extraction failed: {type(error).__name__}: {error}"


def _team(roster: list, settings: Any):
    """Whose forwards are believed: the roster given (or the store's) and the configured internal domains."""
    from handoff.intake.team import Team

    return Team.from_settings(settings.inbox, (member.email for member in roster))


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


def _message(item: dict[str, Any], settings: Any, roster: list):
    from datetime import datetime

    from handoff.errors import InvalidInput
    from handoff.extraction.model import MessageText

    kind = item.get("kind", "email")
    if kind not in ("email", "notes"):
        raise InvalidInput(f"kind must be 'email' or 'notes', not {kind!r}")
    raw = item.get("raw_bytes") or (item["raw"].encode("utf-8") if isinstance(item.get("raw"), str) else None)
    if raw is not None:
        return _parse_raw(raw, kind, settings, roster)
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


def _parse_raw(raw: bytes, kind: str, settings: Any, roster: list):
    """Intake's reader (a team member's forwards credited to the original sender, quotes and signatures removed)."""
    from dataclasses import replace

    from handoff.intake.reading import message_text, read_email

    own = [a.lower() for a in settings.inbox.recipients]
    reading = read_email(raw, own_addresses=own, team=_team(roster, settings))
    if reading.rejection:  # an auto-reply, a bounce, a loop: the inbox would never read it for tasks either
        raise NoTasks(reading.rejection)
    return replace(message_text(reading), kind="notes" if kind == "notes" else "email")


class NoTasks(Exception):
    """A message the inbox screens out before extraction; its reason goes into the output line."""


def _read_item(item: dict[str, Any], roster: list, settings: Any) -> Any:
    """The message to extract from, or the output line that says why there is none."""
    from handoff.errors import HandoffError

    identifier = str(item.get("id", ""))
    if "error" in item:
        return {"id": identifier, "tasks": [], "error": item["error"]}
    try:
        message = _message(item, settings, roster)
    except NoTasks as screened:
        return {"id": identifier, "tasks": [], "reason": str(screened)}
    except (HandoffError, KeyError, ValueError, TypeError, UnicodeError) as error:
        return {"id": identifier, "tasks": [], "error": str(error)}
    return message if message.text.strip() else {"id": identifier, "tasks": []}


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
