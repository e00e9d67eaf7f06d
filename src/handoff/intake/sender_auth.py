"""Sender authentication of our own, for mail that reaches handoff's SMTP inbox with no MTA in front: SPF (pyspf)
on the connecting address and MAIL FROM, DKIM (dkimpy) on the message as received, and DMARC (RFC 7489) from the
two, written as an `Authentication-Results` header under our own authserv-id, which the gate then believes like a
trusted MTA's (`intake.gate`). Every DNS question goes through one `Resolver`, so tests hand in their own records.

Only the SMTP inbox can do this: SPF needs the connecting IP, which the HTTP, webhook and IMAP sources never see.
"""

from __future__ import annotations

import email.parser
import email.policy
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dkim
import spf

from handoff.intake.gate import aligned, organisation, parse_auth_results
from handoff.intake.mime import decode_header_value, parse_addresses

log = logging.getLogger(__name__)

# (name, qtype) -> the answers in pyspf's shapes: "A"/"AAAA" address strings, "MX" (preference, host), "PTR" host
# names, "TXT" a tuple of byte strings per record. Nothing there: []. A DNS failure raises `spf.TempError`.
Resolver = Callable[[str, str], list[Any]]

MAX_SIGNATURES = 5  # DKIM signatures checked per message; more are a cost an attacker chooses, not evidence
_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def dns_resolver(timeout_s: float = 5.0) -> Resolver:
    """The real resolver (dnspython, the system's name servers), each question bounded by `timeout_s`."""
    import dns.exception
    import dns.resolver

    def resolve(name: str, qtype: str) -> list[Any]:
        try:
            answers = dns.resolver.resolve(name, qtype, lifetime=timeout_s, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise spf.TempError(f"DNS {type(error).__name__} for {name} {qtype}") from None
        except dns.exception.DNSException:  # a malformed name the sender chose: no such record
            return []
        if qtype in ("A", "AAAA"):
            return [r.address for r in answers]
        if qtype == "MX":
            return [(r.preference, r.exchange.to_text(True)) for r in answers]
        if qtype == "PTR":
            return [r.target.to_text(True) for r in answers]
        return [tuple(r.strings) for r in answers]

    return resolve


@dataclass(frozen=True)
class Checked:
    """What our own checks found; `header_value` is the Authentication-Results line (RFC 8601) they make."""

    spf: str  # pass, fail, softfail, neutral, none, temperror, permerror
    mail_from_domain: str
    dkim: tuple[tuple[str, str], ...] = ()  # (result, d=) per signature; none when there is no signature
    dmarc: str = "none"  # pass, fail, none (no policy published), temperror, permerror
    from_domain: str = ""
    policy: str | None = None  # the published p= (or sp=), when there is one
    notes: tuple[str, ...] = field(default=(), compare=False)

    def header_value(self, authserv_id: str) -> str:
        parts = [authserv_id, f"spf={self.spf} smtp.mailfrom={self.mail_from_domain or 'unknown'}"]
        parts += [f"dkim={result} header.d={domain}" for result, domain in self.dkim] or ["dkim=none"]
        policy = f" policy.dmarc={self.policy}" if self.policy else ""
        parts.append(f"dmarc={self.dmarc}{policy} header.from={self.from_domain or 'unknown'}")
        return "; ".join(parts)


class _Query(spf.query):
    """pyspf's SPF evaluation with its DNS questions sent to our resolver (it follows CNAMEs itself)."""

    def __init__(self, resolver: Resolver, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resolver = resolver

    def dns(self, name: str, qtype: str, cnames: Any = None, ignore_void: bool = False) -> list[Any]:
        return self._resolver(str(name).rstrip(".").lower(), qtype)


def check_spf(resolver: Resolver, *, client_ip: str, helo: str, mail_from: str, timeout_s: float) -> str:
    """RFC 7208 for the MAIL FROM (or, for the null sender, the HELO name) from the connecting address."""
    sender = mail_from or f"postmaster@{helo}"
    try:
        result, _code, _explanation = _Query(
            resolver, i=client_ip, s=sender, h=helo, timeout=timeout_s, querytime=timeout_s * 4
        ).check()
    except Exception as error:  # pyspf on an address it cannot parse: no opinion, not a failure
        log.info("spf: no result for %s from %s (%s)", sender, client_ip, type(error).__name__)
        return "permerror"
    return str(result)


def check_dkim(resolver: Resolver, raw: bytes, timeout_s: float) -> list[tuple[str, str]]:
    """Each DKIM-Signature (RFC 6376) of the message as received: (pass/fail/permerror/temperror, its d=)."""
    signer = dkim.DKIM(raw, timeout=int(max(1, timeout_s)))
    try:
        count = len([name for name, _ in signer.headers if name.lower() == b"dkim-signature"])
    except Exception:  # a header block dkimpy cannot read: no signature to check
        return []

    def txt(name: bytes | str, timeout: float = timeout_s) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        records = resolver(text.rstrip(".").lower(), "TXT")
        return b"".join(records[0]) if records else None

    found: list[tuple[str, str]] = []
    for index in range(min(count, MAX_SIGNATURES)):
        try:
            result = "pass" if signer.verify(idx=index, dnsfunc=txt) else "fail"
        except spf.TempError:
            result = "temperror"
        except dkim.KeyFormatError:
            result = "permerror"
        except dkim.DKIMException:
            result = "fail" if signer.domain else "permerror"
        domain = (signer.domain or b"").decode("ascii", "replace").lower() if result != "permerror" else ""
        found.append((result, domain or "unknown"))
        signer.domain = None  # dkimpy keeps the last signature's domain; the next one sets its own
    return found


def _from_domain(raw: bytes) -> str | None:
    """The domain of the message's single From address (RFC 7489 6.6.1), read as the gate reads it
    (`mime.parse_addresses`); None when there is not exactly one."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    values = [str(value) for name, value in headers.raw_items() if name.lower() == "from"]
    addresses = parse_addresses(values)
    if len(values) != 1 or len(addresses) != 1 or "@" not in addresses[0].email:
        return None
    return addresses[0].email.rsplit("@", 1)[1]


def _dmarc_record(resolver: Resolver, domain: str) -> dict[str, str] | None:
    """The DMARC record of `domain`, else of its organisational domain (RFC 7489 6.6.3), as tags; None: none."""
    for name, is_org in ((domain, False), (organisation(domain), True)):
        if is_org and name == domain:
            break
        records = [b"".join(r).decode("utf-8", "replace") for r in resolver(f"_dmarc.{name}", "TXT")]
        records = [r for r in records if r.strip().lower().startswith("v=dmarc1")]
        if len(records) == 1:
            tags = {}
            for part in records[0].split(";"):
                key, _, value = part.partition("=")
                tags[key.strip().lower()] = value.strip().lower()
            tags["org"] = "1" if is_org else ""
            return tags
    return None


def _aligned_with(domain: str, other: str, mode: str) -> bool:
    return domain == other if mode == "s" else aligned(domain, other)


def check(raw: bytes, *, client_ip: str, helo: str, mail_from: str, resolver: Resolver, timeout_s: float) -> Checked:
    """SPF, DKIM and DMARC for one message as it arrived; DNS failures become temperror, never an exception."""
    mail_from_domain = mail_from.rsplit("@", 1)[1].lower() if "@" in mail_from else helo.lower()
    spf_result = check_spf(resolver, client_ip=client_ip, helo=helo, mail_from=mail_from, timeout_s=timeout_s)
    signatures = tuple(check_dkim(resolver, raw, timeout_s))
    from_domain = _from_domain(raw)
    if from_domain is None:
        return Checked(spf_result, mail_from_domain, signatures, "permerror", "", notes=("not exactly one From",))
    try:
        record = _dmarc_record(resolver, from_domain)
    except spf.TempError:
        return Checked(spf_result, mail_from_domain, signatures, "temperror", from_domain)
    if record is None:
        return Checked(spf_result, mail_from_domain, signatures, "none", from_domain)
    policy = (record.get("sp") if record["org"] and record.get("sp") else record.get("p")) or "none"
    dkim_ok = any(
        result == "pass" and _aligned_with(d, from_domain, record.get("adkim", "r")) for result, d in signatures
    )
    spf_ok = spf_result == "pass" and _aligned_with(mail_from_domain, from_domain, record.get("aspf", "r"))
    dmarc = "pass" if dkim_ok or spf_ok else "fail"
    return Checked(spf_result, mail_from_domain, signatures, dmarc, from_domain, policy)


def stamp(raw: bytes, checked: Checked, authserv_id: str) -> bytes:
    """The message with our Authentication-Results on top, and any that a sender wrote under our authserv-id
    renamed (RFC 8601 5: a receiver removes, or renders harmless, results claiming to be its own).

    A header is judged as the gate will read it (unfolded, RFC 2047 words decoded), so an encoded or folded copy of
    our authserv-id is renamed too; renaming, not deleting, keeps the message as it came for a person to read."""
    ours = authserv_id.strip().lower()
    end = _header_end(raw)
    fields: list[list[bytes]] = []
    for line in raw[:end].splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1].append(line)  # a folded continuation belongs to the field above
        else:
            fields.append([line])
    out: list[bytes] = []
    for lines in fields:
        name = _HEADER_NAME.match(lines[0])
        if name is not None and name.group(1).lower() == b"authentication-results" and _claims(lines, ours):
            lines = [b"X-Handoff-Untrusted-" + lines[0], *lines[1:]]
        out.extend(lines)
    header = f"Authentication-Results: {checked.header_value(authserv_id)}\r\n".encode("ascii", "replace")
    return header + b"".join(out) + raw[end:]


def _header_end(raw: bytes) -> int:
    """Where the header block ends (at its blank line), or the end of a message that has no body. The mail parser
    ends it at the first blank line too, so it never reads a header past this point."""
    found = [at for at in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if at != -1]
    return min(found) if found else len(raw)


def _claims(lines: list[bytes], authserv_id: str) -> bool:
    value = b"".join(lines).split(b":", 1)[1].decode("ascii", "surrogateescape")
    return any(result.authserv_id == authserv_id for result in parse_auth_results(decode_header_value(value)))
