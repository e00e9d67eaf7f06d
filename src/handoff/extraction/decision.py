"""Whether a candidate sentence is a task, decided in its context: the sentence's kind of speech act, its place in the
message and what the whole message is (a broadcast, a newsletter, minutes), over the base classifier's score.

The features are the annotation rules written down (GUIDELINES: requests, questions that need an answer, the writer's
commitments, assignments, meeting requests count; open offers, FYI formulas, prohibitions, status, past actions,
whereabouts, hedges, marketing and quoted text do not). Their weights are a logistic regression per message kind,
plain numbers in `artifacts/decision.json`, fitted by `training.fit_decision`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from handoff.extraction.cues import CUE_NAMES, IMPERATIVE_VERB, IMPERATIVE_VERBS, cue_vector

ARTIFACT = Path(__file__).parent / "artifacts" / "decision.json"
PRECEDENT_NEIGHBOURS = 3  # annotated sentences a candidate is compared with, on each side
PRECEDENT_FEATURES = ("precedent_margin", "precedent_best")

_I = re.I
_CONDITIONAL = re.compile(r"^(?:and |but |so |also |however,? )?(?:if|should|in case|unless|when(?:ever)?)\b", _I)
_OFFER = re.compile(
    r"\b(?:let (?:me|us) know if|if you (?:have|need|would like|want|are interested|wish|encounter|do not|don'?t)|"
    r"feel free|(?:do not|don'?t) hesitate|any (?:further )?questions|happy to (?:help|answer|discuss)|"
    r"should you (?:have|need|wish)|if (?:there is|there are) any|at your (?:earliest )?convenience)\b",
    _I,
)
_PROHIBITION = re.compile(r"^(?:please\s+)?(?:do not|don'?t|never|no need to)\b|\bplease (?:do not|don'?t)\b", _I)
_FYI = re.compile(
    r"\b(?:fyi|please (?:see|find|note) (?:the )?(?:below|attached|enclosed|following)|"
    r"see (?:below|attached)|attached (?:is|are|please find)|please find|please note|here (?:is|are)|"
    r"for your (?:information|reference|review)|please (?:understand|be (?:advised|aware))|"
    r"as (?:you|we) (?:can see|know)|below (?:is|are))\b",
    _I,
)
_PAST = re.compile(
    r"\b(?:i|we|he|she|they|it)\s+(?:have|has|had)\s+(?:already\s+|just\s+|now\s+)?\w+(?:ed|en|t)\b|"
    r"\b(?:i|we)\s+(?:sent|did|met|spoke|talked|received|forwarded|completed|finished|discussed|agreed|decided|"
    r"placed|asked|called|left|got|made|took|reviewed|attached|wanted)\b|\b(?:was|were)\s+\w+ed\b|"
    r"\b(?:yesterday|last (?:week|night|month|year))\b",
    _I,
)
_SOCIAL = re.compile(
    r"\b(?:congratulat\w*|join me in|welcome|best wishes|happy (?:birthday|holidays|new year)|thank(?:s| you)|"
    r"appreciate (?:your|the|all)|wish(?:ing)?|good luck|hope (?:you|all|this|everyone)|enjoy|regards)\b",
    _I,
)
_HEDGE = re.compile(
    r"\b(?:may|might|maybe|perhaps|probably|likely|possibly|hoping|hope to|think|guess|consider(?:ing)?|"
    r"not sure|seems?|plan(?:ning)? to|intend)\b",
    _I,
)
_WHEREABOUTS = re.compile(
    r"\b(?:out of (?:the )?office|on vacation|on leave|be (?:out|away|back|traveling|travelling|in town|home)|"
    r"will be (?:in|at|out)\b)",
    _I,
)
_DISCLAIMER = re.compile(
    r"\b(?:intended (?:only )?(?:for the )?(?:recipient|addressee)|confidential|privileged|disclaimer|"
    r"unsubscribe|opt[- ]out|to be removed|privacy policy|terms and conditions|all rights reserved|©|copyright)\b",
    _I,
)
_MARKETING = re.compile(
    r"\b(?:click (?:here|on|the)|unsubscribe|view (?:this|it) (?:e-?mail|online|in your browser)|special offer|"
    r"free (?:shipping|trial|issues?)|discount|promotion(?:al)? code|save \d+|on sale\b|sale ends|order now|shop now|"
    r"register (?:now|today|online)|visit (?:our|us|www)|subscribe|newsletter|mailing list|% off|sign up|"
    # the furniture of bulk mail: view-in-browser lines, address-book pleas, the way to stop the mail
    r"can'?t see (?:everything|all (?:the )?images|this (?:e-?mail|message))|trouble viewing|"
    r"(?:message|e-?mail) (?:does not|doesn'?t) (?:load|display)|add us to your (?:address book|whitelist|safe)|"
    r"ensure (?:delivery|that (?:all )?(?:our )?(?:e-?mails|mailings))|stop receiving|"
    r"remov(?:e|al) (?:requests?|instructions)|(?:with|word) \W?remove\b|(?:to|for) (?:be )?remov(?:ed|al)\b|"
    r"fill (?:out|in) the (?:form|application) below|to order\b|order (?:today|online)|toll[- ]free|1-8[0-9]{2}-|"
    r"free (?:quote|info|information|sample|gift|report)|risk[- ]free|100% (?:legal|free|guaranteed)|act now|"
    r"limited time|money[- ]back|"
    r"(?:pass|send|forward) (?:this|it)\s+(?:on\s+)?to (?:others|people|everyone|all|\d+|ten|your (?:single )?friends)"
    r"(?: (?:you|who)\b)?|"  # chain letters
    # and of phishing: the link that "verifies" an account
    r"(?:click(?:ing)?|follow(?:ing)?|visit(?:ing)?) (?:on )?(?:the |this )?(?:link|button)(?: below)?|"
    r"(?:verify|confirm|re-?confirm|update|restore) (?:your )?(?:account|identity|billing|online banking))\b",
    _I,
)
_URL = re.compile(r"https?://|www\.\w|\b\w+\.(?:com|org|net)/", _I)
_PHONE = re.compile(r"\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b|\bx\s?\d-?\d{4}\b|\+\d{2}[\d ]{6,}")
_WRITER_COMMIT = re.compile(
    r"\b(?:i'?ll|i will|i shall|i'm going to|i am going to|i'?d like to|i would like to|i want to|i plan to|"
    r"i need to|let me)\b",
    _I,
)
_WE_COMMIT = re.compile(r"\b(?:we'?ll|we will|we need to|we must|we should|we have to|let'?s|lets)\b", _I)
_THIRD_PARTY = re.compile(
    r"(?:^|[-–—:;,.(]\s+|\band\s+)(?:[-*•]\s*)?"
    r"(?:@[\w.-]+|[A-Z][\w'.-]+(?:\s(?:and|&)\s[A-Z][\w'.-]+)?(?:\s[A-Z][\w'-]+)?)\s+"
    r"(?:will|to|shall|is going to|are going to|needs? to|volunteer(?:s|ed)?|agreed to|offered to|is taking|"
    r"can take|will take|to take|owns|has the action)\b"
)
_SPEAKER = re.compile(r"^(?:[-*•]\s*)?(?:\*\*)?[A-Z][\w.'-]{0,20}(?:\s[A-Z][\w.'-]{0,20})?(?:\*\*)?\s*[:：]\s*\S")
_ASKS_YOU = re.compile(
    r"\b(?:could|can|would|will)\s+(?:you|someone|somebody|one of)\b|\byou (?:need|have|must|should) to\b|"
    r"\b(?:i|we) (?:need|want|would like|'d like) (?:you|someone|each of you|everyone)\b|\bplease\b|\bkindly\b|"
    r"\bmake sure\b|\bremember to\b|\bdon'?t forget\b|\blet (?:me|us) know\b|\bget back to\b|\bplan on\b",
    _I,
)
_YES_NO = re.compile(r"^(?:\w+,\s*)?(?:are|is|do|does|did|can|could|would|will|should|have|has|shall|may)\b", _I)
_WH = re.compile(r"^(?:\w+,\s*)?(?:what|which|when|where|who|whom|why|how)\b", _I)
_RHETORIC = re.compile(r"\b(?:how are you|how (?:was|did) (?:your|the)|how'?s it going|what'?s up)\b", _I)
_DONE = re.compile(r"\b(?:done|completed|finished|resolved|merged|closed|landed|shipped)\b|~~|已完成|已经|完成了", _I)
_DEFERRED = re.compile(r"\b(?:table(?:d)?|defer(?:red)?|postpone(?:d)?|next meeting|no action|not (?:now|merge))\b", _I)
_MARKER = re.compile(r"\b(?:action(?: item)?s?|ai|todo|to-do|next steps?)\s*[:：]|\*\*ai\b", _I)
_CN_ASK = re.compile(r"(请|麻烦|能否|可否|务必|帮忙|记得|需要|建议|要求)")
_CN_COMMIT = re.compile(r"(我来|我会|我们会|我将|我们将|我负责|负责|跟进|会后|推动|推进|落实|牵头|继续)")
_CN_NOT = re.compile(r"(谢谢|感谢|收到|已经|已完成|已修复|完成了|同意|通过|讨论了|介绍了|汇报)")
_CN_OWNER_TAIL = re.compile(r"[-—–]\s*[\u4e00-\u9fff@\w]{2,12}\s*$|[（(][\u4e00-\u9fff\w]{2,8}[)）]\s*$")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_AUTOMATED_SENDER = re.compile(
    r"(?:no-?reply|do-?not-?reply|no\.?address|distribution|contest|news|newsletter|info|marketing|mailer|announce|"
    r"notification|alert|updates?|"
    r"promo|offers?|deals|support|service|webmaster|admin|bounce|list|digest|customer)\w*@",
    _I,
)
_HOW = ("section", "action_line", "checkbox", "table", "owner_line")

SENTENCE_FEATURES = (
    "base_logit", "conditional", "offer", "prohibition", "fyi", "past", "social", "hedge", "whereabouts",
    "disclaimer", "marketing", "url", "phone", "writer_commit", "we_commit", "third_party", "speaker", "asks_you",
    "question", "yes_no_question", "wh_question", "rhetorical", "done", "deferred", "marker", "list_item",
    "log_words", "caps_share", "chinese", "cn_ask", "cn_commit", "cn_not", "cn_owner_tail", "position",
    "first_third", *(f"structured_{how}" for how in _HOW),
)  # fmt: skip
MESSAGE_FEATURES = (
    "log_recipients", "automated_sender", "log_urls", "marketing_share", "log_sentences", "ask_share",
    "greeted_by_name", "forwarded", "disclaimer_share",
)  # fmt: skip
FEATURE_NAMES = (*SENTENCE_FEATURES, *(f"cue_{name}" for name in CUE_NAMES), *MESSAGE_FEATURES)


@dataclass(frozen=True)
class Sentence:
    """One candidate: its text, where it stood, and what structure (if any) marked it."""

    text: str
    index: int  # its place among the message's candidates
    list_item: bool = False
    structured: str | None = None  # NoteItem.how, when the notes' structure marked the line
    base_probability: float = 0.5


@dataclass(frozen=True)
class MessageContext:
    """What the whole message says about its sentences."""

    kind: str  # "email" or "notes"
    recipients: int = 1
    sender: str | None = None
    subject: str | None = None
    greeted_by_name: bool = False
    texts: tuple[str, ...] = ()  # every candidate sentence, for the message-level shares


def _share(pattern: re.Pattern[str], texts: Sequence[str]) -> float:
    return sum(1 for text in texts if pattern.search(text)) / len(texts) if texts else 0.0


def message_language(texts: Sequence[str]) -> str:
    """The language of a message's candidates: "zh" when most are Chinese, else "en" (those the layer knows)."""
    chinese = sum(1 for text in texts if len(_CJK.findall(text)) >= 4)
    return "zh" if texts and chinese * 2 > len(texts) else "en"


BULK_MARKETING_SHARE = 0.15


def reads_as_bulk(context: MessageContext) -> bool:
    """A message that reads as marketing or an automated notice: its explicit asks are calls to action, not tasks."""
    urls = sum(len(_URL.findall(text)) for text in context.texts)
    marketing = _share(_MARKETING, context.texts)
    # A no-reply or list address alone is not enough: companies send their own people real asks from them.
    automated = bool(context.sender and _AUTOMATED_SENDER.search(context.sender)) and (marketing > 0 or urls >= 1)
    return marketing >= BULK_MARKETING_SHARE or urls >= 5 or automated


def message_vector(context: MessageContext) -> np.ndarray:
    texts = context.texts
    urls = sum(len(_URL.findall(text)) for text in texts)
    subject = context.subject or ""
    return np.asarray(
        (
            math.log1p(context.recipients),
            bool(context.sender and _AUTOMATED_SENDER.search(context.sender)),
            math.log1p(urls),
            _share(_MARKETING, texts),
            math.log1p(len(texts)),
            _share(_ASKS_YOU, texts),
            context.greeted_by_name,
            bool(re.match(r"^\s*(?:fw|fwd|tr|wg)\s*:", subject, _I)),
            _share(_DISCLAIMER, texts),
        ),
        dtype=np.float64,
    )


def sentence_vector(sentence: Sentence, total: int) -> np.ndarray:
    text = sentence.text.strip()
    body = re.sub(r"^\s*(?:[-*•·]|\d{1,2}[.)]|\[[ xX]?\])\s*", "", text)
    words = text.split()
    letters = [ch for ch in text if ch.isalpha() and ch.isascii()]
    probability = min(max(sentence.base_probability, 1e-4), 1 - 1e-4)
    question = text.rstrip(" *_)").endswith(("?", "？"))
    values = (
        math.log(probability / (1 - probability)),
        bool(_CONDITIONAL.match(body)),
        bool(_OFFER.search(text)),
        bool(_PROHIBITION.search(body)),
        bool(_FYI.search(text)),
        bool(_PAST.search(text)),
        bool(_SOCIAL.search(text)),
        bool(_HEDGE.search(text)),
        bool(_WHEREABOUTS.search(text)),
        bool(_DISCLAIMER.search(text)),
        bool(_MARKETING.search(text)),
        bool(_URL.search(text)),
        bool(_PHONE.search(text)),
        bool(_WRITER_COMMIT.search(text)),
        bool(_WE_COMMIT.search(text)),
        bool(_THIRD_PARTY.search(body)),
        bool(_SPEAKER.match(text)),
        bool(_ASKS_YOU.search(text)),
        question,
        question and bool(_YES_NO.match(body)),
        question and bool(_WH.match(body)),
        bool(_RHETORIC.search(text)),
        bool(_DONE.search(text)),
        bool(_DEFERRED.search(text)),
        bool(_MARKER.search(text)),
        sentence.list_item,
        math.log1p(len(words)),
        sum(ch.isupper() for ch in letters) / len(letters) if len(letters) >= 8 else 0.0,
        len(_CJK.findall(text)) >= 4,
        bool(_CN_ASK.search(text)),
        bool(_CN_COMMIT.search(text)),
        bool(_CN_NOT.search(text)),
        bool(_CN_OWNER_TAIL.search(text)),
        sentence.index / max(total - 1, 1),
        sentence.index < max(total / 3, 1),
        *(sentence.structured == how for how in _HOW),
    )
    return np.concatenate([np.asarray(values, dtype=np.float64), cue_vector(text).astype(np.float64)])


_BOILERPLATE = re.compile(
    r"\b(?:(?:intended|named) (?:only )?(?:for the )?(?:recipient|addressee)|received this (?:e-?mail|message|"
    r"communication) (?:in error|by mistake)|to (?:unsubscribe|be removed from)|do not (?:reply|respond) to this)\b",
    _I,
)


# "If you could …, that would be great", "If you would like to stop by … that would be great": a request, worded
# as a condition whose consequence is the writer's thanks.
_POLITE_IF = re.compile(
    r"^if you (?:could|can|would(?: like to)?|wouldn'?t mind)\b"
    r"(?=.{3,160}\b(?:that would|it would|would be) (?:be )?(?:very |most |much |really |greatly )?"
    r"(?:great|helpful|appreciated|wonderful|ideal|perfect)\b)",
    _I,
)
_OPEN_OFFER = re.compile(
    r"\bif you (?:would like|need|have (?:any )?(?:further |other |more )?questions|want|wish|are interested|"
    r"require)\b|"
    r"\bfeel free\b|\b(?:do not|don'?t) hesitate\b|\bshould you (?:have|need|wish|require)\b",
    _I,
)
_FURTHER_ASK = re.compile(
    r"\?|\band (?:send|let|return|forward|sign|confirm|give|call|review|provide|comment|tell)\b", _I
)
# The writer's own whereabouts or schedule (GUIDELINES 3): "I will be out of the office on Friday", "Andrea and I are
# scheduled to meet with Ray on Monday", "I am off to GA and will be back on Wednesday". "You are scheduled to
# interview…" is the reader's appointment, and stays.
_OWN_WHEREABOUTS = re.compile(
    r"\b(?:i|we)(?:'ll| will| am| are|'m|'re| shall)\s+(?:be\s+)?(?:scheduled to|out of (?:the )?office|on vacation|"
    r"on leave|away|back|traveling|travelling|off to|in (?:town|the office))\b",
    _I,
)
# A social formula worded as an ask, or help on offer: "Please join me in wishing Greg well", "Alice, Raetta and Larry
# are all available as needed to help you".
_SOCIAL_OR_HELP = re.compile(
    r"\bjoin (?:me|us) in (?:wishing|welcoming|congratulating|thanking|celebrating)\b|"
    r"\b(?:is|are|am|'m|'re)\s+(?:all\s+)?(?:available|happy|glad|here)\s+(?:as needed\s+|if needed\s+)?"
    r"to (?:help|assist|answer)\b",
    _I,
)
# What to read or where to look, not a thing to do: "Please go to "Up Front" to access it", "please read the
# announcement below", "Please make a note of the following:". A veto only: as a feature it moved the fitted weights.
_READING_INSTRUCTION = re.compile(
    r"\bplease (?:carefully )?(?:read|make (?:a )?note of|take note of|go to|visit|refer to|click)\b", _I
)


def never_a_task(text: str) -> bool:
    """What the guidelines never count, whatever else a sentence looks like: legal footers, unsubscribe and no-reply
    lines, open offers ("if you have any questions, call me"), and, where nothing further is asked, FYI formulas,
    reading instructions, social formulas, help on offer and the writer's own whereabouts."""
    if _BOILERPLATE.search(text) or (_OPEN_OFFER.search(text) and not _POLITE_IF.match(text.strip())):
        return True
    if _FURTHER_ASK.search(text):
        return False
    if _OWN_WHEREABOUTS.search(text) and not _ASKS_YOU.search(text):
        return True
    return bool(_FYI.search(text) or _READING_INSTRUCTION.search(text) or _SOCIAL_OR_HELP.search(text))


_NEGATIVE = (_CONDITIONAL, _OFFER, _PROHIBITION, _FYI, _SOCIAL, _DISCLAIMER, _MARKETING, _RHETORIC)


def is_plain_ask(text: str, explicit: bool) -> bool:
    """An explicit ask (the rules' `explicit`) that none of the rules against asks contradicts: it is kept even where
    the learned layer, fitted on one company's mail and public minutes, has seen too few like it."""
    body = re.sub(r"^\s*(?:[-*•·]|\d{1,2}[.)]|\[[ xX]?\])\s*", "", text.strip())
    body = _POLITE_IF.sub("", body)  # "If you could …, that would be great" asks; it is no condition
    return explicit and not any(
        pattern.match(body) if pattern is _CONDITIONAL else pattern.search(body) for pattern in _NEGATIVE
    )


_OPENS_WITH_VERB = re.compile(r"^(?:please\s+|kindly\s+)?" + IMPERATIVE_VERB, _I)


def asks_nothing(text: str) -> bool:
    """A statement with no mark of an ask of its own: no question, no imperative, no "you"-ask, no commitment
    ("It's urgent, our board meets Monday." after "Could you send the SOW by Friday?")."""
    if "?" in text or _OPENS_WITH_VERB.match(text.strip()):
        return False
    return not (_ASKS_YOU.search(text) or _WRITER_COMMIT.search(text) or _WE_COMMIT.search(text))


_PERSON = r"(?:@[\w.-]+|[A-Z][\w'.-]*[a-z][\w'.-]*(?:\s[A-Z][\w'.-]+)?|[A-Z]{2,4})"
_PEOPLE = rf"(?P<who>{_PERSON}(?:\s*(?:,|&|\band\b)\s*{_PERSON})*(?:\s+et al\.?)?)"
_ACTION_VERB = IMPERATIVE_VERB
# After "Robin is going to" / "Gary needs to" a verb is surely a verb, so words too ambiguous to open an imperative
# ("Work on X has slowed") still name the action there.
_COMMITTED_VERB = (
    r"(?:" + "|".join(IMPERATIVE_VERBS) + r"|work|figure|sort|clarify|explore|identify|evaluate|assess|pick|build|"
    r"implement|report|dig|pursue|connect|liaise|engage|own|compile|outline|define|sketch|chase|chair|host|run|"
    r"organise|coordinate|investigate|come back|put together|write up|reach out|circle back|swing back)\b"
)
# "Joe will create an issue", "Wes and Ulises will circle back", "Jory volunteered to do…", "William to look…",
# "(Jeff will take this as a TODO)", "It was agreed that Robin will send…": a named person assigned or committed.
_ASSIGNMENT = re.compile(
    rf"(?:^|[-–—:;,.(]\s*|\b(?:that|also|so|then|and)\s+){_PEOPLE}\s+"
    r"(?:(?:will|would|shall|can|to|is going to|are going to|needs? to|has to|have to|volunteer(?:s|ed)? to|"
    r"agreed to|offered to|(?:is|are) planning to)\s+" + _COMMITTED_VERB + r"|(?:is|are) taking|can take|will take|"
    r"takes (?:this|that|it)|owns|has the action)"
)
# "Matteo said they would take it to the Board", "Tobie has comments and will swing back to see…": a named person's
# commitment told by the scribe.
_TOLD_COMMITMENT = re.compile(
    rf"(?:^|[-–—:;,.(]\s*|\b(?:that|also|so|then|and)\s+){_PEOPLE}\s+"
    r"(?:(?:said|says|mentioned|noted|confirmed|promised)\s+(?:that\s+)?(?:he|she|they|we)\s+(?:will|would|'ll|can)|"
    r"(?:has|have)\s+[\w ]{1,30}?\s+and\s+will)\s+" + _COMMITTED_VERB
)
# "Alex Scammon: Send details…", "Marlow: Re-ping…", "Team: Schedule…": a speaker's line that is an imperative.
_SPEAKER_IMPERATIVE = re.compile(
    rf"^(?:\*\*)?{_PEOPLE}(?:\*\*)?\s*[:：]\s*(?:\*\*)?(?:please\s+)?"
    r"(?i:(?:re-?)?(?!let\b)" + _ACTION_VERB + r")(?!\s+(?:to|that|we|you|they|i|it)\b)"
)
_NOT_PEOPLE_TEXT = (
    "this that it there the we i they he she you everyone all which what who whom how where why when next action ai "
    "todo note notes also then so and but if discussion decision resolution proposal agenda update status release "
    "plan meeting nobody none no someone anyone i'd i'll i'm i've let's it's that's there's"
)
_NOT_PEOPLE = frozenset(_NOT_PEOPLE_TEXT.split())
_ASSIGNMENT_VETO = re.compile(r"\b(?:likely|probably|possibly|potentially|maybe|perhaps|might|may|hoping|aiming)\b", _I)


# The same in Chinese minutes: "@陈玄先用…写好…", "…需要一篇oEEP -- 吴峰光", "责任人：朱健伟", "会后联系…", "待更新".
_CN_OWNED = re.compile(
    r"@[\u4e00-\u9fff]{2,4}\s*[\u4e00-\u9fff]{2}|(?:责任人|负责人)\s*[:：]|"
    r"[-—–]{1,2}\s*[\u4e00-\u9fff]{2,4}(?:\s*[&、,，和]\s*[\u4e00-\u9fff]{2,4})*\s*(?:[(（][^)）]*[)）])?\s*$"
)
_CN_TO_DO = re.compile(
    r"会后|后续安排|需要|(?<![必])需(?!求)|待(?:更新|完善|改善|确认|处理|测试|讨论|合并)|尽快|请|"
    # A deadline before the action ("在SP4发布前做完整梳理", "在summit之前（11月初）评出…"), a hand-over
    # ("交由Compiler SIG分析"), someone in charge ("熊伟负责协调…"; 负责人 is a label, `_CN_OWNED`).
    r"前[^。；;]{0,12}?(?<!未)(?:完成|做|评出|提交|给出|输出|确定|梳理)|交由|负责(?!人)"
)
_CN_NOT_TO_DO = re.compile(
    r"介绍|回顾|汇报|分享|演示|背景|议题|要点|表示|请假|how to|已经|已完成|完成了|同意|通过|认为|是否|"
    r"如果|若|由于|一旦|可以|"
    # What was done or is so: a verb with 了 ("解决了", "进行了"; 了解 is "to learn"), "目前", the copula "是".
    r"[\u4e00-\u9fff]了(?!解)|目前|(?<![要需还])是(?![否])|"
    # A described part of a design or a rule: "序列化协议：…", "Motivation：…", "单测描述：需要…".
    r"^\W*(?:\d{1,2}\s*[、.．)]\s*)?(?:\*\*)?[^：:]{0,12}?(?:描述|协议|形式|motivation|背景|原理|实现|思路|现状|定义|"
    r"说明|概述|简介|特点|优势|效果)\s*(?:\*\*)?\s*[：:]|"
    # What a link shows: "官网新增 About 页面：https://…", "活动回顾：https://…".
    r"[：:]\s*\[?https?://\S+\s*$",
    _I,
)


_CN_ACTION = re.compile(
    r"完成|准备|推进|提交|撰写|写|整理|梳理|联系|对接|更新|测试|调研|发布|明确|制定|研究|成立|新增|闭环|改写|合并|创建|"
    r"引用|处理"
)


def is_cn_assignment(text: str) -> bool:
    """A line of Chinese minutes that gives someone an action: an owner marked on it, or a to-do word, and neither
    an agenda item being presented nor a report of what was done."""
    if len(_CJK.findall(text)) < 4 or _CN_NOT_TO_DO.search(text):
        return False
    return bool(_CN_TO_DO.search(text) or (_CN_OWNED.search(text) and _CN_ACTION.search(text)))


# A speaker's view in minutes' discussion ("Jeff: I like the idea…", "Karsten: This is a well known example",
# "Kim: Would it be valuable to…", "Aiming to remove…"): an opinion or an aim, not an action anyone took on.
_OPINION_OPENING = re.compile(
    r"^(?:(?:\*\*)?[A-Z][\w'.-]+(?:\s[A-Z][\w'.-]+)?(?:\*\*)?\s*:\s*)?(?:(?:and|but|so|also),?\s+)?(?:"
    r"(?:i|we|they|he|she)\s+(?:(?:really|also|all|both)\s+)?(?:like|love|think|believe|feel|agree|disagree|guess|"
    r"wonder|prefer|suspect|doubt|see|understand)\b|(?:i|we|they)\s+(?:don'?t|do not)\s+(?:want|think|like|see|know)\b|"
    r"(?:don'?t|do not)\s+want\b|(?:this|that|it|there)\s+(?:is|was|seems|sounds|looks|would be|could be)\b|"
    r"(?:would|could|should)\s+it\s+be\b|(?:aiming|hoping|trying)\s+to\b|similar to\b|in my (?:view|opinion)\b)",
    _I,
)
# Anywhere in the line: a hedge ("We will likely need a vote", "Potentially Richard can lead it"), or a goal that is
# a state to be in ("we want to make sure we're providing space…") rather than a thing to do.
_HEDGE_OR_GOAL = re.compile(
    r"\b(?:likely|potentially|possibly|perhaps|maybe|might)\b|"
    r"\bmake sure (?:that )?(?:we(?:'re| are)?|they|those|it|everyone|everybody)\b",
    _I,
)
_STILL_ASKS = re.compile(r"\b(?:please|can you|could you|will you|would you|let'?s|action)\b", _I)


# What minutes record of the meeting itself rather than work to do (GUIDELINES 3): a deferral ("Defer discussion
# until Matteo is here", "*Postponed to next meeting.*"), what was done or said ("Discussed comments in issue",
# "Tried to choose stable links", "Completed gas cost modifications"), and who takes the notes.
_MEETING_RECORD = re.compile(
    r"^\W*(?:defer(?:red)?|postponed|tabled)\b|\b(?:postponed|deferred) (?:to|until)\b|"
    r"^\W*(?:tried|discussed|agreed|decided|talked|reviewed|presented|shared|noted|mentioned|created|merged|"
    r"released|fixed|added|updated|removed|completed|finished|resolved|closed|moved|agreement)\b|"
    r"\btake (?:the )?notes\b|\bnote[- ]?taking\b|^\W*scribe\b|"
    # A topic or a status named by its gerund ("Linking to security related documents", "Working on the gas model").
    r"^\W*[A-Za-z]{3,}ing\b",
    _I,
)
_STILL_TO_DO = re.compile(r"\b(?:will|needs? to|todo|action|please)\b|'ll\b", _I)


def records_the_meeting(text: str) -> bool:
    """A line of minutes that records the meeting (a deferral, a report, its note-taker) and leaves nothing to do."""
    return bool(_MEETING_RECORD.search(text)) and not _STILL_TO_DO.search(text)


def voices_opinion(text: str) -> bool:
    """A line of minutes that states a view or an aim and asks nobody for anything."""
    body = re.sub(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s*", "", text.strip())
    if not (_OPINION_OPENING.match(body) or _HEDGE_OR_GOAL.search(body)):
        return False
    return not (_STILL_ASKS.search(body) or is_assignment(body))


# An agenda topic and who presents it: "3，openEuler社区开发行为规范V1.0版本发布决策 - 熊伟",
# "8、联通云AI应用Kitig项目创建申请(sig-intelligence); --- 宋彦岭", "## 议程 3 ：Kitex 4月发版计划".
_CN_AGENDA_TOPIC = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:议程\s*\d*\s*[:：]\s*|\d{1,2}\s*[、.，,]\s*)?[^。！？?]{2,60}?"
    r"(?:申请|决策|评审|汇报|讨论|推举|介绍|进展|计划|议题|确认|分享)\s*(?:[(（][^)）]*[)）])?\s*[;；]?\s*"
    r"(?:[-—–]{1,6}\s*[\u4e00-\u9fff]{2,4}(?:\s*[/、&，,和]\s*[\u4e00-\u9fff]{2,4})*\s*(?:[(（][^)）]*[)）])?\s*[;；]?)?\s*$"
)


def is_cn_description(text: str) -> bool:
    """A line of Chinese minutes that presents, reviews, reports or agrees, with no owner given a to-do, or an agenda
    topic with its presenter: the learned layer reads Chinese through an English sentence model, so its score alone
    does not keep such a line."""
    if len(_CJK.findall(text)) < 4:
        return False
    if _CN_AGENDA_TOPIC.match(text) and not _CN_TO_DO.search(text):
        return True
    if not _CN_NOT_TO_DO.search(text):
        return False
    return not (_CN_TO_DO.search(text) and _CN_OWNED.search(text))


def lowercase_words(texts: Sequence[str]) -> frozenset[str]:
    """Words a document writes in lower case: a capitalised one of them opening a sentence is a word, not a name."""
    return frozenset(word for text in texts for word in re.findall(r"(?<![\w.])[a-z][a-z'-]+", text))


# Where a line says what is to become done ("follow up to ensure review is completed", "until it is merged"), its
# "completed" is the goal, not the line's status.
_GOAL_CLAUSE = re.compile(
    r"\b(?:ensure|make sure|until|so that|in order to|to be|will be|should be|must be|needs? to be|"
    r"get (?:it|this|that))\b.*$",
    _I,
)
# A deferral of the line's own action; "next meeting" alone is not one ("Team: Schedule the next meeting").
_DEFERRAL = re.compile(r"\b(?:table(?:d)?|defer(?:red)?|postpone(?:d)?|no action|not (?:now|merge))\b", _I)


def _reports_done(body: str) -> bool:
    return bool(_DONE.search(_GOAL_CLAUSE.sub("", body)))


def is_assignment(text: str, common_words: frozenset[str] = frozenset()) -> bool:
    """A named person assigned a concrete action or committing to one (GUIDELINES 2.4, "X to do Y" lines): kept
    even where the learned layer, which has seen few minutes, scores it low. Hedged and conditional ones are not."""
    return assignment_owner(text, common_words) is not None


def assignment_owner(text: str, common_words: frozenset[str] = frozenset()) -> str | None:
    """Who `is_assignment` found assigned ("Joe and Ben" in "New time - Joe and Ben will meet…"), or None."""
    body = re.sub(r"^\s*(?:[-*•·]|\d{1,2}[.)]|\[[ xX]?\])\s*", "", text.strip())
    if _CONDITIONAL.match(body) or _reports_done(body) or _DEFERRAL.search(body):
        return None
    if body.rstrip(" *_)").endswith(("?", "？")):
        return None
    for pattern in (_SPEAKER_IMPERATIVE, _ASSIGNMENT, _TOLD_COMMITMENT):
        for match in pattern.finditer(body):
            who = match.group("who")
            first = who.split()[0].strip("@*").lower()
            if first in _NOT_PEOPLE or first in common_words or re.search(r"(?:ing|ed)$", first):
                continue
            if not _ASSIGNMENT_VETO.search(body[: match.end() + 12]):  # "Richard will look…, unless … likely …"
                return who.strip("*")
    return None


def feature_matrix(sentences: Sequence[Sentence], context: MessageContext) -> np.ndarray:
    if not sentences:
        return np.zeros((0, len(FEATURE_NAMES)))
    message = message_vector(context)
    rows = [np.concatenate([sentence_vector(s, len(sentences)), message]) for s in sentences]
    return np.vstack(rows)


@dataclass(frozen=True)
class Precedents:
    """Annotated sentences of the training messages, as unit MiniLM vectors: the tasks and the rest.

    A candidate that reads like sentences annotators marked as tasks, more than like the ones they passed over, is
    likelier a task: wording the rules above never named ("I need three things from you, today:")."""

    tasks: np.ndarray
    others: np.ndarray

    def columns(self, vectors: np.ndarray) -> np.ndarray:
        """Per candidate: mean similarity of its nearest tasks minus that of its nearest others; its nearest task.
        A zero vector (a sentence the n-gram model surely rejects, not embedded) gets zeros."""
        columns = precedent_columns(
            vectors @ self.tasks.T.astype(np.float32), vectors @ self.others.T.astype(np.float32)
        )
        return np.where(compared(vectors)[:, None], columns, 0.0)


def compared(vectors: np.ndarray) -> np.ndarray:
    """Which rows are real vectors, not the zero that stands for a sentence not embedded."""
    return np.abs(vectors).sum(axis=1) > 0


def precedent_columns(task_similarity: np.ndarray, other_similarity: np.ndarray) -> np.ndarray:
    """`Precedents.columns` from the similarity matrices (rows: candidates); -inf marks a precedent left out."""

    def nearest(similarity: np.ndarray) -> np.ndarray:
        top = np.sort(similarity, axis=1)[:, -PRECEDENT_NEIGHBOURS:]
        finite = np.isfinite(top)
        return np.where(finite, top, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)

    best = task_similarity.max(axis=1, initial=-1.0)
    return np.column_stack([nearest(task_similarity) - nearest(other_similarity), best])


@dataclass(frozen=True)
class KindModel:
    """A standardised logistic regression for one message kind, and the threshold chosen inside its training folds.

    With `precedents`, its last two features are `Precedents.columns` of the candidates' MiniLM vectors."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float
    precedents: Precedents | None = None
    # Each language's own bar where the training rows held enough of it ("zh": Chinese minutes score lower than
    # English ones under one model, so one bar for both trades one language's precision for the other's recall).
    language_thresholds: dict[str, float] = field(default_factory=dict)

    def threshold_for(self, language: str) -> float:
        return self.language_thresholds.get(language, self.threshold)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        logits = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def features(
        self, sentences: Sequence[Sentence], context: MessageContext, vectors: np.ndarray | None
    ) -> np.ndarray:
        base = feature_matrix(sentences, context)
        if self.precedents is None:
            return base
        if vectors is None or len(vectors) != len(sentences):
            raise ValueError("this decision model compares candidates with its precedents: it needs their vectors")
        return np.hstack([base, self.precedents.columns(np.asarray(vectors, dtype=np.float32))])

    def as_dict(self) -> dict:
        return {
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "threshold": round(float(self.threshold), 4),
            "language_thresholds": {k: round(float(v), 4) for k, v in sorted(self.language_thresholds.items())},
        }

    @classmethod
    def from_dict(cls, data: dict, precedents: Precedents | None = None) -> KindModel:
        return cls(
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            threshold=float(data["threshold"]),
            precedents=precedents,
            language_thresholds={k: float(v) for k, v in data.get("language_thresholds", {}).items()},
        )


@dataclass(frozen=True)
class DecisionModel:
    """One `KindModel` per message kind ("email", "notes"); notes in any language share one."""

    kinds: dict[str, KindModel]
    card: dict = field(default_factory=dict)

    def model_for(self, kind: str) -> KindModel:
        return self.kinds[kind if kind in self.kinds else "email"]

    def decide(
        self, sentences: Sequence[Sentence], context: MessageContext, vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """P(task) per sentence, and the bar a sentence must reach; `vectors`: the sentences' MiniLM vectors, which
        a kind fitted with precedents needs (`needs_vectors`)."""
        model = self.model_for(context.kind)
        bar = model.threshold_for(message_language(context.texts))
        return model.probabilities(model.features(sentences, context, vectors)), bar

    def needs_vectors(self, kind: str) -> bool:
        return self.model_for(kind).precedents is not None

    def save(self, path: Path = ARTIFACT) -> Path:
        data = dict(self.card, features=list(FEATURE_NAMES), kinds={k: m.as_dict() for k, m in self.kinds.items()})
        data["precedent_kinds"] = sorted(k for k, m in self.kinds.items() if m.precedents is not None)
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        arrays = {
            f"{kind}_{side}": getattr(m.precedents, side).astype(np.float16)
            for kind, m in self.kinds.items()
            if m.precedents is not None
            for side in ("tasks", "others")
        }
        if arrays:
            np.savez_compressed(_precedents_path(path), **arrays)
        return path


def _precedents_path(path: Path) -> Path:
    return path.with_name(path.stem + "_precedents.npz")


def load_decision(path: Path = ARTIFACT) -> DecisionModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    if list(data["features"]) != list(FEATURE_NAMES):
        raise ValueError(f"{path} was fitted on other features; rebuild it with `handoff train decision`")
    with_precedents = data.get("precedent_kinds") or []
    arrays = np.load(_precedents_path(path)) if with_precedents else {}
    kinds = {
        kind: KindModel.from_dict(
            values,
            Precedents(arrays[f"{kind}_tasks"], arrays[f"{kind}_others"]) if kind in with_precedents else None,
        )
        for kind, values in data["kinds"].items()
    }
    card = {k: v for k, v in data.items() if k not in ("features", "kinds", "precedent_kinds")}
    return DecisionModel(kinds, card)


@lru_cache(maxsize=1)
def committed_decision() -> DecisionModel:
    """The decision weights shipped in the package, loaded once per process."""
    return load_decision()
