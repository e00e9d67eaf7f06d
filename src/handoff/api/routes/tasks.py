"""Suggested tasks: list and filter, read, and review (accept, edit, reject; each correction kept as a label)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
