"""What extraction reads and what it returns: plain data, shared by the offline and LLM extractors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

MessageKind = Literal["email", "notes"]
Priority = Literal["low", "normal", "high", "urgent"]


@dataclass(frozen=True)
class MessageText:
    """The new text of one message (quotes and signatures removed), with what dates and names resolve against."""

    text: str
    sent_at: datetime  # timezone-aware; relative dates resolve against it
    kind: MessageKind = "email"
    sender: str | None = None  # "Name <addr>" or an address: the *original* sender for forwarded mail
    recipients: tuple[str, ...] = ()
    subject: str | None = None
    delegate: str | None = None  # whom a forwarder handed the mail to: the addressee of its "can you" asks


@dataclass(frozen=True)
class TeamMember:
    """One roster entry that assignees resolve against."""

    id: str
    name: str
    email: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Found(Generic[T]):
    """One extracted field: its value, how sure we are (0-1), and the sentence it came from."""

    value: T
    confidence: float
    evidence: str


@dataclass
class TaskDraft:
    """A task as extracted, before it is stored or reviewed."""

    title: Found[str]
    assignee: Found[str | None]  # a roster id when resolved, else the name as written, else None
    assignee_id: str | None
    due: Found[date | None]
    priority: Found[Priority]
    description: str
    confidence: float  # that this is a task at all
    evidence: str  # the sentence the task came from
    extractor: str = "offline"  # "offline" or "llm:<model>"
    notes: list[str] = field(default_factory=list)  # e.g. why the LLM path fell back
