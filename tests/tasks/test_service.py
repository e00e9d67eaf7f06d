"""Recording drafts (create, link repeats, thread updates, auto-accept) and the review queue, on both databases."""

from __future__ import annotations

from datetime import date

import pytest
import yaml
from sqlalchemy import select

from handoff.errors import Conflict, InvalidInput, NotFound
from handoff.extraction.model import Found, TaskDraft
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.tasks import service
from handoff.tasks.tables import task_labels, task_links


def draft(title: str, *, evidence: str | None = None, due: date | None = None, assignee_id: str | None = None,
          confidence: float = 0.9, priority: str = "normal") -> TaskDraft:  # fmt: skip
    evidence = evidence or title
    return TaskDraft(
        title=Found(title, confidence, evidence),
        assignee=Found(assignee_id, confidence, evidence),
        assignee_id=assignee_id,
        due=Found(due, confidence, evidence),
        priority=Found(priority, confidence, evidence),  # type: ignore[arg-type]
        description=evidence,
        confidence=confidence,
        evidence=evidence,
    )


def seed_roster(parts) -> None:
    with transaction(parts.sessions) as session:
        session.execute(
            CRM_TABLES["team_members"].insert(),
            [
                {
                    "id": "u_anna",
                    "name": "Anna Schmidt",
                    "email": "anna@ourco.example",
                    "aliases": "annie, @anna.s",
                    "active": True,
                },
                {"id": "u_ben", "name": "Ben Carter", "email": "ben@ourco.example", "aliases": None, "active": True},
                {"id": "u_old", "name": "Old Timer", "email": "old@ourco.example", "aliases": "", "active": False},
            ],
        )


def record(parts, drafts, *, account="acc_1", thread=None, ledger_id=1, settings=None):
    with transaction(parts.sessions) as session:
        return service.record_tasks(
            session, ledger_id=ledger_id, drafts=drafts, account_id=account, project_id="prj_1", thread_id=thread,
            settings=settings or parts.settings,
        )  # fmt: skip


def test_roster_has_active_members_with_aliases(parts) -> None:
    seed_roster(parts)
    with parts.sessions() as session:
        roster = {m.id: m for m in service.load_roster(session)}
    assert set(roster) == {"u_anna", "u_ben"}
    assert roster["u_anna"].aliases == ("annie", "@anna.s")


def test_new_tasks_are_suggested_with_their_metadata(parts) -> None:
    seed_roster(parts)
    recorded = record(parts, [draft("Send revised SOW", due=date(2026, 3, 6), assignee_id="u_anna")])
    assert len(recorded.created) == 1 and not recorded.linked and not recorded.updated
    with parts.sessions() as session:
        task = service.get_task(session, recorded.created[0])
    assert task["status"] == "suggested"
    assert task["source"] == "email"
    assert task["due_date"] == "2026-03-06"
    assert task["fields"]["title"]["evidence"] == "Send revised SOW"
    assert task["links"][0]["how"] == "created"


def test_a_repeated_ask_of_the_same_account_is_linked_not_duplicated(parts) -> None:
    first = record(parts, [draft("Send revised SOW", evidence="Could you please send me the revised SOW by Friday?")])
    again = record(parts, [draft("Send the revised SOW", evidence="Anna to send the revised SOW")], ledger_id=2)
    other_account = record(parts, [draft("Send revised SOW")], account="acc_2", ledger_id=3)
    different_ask = record(parts, [draft("Remove access for Klaus Meyer")], ledger_id=4)
    assert again.linked == first.created and not again.created
    assert other_account.created, "another customer's ask is never merged into this one's"
    assert different_ask.created
    with parts.sessions() as session:
        links = session.execute(select(task_links).where(task_links.c.task_id == first.created[0])).all()
    assert sorted(link.how for link in links) == ["created", "duplicate"]


def test_a_reply_in_the_thread_updates_its_task(parts) -> None:
    seed_roster(parts)
    first = record(parts, [draft("Send revised SOW")], thread="t1")
    reply = record(
        parts, [draft("Send revised SOW", due=date(2026, 3, 13), assignee_id="u_ben", priority="high")],
        thread="t1", ledger_id=2,
    )  # fmt: skip
    assert reply.updated == first.created and not reply.created
    with parts.sessions() as session:
        task = service.get_task(session, first.created[0])
    assert (task["due_date"], task["assignee_id"], task["priority"]) == ("2026-03-13", "u_ben", "high")


def test_auto_accept_only_above_the_configured_confidence(parts) -> None:
    settings = parts.settings.model_copy(
        update={"extraction": parts.settings.extraction.model_copy(update={"auto_accept_confidence": 0.8})}
    )
    sure = record(parts, [draft("Send revised SOW", confidence=0.95)], settings=settings)
    unsure = record(parts, [draft("Book workshop room", confidence=0.6)], settings=settings, ledger_id=2)
    with parts.sessions() as session:
        assert service.get_task(session, sure.created[0])["status"] == "open"
        assert service.get_task(session, unsure.created[0])["status"] == "suggested"


def test_review_decisions_are_labels_and_give_field_accuracy(parts) -> None:
    seed_roster(parts)
    ids = record(
        parts, [draft("Send revised SOW"), draft("Fix nightly export job"), draft("Thanks for the call")]
    ).created
    with transaction(parts.sessions) as session:
        service.edit_task(session, ids[0], {"due_date": "2026-03-06", "assignee_id": "u_anna"}, reviewer="pm@ourco")
        accepted = service.accept_task(session, ids[0], reviewer="pm@ourco")
        service.accept_task(session, ids[1], reviewer="pm@ourco")
        rejected = service.reject_task(session, ids[2], reviewer="pm@ourco", reason="not a task")
    assert accepted["status"] == "open" and accepted["due_date"] == "2026-03-06"
    assert rejected["status"] == "rejected"
    with parts.sessions() as session:
        accuracy = service.field_accuracy(session)
        edit = session.execute(select(task_labels).where(task_labels.c.field == "due")).all()
        queue = service.list_tasks(session, status="suggested")
        opened = service.list_tasks(session, status="open", account_id="acc_1")
    assert accuracy["due"] == {"labels": 2, "correct": 1, "accuracy": 0.5}
    assert accuracy["title"] == {"labels": 2, "correct": 2, "accuracy": 1.0}
    assert accuracy["task"]["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    old_new = {(row.old_value, row.new_value, row.reviewer) for row in edit if row.action == "edit"}
    assert old_new == {(None, "2026-03-06", "pm@ourco")}
    assert queue == []
    assert {task["id"] for task in opened} == set(ids[:2])


def test_review_errors_are_domain_errors(parts) -> None:
    seed_roster(parts)
    (task_id,) = record(parts, [draft("Send revised SOW")]).created
    with parts.sessions() as session:
        with pytest.raises(NotFound):
            service.get_task(session, "tsk_missing")
        with pytest.raises(InvalidInput):
            service.edit_task(session, task_id, {"due_date": "next friday"}, reviewer="pm")
        with pytest.raises(InvalidInput):
            service.edit_task(session, task_id, {"status": "done"}, reviewer="pm")
        for column, unknown in (("assignee_id", "u_nobody"), ("account_id", "A-NOPE"), ("project_id", "P-NOPE")):
            with pytest.raises(InvalidInput, match=unknown):
                service.edit_task(session, task_id, {column: unknown}, reviewer="pm")
        with pytest.raises(InvalidInput):
            service.list_tasks(session, status="maybe")
        service.reject_task(session, task_id, reviewer="pm")
        with pytest.raises(Conflict):
            service.accept_task(session, task_id, reviewer="pm")


@pytest.mark.slow  # embeds 80 titles with MiniLM
def test_the_duplicate_threshold_separates_the_annotated_pairs(settings) -> None:
    """The configured threshold links every 'different' pair apart and most 'same' pairs together."""
    from pathlib import Path

    from handoff.extraction.titles import make_title

    pairs = yaml.safe_load((Path(__file__).parents[2] / "eval/extraction/cases/duplicates.yaml").read_text("utf-8"))

    def similarities(rows):
        left = service.embed_titles([make_title(a) for a, _ in rows])
        right = service.embed_titles([make_title(b) for _, b in rows])
        return (left * right).sum(axis=1)

    bar = settings.extraction.duplicate_similarity
    same, different = similarities(pairs["same"]), similarities(pairs["different"])
    assert (different < bar).all()
    assert (same >= bar).mean() >= 0.75


def test_a_huge_description_is_bounded_and_says_so(parts) -> None:
    """A 2 MB note once became one task with a 1.99 MB description (and an 11.9 MB `GET /v1/tasks?limit=50`)."""
    huge = "Please migrate all of the archive " + "and more " * 230_000  # about 2 MB, one sentence
    recorded = record(parts, [draft("Migrate the archive", evidence=huge)])
    with parts.sessions() as session:
        task = service.get_task(session, recorded.created[0])
    assert len(task["description"]) == service.MAX_DESCRIPTION_CHARS and task["description"].endswith("…")
    assert task["description"].startswith("Please migrate all of the archive")
    assert len(task["evidence"]) <= service.MAX_EVIDENCE_CHARS
    assert all(len(field["evidence"]) <= service.MAX_EVIDENCE_CHARS for field in task["fields"].values())
    assert any("description cut at 4,000 characters" in note for note in task["notes"])


def test_precomputed_vectors_give_the_same_links_as_embedding_inside(parts) -> None:
    """The worker embeds titles before its write transaction; the result must not differ from embedding here."""
    first = record(parts, [draft("Send the revised SOW to Acme")], ledger_id=1)
    titles = ["Send the revised SOW to Acme", "Book the kickoff workshop"]
    again = record(parts, [draft(t) for t in titles], ledger_id=2, settings=None)
    vectors = service.embed_titles(titles)
    with transaction(parts.sessions) as session:
        third = service.record_tasks(
            session, ledger_id=3, drafts=[draft(t) for t in titles], account_id="acc_1", project_id="prj_1",
            thread_id=None, settings=parts.settings, title_vectors=vectors,
        )  # fmt: skip
    assert again.linked == first.created and len(again.created) == 1
    assert sorted(third.linked) == sorted([*first.created, *again.created]) and third.created == []
