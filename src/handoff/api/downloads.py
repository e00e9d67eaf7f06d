"""Answers that hand a person bytes to save (a message as it arrived, an attachment): never rendered, never sniffed."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response

_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")


def disposition(filename: str) -> str:
    """`Content-Disposition: attachment` with the name as an ASCII fallback and as RFC 6266 `filename*` (UTF-8).

    The name is written by whoever sent the mail: quotes, semicolons, slashes and line breaks would otherwise
    change the header (or the folder the file lands in), so the fallback keeps only harmless characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "download"
    fallback = _UNSAFE.sub("_", name).lstrip(".") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_response(found: Any) -> Response:
    """An `intake.service.Download` as a download: `attachment` disposition and `nosniff`, whatever the caller."""
    return Response(
        content=found.payload,
        media_type=found.media_type,
        headers={
            "content-disposition": disposition(found.filename),
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",  # unmasked contact data: no shared cache keeps it
        },
    )


# For a route's OpenAPI `responses=`: the 200 is bytes of the given type.
DOWNLOAD_RESPONSES: dict[str, dict[int | str, dict[str, Any]]] = {
    kind: {200: {"description": "The bytes, as a download.", "content": {kind: {"schema": {"type": "string",
                                                                                          "format": "binary"}}}}}
    for kind in ("message/rfc822", "application/octet-stream")
}  # fmt: skip
