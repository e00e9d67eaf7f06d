"""Picks the extractor from Settings: offline by default, the LLM chain when an endpoint is set, offline on failure."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from handoff.extraction.model import MessageText, TaskDraft, TeamMember
from handoff.extraction.offline import OfflineExtractor

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

    from handoff.extraction.llm import LlmExtractor
    from handoff.settings import Settings

log = logging.getLogger(__name__)


class Extractor(Protocol):
    """Anything that turns one message into task drafts."""

    name: str

    def extract(self, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]: ...

    def extract_many(self, messages: Sequence[MessageText], roster: Sequence[TeamMember]) -> list[list[TaskDraft]]:
        """A batch at once (the offline extractor embeds all its sentences in one MiniLM call)."""
        ...


class FallbackExtractor:
    """Tries the LLM; any failure (timeout, HTTP error, invalid or ungrounded answer) yields the offline result."""

    def __init__(self, primary: LlmExtractor, fallback: OfflineExtractor) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name

    def extract(self, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        try:
            return self.primary.extract(message, roster)
        except Exception as error:
            return self._fallen_back(error, message, roster)

    def extract_many(self, messages: Sequence[MessageText], roster: Sequence[TeamMember]) -> list[list[TaskDraft]]:
        return [self.extract(message, roster) for message in messages]  # the LLM reads one message a call

    async def aextract(self, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        try:
            return await self.primary.aextract(message, roster)
        except Exception as error:
            return self._fallen_back(error, message, roster)

    def _fallen_back(self, error: Exception, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]:
        from handoff.redaction import summarise_error

        # Type, HTTP status and reason only: an endpoint's error body may echo the request, Authorization included,
        # and this reason goes into the log and into every draft's notes, which every role can read.
        reason = summarise_error(error)
        log.warning("LLM extraction failed, falling back to offline: %s", reason)
        drafts = self.fallback.extract(message, roster)
        for draft in drafts:
            draft.extractor = f"offline (fallback from {self.primary.name})"
            draft.notes.append(f"llm failed: {reason}")
        return drafts


_tracing_enabled = False


def _enable_tracing(settings: Settings) -> None:
    """MLflow traces of every chain call (prompt, answer, latency) when `llm.tracing` is on; once per process."""
    global _tracing_enabled
    if _tracing_enabled:
        return
    try:
        import mlflow
        import mlflow.langchain

        mlflow.set_tracking_uri(settings.resolved_tracking_uri)
        mlflow.langchain.autolog()
        _tracing_enabled = True
    except Exception as error:
        log.warning("MLflow tracing could not start: %s", error)


def build_extractor(
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    http_async_client: httpx.AsyncClient | None = None,
) -> Extractor:
    """Nothing loads here: the models load on the first `extract` call and stay cached for the process."""
    from handoff.extraction.embeddings import use_threads

    use_threads(settings.extraction.embedding_threads)
    offline = OfflineExtractor(exclude_addresses=settings.inbox.recipients)
    if not settings.llm.base_url:
        return offline
    from handoff.extraction.llm import LlmExtractor

    if settings.llm.tracing:
        settings.ensure_home()
        _enable_tracing(settings)
    llm = LlmExtractor(settings.llm, http_client=http_client, http_async_client=http_async_client)
    return FallbackExtractor(llm, offline)
