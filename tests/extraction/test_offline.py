"""The offline extractor end to end, with the committed classifier and the real MiniLM (loaded once, lazily)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from handoff.extraction.extractor import build_extractor
from handoff.extraction.model import MessageText, TeamMember
from handoff.settings import Settings

ROSTER = [
    TeamMember("u_anna", "Anna Schmidt", "anna@ourco.example", ("annie",)),
    TeamMember("u_ben", "Ben Carter", "ben.carter@ourco.example", ("benc",)),
    TeamMember("u_li", "Li Wei", "li.wei@ourco.example", ("李伟",)),
    TeamMember("u_zhang", "Zhang Min", "zhang.min@ourco.example", ("张敏",)),
]


@pytest.fixture(scope="module")
def extractor():
    return build_extractor(Settings(_env_file=None))


def mail(text: str, *, sender: str = "Dana Wu <dana@acme.example>", to: str = "anna@ourco.example",
         sent_at: datetime = datetime(2026, 3, 4, 9, 0, tzinfo=UTC), subject: str | None = None) -> MessageText:  # fmt: skip  # noqa: E501
    return MessageText(text=text, sent_at=sent_at, sender=sender, recipients=(to,), subject=subject)


def test_the_sow_request(extractor) -> None:
    (task,) = extractor.extract(
        mail("Hi Anna,\n\nCould you please send me the revised SOW by Friday? Legal signs next week.\n\nThanks,\nDana"),
        ROSTER,
    )
    assert task.title.value == "Send revised SOW"
    assert (task.assignee.value, task.assignee_id) == ("u_anna", "u_anna")
    assert task.due.value == date(2026, 3, 6)
    assert task.priority.value == "normal"
    assert task.evidence == "Could you please send me the revised SOW by Friday?"
    for found in (task.title, task.assignee, task.due, task.priority):
        assert 0.0 <= found.confidence <= 1.0 and found.evidence == task.evidence
    assert task.confidence > 0.5 and task.extractor == "offline"


def test_a_forwarders_delegate_takes_the_asks_made_of_the_original_addressee(extractor) -> None:
    """Anna forwarded a mail written to her with "Ben, can you take this one?": its "could you" is Ben's now."""
    forwarded = mail("Hi Anna,\n\nCould you please send me the revised SOW by Friday?\n\nThanks,\nDana")
    (task,) = extractor.extract(replace(forwarded, delegate="Ben"), ROSTER)
    assert task.assignee_id == "u_ben"
    (own,) = extractor.extract(forwarded, ROSTER)
    assert own.assignee_id == "u_anna"


def test_a_status_update_has_no_tasks(extractor) -> None:
    text = (
        "Hi Dana,\n\nQuick status: the data model is done and the first import ran. Dashboards are in testing.\n\nAnna"
    )
    assert (
        extractor.extract(mail(text, sender="Anna Schmidt <anna@ourco.example>", to="dana@acme.example"), ROSTER) == []
    )


def test_urgency_and_commitments(extractor) -> None:
    text = "Ben,\n\nThe export failed again. Please fix it immediately.\nI'll send you the logs tomorrow.\n\nHans"
    tasks = extractor.extract(
        mail(text, sender="Hans Weber <hans@stark.example>", to="ben.carter@ourco.example"), ROSTER
    )
    by_title = {t.title.value: t for t in tasks}
    fix = by_title["Fix it: Export failed again"]  # the object named by the sentence before
    assert fix.priority.value == "urgent" and fix.assignee_id == "u_ben"
    logs = next(t for t in tasks if "logs" in t.title.value)
    assert logs.assignee.value == "Hans Weber" and logs.assignee_id is None
    assert logs.due.value == date(2026, 3, 5)


def test_chinese_mail(extractor) -> None:
    text = "张敏，\n\n生产环境的订单接口一直报错，麻烦尽快排查一下。\n另外下周一之前请把测试报告发给我们。\n\n王芳"
    when = datetime(2026, 6, 10, 10, 30, tzinfo=timezone(timedelta(hours=8)))
    tasks = extractor.extract(
        mail(text, sender="王芳 <wang@huaxin.example>", to="zhang.min@ourco.example", sent_at=when), ROSTER
    )
    assert len(tasks) == 2
    assert {t.assignee_id for t in tasks} == {"u_zhang"}
    assert tasks[0].priority.value == "urgent"
    assert tasks[1].due.value == date(2026, 6, 15)


def test_meeting_notes_formats_and_the_meeting_date_is_no_deadline(extractor) -> None:
    notes = MessageText(
        text=(
            "Weekly sync 2026-03-04\nDate: 2026-03-04\nAttendees: Anna, Ben\n\nWe discussed pricing at length.\n\n"
            "## Action items\n- Anna to send the revised SOW by Friday\n- @benc fix the invoice seat count\n"
            "ACTION: Li to confirm the meeting notes of 2026-03-04\n\n"
            "| Owner | Task | Due |\n|---|---|---|\n| 张敏 | 准备续约报价 | 月底 |\n"
        ),
        sent_at=datetime(2026, 3, 4, 14, 0, tzinfo=UTC),
        kind="notes",
    )
    tasks = {t.title.value: t for t in extractor.extract(notes, ROSTER)}
    assert set(tasks) == {
        "Send revised SOW",
        "Fix invoice seat count",
        "Confirm meeting notes of 2026-03-04",
        "准备续约报价",
    }
    assert tasks["Send revised SOW"].assignee_id == "u_anna" and tasks["Send revised SOW"].due.value == date(2026, 3, 6)
    assert tasks["Fix invoice seat count"].assignee_id == "u_ben"
    assert tasks["Confirm meeting notes of 2026-03-04"].due.value is None  # the meeting's own date
    assert tasks["准备续约报价"].assignee_id == "u_zhang" and tasks["准备续约报价"].due.value == date(2026, 3, 31)


def test_an_agenda_gives_the_decisions_under_its_topics_not_the_topics(extractor) -> None:
    notes = MessageText(
        text=(
            "# 技术委员会例会\n与会人：熊伟、陈一雄、赵川锋\n\n议题：\n#### 合规/负责@陈一雄\n"
            "1、openEuler 22.03sp4版本License风险具体处理 —— 陈一雄\n"
            "对建议禁止引入的组件，在SP4发布前做完整梳理。\n"
            "2、社区开发行为规范V1.0版本发布决策 - 熊伟\n熊伟负责协调后续开发规范的宣发工作\n"
        ),
        sent_at=datetime(2026, 3, 4, 14, 0, tzinfo=UTC),
        kind="notes",
    )
    evidence = {task.evidence for task in extractor.extract(notes, ROSTER)}
    assert evidence == {"对建议禁止引入的组件，在SP4发布前做完整梳理。", "熊伟负责协调后续开发规范的宣发工作"}


def test_models_load_lazily_not_at_import_or_build() -> None:
    code = (
        "import sys\nfrom handoff.extraction.extractor import build_extractor\nfrom handoff.settings import Settings\n"
        "build_extractor(Settings(_env_file=None))\n"
        "print(sorted({'torch', 'sentence_transformers', 'sklearn'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_model_is_loaded_once_per_process(extractor) -> None:
    from handoff.extraction.classifier import committed_classifier
    from handoff.extraction.embeddings import _model

    extractor.extract(mail("Please send the deck."), ROSTER)
    extractor.extract(mail("Please send the plan."), ROSTER)
    assert _model.cache_info().currsize == 1 and _model.cache_info().misses == 1
    assert committed_classifier.cache_info().misses == 1


def test_minutes_owners_from_the_attendee_list_and_an_asks_aim_is_no_report(extractor) -> None:
    """A Chinese @-mention run into its verb is read against the notes' own attendee list; "to ensure it is
    completed" is what an ask aims at, not a report that it was done; bounces and bulk read nothing."""
    notes = MessageText(
        text=(
            "# 周会纪要\n与会人：周海燕、林涛\n\n## 行动项\n- @周海燕整理测试报告并发给大家\n\n"
            "## Discussion\n"
            "- Marlow: Re-ping the vendor who promised the quote and follow up to ensure it is completed.\n"
            "- The migration was completed on Monday.\n"
        ),
        sent_at=datetime(2026, 3, 4, 14, 0, tzinfo=UTC),
        kind="notes",
    )
    tasks = {t.evidence: t for t in extractor.extract(notes, [])}
    assert tasks["@周海燕整理测试报告并发给大家"].assignee.value == "周海燕"
    reping = "Marlow: Re-ping the vendor who promised the quote and follow up to ensure it is completed."
    assert tasks[reping].assignee.value == "Marlow"
    assert not any("migration" in evidence for evidence in tasks)


def test_one_message_is_read_for_at_most_300_sentences_and_25_tasks_and_says_so(extractor) -> None:
    """Bounded work per message: a mail of 400 asks becomes at most 25 tasks, each noting both caps."""
    from handoff.extraction.offline import MAX_CANDIDATES, MAX_TASKS

    things = ["invoice", "contract", "SOW", "budget", "roadmap", "timeline", "quote", "report"]
    cities = ["Berlin", "Lyon", "Porto", "Oslo", "Riga"]  # 8 x 5 distinct asks, so more than 25 survive dedupe
    asks = "\n".join(f"- Please send the {things[n % 8]} for {n} to {cities[n % 5]} by Friday." for n in range(400))
    tasks = extractor.extract(mail(f"Hi Anna,\n\n{asks}\n\nThanks,\nDana"), ROSTER)
    assert len(tasks) == MAX_TASKS == 25 and MAX_CANDIDATES == 300
    for task in tasks:
        assert any(note.startswith("read the first 300 of ") for note in task.notes), task.notes
        assert any(note.startswith("kept the first 25 of ") for note in task.notes), task.notes
    few = extractor.extract(mail("Hi Anna,\n\nPlease send the signed invoice by Friday.\n\nDana"), ROSTER)
    assert few and all(not note.startswith(("read the first", "kept the first")) for t in few for note in t.notes)
