"""RFC 9457 problem details (``application/problem+json``) for every refusal of the API.

The messages and JSON paths are the CLI's: the library's errors carry them (``SituationError``
has ``path`` and ``detail``; ``xieshang advise -`` prints ``<stdin>: PATH: DETAIL``, the API's
``detail`` is ``PATH: DETAIL`` and ``path`` is ``PATH``). A problem never carries a traceback,
and the server never logs the input that caused it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"
#: Problem types: relative URI references (RFC 9457 §3.1.1), documented in docs/serve.md.
TYPE_BASE = "/v1/problems/"


@dataclass
class Problem(Exception):
    """A refusal: the HTTP status, a problem type (a short slug), and one line saying why."""

    status: int
    kind: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": TYPE_BASE + self.kind,
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }

    def response(self, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"
        return Response(body, self.status, headers=headers, media_type=MEDIA_TYPE)


#: The JSON Schema of a problem document (in the OpenAPI document's components).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI reference naming the problem type."},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "One line: what was wrong, where."},
        "path": {"type": "string", "description": "The JSON path in the request body."},
    },
}
