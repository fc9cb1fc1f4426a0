"""The OpenAPI 3.1 document of ``xieshang serve`` (``GET /v1/openapi.json``).

Its request and response schemas are the project's own JSON Schemas (``schemas/*.json``, the
ones ``xieshang schema NAME`` prints), placed whole under ``components.schemas``: OpenAPI 3.1
schemas are JSON Schema 2020-12, and each keeps its ``$id``, so its ``#/$defs/...`` references
resolve inside it. The few documents that only the API has (the page's today card, the version,
problem details) are defined here. ``tests/test_serve.py`` validates real responses against it.
"""

from __future__ import annotations

import functools
from typing import Any

from cli.web.problems import MEDIA_TYPE as PROBLEM_TYPE
from cli.web.problems import PROBLEM_SCHEMA

_STRINGS = {"type": "array", "items": {"type": "string"}}

CARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The today card of `xieshang advise` (SPEC 7.3) as data, for the page.",
    "additionalProperties": False,
    "required": [
        "locale",
        "heading",
        "rules",
        "summary",
        "crisis",
        "today_heading",
        "today",
        "later_heading",
        "later",
        "total",
        "nothing",
        "plan_heading",
        "plan",
        "left_out",
        "footer",
    ],
    "properties": {
        "locale": {"enum": ["zh-CN", "en"]},
        "heading": {"type": "string"},
        "rules": {"type": "string"},
        "summary": _STRINGS,
        "crisis": {"type": "boolean"},
        "today_heading": {"type": "string"},
        "today": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["rank", "title", "tag", "message", "why"],
                "properties": {
                    "rank": {"type": "integer", "minimum": 1},
                    "title": {"type": "string"},
                    "tag": {"type": "string"},
                    "message": _STRINGS,
                    "why": _STRINGS,
                },
            },
        },
        "later_heading": {"type": "string"},
        "later": {
            "type": "array",
            "maxItems": 5,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["rank", "title", "tag"],
                "properties": {
                    "rank": {"type": "integer", "minimum": 1},
                    "title": {"type": "string"},
                    "tag": {"type": "string"},
                },
            },
        },
        "total": {"type": "integer", "minimum": 0},
        "nothing": {"type": "string"},
        "plan_heading": {"type": "string"},
        "plan": _STRINGS,
        "left_out": _STRINGS,
        "footer": {"type": "string"},
    },
}

VERSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["engine", "ruleset"],
    "properties": {
        "engine": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": {"const": "xieshang"}, "version": {"type": "string"}},
        },
        "ruleset": {
            "type": "object",
            "required": ["name", "version", "digest"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
            },
        },
    },
}

HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "ok"}},
}

INTERVIEW_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "situation": {"type": "object", "description": "A partial situation (SPEC §2)."},
        "declined": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Fields the person chose not to answer: never asked again.",
        },
        "locale": {"enum": ["zh-CN", "en"]},
    },
}

INTERVIEW_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["questions", "done", "progress"],
    "properties": {
        "questions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "text", "type"],
                "properties": {
                    "path": {"type": "string", "description": "Where the answer goes."},
                    "text": {"type": "string"},
                    "help": {"type": "string"},
                    "type": {"type": "string"},
                    "choices": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["value", "label"],
                                    "properties": {"label": {"type": "string"}},
                                },
                            },
                        ]
                    },
                },
            },
        },
        "done": {"type": "boolean", "description": "No answer can change the advice any more."},
        "progress": {
            "type": "object",
            "required": ["answered", "remaining_at_most"],
            "properties": {
                "answered": {"type": "integer", "minimum": 0},
                "remaining_at_most": {"type": "integer", "minimum": 0},
            },
        },
    },
}

DOCUMENTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["documents"],
    "properties": {
        "documents": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "filename", "media_type", "content"],
                "properties": {
                    "name": {"type": "string"},
                    "loan_id": {"type": ["string", "null"]},
                    "filename": {"type": "string"},
                    "media_type": {"type": "string"},
                    "content": {"type": "string"},
                },
            },
        }
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _problems(*statuses: int) -> dict[str, Any]:
    words = {
        400: "Not JSON, or a bad query parameter",
        404: "Unknown name",
        408: "The body was not sent within the time limit",
        413: "The body is larger than the limit",
        415: "Not application/json (UTF-8)",
        422: "JSON that is not a valid situation (the CLI's message and JSON path)",
        503: "The request took longer than the time limit",
    }
    return {
        str(status): {
            "description": words[status],
            "content": {PROBLEM_TYPE: {"schema": _ref("problem")}},
        }
        for status in statuses
    }


_BODY_PROBLEMS = (400, 408, 413, 415, 422, 503)
_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "schema": {"enum": ["zh", "zh-CN", "en"]},
    "description": "Language of the advice (default: the situation's locale).",
}


def _situation_body() -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref("situation")}}}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (cached; do not mutate it)."""
    from engine import __version__, load_schema

    advise_formats = {"enum": ["json", "text", "markdown", "card"], "default": "json"}
    flag = {"type": "boolean", "default": False}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "xieshang",
            "version": __version__,
            "summary": "Ranked, explained advice for borrowers overdue on Chinese consumer credit.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": {
            "/v1/advise": {
                "post": {
                    "operationId": "advise",
                    "summary": "A situation's advice: `xieshang advise` over HTTP.",
                    "parameters": [
                        {"name": "format", "in": "query", "schema": advise_formats},
                        _LANG,
                        {"name": "top", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                        {"name": "all", "in": "query", "schema": flag},
                        {"name": "sources", "in": "query", "schema": flag},
                    ],
                    "requestBody": _situation_body(),
                    "responses": {
                        "200": {
                            "description": "The advice (JSON: byte for byte the CLI's)",
                            "content": {
                                "application/json": {
                                    "schema": {"oneOf": [_ref("advice"), _ref("card")]}
                                },
                                "text/plain": {"schema": {"type": "string"}},
                                "text/markdown": {"schema": {"type": "string"}},
                            },
                        },
                        **_problems(*_BODY_PROBLEMS),
                    },
                }
            },
            "/v1/explain": {
                "post": {
                    "operationId": "explain",
                    "summary": "Why an action or rule fired or not: `xieshang explain`.",
                    "parameters": [
                        {"name": "target", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "compare",
                            "in": "query",
                            "schema": {"type": "array", "items": {"type": "string"}},
                            "style": "form",
                            "explode": True,
                        },
                        _LANG,
                        {"name": "format", "in": "query", "schema": {"enum": ["json", "text"]}},
                    ],
                    "requestBody": _situation_body(),
                    "responses": {
                        "200": {
                            "description": "The explanation",
                            "content": {
                                "application/json": {"schema": _ref("explain")},
                                "text/plain": {"schema": {"type": "string"}},
                            },
                        },
                        **_problems(*_BODY_PROBLEMS),
                    },
                }
            },
            "/v1/interview/next": {
                "post": {
                    "operationId": "interviewNext",
                    "summary": "The next questions worth asking for a partial situation.",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("interview_request")}},
                    },
                    "responses": {
                        "200": _json("interview_response", "The next questions"),
                        **_problems(*_BODY_PROBLEMS),
                    },
                }
            },
            "/v1/documents": {
                "post": {
                    "operationId": "documents",
                    "summary": "The documents of a situation's advice, or one by name.",
                    "parameters": [
                        {"name": "name", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "loan",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "A per-loan document's loan id (default: the first).",
                        },
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "The file's extension: md, html, ics (default: first).",
                        },
                        _LANG,
                    ],
                    "requestBody": _situation_body(),
                    "responses": {
                        "200": {
                            "description": "All documents as JSON, or the one named as itself",
                            "content": {
                                "application/json": {"schema": _ref("documents")},
                                "*/*": {"schema": {"type": "string"}},
                            },
                        },
                        **_problems(*_BODY_PROBLEMS, 404),
                    },
                }
            },
            "/v1/schema/{name}": {
                "get": {
                    "operationId": "schema",
                    "summary": "A JSON Schema of the project: `xieshang schema NAME`.",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The schema",
                            "content": {"application/schema+json": {"schema": {"type": "object"}}},
                        },
                        **_problems(404),
                    },
                }
            },
            "/v1/version": {
                "get": {
                    "operationId": "version",
                    "summary": "The engine, and the rule pack this server loaded.",
                    "responses": {"200": _json("version", "Versions and the pack digest")},
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "The server answers.",
                    "responses": {"200": _json("health", "Alive")},
                }
            },
        },
        "components": {
            "schemas": {
                "situation": load_schema("situation"),
                "advice": load_schema("advice"),
                "explain": load_schema("explain"),
                "card": CARD_SCHEMA,
                "problem": PROBLEM_SCHEMA,
                "version": VERSION_SCHEMA,
                "health": HEALTH_SCHEMA,
                "interview_request": INTERVIEW_REQUEST_SCHEMA,
                "interview_response": INTERVIEW_RESPONSE_SCHEMA,
                "documents": DOCUMENTS_SCHEMA,
            }
        },
    }
