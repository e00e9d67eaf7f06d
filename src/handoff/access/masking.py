"""Masks contact details (email, phone) for callers without the `contact_data` right; pure functions."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Letters of any script on both sides of the @: `jörg@müller.de` is an address too. A match starts only where a run of
# address characters starts, and the local part holds at most 64 (RFC 5321): without that, a long run with no @ in
# it (attacker-written mail) was rescanned from every position, 2 s for 20 k characters, on every masked read.
# Inside the local part an apostrophe (o'brien@) and combining marks (a decomposed é) belong to the address.
_LOCAL = r"(?<![\w.%+\-])([\w.%+\-][\w\u0300-\u036f.%+\-']{0,63})"
_EMAIL = re.compile(_LOCAL + r"@((?:[^\W_]|-)+(?:\.(?:[^\W_]|-)+)*\.[^\W\d_]{2,})")
# The same address written to dodge robots: `jennifer [at] example [dot] com`, `ann(at)acme.de`.
_AT, _DOT = r"\s?[\[({]\s?at\s?[\])}]\s?", r"(?:\.|\s?[\[({]\s?dot\s?[\])}]\s?)"
_SPELLED_EMAIL = re.compile(
    _LOCAL + _AT + r"((?:[^\W_]|-)+(?:" + _DOT + r"(?:[^\W_]|-)+)*" + _DOT + r"[^\W\d_]{2,})", re.IGNORECASE
)
_SPELLED_DOT = re.compile(_DOT, re.IGNORECASE)
# A run of address characters standing alone: checked against the local parts of known contacts ("to jennifer.liu").
_WORD = re.compile(r"(?<![\w.%+\-@])[\w.%+\-]{4,64}(?![\w%+\-@])")
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


def _is_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if _ISO_DATE.match(candidate):
        return False
    if candidate.startswith("+"):
        return digits >= 7
    return digits >= 10 or (digits >= 9 and not candidate.isdigit())  # a bare 9-digit run is more often an order


def _normalised(text: str) -> tuple[str, list[int] | None]:
    """The NFKC form matched against (full-width `ｊｏｈｎ＠ａｃｍｅ．ｃｏｍ` is an address), and for each of its
    characters the index of the character it came from; None when the text is its own NFKC form (most text)."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text, None
    pieces: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):  # char by char, so every matched span maps back onto the original
        piece = unicodedata.normalize("NFKC", char)
        pieces.append(piece)
        origins.extend([index] * len(piece))
    return "".join(pieces), origins


def _spelled_domain(domain: str) -> str:
    return _SPELLED_DOT.sub(".", domain)


def distinctive_local_parts(addresses: Iterable[str | None]) -> frozenset[str]:
    """The local parts of contacts' addresses that name a person on their own ("jennifer.liu", "j_liu2"), folded.

    A plain word ("info", "sales", "jennifer") is left out: masking it would blank ordinary words in every text.
    """
    found = set()
    for address in addresses:
        local, at, _ = unicodedata.normalize("NFKC", address or "").rpartition("@")
        local = local.strip().casefold()
        if at and 4 <= len(local) <= 64 and re.search(r"[._+\-\d]", local) and _WORD.fullmatch(local):
            found.add(local)
    return frozenset(found)


@dataclass(frozen=True)
class ContactMask:
    """Finds and masks contact data in free text: addresses (plain, full-width, `[at]`-spelled), phone numbers, and
    the bare local parts of known contacts' addresses (`distinctive_local_parts`)."""

    known_local_parts: frozenset[str] = frozenset()

    def _spans(self, normal: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, replacement) in the normalised text; earlier kinds win an overlap."""
        kinds: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]]] = [
            (_EMAIL, lambda m: f"{m.group(1)[:1]}***@{m.group(2)}"),
            (_SPELLED_EMAIL, lambda m: f"{m.group(1)[:1]}***@{_spelled_domain(m.group(2))}"),
            (_PHONE, lambda m: mask_phone(m.group(1)) if _is_phone(m.group(1)) else None),
        ]
        if self.known_local_parts:
            kinds.append((_WORD, self._known_word))
        # Kept sorted by start: being non-overlapping, a new span can only overlap its two neighbours. Checking every
        # span instead cost a 50,000-character mail body (`web.views.message_page`) 0.65 s for 1,400 matches.
        spans: list[tuple[int, int, str]] = []
        for pattern, replace in kinds:
            for match in pattern.finditer(normal):
                start, end = match.span()
                at = bisect.bisect_left(spans, (start,))
                if (at > 0 and spans[at - 1][1] > start) or (at < len(spans) and spans[at][0] < end):
                    continue
                replacement = replace(match)
                if replacement is not None:
                    spans.insert(at, (start, end, replacement))
        return spans

    def _known_word(self, match: re.Match[str]) -> str | None:
        word = match.group(0)
        core = word.rstrip(".")  # "… to jennifer.liu." ends a sentence
        if core.casefold() not in self.known_local_parts:
            return None
        return f"{core[:1]}***{word[len(core) :]}"

    def text(self, text: str | None) -> str | None:
        """The text with every piece of contact data masked in place; the rest as written."""
        if not text:
            return text
        normal, origins = _normalised(text)
        spans = self._spans(normal)
        if not spans:
            return text
        out, last = [], 0
        for start, end, replacement in spans:
            begin, stop = (start, end) if origins is None else (origins[start], origins[end - 1] + 1)
            out += [text[last:begin], replacement]
            last = stop
        out.append(text[last:])
        return "".join(out)

    def deep(self, value: Any) -> Any:
        """`text` on every string inside nested dicts and lists; anything else as it is."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.deep(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(item) for item in value]
        return value

    def finds(self, value: Any) -> bool:
        """Whether any string inside `value` holds contact data (reading it unmasked is then audited)."""
        if isinstance(value, str):
            return bool(value) and bool(self._spans(_normalised(value)[0]))
        if isinstance(value, dict):
            return any(self.finds(item) for item in value.values())
        if isinstance(value, list | tuple):
            return any(self.finds(item) for item in value)
        return False


_ANY = ContactMask()


def mask_emails_in(text: str | None) -> str | None:
    """Every address inside a free text (e.g. `"John Doe" <john@acme.com>`), masked in place (phones too)."""
    return _ANY.text(text)


def mask_contact_data_in(text: str | None) -> str | None:
    """Addresses and phone numbers inside a free text, masked."""
    return _ANY.text(text)


def has_contact_data(text: str | None) -> bool:
    """Whether a free text holds an address or a phone number (reading it unmasked is then audited)."""
    return _ANY.finds(text)


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
