"""The sync mapping: the Jira project, Asana project or Trello list each project's or account's tasks go to."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from handoff.api.deps import PartsDep
from handoff.api.errors import AUTHED
from handoff.api.schemas import examples
from handoff.api.security import Caller

router = APIRouter(prefix="/v1/sync", tags=["sync"])

Section = dict[str, dict[str, str]]


class SyncMappingPublic(BaseModel):
    """`{target: {projects: {handoff project id: place}, accounts: {handoff account id: place}}}`; a project's place
    wins over its account's, and a task with neither goes to the target's configured project or list."""

    model_config = examples(
        {
            "jira": {"projects": {"P-00087": "ACME"}, "accounts": {"A-00042": "ACME"}},
            "asana": {},
            "trello": {"accounts": {"A-00107": "64f1c2a9b8e7d6c5b4a39281"}},
        }
    )

    jira: Section = Field(default_factory=dict, description="Jira project keys.")
    asana: Section = Field(default_factory=dict, description="Asana project gids.")
    trello: Section = Field(default_factory=dict, description="Trello list ids.")


@router.get(
    "/mapping",
    name="get_sync_mapping",
    summary="The sync mapping in force.",
    response_model=SyncMappingPublic,
    responses=AUTHED,
)
def get_sync_mapping(parts: PartsDep, caller: Caller) -> SyncMappingPublic:
    from handoff.sync.mapping_file import load_mapping

    return SyncMappingPublic(**load_mapping(parts.settings))


@router.put(
    "/mapping",
    name="put_sync_mapping",
    summary="Replace the sync mapping (checked whole; nothing is written when any entry is wrong).",
    response_model=SyncMappingPublic,
    responses=AUTHED,
)
def put_sync_mapping(body: SyncMappingPublic, parts: PartsDep, caller: Caller) -> SyncMappingPublic:
    from handoff.sync.mapping_file import save_mapping

    return SyncMappingPublic(**save_mapping(parts.settings, body.model_dump()))
