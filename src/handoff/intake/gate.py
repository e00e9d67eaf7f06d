"""The spam and bulk gate: the mail stack's verdicts, list headers, sender authentication and a content score, read
from one parsed message (pure; the worker asks the spam filter and knows who is a customer)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from handoff.intake.mime import Address, ParsedMail

SPAM, BULK = "spam", "bulk"
# rspamd's actions that mean "this is spam" (its milter rejects, tags or rewrites the subject); "greylist" and
# "soft reject" are delivery tactics, not verdicts, and "no action" is clean.
RSPAMD_SPAM_ACTIONS = frozenset({"reject", "add header", "add_header", "rewrite subject", "rewrite_subject"})
_SA_SCORE = re.compile(r"score=(-?[\d.]+)(?:\s+required=(-?[\d.]+))?", re.IGNORECASE)
_RSPAMD_RESULT = re.compile(r"^\s*default:\s*(true|false)\s*\[\s*(-?[\d.]+)\s*/\s*(-?[\d.]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
# Two-label public suffixes common among our customers: acme.co.uk's organisation is acme.co.uk, not co.uk.
_SECOND_LEVEL_SUFFIXES = frozenset(
    {"co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.nz", "com.cn", "net.cn", "org.cn",
     "gov.cn", "com.hk", "com.tw", "co.jp", "ne.jp", "or.jp", "co.kr", "com.br", "com.mx", "co.in", "co.za",
     "com.sg", "com.tr"}
)  # fmt: skip
ContentScore = Callable[[ParsedMail], float | None]


@dataclass(frozen=True)
class Verdict:
    """Why a message stops at the gate: `spam` (quarantined for a person) or `bulk` (list mail; no tasks)."""

    outcome: str
    reason: str  # names the header, score or check that decided, e.g. "bulk: List-Id <dev.lists.example>"


@dataclass(frozen=True)
class AuthResult:
    """One method's result in an Authentication-Results header (RFC 8601), with the domain it speaks for."""

    authserv_id: str
    method: str  # spf, dkim, dmarc (others are kept but not read)
    result: str  # pass, fail, softfail, neutral, none, temperror, permerror, policy
    domain: str  # dmarc: header.from; dkim: header.d (or header.i's domain); spf: smtp.mailfrom's domain


@dataclass(frozen=True)
class Authentication:
    """What the message says about who sent it: the header From, the envelope sender, and the receivers' checks."""

    from_address: Address | None
    envelope: str | None  # the topmost Return-Path (the final delivery's): "" for the null sender <>, None if absent
    results: tuple[AuthResult, ...] = ()

    @property
    def from_domain(self) -> str:
        return self.from_address.domain if self.from_address else ""

    @property
    def envelope_domain(self) -> str:
        return self.envelope.rsplit("@", 1)[1] if self.envelope and "@" in self.envelope else ""


@dataclass(frozen=True)
class GatePolicy:
    """What the gate reads besides the message: whose Authentication-Results to believe, and the content hook.

    `content_score(mail)` is the embedded content classifier's spam probability (None: it has no opinion); at or
    above `content_threshold` the message is spam, at or above `suspect_score` below it, suspect."""

    trusted_authserv_ids: frozenset[str] = frozenset()
    require_aligned_pass: bool = False
    content_score: ContentScore | None = None
    content_threshold: float = 0.9
    suspect_score: float = 0.5

    @classmethod
    def from_settings(
        cls, inbox: object, content_score: ContentScore | None = None, default_threshold: float = 0.9
    ) -> GatePolicy:
        threshold = getattr(inbox, "content_spam_threshold", None)
        trusted = [*getattr(inbox, "trusted_authserv_ids", ())]
        own_id = getattr(inbox, "own_authserv_id", None)
        own = own_id() if callable(own_id) else None
        trusted += [own] if own else []  # our own checks (`intake.sender_auth`), when the SMTP inbox makes them
        return cls(
            trusted_authserv_ids=frozenset(i.strip().lower() for i in trusted),
            require_aligned_pass=bool(getattr(inbox, "require_aligned_auth", False)),
            content_score=content_score,
            content_threshold=float(default_threshold if threshold is None else threshold),
            suspect_score=float(getattr(inbox, "content_suspect_score", 0.5)),
        )


OPEN_POLICY = GatePolicy()


# --- the verdicts written by the mail stack in front of us ----------------------------------------------------------


def stack_verdict(mail: ParsedMail) -> Verdict | None:
    """SpamAssassin's and rspamd's verdict headers: a spam verdict is always believed (a sender gains nothing by
    marking its own mail spam); a clean one is never proof, since any sender can write `X-Spam-Flag: NO`."""
    for value in mail.headers.get("x-spam-flag", []):
        if value.strip().lower().startswith("yes"):
            score = _sa_score(mail)
            return Verdict(SPAM, f"spam: X-Spam-Flag: YES{f' ({score})' if score else ''}")
    for value in mail.headers.get("x-spam-status", []):
        if value.strip().lower().startswith("yes"):
            score = _SA_SCORE.search(value)
            return Verdict(SPAM, f"spam: X-Spam-Status: Yes{f', score={score.group(1)}' if score else ''}")
    for value in mail.headers.get("x-spamd-result", []):
        found = _RSPAMD_RESULT.match(value)
        if found and found.group(1).lower() == "true":
            return Verdict(SPAM, f"spam: X-Spamd-Result: True [{found.group(2)} / {found.group(3)}]")
    for value in mail.headers.get("x-rspamd-action", []):
        action = " ".join(value.strip().lower().split())
        if action in RSPAMD_SPAM_ACTIONS:
            score = mail.header("x-rspamd-score")
            return Verdict(SPAM, f"spam: X-Rspamd-Action: {action}{f', score={score.strip()}' if score else ''}")
    for value in mail.headers.get("x-spam", []):  # rspamd's milter "add header" action writes `X-Spam: Yes`
        if value.strip().lower().startswith("yes"):
            return Verdict(SPAM, "spam: X-Spam: Yes")
    return None


def _sa_score(mail: ParsedMail) -> str:
    found = _SA_SCORE.search(mail.header("x-spam-status") or "")
    if not found:
        return ""
    return f"score={found.group(1)}" + (f" required={found.group(2)}" if found.group(2) else "")


def bulk_verdict(mail: ParsedMail) -> Verdict | None:
    """List mail, newsletters and marketing (RFC 2369/2919 list headers, `Precedence: bulk|list|junk`)."""
    list_id = mail.header("list-id")
    if list_id is not None:
        found = re.search(r"<([^<>]+)>", list_id)
        name = found.group(1) if found else list_id.strip()
        return Verdict(BULK, f"bulk: List-Id <{name[:120]}>")
    if mail.header("list-unsubscribe") is not None:
        return Verdict(BULK, "bulk: List-Unsubscribe")
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return Verdict(BULK, f"bulk: Precedence: {precedence}")
    return None


def content_verdict(score: float | None, policy: GatePolicy) -> Verdict | None:
    """Spam when the content classifier's score reaches the threshold. The worker asks only for mail from a sender
    it cannot credit to anyone: a customer's or a colleague's mail that passed the forgery check is believed, as
    a helpdesk believes its known correspondents, whatever a model trained on other people's mail makes of it."""
    if score is None or score < policy.content_threshold:
        return None
    return Verdict(SPAM, f"spam: content score {score:.2f} >= {policy.content_threshold:.2f}")


def suspect_reason(score: float | None, policy: GatePolicy) -> str | None:
    """Why a stranger's mail that is not spam is still suspect: its score sits in the band below the threshold where
    spam and real mail overlap. Such mail is kept and read, but only its explicit asks become tasks."""
    if score is None or not policy.suspect_score <= score < policy.content_threshold:
        return None
    return f"suspect: content score {score:.2f} >= {policy.suspect_score:.2f}: only explicit asks become tasks"


def check(mail: ParsedMail) -> Verdict | None:
    """The verdict of the message's own headers, or None to go on (spam first: spam often carries list headers)."""
    return stack_verdict(mail) or bulk_verdict(mail)


# --- who sent it: Authentication-Results and the envelope -----------------------------------------------------------


def authentication(mail: ParsedMail) -> Authentication:
    """The header From, the final delivery's Return-Path (the topmost one: a sender's own is below it) and every
    Authentication-Results header's spf, dkim and dmarc results."""
    paths = mail.headers.get("return-path", [])
    envelope = paths[0].strip().strip("<>").strip().lower() if paths else None
    results = tuple(r for value in mail.headers.get("authentication-results", []) for r in parse_auth_results(value))
    return Authentication(mail.sender, envelope, results)


def parse_auth_results(value: str) -> list[AuthResult]:
    """`authserv-id [version]; method=result (comment) ptype.prop=value ...; ...` (RFC 8601); unknown parts ignored."""
    text = value
    for _ in range(5):  # comments may nest a level or two
        text = _COMMENT.sub(" ", text)
    parts = [part.strip() for part in text.split(";")]
    if not parts or not parts[0]:
        return []
    authserv_id = parts[0].split()[0].lower()
    found: list[AuthResult] = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, result = (t.strip().lower() for t in tokens[0].split("=", 1))
        method = method.split("/", 1)[0]  # "dkim/1=pass": a method version
        props = {}
        for token in tokens[1:]:
            if "=" in token:
                key, prop = token.split("=", 1)
                props[key.strip().lower()] = prop.strip().strip('"').lower()
        found.append(AuthResult(authserv_id, method, result, _result_domain(method, props)))
    return found


def _result_domain(method: str, props: dict[str, str]) -> str:
    if method == "dmarc":
        return props.get("header.from", "")
    if method == "dkim":
        return props.get("header.d") or props.get("header.i", "").rsplit("@", 1)[-1]
    if method == "spf":
        sender = props.get("smtp.mailfrom") or props.get("smtp.mail") or props.get("smtp.helo", "")
        return sender.rsplit("@", 1)[-1]
    return ""


def organisation(domain: str) -> str:
    """The organisational domain (DMARC's relaxed alignment): mail.acme.com → acme.com, a.acme.co.uk → acme.co.uk."""
    labels = domain.lower().strip(".").split(".")
    keep = 3 if len(labels) >= 3 and ".".join(labels[-2:]) in _SECOND_LEVEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


def aligned(one: str, other: str) -> bool:
    return bool(one and other) and organisation(one) == organisation(other)


def _evidence(auth: Authentication, trusted: frozenset[str]) -> tuple[list[str], str | None]:
    """The failures for the From's (or envelope's) domain, from anyone; the best aligned pass, from trusted ids."""
    fails: list[str] = []
    best: str | None = None
    domain = auth.from_domain
    for result in auth.results:
        if result.method not in ("spf", "dkim", "dmarc"):
            continue
        # DMARC speaks for the From domain even when a receiver leaves header.from out.
        speaks_for = result.domain or (domain if result.method == "dmarc" else "")
        for_envelope = result.method == "spf" and aligned(speaks_for, auth.envelope_domain)
        if not aligned(speaks_for, domain) and not for_envelope:
            continue
        if result.result == "fail" or (result.method == "dmarc" and result.result in ("quarantine", "reject")):
            # A failure is believed from anyone: writing one can only hold the sender's own mail back.
            label = f"{result.method}=fail for {speaks_for}"
            if label not in fails:
                fails.append(label)
            continue
        # A pass counts only from our own receiving servers: anyone can write "dmarc=pass" into a header.
        trusted_pass = result.result == "pass" and result.authserv_id in trusted and aligned(speaks_for, domain)
        if trusted_pass and (best is None or _STRENGTH[result.method] > _STRENGTH[best.split("=", 1)[0]]):
            best = f"{result.method}=pass by {result.authserv_id}"
    return fails, best


_STRENGTH = {"spf": 0, "dkim": 1, "dmarc": 2}


def forgery_reason(
    auth: Authentication,
    policy: GatePolicy = OPEN_POLICY,
    *,
    relayed_by_us: Callable[[str], bool] = lambda _address: False,
) -> str | None:
    """Why the header From of a customer (or of the team) must not be believed, or None.

    Called only for a From the mail would be credited to. Forgery when a receiving server's SPF, DKIM or DMARC
    failed for the From's domain; or when the envelope sender is another organisation's and no trusted receiver
    passed DKIM/DMARC for the From (a redirect by our own mail system, `relayed_by_us`, is no mismatch); or, with
    `require_aligned_pass`, when no trusted receiver vouches for the From at all."""
    domain = auth.from_domain
    if not domain:
        return None
    fails, best = _evidence(auth, policy.trusted_authserv_ids)
    if fails and not (best or "").startswith("dmarc"):
        return f"forgery: {', '.join(fails)}"
    strong_pass = best is not None and not best.startswith("spf")
    envelope = auth.envelope_domain
    if envelope and not aligned(envelope, domain) and not relayed_by_us(auth.envelope or "") and not strong_pass:
        return (
            f"forgery: envelope sender {auth.envelope} does not match From domain {domain} "
            "and no trusted receiver passed DKIM or DMARC for it"
        )
    if policy.require_aligned_pass and best is None:
        return f"forgery: no trusted receiver passed SPF, DKIM or DMARC for {domain}"
    return None


def domain_listed(domain: str, domains: Iterable[str]) -> bool:
    """`domain` is one of `domains` or a subdomain of one (the allow list's rule)."""
    domain = domain.lower()
    return any(domain == d or domain.endswith("." + d) for d in (x.strip().lower().lstrip("@") for x in domains) if d)
