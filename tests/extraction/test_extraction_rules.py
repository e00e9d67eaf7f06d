"""The pure rules: sentences, due dates, titles, people, priority and meeting-note structure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from handoff.extraction.dates import find_due
from handoff.extraction.model import TeamMember
from handoff.extraction.notes import from_webvtt, meeting_attendees, parse_structure
from handoff.extraction.offline import states_knowledge
from handoff.extraction.people import Roster, addressee_from_greeting, resolve_assignee, written_owner
from handoff.extraction.priority import find_priority
from handoff.extraction.sentences import join_wrapped_items, split_sentences
from handoff.extraction.titles import make_title

WEDNESDAY = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 5, 15, 9, 0, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("sentence", "when", "expected"),
    [
        ("Could you please send me the revised SOW by Friday?", WEDNESDAY, date(2026, 3, 6)),
        ("Please review it by Friday.", FRIDAY, date(2026, 5, 22)),  # said on a Friday: next week's
        ("send it EOD", WEDNESDAY, date(2026, 3, 4)),
        ("confirm EOW", FRIDAY, date(2026, 5, 15)),
        ("by the 15th", WEDNESDAY, date(2026, 3, 15)),
        ("by the 2nd", WEDNESDAY, date(2026, 4, 2)),
        ("let's meet next Tuesday", WEDNESDAY, date(2026, 3, 10)),
        ("by end of month", WEDNESDAY, date(2026, 3, 31)),
        ("finish the rollout in Q3", WEDNESDAY, date(2026, 9, 30)),
        ("by Jan 8", datetime(2026, 12, 21, tzinfo=UTC), date(2027, 1, 8)),
        ("postpone Thursday's deployment to 3/24", WEDNESDAY, date(2026, 3, 24)),
        ("send the invoice within 3 days, the payment run is on the 20th", FRIDAY, date(2026, 5, 18)),
        ("请在周五前提交数据字典", WEDNESDAY, date(2026, 3, 6)),
        ("下周一之前发给我们", WEDNESDAY, date(2026, 3, 9)),
        ("月底前完成压力测试", WEDNESDAY, date(2026, 3, 31)),
        ("**4 月 20 日前**，各变更需完成功能验证", WEDNESDAY, date(2026, 4, 20)),  # spaced-out numbers
        ("本周四更新文档", WEDNESDAY, date(2026, 3, 5)),
        ("due 2026-04-01", WEDNESDAY, date(2026, 4, 1)),
    ],
)
def test_due_dates(sentence: str, when: datetime, expected: date) -> None:
    found = find_due(sentence, when)
    assert found is not None and found.value == expected
    assert 0.0 < found.confidence <= 1.0


def test_today_is_the_writers_day_not_utcs() -> None:
    late_in_california = datetime(2026, 3, 4, 23, 30, tzinfo=timezone(timedelta(hours=-8)))  # Thursday in UTC
    assert find_due("Can you send it by tomorrow?", late_in_california).value == date(2026, 3, 5)


@pytest.mark.parametrize(
    "sentence", ["We met last Friday to discuss it.", "The plan for Q1 training is fine.", "Thanks for the call!"]
)
def test_no_deadline(sentence: str) -> None:
    assert find_due(sentence, WEDNESDAY) is None


def test_a_deadline_beyond_ten_years_is_no_tasks_deadline() -> None:
    """ "By 31 December 9999" once made a task whose due date no feature table could hold (churn then answered 500)."""
    assert find_due("Please archive the contract by 31 December 9999.", WEDNESDAY) is None
    assert find_due("Keep the records until 12/31/2199.", WEDNESDAY) is None
    assert find_due("Renew the licence by 31 December 2030.", WEDNESDAY).value == date(2030, 12, 31)
    assert find_due("Please do it within 3000000 days.", WEDNESDAY) is None  # once an OverflowError


@pytest.mark.parametrize(
    ("sentence", "title"),
    [
        ("Could you please send me the revised SOW by Friday?", "Send revised SOW"),
        ("Would you mind sharing the API documentation with them?", "Share API documentation with them"),
        ("I'll send over the kickoff deck tomorrow", "Send over kickoff deck"),
        ("- [ ] Sara: book the training room for next Tuesday", "Book training room"),
        ("ACTION: Tom to prepare the cutover plan by 2026-03-20", "Prepare cutover plan"),
        ("请在周五前提交最新的数据字典。", "提交最新的数据字典"),
        ("Couldn't find a stable mirror for the docs (Ravi will take this as a TODO)", "Find stable mirror for docs"),
        ("We were unable to reach the vendor", "Reach vendor"),  # what could not be done is what is left to do
    ],
)
def test_titles_are_short_imperatives(sentence: str, title: str) -> None:
    assert make_title(sentence) == title


ROSTER = Roster(
    [
        TeamMember("u_anna", "Anna Schmidt", "anna@ourco.example", ("annie", "anna.s")),
        TeamMember("u_ben", "Ben Carter", "ben.carter@ourco.example", ("benc",)),
        TeamMember("u_li", "Li Wei", "li.wei@ourco.example", ("李伟",)),
    ]
)


@pytest.mark.parametrize(
    ("sentence", "sender", "expected"),
    [
        ("Can you send the deck?", "Dana <dana@acme.example>", "u_anna"),  # the addressee
        ("I'll send the deck tomorrow.", "Ben Carter <ben.carter@ourco.example>", "u_ben"),  # the writer
        ("I'll update our firewall rules.", "Nina Roth <nina@massive.example>", "Nina Roth"),  # writer off-roster
        # the writer's "we" in mail commits the writer (GUIDELINES 5); "all of you" is the readers
        ("We should invite the security team.", "Ben Carter <ben.carter@ourco.example>", "u_ben"),
        ("Let's take it up at the staff meeting.", "Ben Carter <ben.carter@ourco.example>", "u_ben"),
        ("We encourage all of you to attend the session.", "Ben Carter <ben.carter@ourco.example>", "u_anna"),
        ("@benc will patch the export job", None, "u_ben"),
        ("Annie to review the contract", None, "u_anna"),
        ("李伟 周五前提交数据字典", None, "u_li"),
        # "let me know" is the reader's to do, not the writer's; an adverb opening a sentence names nobody
        ("Please review and let me know if anything must change.", "Ben Carter <ben.carter@ourco.example>", "u_anna"),
        ("Separately, I will forward the document.", "Ben Carter <ben.carter@ourco.example>", "u_ben"),
        # a question is the reader's to answer, its "we" included
        ("Are we responsible for the transport fees in September?", "Ben Carter <ben.carter@ourco.example>", "u_anna"),
    ],
)
def test_assignee_rules(sentence: str, sender: str | None, expected: str | None) -> None:
    found = resolve_assignee(
        sentence, roster=ROSTER, sender=sender, recipients=["anna@ourco.example"], addressee=None, is_notes=False
    )
    assert found.value == expected
    assert 0.0 <= found.confidence <= 1.0


def test_roster_lookup_by_every_name_and_ambiguity() -> None:
    assert ROSTER.find("ANNA@ourco.example").id == "u_anna"
    assert ROSTER.find("Anna Schmidt <anna@ourco.example>").id == "u_anna"
    assert ROSTER.find("@anna.s").id == "u_anna"
    twins = Roster([TeamMember("a", "Sam Lee"), TeamMember("b", "Sam Park")])
    assert twins.find("Sam") is None and twins.find("Sam Park").id == "b"


def test_greeting_names_the_addressee() -> None:
    assert addressee_from_greeting("Hi Anna,\n\nPlease send it.") == "Anna"
    assert addressee_from_greeting("Anna, a reminder: we need it.", ROSTER) == "Anna"
    assert addressee_from_greeting("Production is down.", ROSTER) is None
    assert written_owner("Production has been down since 9:00") == "Production"  # only trusted for roster names


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [("Please fix it ASAP.", "urgent"), ("No rush, whenever you can.", "low"), ("This is important.", "high"),
     ("Send the deck.", "normal"), ("麻烦尽快排查一下", "urgent")],
)  # fmt: skip
def test_priority_cues(sentence: str, expected: str) -> None:
    assert find_priority(sentence, subject=None, due=None, today=date(2026, 3, 4))[0] == expected


def test_sentences_split_on_english_and_chinese_enders_but_not_abbreviations() -> None:
    text = "Hi Anna,\n\nMr. Smith agreed, e.g. on pricing. Could you send it?\n\n我们下周开会。请提交数据字典！"
    assert split_sentences(text) == [
        "Hi Anna,", "Mr. Smith agreed, e.g. on pricing.", "Could you send it?", "我们下周开会。", "请提交数据字典！"
    ]  # fmt: skip


def test_note_structure_sections_action_lines_checkboxes_and_owner_tables() -> None:
    notes = (
        "Weekly sync\nDate: 2026-03-04\nAttendees: Anna, Ben\n\nDiscussed pricing.\n\n## Action items\n"
        "- Anna to send the SOW\n- Ben to fix the invoice\n\nNotes\nACTION: Li to raise the limit\n"
        "- [x] done thing\n- [ ] open thing\n\n| Owner | Task | Due |\n|---|---|---|\n| Ben | Prepare costs | the 15th |\n"  # noqa: E501
    )
    structure = parse_structure(notes)
    by_how = {(item.how, item.text) for item in structure.items}
    assert ("section", "- Anna to send the SOW") in by_how
    assert ("action_line", "ACTION: Li to raise the limit") in by_how
    assert ("checkbox", "- [ ] open thing") in by_how
    assert not any("done thing" in text for _, text in by_how)
    table = [item for item in structure.items if item.how == "table"]
    assert [(t.text, t.owner, t.due_text) for t in table] == [("Prepare costs", "Ben", "the 15th")]
    assert 1 in structure.consumed_lines  # the "Date:" line is metadata


def test_webvtt_voices_become_speakers() -> None:
    text, speakers = from_webvtt("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Ben>I'll set up the workspace.\n")
    assert "I'll set up the workspace." in text
    assert list(speakers.values()) == ["Ben"]


def test_urgency_in_the_remark_after_an_ask_raises_its_priority_and_is_its_evidence() -> None:
    from datetime import UTC, datetime

    from handoff.extraction.model import MessageText
    from handoff.extraction.offline import OfflineExtractor

    text = (
        "Hi Dana,\n\nCould you please send me the revised SOW by Friday? It's urgent, our board meets Monday.\n\n"
        "Thanks,\nOlga"
    )
    message = MessageText(text=text, sent_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC), sender="olga@orion.example")
    [draft] = OfflineExtractor().extract(message, [])
    assert draft.priority.value == "urgent"
    assert draft.priority.evidence == "It's urgent, our board meets Monday."
    assert draft.evidence.startswith("Could you please send me the revised SOW")


@pytest.mark.parametrize(
    ("text", "title", "evidence"),
    [
        ("Hi Anna, please send the SOW by Friday.", "Send SOW", "please send the SOW by Friday."),
        (
            "Dear Anna, could you review the contract by Monday?",
            "Review contract",
            "could you review the contract by Monday?",
        ),
    ],
)
def test_a_greeting_that_leads_into_the_ask_on_one_line_keeps_the_ask(text: str, title: str, evidence: str) -> None:
    """ "Hi Anna, please send ..." was taken whole for a greeting and the ask was lost (0 tasks)."""
    from handoff.extraction.model import MessageText
    from handoff.extraction.offline import OfflineExtractor

    message = MessageText(text=text, sent_at=WEDNESDAY, sender="Dana <dana@acme.example>", recipients=())
    roster = [TeamMember("u_anna", "Anna Schmidt", "anna@ourco.example", ())]
    (task,) = OfflineExtractor().extract(message, roster)
    assert (task.title.value, task.assignee_id, task.evidence) == (title, "u_anna", evidence)
    assert OfflineExtractor().extract(MessageText(text="Hi Anna, thanks!", sent_at=WEDNESDAY), roster) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("New meeting time - Joe will create an issue", True),
        ("* Jory volunteered to do initial draft for directed funding.", True),
        ("- Alex Scammon: Send details about the kiosk to Alex Kimber.", True),
        ("Couldn't find a good link (Jeff will take this as a TODO)", True),
        ("Wes and Ulises will circle back to schedule a working session", True),
        ("* Robin is going to work with legal on this", True),  # "work" opens no imperative, but follows "going to"
        ("Gary needs to figure out what the Wind River issues are.", True),
        ("- Marlow: Re-ping the reviewer and follow up to ensure the review is completed.", True),  # "completed": goal
        ("- Team: Schedule and hold the next meeting on the Workloads API.", True),  # "next meeting": no deferral
        ("Joe merged the fix; done.", False),  # reported done
        ("Let's table it; Joe to raise it again later", False),  # deferred
        ("* Aiming to remove the flag in 12.17.0", False),  # no person
        ("Agreement to close the vote.", False),  # a noun, written lower case elsewhere in the minutes
        ("Richard will likely fly in the night before", False),  # hedged
        ("Rémy: Where would this budget be taken away from?", False),  # a question
        ("TC: Let's go around and check in with everyone.", False),  # the meeting's own next step, nobody's task
        ("The LTS team was created before the release WG", False),
    ],
)
def test_named_assignments_in_minutes(line: str, expected: bool) -> None:
    from handoff.extraction.decision import is_assignment, lowercase_words

    common = lowercase_words(["we reached an agreement on the vote", line])
    assert is_assignment(line, common) is expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("后续社区执行流程的变更和影响，需要一篇oEEP -- 吴峰光", True),
        ("@陈玄先用面向对象语法写好框架无关的登录、查询逻辑", True),
        ("会后联系公众号负责人，推送筹备组成立的新闻。", True),
        ("openEuler 22.03 LTS SP4发布介绍 -- 范佳臣", False),  # an agenda item presented
        ("TC同意引入该工具，认为该工具对改进CVE的全流程看护具有重要意义。", False),  # a decision reported
        ("请假：@陈玄", False),
        ("熊伟负责协调相关后续开发规范的宣发工作", True),  # someone in charge
        ("未找到提交人，交由Compiler SIG分析：责任人 赵川锋", True),  # handed over
        ("对建议禁止引入的组件，在SP4发布前做完整梳理，处理完成前暂不发布SP4正式版本。", True),  # a deadline first
        ("->在summit之前（11月初）评出初步结果", True),
        ("这里记录之前会议未完成的待办任务。", False),  # 未完成: what is still open, said of the section
    ],
)
def test_actions_given_in_chinese_minutes(line: str, expected: bool) -> None:
    from handoff.extraction.decision import is_cn_assignment

    assert is_cn_assignment(line) is expected


def test_misspelt_tomorrow_and_the_event_day_of_an_invitation() -> None:
    from handoff.extraction.dates import event_date

    assert find_due("You can speed things up tommorrow by filling in the forms", WEDNESDAY).value == date(2026, 3, 5)
    invitation = "Please make a note of the following:\nDiscussion: contracts\nDate:  Thursday, March 12, 2026\n"
    assert event_date(invitation, WEDNESDAY).value == date(2026, 3, 12)
    assert event_date("Please send the deck.\nThanks", WEDNESDAY) is None
    # A subject that names a meeting gives its day when the body does not; a subject that names none gives nothing.
    assert event_date("Please bring the attached.", WEDNESDAY, "Meeting Friday 6 at 10").value == date(2026, 3, 6)
    assert event_date("Please bring the attached.", WEDNESDAY, "Budget for Friday") is None


def test_an_ask_to_attend_is_due_on_the_events_day() -> None:
    from handoff.extraction.model import MessageText
    from handoff.extraction.offline import OfflineExtractor

    mail = MessageText(
        "All,\n\nPlease plan to attend the kickoff review.\nDate: Thursday, March 12, 2026\nRoom: EB 32C2\n",
        sent_at=WEDNESDAY,
        sender="Ann <ann@ourco.example>",
        recipients=("team@ourco.example",),
    )
    drafts = OfflineExtractor().extract(mail, [])
    attend = next(d for d in drafts if "attend" in d.evidence.lower())
    assert attend.due.value == date(2026, 3, 12)


def test_a_no_reply_sender_alone_does_not_make_a_mail_bulk() -> None:
    from handoff.extraction.decision import MessageContext, reads_as_bulk

    internal = MessageContext("email", sender="no.address@ourco.example", texts=("Please attend the all-hands.",))
    assert not reads_as_bulk(internal)  # a company's own announcement asks its people for real
    offer = MessageContext(
        "email", sender="no-reply@shop.example", texts=("Visit https://shop.example for our special offer.",)
    )
    assert reads_as_bulk(offer)
    contract = MessageContext(
        "email", sender="kim@law.example", texts=("Please sign the Purchase and Sale Agreement.",)
    )
    assert not reads_as_bulk(contract)  # "Sale Agreement" is no sale


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Jeff: I like the idea of providing examples for each reference type.", True),
        ("Karsten: This is a very well known example and well understood", True),
        ("Kim: Would it be valuable to be able to aggregate the individual licenses?", True),
        ("* Aiming to remove the warning in an upcoming release", True),
        ("Thomas: Don't want to only focus on log4j, should use others as well", True),
        ("We will likely need a vote.", True),  # hedged
        ("(Potentially Richard can lead it in a few weeks' time)", True),
        ("We want to make sure those companies are embedded in the community.", True),  # a state, not an action
        ("Please make sure the invoice is sent today", False),
        ("I think this makes sense, but please talk with David first.", False),  # it still asks
        ("There is a bug in the export, Anna to fix it", False),  # an assignment in the same line
        ("Joe will send the doc to the list.", False),
    ],
)
def test_a_speakers_opinion_in_minutes_is_no_task(line: str, expected: bool) -> None:
    from handoff.extraction.decision import voices_opinion

    assert voices_opinion(line) is expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("openEuler 22.03 LTS SP4发布介绍 -- 范佳臣", True),  # presented
        ("TC同意引入该工具，认为该工具对改进CVE的全流程看护具有重要意义。", True),  # agreed and reported
        ("GLS：使用 local-session 组件兜底请求上下文，解决了用户没有传递 context 导致的断链问题。", True),  # done
        ("Thrift Binary Protocol Scalar Types 是定长编码，提前计算总长度来跳过。", True),  # what is so
        ("会后联系公众号负责人，推送筹备组成立的新闻。", False),
        ("会后请大家了解一下新的发布流程", False),  # 了解 is "to learn", not a past 了
        ("合规SIG统一考虑如何处理License风险组件。 责任人：魏建刚", False),
        ("Send the revised SOW", False),  # not Chinese
    ],
)
def test_chinese_lines_that_present_or_report(line: str, expected: bool) -> None:
    from handoff.extraction.decision import is_cn_description

    assert is_cn_description(line) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please give me a call, and be advised that Jeff and Steve are going to call you.",
         ["Please give me a call", "be advised that Jeff and Steve are going to call you."]),
        ("Please review the attached at your convenience and also forward, as necessary, to anyone else.",
         ["Please review the attached at your convenience", "forward, as necessary, to anyone else."]),
        ("Please review the job description for Jennifer -- also David, thanks for moving this forward.",
         ["Please review the job description for Jennifer", "also David, thanks for moving this forward."]),
        ("Please send the file and the invoice.", ["Please send the file and the invoice."]),
        ("We met on Monday, and also ate lunch.", ["We met on Monday, and also ate lunch."]),  # no ask to split
    ],
)  # fmt: skip
def test_an_ask_joined_to_another_clause_is_split(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_a_title_whose_object_is_a_pronoun_names_the_line_before() -> None:
    from handoff.extraction.titles import with_antecedent

    before = "* Enable pseudonymity for EasyCLA."
    assert (
        with_antecedent("Work with legal on this", before) == "Work with legal on this: Enable pseudonymity for EasyCLA"
    )
    assert with_antecedent("Send revised SOW", before) == "Send revised SOW"
    assert with_antecedent("Look into it", None) == "Look into it"


@pytest.mark.parametrize(
    ("line", "owner"),
    [
        ("New meeting time - Joe will create an issue", "Joe"),
        ("Joe and Ben will meet soon to look at those notes", "Joe and Ben"),
        ("* Jory volunteered to do initial draft for directed funding.", "Jory"),
        ("Couldn't find a good CSAF file to link to (Jeff will take this as a TODO)", "Jeff"),
        ("David & William will publish examples to list", "David and William"),
        ("@石垚@丁文昊将上述代码改写为 MobX 版本", "石垚 and 丁文昊"),
        ("@陈玄先用面向对象语法写好框架无关的登录、查询逻辑", "陈玄"),
        ("The nightly export failed again.", None),
        ("Matteo said they would take it to the Board meeting next Monday", "Matteo"),
        ("* Tobie has comments and will swing back to see if they can be addressed", "Tobie"),
        ("The group said they would meet again", None),
    ],
)
def test_the_owner_of_an_assignment_in_minutes(line: str, owner: str | None) -> None:
    assert written_owner(line) == owner


@pytest.mark.parametrize(
    ("line", "attendees", "owner"),
    [
        ("- @周海燕整理测试报告", ("周海燕", "林涛"), "周海燕"),  # a three-character name run into its verb
        ("- @林涛还有两个 PR 要合并", (), "林涛"),  # no attendee list: 还 ends a two-character name
        ("- @林涛还有两个 PR 要合并", ("周海燕", "林涛"), "林涛"),
        ("升级构建镜像 @周海燕 进行中", (), "周海燕"),  # a mention mid-line beats the line's opening word
        ("迁移文档到新站点 -- 林涛", (), "林涛"),  # a double-dash owner tail
        ("请各组长在周五前提交预算", (), "各组长"),  # a group as written
        ("每位讲师需准备十分钟演示", (), "每位讲师"),
        ("结论：需要大家一起评审", (), "大家"),  # 结论 is the line's label, not its speaker
        ("会后联系 SIG 负责人确认排期", ("周海燕", "林涛"), None),  # 会后 ("after the meeting") is no name
        ("海燕：这个需求会后再对一下", ("周海燕", "林涛"), "海燕"),  # a given name of an attendee
    ],
)
def test_chinese_owners_are_told_from_the_words_around_them(
    line: str, attendees: tuple[str, ...], owner: str | None
) -> None:
    assert written_owner(line, attendees) == owner


def test_the_attendee_list_of_minutes_inline_or_under_a_heading() -> None:
    inline = "# 例会纪要\n与会人：周海燕、林涛、王小川\n\n## 议题\n- 发布计划"
    assert meeting_attendees(inline) == ("周海燕", "林涛", "王小川")
    heading = "## Present\n\n* Ann Lee (@annlee)\n* Bo Chan [host]\n\n## Agenda\n* Ann Lee to send the plan"
    assert meeting_attendees(heading) == ("Ann Lee", "Bo Chan")
    bold = "**Attendees:** Ann Lee, Bo Chan and Cy Diaz\n\nNotes follow."
    assert meeting_attendees(bold) == ("Ann Lee", "Bo Chan", "Cy Diaz")
    assert meeting_attendees("Ann will send the plan.\nBo: agreed.") == ()


def test_a_list_item_wrapped_over_lines_is_read_whole() -> None:
    notes = (
        "  - Update on spec -- new draft\n"
        "          - Kate asked everybody to read the latest spec to see if it\n"
        "            is clear.\n"
        "  - Tooling: the build is\n"
        "slow on ARM.\n"
        "  - Done\n"
        "Next paragraph starts here.\n"
    )
    joined = join_wrapped_items(notes)
    assert joined.split("\n")[1].strip() == "- Kate asked everybody to read the latest spec to see if it is clear."
    assert joined.split("\n")[3].strip() == "- Tooling: the build is slow on ARM."
    assert joined.count("\n") == notes.count("\n")  # every line keeps its number: speakers and structure refer to them
    assert "Next paragraph starts here." in joined.split("\n")  # a new capitalised line after a finished item stays
    assert "- Kate asked everybody to read the latest spec to see if it is clear." in split_sentences(joined)


@pytest.mark.parametrize(
    ("closing", "expected"),
    [("Thoughts?", True), ("Any thoughts?", True), ("Comments?", True), ("What do you think?", True),
     ("Thoughts on the plan are welcome.", False), ("Any questions?", False)],
)  # fmt: skip
def test_a_short_ask_for_views_is_a_task_about_the_subject(closing: str, expected: bool) -> None:
    from handoff.extraction.model import MessageText
    from handoff.extraction.offline import OfflineExtractor

    message = MessageText(
        text=f"Bill, here is my view: we should build the credit expertise in house.\n\n{closing}\n\nTed",
        sent_at=WEDNESDAY,
        subject="RE: FW: International Credit",
        sender="ted@ourco.example",
        recipients=("bill@ourco.example",),
    )
    titles = [task.title.value for task in OfflineExtractor().extract(message, [])]
    assert ("Send your thoughts on International Credit" in titles) is expected


def test_the_things_a_lead_in_asks_for_are_the_tasks_not_the_lead_in() -> None:
    from handoff.extraction.model import MessageText
    from handoff.extraction.offline import OfflineExtractor

    message = MessageText(
        text=(
            "We meet the board on Monday. To prepare for this meeting I need two things from you, today:\n\n"
            "The monthly benchmark prices for your key product since January.\n"
            "Your forecast of those prices for the next six months.\n"
            "I need you to come by my desk some time today.\n\nThanks,\nDave"
        ),
        sent_at=WEDNESDAY,
        sender="dave@ourco.example",
        recipients=("anna@ourco.example",),
    )
    tasks = OfflineExtractor().extract(message, [])
    titles = [task.title.value for task in tasks]
    assert "Send monthly benchmark prices for key product" in titles  # "since January" is read as a date
    assert "Send forecast of those prices" in titles
    assert not any("two things" in title for title in titles)  # the lead-in is said by its items
    assert {task.due.value for task in tasks if task.title.value.startswith("Send ")} == {WEDNESDAY.date()}


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("I would appreciate it if you would read these two pages personally.", True),
        ("If you could fix this upon your return, that would be great.", True),  # a request, not a condition
        ("I was wondering if you would be willing to speak at the event.", True),
        ("I need you to come by my desk some time today.", True),
        ("All clean up should be completed by December 31, 2001.", True),  # an obligation in the passive, dated
        ("This should be noted for the record.", False),  # passive, but no deadline: a remark
        ("If you have any questions, call me.", False),  # an open offer
        ("If the numbers change, we will rerun the model.", False),  # a condition
    ],
)
def test_the_request_forms_the_guidelines_name_are_asks(sentence: str, expected: bool) -> None:
    from handoff.extraction.decision import is_plain_ask
    from handoff.extraction.offline import is_explicit_ask

    assert is_plain_ask(sentence, is_explicit_ask(sentence)) is expected


@pytest.mark.parametrize(
    ("sentence", "title"),
    [
        ("All clean up should be completed by December 31, 2001.", "Complete all clean up"),
        ("All data should be copied to the new drive no later than Midnight, Thursday", "Copy all data to new drive"),
        ("The forms must be submitted by Friday.", "Submit forms"),
    ],
)  # fmt: skip
def test_an_obligation_in_the_passive_is_titled_as_the_act(sentence: str, title: str) -> None:
    assert make_title(sentence) == title


def test_an_ellipsis_run_into_a_capital_ends_a_sentence() -> None:
    text = "THEY WILL CONDUCT THE MIGRATION TONIGHT...LOGOFF YOUR COMPUTERS BEFORE YOU LEAVE."
    assert split_sentences(text) == [
        "THEY WILL CONDUCT THE MIGRATION TONIGHT...",
        "LOGOFF YOUR COMPUTERS BEFORE YOU LEAVE.",
    ]
    assert split_sentences("Dec. 4 is fine...thanks") == ["Dec. 4 is fine...thanks"]


def test_chinese_lines_join_unless_a_numbered_or_dashed_line_starts_an_item() -> None:
    notes = (
        "0、技术委员会换届委员候选人名单提名确认 -- 胡欣蔚\n-每位候选人需准备15分竞选陈述PPT\n"
        "1、2024 年社区项目之星推举 -- 胡欣蔚"
    )
    assert split_sentences(notes) == [
        "0、技术委员会换届委员候选人名单提名确认 -- 胡欣蔚",
        "-每位候选人需准备15分竞选陈述PPT",
        "1、2024 年社区项目之星推举 -- 胡欣蔚",
    ]
    joined = ["会后联系公众号负责人， 推送筹备组成立的新闻。"]
    assert split_sentences("会后联系公众号负责人，\n推送筹备组成立的新闻。") == joined


def test_an_agenda_sections_topic_lines_are_marked_and_a_presenter_ends_the_line() -> None:
    notes = (
        "上期遗留问题：\n1. 与理事会提前申请软件版本选型策略的议题 - 胡欣蔚\n\n本期会议议题：\n"
        "5.openEuler 22.03sp4版本License风险具体处理   ——陈一雄\n"
        "对建议禁止引入的组件，在SP4发布前做完整梳理。\n会后联系公众号负责人，推送新闻。\n2，cve-ease工具引入 -- 天翼云"
    )
    structure = parse_structure(notes)
    lines = notes.split("\n")
    assert [lines[number] for number in sorted(structure.agenda_topics)] == [
        "5.openEuler 22.03sp4版本License风险具体处理   ——陈一雄",
        "2，cve-ease工具引入 -- 天翼云",
    ]  # the carried-over item with the same shape is an item of its section, not a topic
    assert [(item.text, item.how) for item in structure.items] == [
        ("1. 与理事会提前申请软件版本选型策略的议题 - 胡欣蔚", "section")
    ]
    # The decision under a topic is a sentence of its own, and so is the next numbered topic after a full stop.
    assert split_sentences("\n".join(lines[4:])) == [
        "5.openEuler 22.03sp4版本License风险具体处理   ——陈一雄",
        "对建议禁止引入的组件，在SP4发布前做完整梳理。",
        "会后联系公众号负责人，推送新闻。",
        "2，cve-ease工具引入 -- 天翼云",
    ]


def test_carried_over_items_are_an_action_section() -> None:
    notes = "遗留事项：\n1. openEuler repos: 新增non-free仓  - 熊伟&吴峰光\n议题：\n2、社区项目之星推举 -- 胡欣蔚"
    structure = parse_structure(notes)
    assert [(item.text, item.how) for item in structure.items][:1] == [
        ("1. openEuler repos: 新增non-free仓  - 熊伟&吴峰光", "section")
    ]
    assert all("推举" not in item.text or item.how != "section" for item in structure.items)


def test_titles_keep_a_links_text_and_drop_addresses() -> None:
    assert make_title("Please review [the RFC](https://bit.ly/3a4tSUz) by Friday") == "Review RFC"
    title = make_title("Adrian is taking this forward to establish meetings (https://github.com/o/p/pull/1282 )")
    assert "http" not in title and not title.endswith(")")


@pytest.mark.parametrize(
    ("sentence", "states"),
    [
        ("I can't remember if I sent you the signed copy.", True),
        ("Maria Lopez recalls you were at the closing.", True),
        ("We know you have questions about the new plan.", True),
        ("I think we should file these with the renewal.", False),  # proposes an action
        ("Do you know where the originals are?", False),  # a question needs an answer
        ("Please let me know what you think.", False),
    ],
)
def test_what_someone_knows_or_believes_is_no_ask(sentence: str, states: bool) -> None:
    assert states_knowledge(sentence) is states
