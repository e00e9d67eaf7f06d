"""Mail that must never become tasks: auto-replies, delivery reports (DSN), mail loops, and bytes that are no mail
(list mail and spam are the gate's, `gate.py`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from handoff.intake.mime import ParsedMail

LOOP_HEADER = "X-Handoff-Loop"  # handoff stamps its own outgoing mail with this; seeing it back means a loop
MAX_RECEIVED_HOPS = 40  # relays add one Received line each; more than this is a loop between servers
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?reply|autoreply|out of (?:the )?office|ooo\b|abwesenheitsnotiz|"
    r"réponse automatique|自动回复|自動回覆|自动答复|休假|不在办公室)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|bounces?)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|delivery status notification|mail delivery (?:failed|failure|system)|"
    r"returned mail|failure notice|退信|系统退信|未送达|無法傳遞)",
    re.IGNORECASE,
)


def rejection_reason(mail: ParsedMail, own_addresses: Iterable[str] = ()) -> str | None:
    """Why this message must not become tasks, or None when it may."""
    if not mail.has_headers:
        return "not an email: no From, Subject, Date or Message-ID header"
    if mail.header(LOOP_HEADER.lower()) is not None:  # first: our own digest coming back is a loop, whatever else
        return "mail loop: handoff's own loop marker came back"
    content_type = mail.content_type
    report_type = " ".join(mail.headers.get("content-type", [])).lower()
    if content_type == "multipart/report" and "delivery-status" in report_type:
        return "bounce: delivery status notification (DSN)"
    sender = mail.sender.email if mail.sender else ""
    if _BOUNCE_SENDER.match(sender) or (not sender and _BOUNCE_SUBJECT.match(mail.subject)):
        return f"bounce: sent by {sender or 'an empty return path'}"
    if _BOUNCE_SUBJECT.match(mail.subject) and _BOUNCE_SENDER.match(mail.header("return-path") or ""):
        return "bounce: delivery failure notice"
    auto_submitted = (mail.header("auto-submitted") or "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"auto-reply: Auto-Submitted: {auto_submitted}"
    for name in ("x-autoreply", "x-autorespond", "x-ms-exchange-autoreply"):
        if mail.header(name) is not None:
            return f"auto-reply: {name} header"
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence == "auto_reply":  # bulk, list and junk are list mail, not replies: the gate calls them `bulk`
        return f"auto-reply: Precedence: {precedence}"
    if _AUTO_SUBJECT.match(mail.subject):
        return "auto-reply: out-of-office subject"
    own = {address.lower() for address in own_addresses}
    for loop in mail.headers.get("x-loop", []):
        if loop.strip().lower() in own:
            return f"mail loop: X-Loop {loop.strip()}"
    if sender and sender in own:
        return f"mail loop: sent by handoff's own address {sender}"
    if len(mail.headers.get("received", [])) > MAX_RECEIVED_HOPS:
        return f"mail loop: more than {MAX_RECEIVED_HOPS} Received hops"
    return None
