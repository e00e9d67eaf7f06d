"""Request-scoped dependencies: the process's parts, a session per request, and the audit actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from handoff.store.db import transaction
from handoff.wiring import Parts


def get_parts(request: Request) -> Parts:
    return request.app.state.parts


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back when it raises."""
    with transaction(request.app.state.parts.sessions) as session:
        yield session


PartsDep = Annotated[Parts, Depends(get_parts)]
SessionDep = Annotated[Session, Depends(get_session)]
