"""Original sender → CRM contact → account (domain as fallback) → open project, each with a confidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff.intake.mime import Address
from handoff.intake.threads import FREE_MAIL_DOMAINS
from handoff.store.crm_tables import CRM_TABLES

OPEN_PROJECT_STATES = ("active", "planned")


@dataclass(frozen=True)
class Link:
    """Who the message is from in CRM terms; each id comes with how sure we are and how it was found."""

    contact_id: str | None = None
    account_id: str | None = None
    project_id: str | None = None
    contact_confidence: float = 0.0
    account_confidence: float = 0.0
    project_confidence: float = 0.0
    method: str = "none"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def link_sender(session: Session, sender: Address | None, *, subject: str = "", text: str = "") -> Link:
    if sender is None:
        return Link()
    contacts = CRM_TABLES["contacts"]
    contact = None
    method = "none"
    contact_confidence = 0.0
    if sender.email:
        contact = session.execute(
            select(contacts.c.id, contacts.c.account_id).where(func.lower(contacts.c.email) == sender.email.lower())
        ).first()
        if contact is not None:
            method, contact_confidence = "contact-email", 0.98
    if contact is None and sender.name and " " in sender.name.strip():
        # Outlook prints colleagues as a bare name ("From: Jane Doe"): a unique full-name match is fair evidence.
        full_name = func.lower(contacts.c.first_name + " " + contacts.c.last_name)
        matches = session.execute(
            select(contacts.c.id, contacts.c.account_id).where(full_name == sender.name.strip().lower()).limit(2)
        ).all()
        if len(matches) == 1:
            contact, method, contact_confidence = matches[0], "contact-name", 0.6
    account_id, account_confidence = None, 0.0
    if contact is not None and contact.account_id:
        account_id, account_confidence = contact.account_id, contact_confidence
    elif sender.domain and sender.domain not in FREE_MAIL_DOMAINS:
        account_id, account_confidence = _account_by_domain(session, sender.domain)
        if account_id:
            method = "domain"
    project_id, project_confidence = (None, 0.0)
    if account_id:
        project_id, project_confidence = _open_project(session, account_id, f"{subject}\n{text}")
    return Link(
        contact_id=contact.id if contact is not None else None,
        account_id=account_id,
        project_id=project_id,
        contact_confidence=contact_confidence,
        account_confidence=account_confidence,
        project_confidence=round(project_confidence * (account_confidence or 1.0), 3),
        method=method,
    )


def _account_by_domain(session: Session, domain: str) -> tuple[str | None, float]:
    accounts = CRM_TABLES["accounts"]
    domain = domain.lower()
    exact = session.execute(
        select(accounts.c.id, accounts.c.status).where(func.lower(accounts.c.domain) == domain).order_by(accounts.c.id)
    ).all()
    if len(exact) == 1:
        return exact[0].id, 0.85
    if exact:  # several accounts share the domain (subsidiaries): prefer an active one, but say we are unsure
        active = [row for row in exact if row.status == "active"] or exact
        return active[0].id, 0.5
    parent = ".".join(domain.split(".")[-2:])  # mail.acme.com belongs to acme.com
    if parent != domain:
        row = session.execute(select(accounts.c.id).where(func.lower(accounts.c.domain) == parent).limit(2)).all()
        if len(row) == 1:
            return row[0].id, 0.7
    return None, 0.0


def _open_project(session: Session, account_id: str, text: str) -> tuple[str | None, float]:
    projects = CRM_TABLES["projects"]
    rows = session.execute(
        select(projects.c.id, projects.c.name, projects.c.status, projects.c.planned_start)
        .where(projects.c.account_id == account_id, projects.c.status.in_(OPEN_PROJECT_STATES))
        .order_by(projects.c.planned_start.desc().nulls_last(), projects.c.id)
    ).all()
    if not rows:
        return None, 0.0
    if len(rows) == 1:
        return rows[0].id, 0.9 if rows[0].status == "active" else 0.8
    lowered = text.lower()
    named = [row for row in rows if row.name and row.name.lower() in lowered]
    if len(named) == 1:
        return named[0].id, 0.85
    active = [row for row in rows if row.status == "active"] or rows
    return active[0].id, round(0.9 / len(rows), 2)
