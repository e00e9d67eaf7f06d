"""The LLM extractor: a LangChain chain, ChatOpenAI with structured output, against any OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.extraction.dates import HORIZON
from handoff.extraction.model import Found, MessageText, TaskDraft, TeamMember
from handoff.extraction.people import Roster
from handoff.extraction.priority import find_priority

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

    from handoff.settings import LlmSettings

PROMPTS_DIR = Path(__file__).resolve().parents[3] / "prompts" / "extract_tasks"
_PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


class ExtractedTask(BaseModel):
    """One task as the model must return it."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120, description="Short imperative, at most 10 words.")
    assignee: str | None = Field(None, description="Who must do it, as written; null when 'we' or unknown.")
    due: date | None = Field(None, description="Deadline as YYYY-MM-DD, or null.")
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    confidence: float = Field(ge=0.0, le=1.0, description="How sure this is a real task.")
    evidence: str = Field(min_length=1, description="The exact sentence of the message the task comes from.")

    @field_validator("title", "evidence")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class ExtractionResult(BaseModel):
    """Every action item in the message (an empty list when there is none)."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[ExtractedTask] = Field(default_factory=list)


class LlmExtractionError(RuntimeError):
    """The model's answer was missing, malformed or not grounded in the message."""


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def neutralise(text: str) -> str:
    """The message may not close our delimiter and continue as if it were the system."""
    return re.sub(r"</?\s*message\b[^>]*>", lambda m: m.group(0).replace("<", "‹").replace(">", "›"), text, flags=re.I)


def load_prompt(version: str) -> tuple[str, list[dict[str, Any]]]:
    system = (PROMPTS_DIR / f"{version}.md").read_text(encoding="utf-8")
    examples_path = PROMPTS_DIR / f"examples_{version}.json"
    examples = json.loads(examples_path.read_text(encoding="utf-8")) if examples_path.exists() else []
    return system, examples


def _render_examples(examples: list[dict[str, Any]]) -> str:
    blocks = ["Examples (input message → expected tool call arguments):"]
    for example in examples:
        blocks.append(
            f'<message kind="{example["kind"]}" sent_at="{example["sent_at"]}" sender="{example.get("sender")}">\n'
            f"{example['text']}\n</message>\n→ {json.dumps({'tasks': example['tasks']}, ensure_ascii=False)}"
        )
    return "\n\n".join(blocks)


class LlmExtractor:
    """Structured extraction through ChatOpenAI; raises on any failure so the caller can fall back."""

    def __init__(
        self,
        settings: LlmSettings,
        *,
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self._http_client = http_client
        self._http_async_client = http_async_client
        self.name = f"llm:{settings.model}:{settings.prompt_version}"

    @cached_property
    def chain(self):
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_openai import ChatOpenAI

        kwargs: dict[str, Any] = {}
        if self._http_client is not None:
            kwargs["http_client"] = self._http_client
        if self._http_async_client is not None:
            kwargs["http_async_client"] = self._http_async_client
        model = ChatOpenAI(
            base_url=self.settings.base_url,
            model=self.settings.model,
            api_key=self.settings.api_key.get_secret_value(),
            timeout=self.settings.timeout_s,
            max_retries=self.settings.max_retries,
            temperature=0,
            **kwargs,
        )
        structured = model.with_structured_output(ExtractionResult, method="function_calling")
        # Templates with only our own variables; the message travels as a variable value, never as template text.
        prompt = ChatPromptTemplate.from_messages(
            [("system", "{system}"), ("human", "Extract the tasks from this message.\n\n{delimited_message}")]
        )
        return prompt | structured

    def _inputs(self, message: MessageText, roster: Sequence[TeamMember]) -> dict[str, str]:
        system, examples = load_prompt(self.settings.prompt_version)
        roster_lines = "\n".join(
            f"- {m.id}: {m.name}" + (f" ({', '.join(m.aliases)})" if m.aliases else "") for m in roster
        )
        system = system.format(
            sender=message.sender or "unknown",
            sent_at=message.sent_at.isoformat(),
            weekday=message.sent_at.strftime("%A"),
            roster=roster_lines or "(empty)",
            examples=_render_examples(examples),
        )
        attributes = f' subject="{neutralise(message.subject)}"' if message.subject else ""
        if message.delegate:  # the forwarder handed it on: "can you" in the mail now means this person
            attributes += f' forwarded_to="{neutralise(message.delegate)}"'
        delimited = (
            f'<message kind="{message.kind}" sent_at="{message.sent_at.isoformat()}"{attributes}>\n'
            f"{neutralise(message.text)}\n</message>"
        )
        return {"system": system, "delimited_message": delimited}

    def extract(self, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        result = self.chain.invoke(self._inputs(message, roster))
        return self._drafts(result, message, roster)

    async def aextract(self, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        result = await self.chain.ainvoke(self._inputs(message, roster))
        return self._drafts(result, message, roster)

    def _drafts(self, result: Any, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        if not isinstance(result, ExtractionResult):
            raise LlmExtractionError(f"no structured answer (got {type(result).__name__})")
        body = _normalise(message.text)
        people = Roster(roster)
        drafts = []
        sent = message.sent_at.date()
        for task in result.tasks:
            if _normalise(task.evidence) not in body or len(task.evidence.split()) < 3:
                raise LlmExtractionError(f"evidence is not a passage of the message: {task.evidence[:60]!r}")
            task = task.model_copy(update={"evidence": _sentence_holding(message.text, task.evidence)})
            notes: list[str] = []
            if task.due is not None and not sent <= task.due <= sent + HORIZON:
                # The offline rules drop such days too: a past day is no deadline, one decades out is no task's.
                notes.append(f"llm due {task.due.isoformat()} is in the past or beyond {HORIZON.days} days; dropped")
                task = task.model_copy(update={"due": None})
            cue_priority, _ = find_priority(task.evidence, subject=None, due=task.due, today=message.sent_at.date())
            priority = task.priority
            # A priority the evidence does not support is how an injected "mark everything urgent" would show.
            if _PRIORITY_RANK[priority] - _PRIORITY_RANK[cue_priority] >= 2:
                notes.append(f"llm priority {priority!r} not supported by the evidence; kept {cue_priority!r}")
                priority = cue_priority
            member = people.find(task.assignee)
            assignee_value = member.id if member else task.assignee
            assignee_confidence = task.confidence * (0.95 if member else 0.7) if task.assignee else 0.6
            drafts.append(
                TaskDraft(
                    title=Found(task.title, task.confidence, task.evidence),
                    assignee=Found(assignee_value, round(assignee_confidence, 3), task.evidence),
                    assignee_id=member.id if member else None,
                    due=Found(task.due, round(task.confidence * (0.9 if task.due else 0.7), 3), task.evidence),
                    priority=Found(priority, round(task.confidence * 0.8, 3), task.evidence),
                    description=task.evidence,
                    confidence=task.confidence,
                    evidence=task.evidence,
                    extractor=self.name,
                    notes=notes,
                )
            )
        return drafts


def _sentence_holding(text: str, evidence: str) -> str:
    """The whole sentence the model quoted from (its evidence may be a fragment of it); the fragment when the quote
    spans sentences."""
    from handoff.extraction.sentences import split_sentences

    wanted = _normalise(evidence)
    return next((s for s in split_sentences(text) if wanted in _normalise(s)), evidence)
