"""Masks contact details (email, phone) for callers without the `contact_data` right; pure functions."""

from __future__ import annotations

import re
from typing import Any

# Letters of any script on both sides of the @: `jörg@müller.de` is an address too. A match starts only where a run of
# address characters starts, and the local part holds at most 64 (RFC 5321): without that, a long run with no @ in
# it (attacker-written mail) was rescanned from every position, 2 s for 20 k characters, on every masked read.
_EMAIL = re.compile(r"(?<![\w.%+\-])([\w.%+\-]{1,64})@((?:[^\W_]|-)+(?:\.(?:[^\W_]|-)+)*\.[^\W\d_]{2,})")
# A phone number in free text: a `+` and 7 or more digits, or 9 or more digits, with the usual separators; not part of
# a longer token ("INV-2026-000123") and not an ISO date or time ("2026-12-04 10:30" holds 10 digits).
# Bounded too: a phone number written out is at most ~25 characters.
_PHONE = re.compile(r"(?<![\w\-/.])(\+?\(?\d[\d\s().\-/]{5,24}\d)(?![\w\-/])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def mask_email(value: str | None) -> str | None:
    """`john.doe@acme.com` -> `j***@acme.com`; the domain stays, since it says which company wrote."""
    if not value:
        return value
    local, at, domain = value.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_emails_in(text: str | None) -> str | None:
    """Every address inside a free text (e.g. `"John Doe" <john@acme.com>`), masked in place."""
    if not text:
        return text
    return _EMAIL.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", text)


def _is_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if _ISO_DATE.match(candidate):
        return False
    if candidate.startswith("+"):
        return digits >= 7
    return digits >= 10 or (digits >= 9 and not candidate.isdigit())  # a bare 9-digit run is more often an order


def mask_phones_in(text: str | None) -> str | None:
    """Every phone number inside a free text, masked like `mask_phone`."""
    if not text:
        return text
    return _PHONE.sub(lambda m: mask_phone(m.group(1)) if _is_phone(m.group(1)) else m.group(0), text)


def mask_contact_data_in(text: str | None) -> str | None:
    """Addresses and phone numbers inside a free text, masked."""
    return mask_phones_in(mask_emails_in(text))


def mask_contact_data_deep(value: Any) -> Any:
    """`mask_contact_data_in` on every text inside nested dicts and lists; anything else as it is."""
    if isinstance(value, str):
        return mask_contact_data_in(value)
    if isinstance(value, dict):
        return {key: mask_contact_data_deep(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_contact_data_deep(item) for item in value]
    return value


def has_contact_data(text: str | None) -> bool:
    """Whether a free text holds an address or a phone number (reading it unmasked is then audited)."""
    return bool(text) and (_EMAIL.search(text) is not None or any(_is_phone(m.group(1)) for m in _PHONE.finditer(text)))


def mask_phone(value: str | None) -> str | None:
    """`+49 170 5551212` -> `+49 *** ** 12`: the country code (when written apart) and the last two digits stay."""
    if not value:
        return value
    digits = re.sub(r"\D", "", value)
    if len(digits) < 4:
        return "***"
    country = re.match(r"\s*(\+\d{1,3})[\s\-(./]", value)
    prefix = f"{country.group(1)} " if country else ""
    return f"{prefix}*** ** {digits[-2:]}"
