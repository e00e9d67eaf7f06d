"""What the pages show, built from the same service calls and masking as the API: the inbox and the review queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.access.keys import Principal
from handoff.access.roles import allows
from handoff.store.crm_tables import CRM_TABLES
from handoff.web.i18n import N_

PAGE_SIZE = 25
REVIEW_PAGE_SIZE = 20


def highlight(text: str | None, phrases: Iterable[str | None]) -> Markup:
    """`text` escaped, with every occurrence of each phrase wrapped in <mark>; longest phrases first, no overlaps."""
    if not text:
        return Markup("")
    spans: list[tuple[int, int]] = []
    for phrase in sorted({p.strip() for p in phrases if p and p.strip()}, key=len, reverse=True):
        start = text.find(phrase)
        while start != -1:
            end = start + len(phrase)
            if all(end <= a or start >= b for a, b in spans):
                spans.append((start, end))
            start = text.find(phrase, end)
    out, at = [], 0
    for start, end in sorted(spans):
        out.append(escape(text[at:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


def names(session: Session, table: str, ids: Iterable[str | None]) -> dict[str, str]:
    """Display names of CRM rows (accounts, projects, team members) by id, in one query."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = CRM_TABLES[table]
    return {row.id: row.name for row in session.execute(select(rows.c.id, rows.c.name).where(rows.c.id.in_(wanted)))}


def disclosure(session: Session, caller: Principal) -> Any:
    """The caller's `access.disclosure` view, made once per request (its session) with the app's cached contacts
    (`current_person` puts them in `session.info`): a page masks many records, and reading every contact's address
    for each of them cost the inbox most of its render time."""
    from handoff.access.disclosure import disclosure_for

    made = session.info.get("web_disclosure")
    if made is None or made.actor != caller.actor:
        made = session.info["web_disclosure"] = disclosure_for(session, caller, session.info.get("known_contacts"))
    return made


def shown_tasks(session: Session, caller: Principal, views: list[dict[str, Any]]) -> list[Any]:
    """Tasks exactly as `GET /v1/tasks` shows them to this caller: masked or audited by the API's own function."""
    from handoff.api.routes.tasks import public_tasks

    return public_tasks(disclosure(session, caller), views)


def shown_entries(session: Session, caller: Principal, entries: list[Any]) -> list[Any]:
    """Ledger entries exactly as `GET /v1/ledger` shows them to this caller (the API's own function)."""
    from handoff.api.routes.intake import public_entries

    return public_entries(disclosure(session, caller), entries)


class Options:
    """A picker's `<option>`s (id, name) written once as HTML; each use marks its own choice. A review page of 20
    cards over the roster, or the tasks page's account filter over every account with tasks, is otherwise thousands
    of template steps per page."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._html = "".join(f'<option value="{escape(key)}">{escape(name)}</option>' for key, name in pairs)

    def html(self, selected: str | None) -> Markup:
        if not selected:
            return Markup(self._html)
        option = f'<option value="{escape(selected)}">'
        return Markup(self._html.replace(option, option[:-1] + " selected>", 1))


@dataclass
class InboxRow:
    entry: Any  # LedgerEntryPublic
    account: str | None
    project: str | None
    account_confidence: float | None
    project_confidence: float | None
    tasks: list[Any] = field(default_factory=list)


@dataclass
class InboxPage:
    rows: list[InboxRow]
    status: str | None
    statuses: list[tuple[str, int]]
    page: int
    pages: int
    total: int


def inbox_page(session: Session, caller: Principal, *, status: str | None, page: int) -> InboxPage:
    from handoff.intake.ledger import OUTCOMES, STATES
    from handoff.intake.service import counts, list_entries
    from handoff.tasks.service import tasks_of_messages

    scope = disclosure(session, caller).scope  # an account owner: their own accounts' mail, as `GET /v1/ledger`
    by_status = counts(session, scope)
    processed = sum(by_status.get(name, 0) for name in OUTCOMES)
    totals = {**{name: by_status.get(name, 0) for name in OUTCOMES + STATES}, "processed": processed}
    total = totals[status] if status else sum(by_status.values())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    found = list_entries(session, status, PAGE_SIZE, (page - 1) * PAGE_SIZE, scope)
    entries = shown_entries(session, caller, found)
    task_views: dict[int, list[dict[str, Any]]] = {}
    if allows(caller.role, "tasks:read"):
        task_views = _in_scope(scope, tasks_of_messages(session, [entry.id for entry in entries]))
    accounts = names(session, "accounts", (e.account_id for e in entries))
    projects = names(session, "projects", (e.project_id for e in entries))
    rows = []
    for entry in entries:
        links = entry.links or {}
        rows.append(
            InboxRow(
                entry=entry,
                account=accounts.get(entry.account_id or "", entry.account_id),
                project=projects.get(entry.project_id or "", entry.project_id),
                account_confidence=links.get("account_confidence") if entry.account_id else None,
                project_confidence=links.get("project_confidence") if entry.project_id else None,
                tasks=shown_tasks(session, caller, task_views.get(entry.id, [])),
            )
        )
    shown_statuses = [(name, totals[name]) for name in OUTCOMES + ("received", "parsed") if totals[name]]
    return InboxPage(rows, status, shown_statuses, page, pages, total)


def _in_scope(scope: Any, by_message: dict[int, list[dict[str, Any]]]) -> dict[int, list[dict[str, Any]]]:
    """Each message's tasks that `scope` sees (a message's tasks can sit on another account than the message)."""
    if scope.everything:
        return by_message
    return {key: [t for t in tasks if scope.sees(t.get("account_id"))] for key, tasks in by_message.items()}


# The longest body a message page shows (characters); a longer one is cut there and says so.
MESSAGE_CHARS = 50_000


@dataclass
class MessagePage:
    """One ledger entry and its original message as the caller may see them (masked as `GET /v1/ledger/{id}`)."""

    row: InboxRow  # the entry as the inbox shows it, with the tasks it created
    original: Any  # intake.original.Original, or None when the raw bytes were never kept
    headers: list[tuple[str, str]]  # (label, value) in the mail's order, masked for the caller
    body: str  # escaped by the template like every value, never rendered as HTML
    attachments: list[tuple[str, str, Any]]  # (file name, content type, Attachment), the first two masked
    truncated: bool = False  # the body is longer than the page shows
    limit: int = 0


# The headers a person reads, in this order; marked for translation here, shown through `text()` in the template.
HEADERS = (("sender", N_("From")), ("to", N_("To")), ("cc", N_("Cc")), ("date_as_written", N_("Date")),
           ("subject", N_("Subject")))  # fmt: skip


def message_page(session: Session, caller: Principal, entry_id: int, *, raw_dir: Any, timeout_s: float) -> MessagePage:
    """The entry through `public_entries` and its message through `intake.service.read_original`, masked (or shown
    whole and audited) by the caller's `access.disclosure` view like every field of the ledger; unknown: `NotFound`."""
    from handoff.intake.original import bounded
    from handoff.intake.service import get_entry, read_original
    from handoff.tasks.service import tasks_of_messages

    scope = disclosure(session, caller).scope
    found = get_entry(session, entry_id, scope=scope)  # another owner's entry: not found, as `GET /v1/ledger/{id}`
    entry = shown_entries(session, caller, [found])[0]
    task_views = _in_scope(scope, tasks_of_messages(session, [entry_id])) if allows(caller.role, "tasks:read") else {}
    links = entry.links or {}
    row = InboxRow(
        entry=entry,
        account=names(session, "accounts", [entry.account_id]).get(entry.account_id or "", entry.account_id),
        project=names(session, "projects", [entry.project_id]).get(entry.project_id or "", entry.project_id),
        account_confidence=links.get("account_confidence") if entry.account_id else None,
        project_confidence=links.get("project_confidence") if entry.project_id else None,
        tasks=shown_tasks(session, caller, task_views.get(entry_id, [])),
    )
    original = read_original(session, entry_id, raw_dir=raw_dir, parse_timeout_s=timeout_s)
    if original is None or original.problem:
        return MessagePage(row, original, [], "", [])
    record: dict[str, Any] = {name: getattr(original, name) for name, _ in HEADERS}
    record["attachments"] = [attachment.filename or "" for attachment in original.attachments]
    record["types"] = [attachment.content_type for attachment in original.attachments]
    view = disclosure(session, caller)
    shown: dict[str, Any] = {}

    def show(body: str) -> str:
        # Every part quotes the sender: the entry's rule for free text, under the entry's subject in the audit log
        # (a whole read is one `show`; only masking, which audits nothing, can shorten the body and ask again).
        shown.update(view.show({**record, "body": body}, free_text=(*record, "body"), subject=f"ledger:{entry_id}",
                               account_id=found.account_id))  # fmt: skip
        return shown["body"]

    body = bounded(original.body, MESSAGE_CHARS, show)
    headers = [(label, shown[name]) for name, label in HEADERS if shown[name]]
    if original.date is not None:  # a parsed date is written in the person's locale by the template instead
        headers = [(label, value) for label, value in headers if label != "Date"]
    attachments = list(zip(shown["attachments"], shown["types"], original.attachments, strict=True))
    return MessagePage(row, original, headers, body, attachments, len(original.body) > MESSAGE_CHARS, MESSAGE_CHARS)


@dataclass
class Card:
    """One suggested task as the reviewer sees it: the values, each field's confidence and evidence."""

    task: Any  # TaskPublic, masked for the caller
    assignee: str | None  # the roster name, or the name as written
    account: str | None
    project: str | None
    account_confidence: float | None
    project_confidence: float | None
    quote: Markup  # the task's text with the sentences its fields came from marked
    duplicate: Any = None  # TaskPublic of an older active task this one may repeat (masked), or None
    similarity: float | None = None


@dataclass(frozen=True)
class MessageHeading:
    """What a review group says of its message to a role that may not read the ledger: subject and sender, masked."""

    subject: str | None
    sender: str | None
    received_at: Any


@dataclass
class MessageGroup:
    ledger_id: int | None
    subject: str | None
    sender: str | None
    received_at: Any
    cards: list[Card]


@dataclass
class ReviewPage:
    groups: list[MessageGroup]
    roster: list[tuple[str, str]]
    accuracy: dict[str, dict[str, Any]]
    page: int
    pages: int
    total: int
    can_review: bool
    _options: Options | None = None

    def roster_options(self, selected: str | None) -> Markup:
        """The roster picker of each card, with that card's assignee chosen."""
        if self._options is None:
            self._options = Options(self.roster)
        return self._options.html(selected)


def _confidences(entry: Any) -> tuple[float | None, float | None]:
    links = (entry.links or {}) if entry is not None else {}
    return links.get("account_confidence"), links.get("project_confidence")


def review_page(session: Session, caller: Principal, *, page: int, duplicate_bar: float) -> ReviewPage:
    from handoff.access.scope import account_scope
    from handoff.intake.service import get_entries
    from handoff.tasks.service import (
        count_tasks,
        field_accuracy,
        list_tasks,
        load_roster,
        possible_duplicates,
        tasks_by_id,
    )

    scope = account_scope(session, caller)  # account owners review their own accounts' tasks, as in /v1/tasks
    total = count_tasks(session, status="suggested", scope=scope)
    pages = max(1, -(-total // REVIEW_PAGE_SIZE))
    page = min(max(1, page), pages)
    offset = (page - 1) * REVIEW_PAGE_SIZE
    views = list_tasks(session, status="suggested", scope=scope, limit=REVIEW_PAGE_SIZE, offset=offset)
    tasks = shown_tasks(session, caller, views)
    roster = sorted(((m.id, m.name) for m in load_roster(session)), key=lambda pair: pair[1].lower())
    people = dict(roster)
    people.update(names(session, "team_members", (t.assignee_id for t in tasks if t.assignee_id not in people)))
    accounts = names(session, "accounts", (t.account_id for t in tasks))
    projects = names(session, "projects", (t.project_id for t in tasks))
    repeats = possible_duplicates(session, [t.id for t in tasks], bar=duplicate_bar, scope=scope)
    targets: dict[str, Any] = {}
    if repeats:
        wanted = sorted({found.target_id for found in repeats.values()})
        targets = {t.id: t for t in shown_tasks(session, caller, tasks_by_id(session, wanted, scope=scope))}
    ledger_ids = sorted({t.ledger_id for t in tasks if t.ledger_id is not None})
    raw_entries = get_entries(session, ledger_ids) if ledger_ids else {}
    # The message's sender and subject are ledger data: shown as `GET /v1/ledger` shows them to roles that may read
    # it (masked, or whole and audited); to the others, who review its tasks all the same, always masked
    # (`access.masking` through the caller's view, so a known contact's bare local part is masked too; no audit).
    # Only the two fields the heading shows go through the view: the whole entry (links, reason, error) through
    # `public_entries` cost the page a third of its time, for nothing shown.
    entries: dict[int, MessageHeading] = {}
    view = disclosure(session, caller)
    reads_ledger = allows(caller.role, "ledger:read")
    for found in raw_entries.values():
        heading = {"subject": found.subject, "sender": found.sender}
        if reads_ledger:
            heading = view.show(heading, free_text=heading, subject=f"ledger:{found.id}", account_id=found.account_id)
        else:
            heading = {name: view.mask.text(value) for name, value in heading.items()}
        entries[found.id] = MessageHeading(heading["subject"], heading["sender"], found.received_at)
    groups: dict[int | None, MessageGroup] = {}
    for task in tasks:
        entry = entries.get(task.ledger_id) if task.ledger_id is not None else None
        group = groups.get(task.ledger_id)
        if group is None:
            group = groups[task.ledger_id] = MessageGroup(
                task.ledger_id,
                entry.subject if entry else None,
                entry.sender if entry else None,
                entry.received_at if entry else None,
                [],
            )
        account_confidence, project_confidence = _confidences(raw_entries.get(task.ledger_id or 0))
        evidence = [task.evidence] + [found.evidence for found in task.fields.values()]
        group.cards.append(
            Card(
                task=task,
                assignee=people.get(task.assignee_id or "", task.assignee_id) or task.assignee_name,
                account=accounts.get(task.account_id or "", task.account_id),
                project=projects.get(task.project_id or "", task.project_id),
                account_confidence=account_confidence if task.account_id else None,
                project_confidence=project_confidence if task.project_id else None,
                quote=highlight(task.description or task.evidence, evidence),
                duplicate=targets.get(repeats[task.id].target_id) if task.id in repeats else None,
                similarity=repeats[task.id].similarity if task.id in repeats else None,
            )
        )
    return ReviewPage(
        list(groups.values()),
        roster,
        field_accuracy(session),
        page,
        pages,
        total,
        allows(caller.role, "tasks:review"),
    )


def changed_fields(shown: Any, form: dict[str, str]) -> dict[str, Any]:
    """What the reviewer changed on a card, compared with the values the card showed them (masked ones included:
    sending a masked title back unchanged must not overwrite the real one)."""
    changes: dict[str, Any] = {}
    title = form.get("title")
    if title is not None and title.strip() != (shown.title or "").strip():
        changes["title"] = title.strip()  # empty: `edit_task` refuses it with a clear message
    for column in ("assignee_id", "due_date", "priority"):
        if column not in form:
            continue
        value = form[column].strip() or None
        current = getattr(shown, column)
        current = current.isoformat() if hasattr(current, "isoformat") else current
        if value != current:
            changes[column] = value
    return changes
