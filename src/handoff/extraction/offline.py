"""The default extractor: no network, no LLM — structure, classifier, dates, people and priority rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from handoff.extraction.classifier import ActionItemClassifier
from handoff.extraction.cues import OBLIGED_PASSIVE, asks_for_views, has_marker
from handoff.extraction.dates import DueDate, event_date, find_due
from handoff.extraction.decision import (
    DecisionModel,
    MessageContext,
    Sentence,
    asks_nothing,
    committed_decision,
    is_assignment,
    is_cn_assignment,
    is_cn_description,
    is_plain_ask,
    lowercase_words,
    never_a_task,
    reads_as_bulk,
    records_the_meeting,
    voices_opinion,
)
from handoff.extraction.model import Found, MessageText, TaskDraft, TeamMember
from handoff.extraction.notes import NUMBERED, NoteItem, from_webvtt, meeting_attendees, parse_structure
from handoff.extraction.overlap import token_f1
from handoff.extraction.people import Roster, addressee_from_greeting, greets_by_name, resolve_assignee
from handoff.extraction.priority import find_priority, has_urgency
from handoff.extraction.sentences import Line, join_wrapped_items, split_lines
from handoff.extraction.titles import make_title, requested_title, views_title, with_antecedent

_SKIP = re.compile(
    r"^(?:hi|hello|hey|dear|thanks|thank you|thx|cheers|best|regards|best regards|kind regards|many thanks|"
    r"sincerely|br|talk soon|see you|sent from my \w+|--|您好|你好|谢谢|此致|敬礼|祝好)\b[\s\w,.!-]{0,40}$|"
    r"^(?:from|to|cc|bcc|sent|date|subject)\s*:|^>|^\W+$|^https?://\S+$",
    re.I,
)
# "Hi Anna, please send the SOW by Friday.": a greeting that leads into the ask on the same line; `_SKIP` alone
# took the whole line for a greeting and the ask was lost.
_GREETING_LEAD = re.compile(r"^(?:hi|hello|hey|dear)\s+[\w'-]+(?:\s+[\w'-]+)?\s*[,!:]\s*(?P<rest>\S.*)$", re.I)
_SIGNATURE = re.compile(r"^(?:--\s*|__+|sent from my .*|get outlook for .*)$", re.I)
_DONE = re.compile(
    r"\b(already (sent|did|done|fixed)|(has|have) been (done|completed|fixed|resolved|replaced|sent)|"
    r"(is|are|was|were) (done|completed|finished|resolved|fixed))\b|已完成|已经|已修复",
    re.I,
)
# Prose that reports what was done or said, not what is to be done.
_REPORTED = re.compile(
    _DONE.pattern + r"|^(?:we|i|they|the (?:group|team|committee))\s+(?:discussed|agreed|decided|talked|met|reviewed|"
    r"went through|looked at|had)\b",
    re.I,
)
# "…follow up to ensure review is completed", "…until it is fixed": the state an ask aims at, not one reported.
_AIMED_AT = re.compile(
    r"\b(?:ensure|make sure|so that|until|whether|to see if|to check if|to confirm)\s+"
    r"(?:\w+\s+){0,4}$",
    re.I,
)


def _reports(text: str) -> bool:
    """Prose that reports what was done or said (`_REPORTED`), unless the only report is the aim of an ask."""
    return any(not _AIMED_AT.search(text[: found.start()]) for found in _REPORTED.finditer(text))


# What the writer (or someone named) knows, remembers or believes: "I can't remember if I marked…", "Patrick Johnson
# recalls you were involved…", "We know you have many questions…": the context of an ask, not one. "I think we
# should file these" proposes an action and stays.
_STATES_KNOWLEDGE = re.compile(
    r"^\W*(?:(?i:at a minimum|also|and|but|so|however|meanwhile),?\s+)?"
    r"(?:(?i:i|we|he|she|they)|[A-Z][a-z]+(?: [A-Z][a-z]+){0,2})\s+"
    r"(?i:(?:may|might|would|do not|don'?t|can'?t|cannot|could not)\s+)?"
    r"(?i:think|believe|know|recalls?|remember|disagree|guess|suppose|understand|have (?:some|a few)|am not sure|"
    r"'m not sure|are not sure|feel|assume)\b"
    r"(?!(?i:\s+(?:that\s+)?(?:we|you)\s+(?:should|need|must|have to|will)\b))"
)


def states_knowledge(text: str) -> bool:
    """A statement of what someone knows, remembers or believes that asks nothing (no question, no explicit ask)."""
    return bool(_STATES_KNOWLEDGE.search(text)) and "?" not in text and not is_explicit_ask(text)


# Phrases that look like asks but are courtesy or conditional offers, not tasks.
_NOT_AN_ASK = re.compile(
    r"\b(let (me|us) know if|if you have any (questions|concerns)|feel free to|please (find|see)\b.{0,40}\battached|"
    r"please note that|please do not hesitate|don'?t hesitate|just curious|no action needed)\b",
    re.I,
)
# Explicit asks the classifier sometimes underrates (short, or phrased as a question).
_EXPLICIT_ASK = re.compile(
    r"\b(?:could|can|would|will) you (?:please |also |kindly )?(?!know|think|believe|remember|imagine)[a-z]+|"
    r"\bplease (?!find|see|note|let)[a-z]+|\b(?:we|i) (?:still|urgently) need\b|\bneed (?:it|this|them) (?:completed|done|fixed|by|before)\b|"  # noqa: E501
    r"\bwhether you can\b|"
    # The request forms GUIDELINES 2.1 names: "I need you to", "I would appreciate your comments", "I was wondering
    # if you would be willing to", "If you could …, that would be great".
    r"\bi need you to\b|\bi(?: would|'d) (?:appreciate|be grateful)(?: it)? if you\b|"
    r"\bi(?: would|'d) appreciate (?:your|receiving|getting)\b|\b(?:i was|i am|i'm) wondering if you\b|"
    r"\bwould you be (?:willing|able) to\b|\bif you could\b.{3,120}\b(?:that would|it would|would be)\b|"
    # An obligation in the passive with a deadline: "All clean up should be completed by December 31, 2001."
    r"\b" + OBLIGED_PASSIVE + r"[a-z]+(?:ed|en|nt)\b.{0,80}?"
    r"\b(?:by|before|no later than|until)\s+(?:the\s+)?(?:\w+day|tomorrow|tonight|today|noon|midnight|eod|cob|end|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|\d)",
    re.I,
)
_LIST_MARK = re.compile(r"^(?:[-*•·]|\d{1,2}[.)])\s+(?:\[[ xX]?\]\s*)?|^\[[ xX]?\]\s*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CN_ASK = re.compile(r"(请|麻烦|能否|可否|务必|帮忙|记得).{0,30}?[\u4e00-\u9fff]")
_CN_COMMIT = re.compile(r"(我来|我会|我们会|我将|我们将|我负责).{0,30}?[\u4e00-\u9fff]")
_CN_NOT = re.compile(r"(谢谢|感谢|收到|非常好|很满意|已经|已修复)")
RULE_CONFIDENCE = 0.7
# Asks to be somewhere: their due date is the event's day even when the sentence does not repeat it.
_ATTENDANCE = re.compile(
    r"\b(?:attend\w*|join (?:us|me|the)|plan (?:on|to) (?:be|attend)|be there|bring\b.{0,40}\bwith you|"
    r"see (?:ya'?|you) (?:on|at|there))\b",
    re.I,
)


def is_explicit_ask(sentence: str) -> bool:
    """The rules' explicit asks: "could you <verb>", "please <verb>", 请/麻烦/务必 …, 我来/我会 … ."""
    if len(_CJK.findall(sentence)) >= 4:
        return bool(_CN_ASK.search(sentence) or _CN_COMMIT.search(sentence)) and not _CN_NOT.search(sentence)
    return bool(_EXPLICIT_ASK.search(sentence)) and not _NOT_AN_ASK.search(sentence)


def only_explicit_asks(drafts: Sequence[TaskDraft]) -> list[TaskDraft]:
    """The drafts whose evidence is an explicit ask: all a suspect mail may turn into tasks, whichever extractor read it
    (spam's sentences read as asks to a classifier; its explicit calls to action are fewer and a person sees them)."""
    return [draft for draft in drafts if is_explicit_ask(draft.evidence)]


def rule_probability(sentence: str, model_probability: float) -> float:
    """Where the English-trained classifier cannot see (Chinese) or is known to under-read, explicit rules decide."""
    if len(_CJK.findall(sentence)) >= 4:
        if _CN_NOT.search(sentence) and not _CN_ASK.search(sentence):
            return 0.1
        if _CN_ASK.search(sentence) or _CN_COMMIT.search(sentence):
            return max(model_probability, 0.8)
        return min(model_probability, 0.3)
    if _NOT_AN_ASK.search(sentence):
        return min(model_probability, 0.3)
    if _EXPLICIT_ASK.search(sentence):
        return max(model_probability, RULE_CONFIDENCE)
    return model_probability


@dataclass(frozen=True)
class _Candidate:
    text: str
    structured: NoteItem | None
    speaker: str | None
    line_no: int
    list_item: bool
    agenda_topic: bool = False  # an agenda's "topic -- presenter" line: scored as before, never kept


def _title_line(text: str) -> int:
    for number, line in enumerate(text.split("\n")):
        if line.strip():
            return number if len(line.split()) <= 12 else -1
    return -1


def _prose_lines(text: str, consumed: set[int], *, is_notes: bool) -> list[Line]:
    lines: list[Line] = []
    # In minutes, a structured line (an action item, metadata) is no part of the prose around it: blanked, it ends the
    # paragraph before it, and the prose after it starts one of its own instead of being numbered (and dropped) as it.
    if is_notes:
        text = "\n".join("" if number in consumed else line for number, line in enumerate(text.split("\n")))
    for line in split_lines(text):
        if _SIGNATURE.match(line.text.strip()):
            break  # everything below a signature delimiter is the signature
        if line.line_no in consumed:
            continue
        lead = _GREETING_LEAD.match(line.text.strip())
        if lead is not None and len(lead.group("rest").split()) >= 3:
            line = replace(line, text=lead.group("rest"))  # the ask without its greeting: evidence and title
        elif _SKIP.match(line.text.strip()):
            continue
        words = len(line.text.split())
        chinese = len(re.findall(r"[\u4e00-\u9fff]", line.text))
        if (words < 3 and chinese < 4 and (is_notes or not asks_for_views(line.text))) or words > 80:
            continue
        lines.append(line)
    return lines


MAX_CANDIDATES = 300  # sentences read per message: a 25,000-line mail must not hold a worker for a minute
MAX_TASKS = 25  # tasks per message; more is a list to import, not an ask to review


@dataclass(frozen=True)
class Candidates:
    """A message's candidate sentences, what the decision layer reads of them, and what the drafts resolve against."""

    items: list[_Candidate]
    sentences: list[Sentence]
    context: MessageContext
    notes: list[str]
    vectors: np.ndarray | None = None  # their MiniLM vectors, when the decision layer compares them with precedents


class OfflineExtractor:
    """Reads tasks from one message; the embedding model and classifiers load on first use and stay loaded."""

    name = "offline"

    def __init__(
        self,
        *,
        exclude_addresses: Sequence[str] = (),
        decision: DecisionModel | None = None,
        classifier: ActionItemClassifier | None = None,
    ) -> None:
        self.exclude_addresses = {address.lower() for address in exclude_addresses}
        self.decision = decision  # None: the shipped weights (evaluations hand in ones fitted inside their folds)
        self.classifier = classifier

    def candidates(self, message: MessageText) -> Candidates:
        """Every sentence or structured line that could be a task, scored by the base classifier and the rules."""
        return self._score_candidates([self._read_candidates(message)])[0]

    def _read_candidates(self, message: MessageText) -> tuple[MessageText, list[_Candidate], list[str]]:
        is_notes = message.kind == "notes"
        text, speakers = from_webvtt(message.text) if is_notes else (message.text, {})
        text = join_wrapped_items(text)
        structure = parse_structure(text, is_notes=is_notes)
        consumed = set(structure.consumed_lines)
        title_line = _title_line(text) if is_notes else -1
        if is_notes:
            consumed.add(title_line)  # the notes' heading names the meeting; it asks nothing
        items = [
            _Candidate(item.text, item, speakers.get(item.line_no), item.line_no, True)
            for item in structure.items
            if item.line_no != title_line or item.how == "table"
        ]
        items += [
            _Candidate(
                line.text,
                None,
                speakers.get(line.line_no),
                line.line_no,
                line.list_item,
                line.line_no in structure.agenda_topics and bool(NUMBERED.match(line.text)),
            )  # fmt: skip
            for line in _prose_lines(text, consumed, is_notes=is_notes)
        ]
        items.sort(key=lambda candidate: candidate.line_no)
        notes = []
        if len(items) > MAX_CANDIDATES:
            notes.append(f"read the first {MAX_CANDIDATES} of {len(items)} sentences")
            items = items[:MAX_CANDIDATES]
        return message, items, notes

    def _score_candidates(self, read: list[tuple[MessageText, list[_Candidate], list[str]]]) -> list[Candidates]:
        """The base classifier over the sentences of several messages at once: MiniLM runs once for all of them."""
        from handoff.extraction.classifier import committed_classifier
        from handoff.extraction.embeddings import DIMENSIONS, encode

        texts = [candidate.text for _, items, _ in read for candidate in items]
        decision = self.decision or committed_decision()
        classifier = self.classifier or committed_classifier()
        # One MiniLM call: the sentences of a kind the decision compares with precedents, but for those the n-gram
        # model surely rejects (most of a meeting's discussion: a zero vector, no precedents), and the classifier's
        # unsure ones of the rest (`cascade_probabilities` asks for those; the vectors already made are reused).
        compared = [c.text for message, items, _ in read if decision.needs_vectors(message.kind) for c in items]
        compared = [text for text, rejected in zip(compared, classifier.surely_rejects(compared), strict=True)
                    if not rejected]  # fmt: skip
        known = dict(zip(compared, encode(compared), strict=True)) if compared else {}
        unseen = np.zeros(DIMENSIONS, dtype=np.float32)

        def encode_once(sentences: list[str]) -> np.ndarray:
            missing = [sentence for sentence in dict.fromkeys(sentences) if sentence not in known]
            known.update(zip(missing, encode(missing), strict=True))
            return np.vstack([known[sentence] for sentence in sentences])

        base = list(classifier.cascade_probabilities(texts, encode_once)) if texts else []
        out = []
        for message, items, notes in read:
            scored, base = base[: len(items)], base[len(items) :]
            sentences = [
                Sentence(
                    c.text, i, c.list_item, c.structured.how if c.structured else None, rule_probability(c.text, p)
                )
                for i, (c, p) in enumerate(zip(items, scored, strict=True))
            ]
            context = _context(message, items)
            vectors = (
                np.vstack([known.get(c.text, unseen) for c in items])
                if items and decision.needs_vectors(message.kind)
                else None
            )
            out.append(Candidates(items, sentences, context, notes, vectors))
        return out

    def extract_many(self, messages: Sequence[MessageText], roster: Sequence[TeamMember]) -> list[list[TaskDraft]]:
        """`extract` for a batch of messages, with one MiniLM call for all their unsure sentences."""
        read = [self._read_candidates(message) for message in messages]
        # Marketing or an automated notice: its calls to action are nobody's task. Told apart by its text alone, so
        # such mail, long and full of calls to action, never reaches the classifier or MiniLM.
        bulk = [message.kind == "email" and reads_as_bulk(_context(message, items)) for message, items, _ in read]
        found = iter(self._score_candidates([one for one, is_bulk in zip(read, bulk, strict=True) if not is_bulk]))
        return [
            [] if is_bulk else self._decide(message, next(found), roster)
            for message, is_bulk in zip(messages, bulk, strict=True)
        ]

    def extract(self, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        return self.extract_many([message], roster)[0]

    def _decide(self, message: MessageText, found: Candidates, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        is_notes = message.kind == "notes"
        if not found.items:
            return []
        scores, bar = (self.decision or committed_decision()).decide(found.sentences, found.context, found.vectors)
        common_words = lowercase_words(found.context.texts)
        keep = [
            (
                float(score) >= bar
                or (not is_notes and (is_plain_ask(c.text, is_explicit_ask(c.text)) or asks_for_views(c.text)))
                or (is_notes and (is_assignment(c.text, common_words) or is_cn_assignment(c.text)))
                or (c.structured is not None and c.structured.how == "table" and c.structured.owner is not None)
            )
            and not (c.structured is None and (_reports(c.text) or never_a_task(c.text) or states_knowledge(c.text)))
            and not (is_notes and (voices_opinion(c.text) or records_the_meeting(c.text)))
            and not (is_notes and is_cn_description(c.text))
            and not c.agenda_topic
            and not (is_notes and c.structured is None and c.text.lstrip().startswith("#"))  # a heading names a part
            for c, score in zip(found.items, scores, strict=True)
        ]
        if not is_notes:  # the remark after an ask says why or how soon; it is the ask's evidence, not a second task
            for index in range(1, len(keep)):
                ask, remark = found.items[index - 1], found.items[index]
                if keep[index] and keep[index - 1] and remark.structured is None and is_explicit_ask(ask.text):
                    said_alone = asks_nothing(remark.text) and not is_explicit_ask(remark.text)
                    keep[index] = not (remark.line_no == ask.line_no and said_alone)
        requested = {} if is_notes else _requested_items(found.items)
        for index in requested:
            keep[index] = True
        for lead in set(requested.values()):
            keep[lead] = False  # "I need three things from you:" is said by the items it introduces
        people = Roster(roster)
        recipients = tuple(
            r for r in message.recipients if r.split("<")[-1].strip(">").lower() not in self.exclude_addresses
        )
        addressee = message.delegate or addressee_from_greeting(message.text, people)
        event = event_date(message.text, message.sent_at, message.subject) if message.kind == "email" else None
        attendees = meeting_attendees(message.text) if is_notes else ()
        drafts: list[TaskDraft] = []
        for index, candidate in enumerate(found.items):
            if not keep[index]:
                continue
            following = _following_remark(found.items, keep, index)
            writer = candidate.speaker or message.sender
            draft = self._draft(
                candidate.text, candidate.structured, float(scores[index]), message, people, recipients, addressee,
                writer, following, event, attendees,
            )  # fmt: skip
            before = found.items[index - 1].text if index else None
            title = draft.title.value
            if index in requested:
                title = requested_title(title)
                lead = found.items[requested[index]].text
                lead_due = find_due(lead, message.sent_at)
                if draft.due.value is None and lead_due is not None:  # "…from you, today:" dates every item
                    draft.due = Found(lead_due.value, lead_due.confidence, lead)
            draft.title = replace(draft.title, value=with_antecedent(title, before))
            same = next((kept for kept in drafts if _restates(kept, draft)), None)
            if same is not None:  # an ask restated (in a table and the body, or again with its deadline): one task
                if same.due.value is None and draft.due.value is not None:
                    same.due = draft.due
                continue
            drafts.append(draft)
        if len(drafts) > MAX_TASKS:
            found.notes.append(f"kept the first {MAX_TASKS} of {len(drafts)} tasks")
            drafts = drafts[:MAX_TASKS]
        for draft in drafts:
            draft.notes.extend(found.notes)
        return drafts

    def _draft(
        self,
        sentence: str,
        item: NoteItem | None,
        confidence: float,
        message: MessageText,
        roster: Roster,
        recipients: Sequence[str],
        addressee: str | None,
        writer: str | None,
        following: str | None = None,
        event: DueDate | None = None,
        attendees: Sequence[str] = (),
    ) -> TaskDraft:
        is_notes = message.kind == "notes" or item is not None
        today = message.sent_at.date()
        due = find_due(item.due_text, message.sent_at) if item and item.due_text else None
        due = due or find_due(sentence, message.sent_at)
        if (
            due
            and message.kind == "notes"
            and due.value == today
            and not re.search(r"today|eod|cob|end of (the )?day|今天|下班", due.matched, re.I)
        ):
            due = None  # the meeting's own date, repeated in a line, is not a deadline
        if due is None and event is not None and _ATTENDANCE.search(sentence):
            due = event
        assignee = resolve_assignee(
            sentence,
            roster=roster,
            sender=writer,
            recipients=recipients,
            addressee=addressee,
            is_notes=is_notes,
            owner_hint=item.owner if item else None,
            known_names=attendees,
        )
        priority, priority_confidence = find_priority(
            sentence, subject=message.subject, due=due.value if due else None, today=today, following=following
        )
        # The cue may sit in the remark after the ask; the evidence is whichever sentence carried it.
        urgent_after = priority == "urgent" and following and has_urgency(following) and not has_urgency(sentence)
        priority_evidence = following if urgent_after else None
        views = message.kind == "email" and asks_for_views(sentence)
        title = views_title(message.subject) if views else make_title(sentence)
        title_confidence = 0.8 if has_marker(sentence) or item else 0.7
        evidence = _LIST_MARK.sub("", sentence.strip(), count=1) or sentence.strip()
        return TaskDraft(
            title=Found(title, title_confidence, evidence),
            assignee=Found(assignee.value, round(assignee.confidence, 3), evidence),
            assignee_id=assignee.member_id,
            due=Found(due.value if due else None, due.confidence if due else 0.6, evidence),
            priority=Found(priority, priority_confidence, priority_evidence or evidence),
            description=evidence,
            confidence=round(min(max(confidence, 0.0), 1.0), 4),
            evidence=evidence,
            extractor=self.name,
        )


def _context(message: MessageText, items: Sequence[_Candidate]) -> MessageContext:
    return MessageContext(
        kind=message.kind,
        recipients=len(message.recipients),
        sender=message.sender,
        subject=message.subject,
        greeted_by_name=greets_by_name(message.text),
        texts=tuple(c.text for c in items),
    )


RESTATEMENT_F1 = 0.7


def _restates(kept: TaskDraft, draft: TaskDraft) -> bool:
    """The same action said twice in one message: (nearly) the same title for the same person."""
    same_title = token_f1(kept.title.value, draft.title.value) >= RESTATEMENT_F1
    return same_title and (kept.assignee.value == draft.assignee.value or draft.assignee.value is None)


# A lead-in that asks for what the lines after it list: "I need three things from you, today:", "the following data,
# which is required for your visa application:".
_LIST_ASK_LEAD = re.compile(
    r"\b(?:(?:i|we)\s+(?:will\s+|also\s+)?(?:need|require|would like)\b|(?:please|kindly)\s+(?:send|provide|forward|"
    r"submit|return|supply|bring|complete|prepare)\b|(?:is|are)\s+(?:required|needed)\b)",
    re.I,
)
_SAYS_ITSELF = re.compile(r"^(?:i|we|you|he|she|they|it|this|that|there|please|thanks|thank you|regards)\b", re.I)
MAX_REQUESTED_ITEMS = 8


def _requested_items(candidates: list[_Candidate]) -> dict[int, int]:
    """The lines a list-asking lead-in introduces (each item's index → its lead-in's): the things asked for, each a
    task of its own. A line that is an ask or a statement of its own ("I need you to come by my desk") ends the
    list; so does a gap in the lines."""
    requested: dict[int, int] = {}
    for index, lead in enumerate(candidates):
        if not (lead.text.rstrip().endswith((":", "：")) and _LIST_ASK_LEAD.search(lead.text)):
            continue
        previous_line = lead.line_no
        for following in range(index + 1, min(index + 1 + MAX_REQUESTED_ITEMS, len(candidates))):
            item = candidates[following]
            gap = item.line_no - previous_line
            if gap > (2 if following == index + 1 else 1) or item.structured is not None:
                break
            body = _LIST_MARK.sub("", item.text.strip(), count=1)
            if _SAYS_ITSELF.match(body) or is_explicit_ask(body) or body.endswith((":", "?")):
                break
            requested[following] = index
            previous_line = item.line_no
    return requested


def _following_remark(candidates: list[_Candidate], keep: list[bool], index: int) -> str | None:
    """The next prose sentence, when it is a remark rather than another ask (urgency often sits there)."""
    following = index + 1
    if following >= len(candidates) or candidates[index].structured or candidates[following].structured:
        return None
    return None if keep[following] else candidates[following].text
