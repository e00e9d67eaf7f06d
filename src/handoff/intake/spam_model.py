"""The embedded content spam classifier: hashed word and character n-grams plus structural cues, one calibrated
logistic regression, shipped as plain numbers (`artifacts/spam_model.npz` + `.json`; no pickle, loading runs no code).

It reads only what any mail carries: the subject and body text (addresses, URLs and digits normalised, spam tags and
list tags stripped from the subject) and a few structural cues (HTML-only body, links, IP-address hosts, link text
naming another host, forms and scripts, an all-caps subject, missing Message-ID/Date, broken charsets, a reply to a
thread). It never reads verdict headers of other filters (X-Spam-*, X-DSPAM-*), Received hosts, list headers or dates:
those are the gate's header rules or corpus artefacts. `SpamModel.probability` is P(spam or phishing); bulk mail
(newsletters, marketing) trained as not-spam. `threshold` is the score at which the gate quarantines.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse

from handoff.errors import NotReady
from handoff.extraction.classifier import tfidf
from handoff.intake.mime import ParsedMail

ARTIFACT_DIR = Path(__file__).parent / "artifacts"
ARTIFACT_NAME = "spam_model"
WORD_FEATURES = 2**18
CHAR_FEATURES = 2**18
WORD_CHARS = 6000  # text read for word n-grams: beyond it spam and ham alike are footers and quoted history
CHAR_CHARS = 2500  # character n-grams cost ~5x per char; the opening carries the pitch
# Structural columns are standardised, then shrunk: at full weight their few dense columns dominate the L2 penalty
# and the model leans on them (pilot CV: spam caught at 0.5 % ham fell from ~0.95 to ~0.79 at weight 0.3).
DENSE_WEIGHT = 0.04
# The model abstains (`content_score` None) on mail whose letters are mostly in scripts its training ham never covered:
# with no such ham, any such text scores as the spam it was seen in (every Chinese/Japanese business mail did, 0.96+).
ABSTAIN_UNCOVERED_SHARE = 0.5

_SUBJECT_TAGS = re.compile(r"\[\s*spam\s*\]|\*{2,}\s*spam\s*\*{2,}|\{\s*spam\??\s*\}|^\s*spam\s*:", re.IGNORECASE)
_LIST_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw)\s*:\s*)*(?:\[[^\]\n]{1,40}\]\s*)+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_URL_HOST = re.compile(r"(?:https?://)?([^/\s:?#<>\"']+)", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGIT = re.compile(r"\d")
_IP_HOST = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_HREF = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']?([^\"'\s>]+)[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_IMG = re.compile(r"<img\b", re.IGNORECASE)
_FORM = re.compile(r"<form\b", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b|javascript:", re.IGNORECASE)
_HIDDEN = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*[01]px|<font[^>]+size=\"?[01]\b", re.IGNORECASE
)
_RISKY_ATTACHMENT = re.compile(r"\.(?:exe|scr|pif|com|bat|cmd|js|vbs|jar|zip|rar|html?)$", re.IGNORECASE)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_MONEY = re.compile(r"[$€£]\s?\d|\d\s?(?:usd|dollars)\b|\bfree\b|100\s?%", re.IGNORECASE)

# Only cues of a spam or phishing trick, which mail of any genre rarely shows, and each may only accuse (training keeps
# their weights >= 0, see `spam_training`): the columns that described the genre of the 2002-2010 ham (a reply,
# quoted lines, list-footer links, body length, recipient counts, a Message-ID/Date/To the list server always added)
# taught "not a mailing-list discussion = spam", and real business mail is mostly not one (see the card).
STRUCTURAL_NAMES = (
    "html_body_only",  # a text/html or multipart/related message: no plain-text alternative
    # Not "has HTML": in these 2002-2010 corpora ham is mostly plain text, but every modern client sends HTML.
    "ip_link_host",  # a link to a bare IP address
    "link_text_names_other_host",  # <a href="http://evil">http://bank.example</a>: the phishing trick
    "log_images",
    "has_form",
    "has_script",
    "hidden_text",
    "subject_caps_share",
    "subject_all_caps",
    "subject_exclaims",
    "subject_money",
    "display_name_is_other_address",  # From: "service@bank.example" <x@elsewhere>
    "charset_trouble",  # lossy decode or undecodable payloads
    "log_mime_defects",
    "body_caps_share",
    "body_money_rate",
    "body_link_rate",  # links per 1,000 characters of text
    "text_poor_with_images",  # hardly any text but images: image spam
    "risky_attachment",
)
# The columns read from the body text alone: true of a mail rebuilt from its text (training's business ham, see
# `spam_training`), where every other column would describe the wrapper, not the mail.
BODY_COLUMNS = ("body_caps_share", "body_money_rate")


def strip_subject(subject: str) -> str:
    """The subject as its author wrote it: upstream filters' spam tags and list prefixes removed."""
    subject = _SUBJECT_TAGS.sub(" ", subject)
    return _LIST_PREFIX.sub(" ", subject).strip()


def _normalise(text: str) -> str:
    """URLs and addresses to placeholders, digits to 0: corpus hosts, anonymised addresses and years are no signal."""
    text = _URL.sub(" urltoken ", text)
    text = _EMAIL.sub(" emailtoken ", text)
    return _DIGIT.sub("0", text)


def mail_text(mail: ParsedMail) -> str:
    """The text the n-grams read: the stripped subject, then the body's opening, normalised."""
    return _normalise(strip_subject(mail.subject or "") + "\n" + (mail.text or "")[:WORD_CHARS])


def judged_text(mail: ParsedMail) -> str:
    """The span the n-grams read, without URLs and addresses: those are Latin letters in mail of every language."""
    text = strip_subject(mail.subject or "") + "\n" + (mail.text or "")[:WORD_CHARS]
    return _EMAIL.sub(" ", _URL.sub(" ", text))


@lru_cache(maxsize=8192)
def _script(char: str) -> str:
    """A letter's Unicode script, the first word of its name ("CJK UNIFIED IDEOGRAPH-4E2D" -> "CJK")."""
    words = unicodedata.name(char, "UNKNOWN").split()
    return words[1] if words[0] in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1 else words[0]


def script_shares(text: str) -> dict[str, float]:
    """The share of `text`'s letters in each script (LATIN, CJK, HIRAGANA, HANGUL, CYRILLIC, ...); {} without any."""
    letters = sum(map(str.isalpha, text))  # C speed; only the non-ASCII letters need a name look-up
    if not letters:
        return {}
    counts = Counter(_script(ch) for ch in "".join(_NON_ASCII.findall(text)) if ch.isalpha())
    counts["LATIN"] += letters - sum(counts.values())
    return {script: n / letters for script, n in counts.items() if n}


def _host(url: str) -> str:
    match = _URL_HOST.match(url.strip())
    host = match.group(1).lower() if match else ""
    return host.rsplit("@", 1)[-1].strip(".")


def _share_upper(text: str) -> float:
    letters = sum(map(str.isalpha, text))  # map over str methods: C speed, this runs on every mail
    return sum(map(str.isupper, text)) / letters if letters >= 5 else 0.0


def structural_features(mail: ParsedMail) -> np.ndarray:
    """The `STRUCTURAL_NAMES` columns of one mail (robust cues only; no header another filter wrote)."""
    html = mail.html or ""
    text = mail.text or ""
    subject = strip_subject(mail.subject or "")
    anchors = _HREF.findall(html[:200_000])
    urls = [href for href, _ in anchors if href.lower().startswith(("http", "www"))]
    if not html:
        urls = _URL.findall(text)
    hosts = {_host(url) for url in urls} - {""}
    mismatch = False
    for href, inner in anchors:
        shown = _URL.search(_TAG.sub("", inner))
        if shown and href.lower().startswith("http") and _host(shown.group(0)) != _host(href):
            mismatch = True
            break
    body_chars = len(text)
    sender = mail.sender
    shown_address = _EMAIL.search(sender.name) if sender and sender.name else None
    # The body came from HTML alone: a bare text/html message or one with related images (no plain alternative).
    html_only = bool(html) and mail.content_type in ("text/html", "multipart/related")
    images = len(_IMG.findall(html)) + sum(a.content_type.startswith("image/") for a in mail.attachments)
    charset_trouble = any(d.startswith(("LossyDecode", "PayloadDecodeError")) for d in mail.defects)
    values = (
        float(html_only),
        float(any(_IP_HOST.match(host.split(":")[0]) for host in hosts)),
        float(mismatch),
        math.log1p(images),
        float(bool(_FORM.search(html))),
        float(bool(_SCRIPT.search(html))),
        float(bool(_HIDDEN.search(html))),
        _share_upper(subject),
        float(_share_upper(subject) > 0.8 and sum(ch.isalpha() for ch in subject) >= 8),
        float("!" in subject),
        float(bool(_MONEY.search(subject))),
        float(shown_address is not None and shown_address.group(0).lower() != (sender.email if sender else "")),
        float(charset_trouble),
        math.log1p(len(mail.defects)),
        _share_upper(text[:CHAR_CHARS]),
        1000.0 * len(_MONEY.findall(text[:WORD_CHARS])) / max(min(body_chars, WORD_CHARS), 200),
        1000.0 * len(urls) / max(body_chars, 200),
        # Images only: a short note with an attached file ("please see attached") is everyday business mail.
        float(len(text.strip()) < 200 and images > 0),
        float(any(_RISKY_ATTACHMENT.search(a.filename or "") for a in mail.attachments)),
    )
    return np.asarray(values, dtype=np.float64)


@lru_cache(maxsize=1)
def _vectorizers():
    from sklearn.feature_extraction.text import HashingVectorizer

    # Stateless (MurmurHash3, fixed seed): the same columns in every process and version, so only numbers ship.
    words = HashingVectorizer(
        n_features=WORD_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm=None, lowercase=True
    )
    chars = HashingVectorizer(
        n_features=CHAR_FEATURES, analyzer="char_wb", ngram_range=(3, 5), alternate_sign=False, norm=None
    )
    return words, chars


@dataclass(frozen=True)
class MailFeatures:
    """Raw counts and structural columns of a batch of mails, before the IDF and scaling a model learnt."""

    words: sparse.csr_matrix
    chars: sparse.csr_matrix
    dense: np.ndarray
    # False where a structural value describes no real mail (training's rebuilt mails): it then counts as the
    # column's mean, standardised to 0, so it pulls on no structural weight. None: every value is real.
    known: np.ndarray | None = None


def mail_features(mails: Sequence[ParsedMail]) -> MailFeatures:
    """Hashed word 1-2-gram and character 3-5-gram counts of `mail_text`, and the structural columns."""
    words, chars = _vectorizers()
    texts = [mail_text(mail) for mail in mails]
    return MailFeatures(
        words=words.transform(texts).tocsr(),
        chars=chars.transform([text[:CHAR_CHARS] for text in texts]).tocsr(),
        dense=np.vstack([structural_features(mail) for mail in mails])
        if mails
        else np.zeros((0, len(STRUCTURAL_NAMES))),
    )


def _sublinear(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """1 + log(tf): a word said ten times weighs about three times one said once."""
    damped = counts.copy()
    damped.data = 1.0 + np.log(damped.data)
    return damped


def standardised_structure(features: MailFeatures, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The structural block as the model reads it: standardised, shrunk, and 0 (the mean) where not `known`."""
    dense = DENSE_WEIGHT * (features.dense - mean) / scale
    return dense if features.known is None else np.where(features.known, dense, 0.0)


def design_matrix(
    features: MailFeatures, word_idf: np.ndarray, char_idf: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> sparse.csr_matrix:
    """The columns the logistic regression reads: word TF-IDF | char TF-IDF | standardised structure."""
    dense = standardised_structure(features, mean, scale)
    return sparse.hstack(
        [
            tfidf(_sublinear(features.words), word_idf),
            tfidf(_sublinear(features.chars), char_idf),
            sparse.csr_matrix(dense.astype(np.float32)),
        ],
        format="csr",
    )


def _tfidf_dot(counts: sparse.csr_matrix, idf: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Each row's sublinear, L2-normalised TF-IDF vector dotted with `coef` (0 for an empty row)."""
    weighted = (1.0 + np.log(counts.data.astype(np.float64))) * idf[counts.indices]
    out = np.zeros(counts.shape[0])
    filled = np.flatnonzero(np.diff(counts.indptr))
    if filled.size:
        starts = counts.indptr[filled]
        dots = np.add.reduceat(weighted * coef[counts.indices], starts)
        norms = np.sqrt(np.add.reduceat(weighted * weighted, starts))
        out[filled] = dots / norms
    return out


@dataclass(frozen=True)
class SpamModel:
    """P(spam or phishing) of a parsed mail; the weights come from `spam_training.fit_spam_model`."""

    coef: np.ndarray  # over `design_matrix` columns
    intercept: float
    word_idf: np.ndarray
    char_idf: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    calibration: tuple[float, float]  # Platt scaling of the raw logit, fitted on out-of-fold logits
    threshold: float  # quarantine at or above this probability (chosen on out-of-fold ham, see the card)
    covered_scripts: tuple[str, ...]  # scripts the training ham was written in (see `judges`)
    card: dict = field(default_factory=dict)

    def logits(self, mails: Sequence[ParsedMail]) -> np.ndarray:
        return self.feature_logits(mail_features(mails)) if mails else np.zeros(0)

    def feature_logits(self, features: MailFeatures) -> np.ndarray:
        """Calibrated logits of already computed features (training scores its rebuilt mails this way)."""
        words, chars = self.word_idf.size, self.char_idf.size
        # The same sum as `design_matrix(...) @ coef`, taken block by block on the CSR arrays: building the scipy
        # matrices costs more than the arithmetic for one mail.
        raw = (
            _tfidf_dot(features.words, self.word_idf, self.coef[:words])
            + _tfidf_dot(features.chars, self.char_idf, self.coef[words : words + chars])
            + standardised_structure(features, self.mean, self.scale) @ self.coef[words + chars :]
            + self.intercept
        )
        return self.calibration[0] * raw + self.calibration[1]

    def probabilities(self, mails: Sequence[ParsedMail]) -> np.ndarray:
        """Calibrated P(spam) for each mail, in order (one vectorised pass: the cheap way to score a batch)."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(mails), -50, 50)))

    def probability(self, mail: ParsedMail) -> float:
        return float(self.probabilities([mail])[0])

    def is_spam(self, probability: float) -> bool:
        return probability >= self.threshold

    def judges(self, mail: ParsedMail) -> bool:
        """False for mail with nothing to judge (no subject, text or HTML), or written mostly in scripts the training
        ham never covered: the model has learnt no ham in them, so its score there would say nothing."""
        if not (mail.subject or "").strip() and not (mail.text or "").strip() and not (mail.html or "").strip():
            return False
        shares = script_shares(judged_text(mail))
        uncovered = sum(share for script, share in shares.items() if script not in self.covered_scripts)
        return uncovered <= ABSTAIN_UNCOVERED_SHARE

    def content_scores(self, mails: Sequence[ParsedMail]) -> list[float | None]:
        """`content_score` of each mail, in one vectorised pass."""
        judged = [i for i, mail in enumerate(mails) if self.judges(mail)]
        scores: list[float | None] = [None] * len(mails)
        for i, p in zip(judged, self.probabilities([mails[i] for i in judged]), strict=True):
            scores[i] = float(p)
        return scores

    def content_score(self, mail: ParsedMail) -> float | None:
        """The gate's callable: P(spam), or None when the model abstains (`judges`): the header rules and the
        company's spam filter still apply."""
        return self.content_scores([mail])[0]

    def save(self, directory: Path = ARTIFACT_DIR) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        weights = directory / f"{ARTIFACT_NAME}.npz"
        np.savez_compressed(
            weights,
            coef=self.coef.astype(np.float32),
            word_idf=self.word_idf.astype(np.float32),
            char_idf=self.char_idf.astype(np.float32),
            mean=self.mean.astype(np.float64),
            scale=self.scale.astype(np.float64),
            scalars=np.asarray([self.intercept, *self.calibration, self.threshold], dtype=np.float64),
        )
        description = directory / f"{ARTIFACT_NAME}.json"
        card = dict(
            self.card,
            structural_names=list(STRUCTURAL_NAMES),
            word_features=WORD_FEATURES,
            char_features=CHAR_FEATURES,
            threshold=self.threshold,
            covered_scripts=list(self.covered_scripts),
        )
        description.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return weights, description

    @classmethod
    def load(cls, directory: Path = ARTIFACT_DIR) -> SpamModel:
        """A saved model; a missing one, or one fitted on other features (names or hash widths), is `NotReady`."""
        description, weights = directory / f"{ARTIFACT_NAME}.json", directory / f"{ARTIFACT_NAME}.npz"
        if not description.is_file() or not weights.is_file():
            raise NotReady(f"no spam model at {directory}: run `handoff train spam`")
        card = json.loads(description.read_text(encoding="utf-8"))
        expected = (list(STRUCTURAL_NAMES), WORD_FEATURES, CHAR_FEATURES)
        found = (card.get("structural_names"), card.get("word_features"), card.get("char_features"))
        if found != expected or not card.get("covered_scripts"):
            raise NotReady(f"{description} was fitted on other features: run `handoff train spam`")
        with np.load(weights, allow_pickle=False) as data:
            intercept, slope, offset, threshold = (float(v) for v in data["scalars"])
            return cls(
                coef=data["coef"],
                intercept=intercept,
                word_idf=data["word_idf"],
                char_idf=data["char_idf"],
                mean=data["mean"],
                scale=data["scale"],
                calibration=(slope, offset),
                threshold=threshold,
                covered_scripts=tuple(card["covered_scripts"]),
                card=card,
            )

    @classmethod
    def load_default(cls) -> SpamModel:
        """The model shipped in the package, loaded once per process."""
        return _shipped()


@lru_cache(maxsize=1)
def _shipped() -> SpamModel:
    return SpamModel.load(ARTIFACT_DIR)


def content_score(mail: ParsedMail) -> float | None:
    """P(spam) of a mail by the shipped model (None: it abstains); the gate's default content scorer."""
    return SpamModel.load_default().content_score(mail)
