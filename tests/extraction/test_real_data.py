"""Extraction on real data: the scorer of extraction_real_dev, the decision layer, and the conventions it follows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from eval.extraction.scoring import Tally, assignee_matches, score_document
from handoff.extraction.datasets import load_real_dev
from handoff.extraction.dates import find_due
from handoff.extraction.decision import (
    FEATURE_NAMES,
    PRECEDENT_FEATURES,
    DecisionModel,
    KindModel,
    MessageContext,
    Precedents,
    Sentence,
    is_cn_description,
    is_plain_ask,
    load_decision,
    never_a_task,
    precedent_columns,
)
from handoff.extraction.extractor import build_extractor
from handoff.extraction.model import MessageText
from handoff.extraction.overlap import tokens
from handoff.extraction.training import sentence_labels
from handoff.settings import Settings

RAW = "From: Dana Wu <dana.wu@acme.example>\nTo: Tim Belden <tim.belden@enron.com>\nSubject: x\n\nbody\n"


def _gold(*tasks: dict, doc: str = "d1") -> dict:
    return {"id": doc, "raw": RAW, "tasks": list(tasks)}


def test_a_title_or_the_evidence_matches_and_each_gold_task_only_once() -> None:
    tally = Tally()
    gold = _gold({"title": "Send the revised SOW to Dana", "evidence": "Could you send me the revised SOW?"})
    predicted = [
        {"title": "Send revised SOW", "evidence": "something else entirely"},  # title F1 >= 0.5
        {"title": "Send revised SOW", "evidence": "Could you send me the revised SOW?"},  # the same task again
    ]
    score_document(tally, gold, predicted)
    assert (tally.tp, tally.fp, tally.fn) == (1, 1, 0)
    evidence_only = Tally()
    score_document(evidence_only, gold, [{"title": "Do it", "evidence": "Could you send me the revised SOW?"}])
    assert (evidence_only.tp, evidence_only.fp) == (1, 0)


def test_optional_gold_tasks_are_neither_owed_nor_punished_and_task_free_documents_count() -> None:
    tally = Tally()
    optional = {"title": "Thank Alicia again", "evidence": "Please thank Alicia again for me.", "optional": True}
    score_document(tally, _gold(optional), [{"title": "Thank Alicia again", "evidence": "Please thank Alicia."}])
    score_document(tally, _gold(optional, doc="d2"), [])
    assert (tally.tp, tally.fp, tally.fn) == (0, 0, 0)
    rates = tally.rates()
    assert rates["task_free_kept_empty"] == 0.5  # both are task-free; only the second was left empty
    score_document(tally, _gold(doc="d3"), [{"title": "Visit our store", "evidence": "Visit our store!"}])
    assert tally.fp == 1 and tally.rates()["task_free_kept_empty"] == round(1 / 3, 3)


def test_recipient_and_sender_resolve_against_the_mail_headers() -> None:
    assert assignee_matches("tim.belden@enron.com", "recipient", RAW)
    assert assignee_matches("Tim", "recipient", RAW)
    assert not assignee_matches("dana.wu@acme.example", "recipient", RAW)
    assert assignee_matches("Dana Wu", "sender", RAW)
    assert assignee_matches("Scott and Jim", "Scott and JIm", None)
    assert not assignee_matches(None, "sender", RAW)


def test_chinese_is_read_as_character_bigrams() -> None:
    assert tokens("提交性能测试报告") == ["提交", "交性", "性能", "能测", "测试", "试报", "报告"]
    assert tokens("Send the SOW by Friday") == ["send", "sow", "friday"]


def test_sentence_labels_give_each_gold_task_to_the_sentence_that_says_it_best() -> None:
    tasks = [
        {"title": "Send the revised SOW", "evidence": "Please send the revised SOW."},
        {"title": "Thank Alicia", "evidence": "Please thank Alicia for me.", "optional": True},
    ]
    texts = ["Please send the revised SOW.", "Again: please send the revised SOW!", "Please thank Alicia for me.", "Hi"]
    labels, weights = sentence_labels(texts, tasks)
    assert labels.tolist() == [1, 0, 0, 0]
    assert weights.tolist() == [1.0, 0.0, 0.0, 1.0]  # a second saying and an optional task teach nothing


def test_the_decision_weights_round_trip_and_refuse_other_features(tmp_path: Path) -> None:
    width = len(FEATURE_NAMES)
    kind = KindModel(np.linspace(-1, 1, width), -0.5, np.zeros(width), np.ones(width), 0.42)
    path = DecisionModel({"email": kind, "notes": kind}, {"name": "decision"}).save(tmp_path / "decision.json")
    loaded = load_decision(path)
    assert loaded.kinds["email"].threshold == 0.42
    features = np.random.default_rng(0).normal(size=(5, width))
    assert np.allclose(loaded.kinds["notes"].probabilities(features), kind.probabilities(features), atol=1e-5)
    path.write_text(path.read_text().replace('"base_logit"', '"something_else"'))
    with pytest.raises(ValueError, match="other features"):
        load_decision(path)


def test_precedents_travel_with_the_weights_and_a_candidate_reads_like_its_nearest(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)

    def unit(rows: int) -> np.ndarray:
        vectors = rng.normal(size=(rows, 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    tasks, others = unit(4), unit(6)
    width = len(FEATURE_NAMES) + len(PRECEDENT_FEATURES)
    kind = KindModel(np.linspace(-1, 1, width), -0.5, np.zeros(width), np.ones(width), 0.4, Precedents(tasks, others))
    path = DecisionModel({"email": kind}, {}).save(tmp_path / "decision.json")
    loaded = load_decision(path)
    assert loaded.needs_vectors("email") and loaded.kinds["email"].precedents.tasks.shape == (4, 8)
    # A candidate that is one of the task precedents sits nearer the tasks than the others.
    margin, best = loaded.kinds["email"].precedents.columns(tasks[:1])[0]
    assert best == pytest.approx(1.0, abs=1e-2) and margin > 0
    margin, _ = loaded.kinds["email"].precedents.columns(others[:1])[0]
    assert margin < 0
    # A sentence the n-gram model surely rejects is not embedded: its zero vector has no precedents.
    assert loaded.kinds["email"].precedents.columns(np.zeros((1, 8), dtype=np.float32)).tolist() == [[0.0, 0.0]]
    sentence = Sentence("Please send the SOW.", 0)
    with pytest.raises(ValueError, match="needs their vectors"):
        loaded.decide([sentence], MessageContext(kind="email"))
    scores, _ = loaded.decide([sentence], MessageContext(kind="email"), tasks[:1])
    assert scores.shape == (1,)


def test_precedent_columns_leave_out_what_is_masked() -> None:
    near = np.array([[0.9, 0.8, -np.inf, 0.1]])
    margin, best = precedent_columns(near, np.array([[0.2, 0.2, 0.2]]))[0]
    assert best == pytest.approx(0.9) and margin == pytest.approx((0.9 + 0.8 + 0.1) / 3 - 0.2)


def test_rules_against_asks_overrule_the_explicit_ask_floor() -> None:
    assert is_plain_ask("Please send the signed contract.", True)
    for text in (
        "If you have any questions, please contact Corporate Security.",
        "Please do not reply to this e-mail.",
        "Please see the attached letter.",
        "Please join me in congratulating David.",
        "Click here to save 25% today, please.",
    ):
        assert not is_plain_ask(text, True), text


@pytest.fixture(scope="module")
def extractor():
    return build_extractor(Settings(_env_file=None))


def _mail(text: str, *, sender: str = "Dana Wu <dana@acme.example>") -> MessageText:
    when = datetime(2001, 10, 3, 13, 51, tzinfo=timezone(timedelta(hours=-7)))
    return MessageText(text=text, sent_at=when, sender=sender, recipients=("tim@ourco.example",))


def test_a_newsletter_gives_no_tasks_and_a_plain_ask_is_kept(extractor) -> None:
    newsletter = (
        "Holiday savings are here!\n\nClick here to shop now: http://shop.example/a\n"
        "Visit our store at http://shop.example/b for 25% off.\nRegister now at http://shop.example/c\n"
        "Don't forget to use promotion code RE2 at http://shop.example/d.\n"
        "To unsubscribe, click here: http://shop.example/e\n"
    )
    assert extractor.extract(_mail(newsletter, sender="Deals <offers@shop.example>"), []) == []
    tasks = extractor.extract(_mail("Tim,\n\nPlease send me the signed Gurananty by Friday.\n\nDana"), [])
    assert [task.due.value for task in tasks] == [date(2001, 10, 5)]


def test_offers_and_disclaimers_are_not_tasks(extractor) -> None:
    text = (
        "Tim,\n\nPlease review the attached draft and send me your comments by Friday.\n\n"
        "If you have any questions, please feel free to call me at (713) 853-5536.\n\n"
        "If you are not the intended recipient, please delete this e-mail and notify the sender.\n\nDana"
    )
    tasks = extractor.extract(_mail(text), [])
    assert len(tasks) == 1 and "comments" in tasks[0].evidence


def test_people_addressed_by_name_own_the_ask(extractor) -> None:
    (task,) = extractor.extract(_mail("Marie or Tana - could you please send Sarah our standard template."), [])
    assert task.assignee.value == "Marie and Tana"


def test_deadlines_follow_the_guidelines() -> None:
    sent = datetime(2001, 12, 27, 15, 0, tzinfo=UTC)
    assert find_due("Please log off by 4:55 pm.", sent).value == date(2001, 12, 27)
    assert find_due("Please send it by next week.", sent) is None  # vague: null, the phrase stays in the text
    meeting = datetime(2022, 9, 21, tzinfo=UTC)
    assert find_due("方案 -谢秀奇 (10月底tc会议审视进展）", meeting).value == date(2022, 10, 31)


@pytest.mark.datasets
def test_the_real_development_set_loads_by_part(datasets_dir: Path) -> None:
    golds = load_real_dev(datasets_dir)
    parts = {part: sum(1 for g in golds if g.part == part) for part in ("emails", "notes_en", "notes_zh")}
    assert parts == {"emails": 134, "notes_en": 30, "notes_zh": 10}
    required = sum(1 for g in golds for t in g.tasks if not t.get("optional"))
    assert required == 105 + 67 + 58


def test_handoff_extract_gives_a_screened_mail_no_tasks_and_says_why(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    mail = tmp_path / "ooo.eml"
    mail.write_text(
        "From: a@b.example\nTo: tasks@handoff.local\nSubject: Out of office\nAuto-Submitted: auto-replied\n"
        "Date: Mon, 1 Oct 2001 10:00:00 -0700\n\nPlease send me the report by Friday.\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "handoff", "extract", str(mail)],
        capture_output=True,
        text=True,
        env={**os.environ, "HANDOFF_HOME": str(tmp_path / "home")},
        timeout=120,
        check=True,
    )
    line = json.loads(done.stdout)
    assert line["tasks"] == [] and line["reason"].startswith("auto-reply")


def test_a_batch_gives_what_each_message_gives_alone(extractor) -> None:
    messages = [
        _mail("Tim,\n\nPlease send me the signed Gurananty by Friday.\n\nDana"),
        _mail("FYI, the market wrap is attached."),
        MessageText(
            text="## Action items\n- Anna to send the revised SOW by Friday\n",
            sent_at=datetime(2026, 3, 4, tzinfo=UTC),
            kind="notes",
        ),
    ]
    one_by_one = [[(t.title.value, t.due.value) for t in extractor.extract(m, [])] for m in messages]
    batched = [[(t.title.value, t.due.value) for t in drafts] for drafts in extractor.extract_many(messages, [])]
    assert batched == one_by_one and one_by_one[0] and not one_by_one[1] and one_by_one[2]


def test_chinese_minutes_are_held_to_their_own_bar(tmp_path: Path) -> None:
    width = len(FEATURE_NAMES)
    kind = KindModel(np.zeros(width), 0.0, np.zeros(width), np.ones(width), 0.42, language_thresholds={"zh": 0.3})
    path = DecisionModel({"email": kind, "notes": kind}, {"name": "decision"}).save(tmp_path / "decision.json")
    loaded = load_decision(path)
    chinese = ("会后联系公众号负责人，推送筹备组成立的新闻。", "建议筹备组运作两周，联络学术界和产业界更多力量参与。")
    english = ("Anna to send the minutes.", "Bob will book the room.")
    for texts, bar in ((chinese, 0.3), (english, 0.42)):
        sentences = [Sentence(text, i) for i, text in enumerate(texts)]
        _, used = loaded.decide(sentences, MessageContext(kind="notes", texts=texts))
        assert used == bar


@pytest.mark.parametrize(
    "line",
    [
        "Trouble viewing these images?",
        "To ensure delivery to your inbox, please add us to your address book.",
        "To confirm your identity please follow the link below:",
        "To remove, please send an email with REMOVE in the subject line.",
        "Please fill out the form below for more information",
        "Please pass this on to others you care about.",
    ],
)
def test_the_furniture_of_bulk_and_phishing_mail_is_no_plain_ask(line: str) -> None:
    assert not is_plain_ask(line, explicit=True)


@pytest.mark.parametrize(
    ("sentence", "never"),
    [
        ('Please go to "Up Front" at http://home.enron.com/upfront/ to access it.', True),
        ("Meanwhile, please read the announcement below from Security about the new access cards.", True),
        ("Please make a note of the following:", True),
        ("Please read the draft and send me your comments by Friday.", False),  # the reading leads to an ask
        ("Please take a look at it and tell me what you think.", False),
        # the writer's own whereabouts or schedule; the reader's appointment is theirs to keep
        ("I will be out of the office on Friday 1/4 but look forward to hearing from you early next week.", True),
        ("Elizabeth, Andrea and I are scheduled to meet with Ray Bowen on Monday.", True),
        ("A reminder that you are scheduled to interview for the Trading Track on Thursday.", False),
        ("I will be out next week, so could you send the SOW today?", False),
        # a social formula worded as an ask, help on offer
        ("Please join me in wishing Greg well in his future endeavors.", True),
        ("Alice, Raetta and Larry are all available as needed to help you in this effort.", True),
    ],
)
def test_what_to_read_where_to_look_and_where_the_writer_is_are_no_tasks(sentence: str, never: bool) -> None:
    assert never_a_task(sentence) is never


def test_please_be_advised_is_a_notice_not_an_ask() -> None:
    assert never_a_task("Please be advised that the office closes at noon on Friday.")
    assert not never_a_task("Please be advised that the office closes at noon, and send me your timesheet?")


def test_a_polite_if_whose_consequence_is_thanks_is_an_ask_not_an_open_offer() -> None:
    ask = "If you would like to stop by ESC06406 and pick it up or give me a call that would be great."
    assert not never_a_task(ask)
    assert is_plain_ask(ask, explicit=True)
    assert never_a_task("If you would like a copy, give me a call.")


@pytest.mark.parametrize(
    ("line", "topic"),
    [
        ("3，openEuler社区开发行为规范V1.0版本发布决策 - 熊伟", True),
        ("## 议程 3 ：Kitex 4月发版计划", True),
        ("双内核测试进展、发布件评审 -  李晓东", True),
        ("后续社区执行流程的变更和影响，需要一篇oEEP -- 吴峰光", False),
        ("会后联系公众号负责人，推送筹备组成立的新闻。", False),
        # a described part of a design or a rule, and what a link shows
        ("序列化协议：DubboCodec 利用 Hessian2 提供的 Encoder/Decoder 完成类型映射。", True),
        ("单测描述：需要在描述部分清晰、详细说明单测方法的场景。", True),
        ("- Motivation：维护系统可用性、减少停机时间。", True),
        ("2. 官网新增 About 页面：https://www.cloudwego.io/zh/about/", True),
    ],
)
def test_an_agenda_topic_and_its_presenter_is_no_task(line: str, topic: bool) -> None:
    assert is_cn_description(line) is topic


@pytest.mark.parametrize(
    ("line", "record"),
    [
        ("* Defer detailed discussion until next week when Matteo is here", True),
        ("*Postponed to next meeting.*", True),
        ("* Discussed comments in issue", True),
        ("* Tried to choose stable links for examples (i.e. GitHub)", True),
        ("Brad Nelson to take notes.", True),
        ("* Linking to any security related document (i.e. `url`)", True),
        ("* Resolved the issues, will reflect on the issue", False),  # what is still to do
        ("* Merging as is, we'll fix it before the release", False),
        ("Ping him please", False),
        ("Robin will send an email to the list", False),
    ],
)
def test_what_minutes_record_of_the_meeting_itself_is_no_task(line: str, record: bool) -> None:
    from handoff.extraction.decision import records_the_meeting

    assert records_the_meeting(line) is record
