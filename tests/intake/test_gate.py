"""The gate's header rules on real messages of the public spam/ham corpus, and the forgery check on the From."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.intake.gate import (
    BULK,
    SPAM,
    GatePolicy,
    aligned,
    authentication,
    check,
    content_verdict,
    forgery_reason,
    organisation,
    parse_auth_results,
    suspect_reason,
)
from handoff.intake.mime import parse_mail
from handoff.intake.reading import read_email

CORPUS = "mail_spam_ham"
SPAMASSASSIN_PHISH = "nazario_phishing/phishing1/phishing1_msg0236.eml"  # SpamAssassin 3.0.2 said Yes, 24.7
LIST_HAM = "spamassassin_20030228/easy_ham_2/00001.1a31cc283af0060967a233d26548a6ce"  # a List-Id list
NEWSLETTER = "spamassassin_20030228/hard_ham/00015.ada83ed8f5e09b7dd5b268dafb0d7e8d"  # List-Unsubscribe, no List-Id
PRECEDENCE_BULK = "spamassassin_20030228/hard_ham/00160.0f0cc01d1f3ec5eff12ca6ee90ea9841"
CLEAN_SAYS_NO = "trec2007/ham/inmail.10529"  # X-Spam-Status: No from the list's own filter, and List-Id
BARE_SPAM = "spamassassin_20050311/spam_2/00005.ed0aba4d386c5e62bc737cf3f0ed9589"  # no verdict or list header
DEBIAN_LIST = "csdmc2010/ham/TRAIN_00018.eml"  # Gmail's Authentication-Results; envelope lists.debian.org


def _raw(datasets_dir: Path, name: str) -> bytes:
    path = datasets_dir / CORPUS / name
    assert path.is_file(), f"{path} is missing from the shared datasets"
    return path.read_bytes()


@pytest.mark.datasets
def test_a_real_spamassassin_verdict_quarantines_and_names_its_score(datasets_dir: Path) -> None:
    verdict = check(parse_mail(_raw(datasets_dir, SPAMASSASSIN_PHISH)))
    assert verdict is not None and verdict.outcome == SPAM
    assert verdict.reason == "spam: X-Spam-Flag: YES (score=24.7 required=5.0)"


@pytest.mark.datasets
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (LIST_HAM, "bulk: List-Id <exmh-workers.spamassassin.taint.org>"),
        (NEWSLETTER, "bulk: List-Unsubscribe"),
        (PRECEDENCE_BULK, "bulk: Precedence: bulk"),
        (CLEAN_SAYS_NO, "bulk: List-Id <perl6-all.perl.org>"),
    ],
)
def test_real_list_mail_is_bulk_with_the_header_that_says_so(datasets_dir: Path, name: str, reason: str) -> None:
    reading = read_email(_raw(datasets_dir, name))
    assert reading.rejection is None  # list mail is no auto-reply (it once read "auto-reply: Precedence: bulk")
    assert reading.verdict is not None and (reading.verdict.outcome, reading.verdict.reason) == (BULK, reason)


@pytest.mark.datasets
def test_a_clean_verdict_written_by_the_sender_is_no_proof(datasets_dir: Path) -> None:
    """A spammer writes `X-Spam-Flag: NO` on top; the content score (the hook) still quarantines the message."""
    raw = b"X-Spam-Flag: NO\nX-Spam-Status: No, score=-9.9 required=5.0\n" + _raw(datasets_dir, BARE_SPAM)
    mail = parse_mail(raw)
    assert check(mail) is None  # no rule of the gate fires on it: neither the real body nor the forged "NO"
    policy = GatePolicy(content_score=lambda _mail: 0.97, content_threshold=0.9)
    reading = read_email(raw, gate=policy)
    assert reading.verdict is None and reading.content_score == 0.97  # the worker judges it, knowing the sender
    verdict = content_verdict(reading.content_score, policy)
    assert verdict is not None and (verdict.outcome, verdict.reason) == (SPAM, "spam: content score 0.97 >= 0.90")
    assert content_verdict(0.5, policy) is None
    assert content_verdict(None, policy) is None  # no opinion is not spam
    assert read_email(raw, gate=GatePolicy(content_score=lambda _mail: None)).content_score is None
    assert read_email(raw, gate=None).content_score is None  # released: nobody asks the classifier


def test_the_band_below_the_threshold_is_suspect_not_spam() -> None:
    policy = GatePolicy(content_threshold=0.8, suspect_score=0.5)
    assert suspect_reason(0.62, policy) == "suspect: content score 0.62 >= 0.50: only explicit asks become tasks"
    assert suspect_reason(0.5, policy) is not None and content_verdict(0.62, policy) is None
    assert suspect_reason(0.49, policy) is None  # below the band: ordinary mail
    assert suspect_reason(0.8, policy) is None and content_verdict(0.8, policy) is not None  # at the threshold: spam
    assert suspect_reason(None, policy) is None  # no opinion is no suspicion


def test_rspamd_headers_are_read_and_its_clean_actions_are_not_spam() -> None:
    def verdict(headers: str):
        return check(parse_mail(f"From: a@b.example\nSubject: s\n{headers}\n\nbody\n".encode()))

    spamd = verdict("X-Spamd-Result: default: True [16.50 / 15.00];\n GTUBE(0.00)[];")
    assert (spamd.outcome, spamd.reason) == (SPAM, "spam: X-Spamd-Result: True [16.50 / 15.00]")
    tagged = verdict("X-Rspamd-Action: add header\nX-Rspamd-Score: 9.1")
    assert tagged.reason == "spam: X-Rspamd-Action: add header, score=9.1"
    assert verdict("X-Spamd-Result: default: False [1.20 / 15.00]") is None
    assert verdict("X-Rspamd-Action: no action\nX-Rspamd-Score: 0.3") is None
    assert verdict("X-Rspamd-Action: greylist") is None
    assert verdict("X-Spam-Status: Yes, score=7.3 required=5.0").reason == "spam: X-Spam-Status: Yes, score=7.3"


def test_spam_is_decided_before_list_headers_and_auto_replies_keep_their_reason() -> None:
    spam_list = b"From: a@b.example\nSubject: s\nList-Id: <x.b.example>\nX-Spam-Flag: YES\n\nbody\n"
    assert check(parse_mail(spam_list)).outcome == SPAM
    auto = read_email(b"From: a@b.example\nSubject: Re: s\nAuto-Submitted: auto-replied\nPrecedence: bulk\n\nAway.\n")
    assert auto.rejection == "auto-reply: Auto-Submitted: auto-replied" and auto.verdict is None
    old_style = read_email(b"From: a@b.example\nSubject: Re: s\nPrecedence: auto_reply\n\nAway.\n")
    assert old_style.rejection == "auto-reply: Precedence: auto_reply"


# --- Authentication-Results and the envelope ------------------------------------------------------------------------

TRUSTED = GatePolicy(trusted_authserv_ids=frozenset({"mx.handoff.example"}))


def _auth(headers: str, sender: str = "Alice Chen <alice.chen@acme-corp.com>"):
    head = "\n".join(part for part in (headers, f"From: {sender}", "Subject: Refund") if part)
    return authentication(parse_mail(f"{head}\n\nWire it today.\n".encode()))


def test_authentication_results_are_parsed_with_comments_and_properties() -> None:
    results = parse_auth_results(
        "mx.handoff.example 1; spf=pass (sender SPF authorized) smtp.mailfrom=bounce@mail.acme-corp.com;"
        " dkim=fail (bad signature; body changed) header.d=acme-corp.com header.s=s1;"
        " dmarc=fail (p=reject dis=none) header.from=acme-corp.com; arc=none"
    )
    assert [(r.authserv_id, r.method, r.result, r.domain) for r in results] == [
        ("mx.handoff.example", "spf", "pass", "mail.acme-corp.com"),
        ("mx.handoff.example", "dkim", "fail", "acme-corp.com"),
        ("mx.handoff.example", "dmarc", "fail", "acme-corp.com"),
        ("mx.handoff.example", "arc", "none", ""),
    ]


def test_a_failed_check_for_the_customers_domain_is_a_forgery_whoever_reported_it() -> None:
    failed = _auth("Authentication-Results: mx.elsewhere.example; dmarc=fail header.from=acme-corp.com")
    assert forgery_reason(failed) == "forgery: dmarc=fail for acme-corp.com"
    spf = _auth("Return-Path: <alice.chen@acme-corp.com>\nAuthentication-Results: mx.handoff.example; spf=fail "
                "smtp.mailfrom=alice.chen@acme-corp.com")  # fmt: skip
    assert forgery_reason(spf, TRUSTED) == "forgery: spf=fail for acme-corp.com"
    # A trusted DMARC pass outweighs one broken signature (a footer added by a relay).
    mixed = _auth("Authentication-Results: mx.handoff.example; dkim=fail header.d=acme-corp.com;"
                  " dkim=pass header.d=acme-corp.com; dmarc=pass header.from=acme-corp.com")  # fmt: skip
    assert forgery_reason(mixed, TRUSTED) is None
    assert forgery_reason(_auth("Authentication-Results: mx.x; dmarc=fail header.from=other.example")) is None


def test_another_envelope_sender_needs_a_trusted_aligned_pass_and_a_forged_pass_is_not_one() -> None:
    forged_pass = (
        "Return-Path: <eve@evil.example>\n"
        "Authentication-Results: {id}; dkim=pass header.d=acme-corp.com; dmarc=pass header.from=acme-corp.com"
    )
    eve = _auth(forged_pass.format(id="evil.example"))
    assert forgery_reason(eve, TRUSTED) == (
        "forgery: envelope sender eve@evil.example does not match From domain acme-corp.com "
        "and no trusted receiver passed DKIM or DMARC for it"
    )
    assert forgery_reason(_auth(forged_pass.format(id="mx.handoff.example")), TRUSTED) is None
    # Relaxed alignment: the customer's own bounce subdomain is the customer.
    assert forgery_reason(_auth("Return-Path: <bounces@mail.acme-corp.com>")) is None
    # Our own mail system redirected it (a rule forwarding support@ to the inbox): no mismatch.
    redirected = _auth("Return-Path: <sam@handoff-demo.com>")
    assert forgery_reason(redirected, relayed_by_us=lambda address: address == "sam@handoff-demo.com") is None
    assert forgery_reason(redirected) is not None
    # The topmost Return-Path is the final delivery's; one the sender wrote below it is not read.
    below = _auth("Return-Path: <alice.chen@acme-corp.com>\nReturn-Path: <eve@evil.example>")
    assert below.envelope == "alice.chen@acme-corp.com" and forgery_reason(below) is None


def test_required_alignment_quarantines_mail_no_trusted_receiver_vouched_for() -> None:
    strict = GatePolicy(trusted_authserv_ids=frozenset({"mx.handoff.example"}), require_aligned_pass=True)
    assert (
        forgery_reason(_auth(""), strict) == "forgery: no trusted receiver passed SPF, DKIM or DMARC for acme-corp.com"
    )
    vouched = _auth("Authentication-Results: mx.handoff.example; dkim=pass header.d=acme-corp.com")
    assert forgery_reason(vouched, strict) is None


@pytest.mark.datasets
def test_real_list_mail_from_a_customer_domain_would_not_be_credited(datasets_dir: Path) -> None:
    """Debian's list relays csmining.org's mail: Gmail's SPF pass is for lists.debian.org, DKIM only neutral."""
    auth = authentication(parse_mail(_raw(datasets_dir, DEBIAN_LIST)))
    assert auth.from_domain == "csmining.org" and auth.envelope_domain == "lists.debian.org"
    assert [(r.method, r.result) for r in auth.results] == [("spf", "pass"), ("dkim", "neutral")]
    gmail = GatePolicy(trusted_authserv_ids=frozenset({"mx.google.com"}))
    assert forgery_reason(auth, gmail).startswith("forgery: envelope sender bounce-debian-user=")


def test_organisational_domains() -> None:
    assert organisation("mail.acme-corp.com") == "acme-corp.com"
    assert organisation("a.b.acme.co.uk") == "acme.co.uk"
    assert aligned("mx.huaxin-tech.cn", "huaxin-tech.cn") and not aligned("acme-corp.com.evil.example", "acme-corp.com")
