"""Our own SPF, DKIM and DMARC on mail the SMTP inbox receives: real signatures (dkimpy, a key made here), real SPF
evaluation (pyspf), DNS answered from records the test publishes (the one edge we fake), then through the real SMTP
inbox on loopback, the gate and the worker (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from intake_support import free_port, keyword_stage, seed_crm

from handoff.intake import sender_auth, service
from handoff.intake.gate import GatePolicy, authentication, forgery_reason
from handoff.intake.ledger import load_raw, raw_path_of
from handoff.intake.mime import parse_mail as parse
from handoff.intake.sources.smtp import smtp_inbox
from handoff.wiring import Parts

OURS = "handoff.local"  # the first recipient's domain: our authserv-id by default
ALICE = "Alice Chen <alice.chen@acme-corp.com>"


def _key() -> tuple[bytes, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(der)


PRIVATE, PUBLIC = _key()


class PublishedDns:
    """The records the test publishes, answered in pyspf's shapes; everything else does not exist."""

    def __init__(self, records: dict[tuple[str, str], list]) -> None:
        self.records = records
        self.asked: list[tuple[str, str]] = []

    def __call__(self, name: str, qtype: str) -> list:
        self.asked.append((name, qtype))
        return list(self.records.get((name, qtype), []))


def _dns(spf_record: str = "v=spf1 ip4:192.0.2.0/24 -all", dmarc: str = "v=DMARC1; p=reject") -> PublishedDns:
    """acme-corp.com sends from 192.0.2.0/24 (so never from loopback), signs with selector s1, and publishes DMARC."""
    return PublishedDns(
        {
            ("acme-corp.com", "TXT"): [(spf_record.encode(),)],
            ("s1._domainkey.acme-corp.com", "TXT"): [(b"v=DKIM1; k=rsa; p=", PUBLIC)],
            ("_dmarc.acme-corp.com", "TXT"): [(dmarc.encode(),)],
        }
    )


def _mail(subject: str, extra: str = "", body: str = "Could you send the revised SOW by Friday?") -> bytes:
    head = f"{extra}From: {ALICE}\r\nTo: tasks@handoff.local\r\nSubject: {subject}\r\n"
    head += f"Message-ID: <{abs(hash(subject))}@acme-corp.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
    return f"{head}\r\n{body}\r\n".encode()


def _signed(raw: bytes, domain: bytes = b"acme-corp.com") -> bytes:
    headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    return dkim.sign(raw, b"s1", domain, PRIVATE, include_headers=headers) + raw


def _check(raw: bytes, dns: PublishedDns, client_ip: str = "127.0.0.1", mail_from: str = "alice.chen@acme-corp.com"):
    return sender_auth.check(raw, client_ip=client_ip, helo="mx.acme-corp.com", mail_from=mail_from, resolver=dns,
                             timeout_s=2.0)  # fmt: skip


def test_a_signature_of_the_from_domain_passes_dkim_and_dmarc_without_spf() -> None:
    checked = _check(_signed(_mail("Signed")), _dns())
    assert checked.spf == "fail"  # loopback is not in acme-corp.com's SPF
    assert checked.dkim == (("pass", "acme-corp.com"),) and checked.dmarc == "pass" and checked.policy == "reject"
    assert checked.header_value(OURS) == (
        f"{OURS}; spf=fail smtp.mailfrom=acme-corp.com; dkim=pass header.d=acme-corp.com; "
        "dmarc=pass policy.dmarc=reject header.from=acme-corp.com"
    )


def test_spf_alone_passes_dmarc_from_a_listed_address() -> None:
    checked = _check(_mail("From their server"), _dns(), client_ip="192.0.2.25")
    assert (checked.spf, checked.dkim, checked.dmarc) == ("pass", (), "pass")


def test_a_changed_body_or_a_foreign_signature_fails_dmarc() -> None:
    tampered = _signed(_mail("Changed")).replace(b"revised SOW", b"refund of 50,000 EUR")
    checked = _check(tampered, _dns())
    assert checked.dkim == (("fail", "acme-corp.com"),) and checked.dmarc == "fail"
    # Signed, validly, by the attacker's own domain: DKIM passes for evil.example, which is not aligned with From.
    evil = _dns()
    evil.records[("s1._domainkey.evil.example", "TXT")] = [(b"v=DKIM1; k=rsa; p=", PUBLIC)]
    foreign = _check(_signed(_mail("Foreign"), b"evil.example"), evil)
    assert foreign.dkim == (("pass", "evil.example"),) and foreign.dmarc == "fail"
    unsigned = _check(_mail("Unsigned"), _dns())
    assert (unsigned.dkim, unsigned.dmarc) == ((), "fail")


def test_without_a_published_policy_dmarc_is_none_and_dns_failures_are_temperror() -> None:
    bare = PublishedDns({})
    assert _check(_mail("No records"), bare).dmarc == "none"

    def down(name: str, qtype: str) -> list:
        raise sender_auth.spf.TempError("DNS Timeout")

    broken = _check(_signed(_mail("DNS down")), down)
    assert (broken.spf, broken.dkim, broken.dmarc) == ("temperror", (("temperror", "acme-corp.com"),), "temperror")
    two_froms = _check(b"From: a@acme-corp.com\r\nFrom: b@evil.example\r\nSubject: x\r\n\r\nhi\r\n", _dns())
    assert two_froms.dmarc == "permerror"


def test_the_organisational_domain_policy_covers_a_subdomain_sender() -> None:
    raw = _mail("Sub").replace(b"alice.chen@acme-corp.com", b"alice@eu.acme-corp.com")
    checked = _check(raw, _dns(dmarc="v=DMARC1; p=none; sp=quarantine"), mail_from="alice@eu.acme-corp.com")
    assert (checked.from_domain, checked.dmarc, checked.policy) == ("eu.acme-corp.com", "fail", "quarantine")


@pytest.mark.parametrize(
    "forged",
    [
        f"Authentication-Results: {OURS}; dkim=pass header.d=acme-corp.com; dmarc=pass header.from=acme-corp.com\r\n",
        f"Authentication-Results:\r\n {OURS.upper()} (folded);\r\n dmarc=pass header.from=acme-corp.com\r\n",
        "Authentication-Results: =?utf-8?q?handoff.local=3B_dmarc=3Dpass_header.from=3Dacme-corp.com?=\r\n",
    ],
)
def test_results_a_sender_wrote_under_our_authserv_id_are_renamed_and_never_believed(forged: str) -> None:
    raw = _mail("Forged results", forged)
    checked = _check(raw, _dns())
    stamped = sender_auth.stamp(raw, checked, OURS)
    mail = parse(stamped)
    assert len(mail.headers["authentication-results"]) == 1  # ours alone
    assert mail.headers["authentication-results"][0].startswith(f"{OURS}; spf=fail")
    assert "x-handoff-untrusted-authentication-results" in mail.headers
    policy = GatePolicy(trusted_authserv_ids=frozenset({OURS}))
    assert forgery_reason(authentication(mail), policy) == "forgery: spf=fail for acme-corp.com, dmarc=fail for " \
        "acme-corp.com"  # fmt: skip
    # Another receiver's results stay as they came: believed only if that receiver is listed.
    other = "Authentication-Results: mx.example.net; dkim=pass header.d=acme-corp.com\r\n"
    assert b"\r\nAuthentication-Results: mx.example.net" in sender_auth.stamp(_mail("Kept", other), checked, OURS)


@pytest.fixture
def checked_inbox(parts: Parts) -> Iterator[tuple[Parts, int]]:
    """The SMTP inbox on loopback with our own sender checks on and every customer mail required to pass them."""
    inbox = parts.settings.inbox.model_copy(update={"sender_auth": True, "require_aligned_auth": True})
    checked = Parts(parts.settings.model_copy(update={"inbox": inbox}))
    seed_crm(checked)
    assert checked.settings.inbox.own_authserv_id() == OURS
    assert not any("REQUIRE_ALIGNED_AUTH" in warning for warning in checked.settings.warnings())
    port = free_port()
    try:
        with smtp_inbox(checked, "127.0.0.1", port, resolver=_dns()):
            yield checked, port
    finally:
        checked.close()


def _deliver(port: int, envelope_from: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail(envelope_from, ["tasks@handoff.local"], raw) == {}


def test_through_smtp_only_mail_the_from_domain_signed_is_credited(checked_inbox: tuple[Parts, int]) -> None:
    parts, port = checked_inbox
    forged_pass = f"Authentication-Results: {OURS}; dmarc=pass header.from=acme-corp.com\r\n"
    _deliver(port, "alice.chen@acme-corp.com", _signed(_mail("Genuine")))
    # The forger fakes the envelope too: with no MTA in front, before our own checks this mail was credited.
    _deliver(port, "alice.chen@acme-corp.com", _mail("Envelope faked as well"))
    _deliver(port, "alice.chen@acme-corp.com", _signed(_mail("Altered")).replace(b"revised SOW", b"refund"))
    _deliver(port, "alice.chen@acme-corp.com", _mail("Our results forged", forged_pass))
    service.process_pending(parts, stage=keyword_stage())
    with parts.sessions() as session:
        entries = {entry.subject: entry for entry in service.list_entries(session, limit=100)}
        stored = load_raw(parts.settings.raw_mail_dir, raw_path_of(session, entries["Our results forged"].id))

    genuine = entries["Genuine"]
    assert genuine.outcome == "tasks_created" and genuine.account_id == "acc-acme", genuine
    for subject in ("Envelope faked as well", "Altered", "Our results forged"):
        forged = entries[subject]
        assert forged.outcome == "spam" and "dmarc=fail for acme-corp.com" in forged.reason, (subject, forged.reason)
        assert (forged.account_id, forged.contact_id, forged.thread_id, forged.task_ids) == (None, None, None, [])
    assert stored.startswith(b"Return-Path: <alice.chen@acme-corp.com>\r\nAuthentication-Results: handoff.local;")
    assert b"\r\nX-Handoff-Untrusted-Authentication-Results: handoff.local; dmarc=pass" in stored
