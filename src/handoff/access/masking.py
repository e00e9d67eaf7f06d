"""Masks contact details (email, phone) for callers without the `contact_data` right; pure functions."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-]+)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


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
