"""Request-scoped dependencies: the process's parts, a session per request, and the lane CPU-bound work runs in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Annotated, TypeVar

import anyio
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


T = TypeVar("T")


async def in_scoring_lane(request: Request, work: Callable[..., T], *args: object) -> T:
    """Runs CPU-bound work in a worker thread, at most `api.scoring_threads` at a time, off the event loop."""
    return await anyio.to_thread.run_sync(partial(work, *args), limiter=request.app.state.scoring_lane)


PartsDep = Annotated[Parts, Depends(get_parts)]
SessionDep = Annotated[Session, Depends(get_session)]
