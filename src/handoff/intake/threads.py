"""Threading rules: which thread a message joins, by In-Reply-To/References first and by subject only within one
customer (never across customer domains, zammad#5064)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

# Free-mail domains hold many unrelated customers: there the address, not the domain, is the customer.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com", "yahoo.co.jp",
        "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de",
        "qq.com", "163.com", "126.com", "sina.com", "sohu.com", "foxmail.com", "yeah.net", "139.com", "mail.ru",
        "yandex.ru", "naver.com", "hanmail.net",
    }
)  # fmt: skip
SUBJECT_WINDOW = timedelta(days=60)  # a subject match older than this starts a new thread
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|odp|rif|r|fwd?|fw|tr|wg|rv|回复|回覆|答复|答覆|转发|轉寄|转寄)\s*(?:\[\d+\])?\s*[:：]\s*"
    r"|\[[^\]]{0,40}\]\s*)+",
    re.IGNORECASE,
)
_GENERIC_SUBJECTS = frozenset({"", "hi", "hello", "question", "questions", "update", "follow up", "meeting", "notes",
                               "meeting notes", "(no subject)", "no subject", "无主题", "你好"})  # fmt: skip


def normalise_subject(subject: str | None) -> str:
    """'RE: FW: [EXT] Rollout plan ' and 'Rollout plan' are the same conversation."""
    if not subject:
        return ""
    stripped = _PREFIX.sub("", subject)
    return re.sub(r"\s+", " ", stripped).strip().casefold()


def customer_key(address: str | None) -> str | None:
    """The customer a sender belongs to: the domain, or the whole address on a free-mail domain."""
    if not address or "@" not in address:
        return None
    address = address.strip().lower()
    domain = address.rsplit("@", 1)[1]
    return address if domain in FREE_MAIL_DOMAINS else domain


@dataclass(frozen=True)
class ThreadCandidate:
    """An existing thread as the rules see it."""

    thread_id: str
    customer: str | None
    account_id: str | None
    subject_key: str
    last_at: datetime | None


def same_customer(
    thread: ThreadCandidate, customer: str | None, account_id: str | None, internal_domains: frozenset[str]
) -> bool:
    """True when the message's customer may share `thread`: same account, or same customer key."""
    if thread.account_id and account_id:
        return thread.account_id == account_id
    if customer is None or thread.customer is None:
        return False
    if customer in internal_domains:
        return False  # our own staff writing without a forward: never a reason to join someone's thread
    return thread.customer == customer


def may_join_by_reference(
    thread: ThreadCandidate, customer: str | None, account_id: str | None, internal_domains: frozenset[str]
) -> bool:
    """A reply by headers joins unless it comes from a *different* known customer (a hijacked or reused thread)."""
    if customer is None or customer in internal_domains or thread.customer is None:
        return True
    return same_customer(thread, customer, account_id, internal_domains)


def may_join_by_subject(
    thread: ThreadCandidate,
    subject_key: str,
    customer: str | None,
    account_id: str | None,
    sent_at: datetime | None,
    internal_domains: frozenset[str],
) -> bool:
    """Subject fallback: same normalised, non-generic subject, same customer, within the window."""
    if not subject_key or subject_key in _GENERIC_SUBJECTS or subject_key != thread.subject_key:
        return False
    if sent_at is not None and thread.last_at is not None and abs(sent_at - thread.last_at) > SUBJECT_WINDOW:
        return False
    return same_customer(thread, customer, account_id, internal_domains)
