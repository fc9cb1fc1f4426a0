"""The Starlette application of ``xieshang serve`` (docs/serve.md).

One application per worker process: the rule pack is loaded once, at start-up (the lifespan), and
shared by every request of the worker (a ``RuleSet`` may be shared by threads). Each request
reads its body within a size and a time limit, then evaluates in a worker thread within the same
time limit. The API does what ``xieshang advise`` and ``explain`` do, through the same functions,
so the advice JSON is byte for byte the CLI's ``--format json`` and a refusal carries the CLI's
message and JSON path (``cli.web.problems``).

Nothing a person sends is written to disk or logged: the access log has no bodies, and the
application's own log line for a request names only the sha256 of its body.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cli.web.problems import Problem
from cli.web.settings import Settings
from engine import EvaluationError, SituationError, UsageError, did_you_mean

if TYPE_CHECKING:
    from engine import RuleSet
    from engine.audit import CompareDocument, ExplainDocument

log = logging.getLogger("xieshang.serve")

STATIC = Path(__file__).resolve().parent / "static"
SOURCE = "<request>"  #: how a request body is named in messages (the CLI says ``<stdin>``)
JSON_TYPE = "application/json"

#: Headers on every response. The page loads only its own files: no inline script or style, no
#: third-party asset, no frames; nothing is cached (advice is personal).
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Pure ASGI middleware: the headers above on every HTTP response (errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in SECURITY_HEADERS
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- requests -----------------------------------------------------------------------------------


def _check_media_type(request: Request) -> None:
    """JSON bodies only: ``application/json``, UTF-8 (the only charset JSON allows, RFC 8259)."""
    given = request.headers.get("content-type", "")
    media, _, params = given.partition(";")
    if media.strip().lower() != JSON_TYPE:
        shown = given or "none"
        raise Problem(415, "unsupported-media-type", f"expected {JSON_TYPE}, got {shown}")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise Problem(
                415, "unsupported-media-type", f"expected charset utf-8, got {value.strip()}"
            )


def _too_large(limit: int, size: int | None) -> Problem:
    shown = f"is {size} bytes, larger" if size is not None else "is larger"
    return Problem(
        413, "too-large", f"$: input {shown} than the limit of {limit} bytes", {"path": "$"}
    )


async def read_body(request: Request, settings: Settings) -> bytes:
    """The body, refused unread when its declared length is over the limit, and cut off as soon
    as it passes the limit (a client may lie about, or not give, its length)."""
    _check_media_type(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_body:
        raise _too_large(settings.max_body, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > settings.max_body:
            raise _too_large(settings.max_body, None)
        chunks.append(chunk)
    return b"".join(chunks)


class Query:
    """The query parameters of one request, read and checked; an unknown one is refused."""

    def __init__(self, request: Request, known: tuple[str, ...]) -> None:
        self.params = request.query_params
        for name in self.params:
            if name not in known:
                hint = did_you_mean(name, known)
                expected = ", ".join(known) or "none"
                message = f"unknown query parameter '{name}' (expected: {expected})"
                raise Problem(400, "bad-request", f"{message}; {hint}" if hint else message)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.params.get(name, default)
        if value not in choices:
            hint = did_you_mean(value, choices)
            message = f"{name}: expected one of {', '.join(choices)}, got '{value}'"
            raise Problem(400, "bad-request", f"{message}; {hint}" if hint else message)
        return value

    def flag(self, name: str) -> bool:
        value = self.params.get(name, "false").lower()
        if value not in ("true", "false", "1", "0", ""):
            raise Problem(400, "bad-request", f"{name}: expected true or false, got '{value}'")
        return value in ("true", "1", "")

    def count(self, name: str) -> int | None:
        value = self.params.get(name)
        if value is None:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 1000:
            raise Problem(
                400, "bad-request", f"{name}: expected a whole number 1-1000, got '{value}'"
            )
        return int(value)

    def locale(self) -> str | None:
        lang = self.choice("lang", ("", "zh", "zh-CN", "en"), "")
        return None if not lang else "en" if lang == "en" else "zh-CN"


def parse_json(body: bytes) -> object:
    """A JSON body with the situation's hardening; refusals are 400 (not JSON at all)."""
    from engine import parse_json_bytes

    try:
        return parse_json_bytes(body, SOURCE)
    except SituationError as exc:
        raise Problem(
            400, "invalid-json", f"{exc.path}: {exc.detail}", {"path": exc.path}
        ) from None


def situation_of(body: bytes) -> dict[str, Any]:
    """The request body as a valid situation (SituationError, 422, when it is not one)."""
    from engine import validate_situation

    return validate_situation(parse_json(body), SOURCE)


def problem_of(exc: BaseException) -> Problem:
    """The problem document for an error: the CLI's message, never a traceback."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, SituationError):
        return Problem(422, "invalid-situation", f"{exc.path}: {exc.detail}", {"path": exc.path})
    if isinstance(exc, UsageError):
        return Problem(400, "bad-request", str(exc))
    if isinstance(exc, EvaluationError):
        return Problem(422, "evaluation-stopped", str(exc))
    # anything else (EngineError included) is internal: its type, never its text or a traceback
    return Problem(500, "internal-error", f"internal error: {type(exc).__name__}")


# --- the application ----------------------------------------------------------------------------

Handler = Callable[[Request, "Service"], Awaitable[Response]]


class Service:
    """What one worker holds: its settings, its rule pack, and the evaluation limiter."""

    def __init__(self, settings: Settings, ruleset: RuleSet) -> None:
        self.settings = settings
        self.ruleset = ruleset
        self.limiter = anyio.CapacityLimiter(settings.evaluations)

    async def run(self, work: Callable[[], Response]) -> Response:
        """``work`` in a thread once one of the worker's evaluation slots is free, within the
        time limit counted from then (503 when it is over; the thread's result is dropped: an
        evaluation cannot be interrupted inside the engine). Waiting for a slot is not counted,
        so a burst of clients is answered late rather than refused."""
        limit = self.settings.time_limit
        async with self.limiter:
            try:
                with anyio.fail_after(limit):
                    return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
            except TimeoutError:
                message = f"the evaluation took longer than the limit of {limit:g} s"
                raise Problem(503, "time-limit", message) from None


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route: errors become problem details; one log line with the body's digest only."""

    async def route(request: Request) -> Response:
        service: Service = request.app.state.service
        started = time.perf_counter()
        request.state.digest = "-"
        try:
            response = await handler(request, service)
        except Exception as exc:  # cancellation (a BaseException) goes on up
            problem = problem_of(exc)
            if problem.status >= 500:
                log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
            response = problem.response()
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "%s %s %d body=%s %.1fms",
            request.method,
            request.url.path,
            response.status_code,
            request.state.digest,
            elapsed,
        )
        return response

    return route


async def body_of(request: Request, service: Service) -> bytes:
    """The body within the client time limit (a client trickling its body is cut off: 408)."""
    limit = service.settings.client_timeout
    try:
        with anyio.fail_after(limit):
            body = await read_body(request, service.settings)
    except TimeoutError:
        raise Problem(
            408, "timeout", f"the request body took longer than the limit of {limit:g} s"
        ) from None
    request.state.digest = "sha256:" + hashlib.sha256(body).hexdigest()[:16]
    return body


def json_response(text: str, status: int = 200) -> Response:
    return Response(text, status, media_type=JSON_TYPE)


def text_response(text: str, markdown: bool = False) -> Response:
    from engine import lines

    media = "text/markdown; charset=utf-8" if markdown else "text/plain; charset=utf-8"
    return Response(lines(text), 200, media_type=media)


ADVISE_FORMATS = ("json", "text", "markdown", "card")


async def advise(request: Request, service: Service) -> Response:
    query = Query(request, ("format", "lang", "top", "all", "sources"))
    fmt = query.choice("format", ADVISE_FORMATS, "json")
    locale, top = query.locale(), query.count("top")
    show_all, sources = query.flag("all"), query.flag("sources")
    body = await body_of(request, service)

    def work() -> Response:
        from engine import evaluate, render_card, render_json, render_markdown, render_text

        decision = evaluate(service.ruleset, situation_of(body), locale=locale, validated=True)
        if fmt == "json":
            return json_response(render_json(decision.to_advice(top)))
        if fmt == "card":
            return json_response(render_json(render_card(decision)))
        render = render_markdown if fmt == "markdown" else render_text
        text = render(decision, top, show_all=show_all, sources=sources)
        return text_response(text, markdown=fmt == "markdown")

    return await service.run(work)


async def explain(request: Request, service: Service) -> Response:
    query = Query(request, ("target", "compare", "lang", "format"))
    fmt = query.choice("format", ("json", "text"), "json")
    locale = query.locale()
    target = query.params.get("target")
    compare = query.params.getlist("compare")
    if (target is None) == (not compare):
        raise UsageError(
            "give ?target=ACTION|RULE_ID to explain, or ?compare=A&compare=B (not both)"
        )
    if compare and len(compare) != 2:
        raise UsageError(f"compare needs two actions, got {len(compare)}")
    body = await body_of(request, service)

    def work() -> Response:
        from engine import evaluate, render_json
        from engine.audit import compare as compare_actions
        from engine.audit import explain as explain_target
        from engine.audit import render_explain_text

        decision = evaluate(service.ruleset, situation_of(body), locale=locale, validated=True)
        doc: ExplainDocument | CompareDocument
        if compare:
            if compare[0] == compare[1]:
                raise UsageError(f"--compare needs two different actions, got '{compare[0]}' twice")
            doc = compare_actions(decision, compare[0], compare[1])
        else:
            assert target is not None
            doc = explain_target(decision, target)
        if fmt == "text":
            return text_response(render_explain_text(doc))
        return json_response(render_json(doc.as_dict()))

    return await service.run(work)


async def interview_next(request: Request, service: Service) -> Response:
    """The interview's next step (docs/interview.md): the questions whose answers could still
    change the advice, with the progress. The body's shape is checked here (422 with its path);
    the partial situation's problems are the interview's (``xieshang interview --from``)."""
    query = Query(request, ("limit",))
    limit = query.count("limit") or 1
    body = await body_of(request, service)

    def work() -> Response:
        from engine import interview_next as step
        from engine import render_json

        doc = interview_request(parse_json(body))
        return json_response(render_json(step(service.ruleset, doc, limit=limit)))

    return await service.run(work)


def interview_request(doc: object) -> dict[str, Any]:
    """``{"situation": {...}, "declined": [paths], "locale": ...}``: each part of the right kind
    (422 naming the part otherwise)."""
    from engine import LOCALES

    def refuse(path: str, message: str) -> NoReturn:
        raise Problem(422, "invalid-request", f"{path}: {message}", {"path": path})

    if not isinstance(doc, dict):
        refuse("$", "expected a JSON object with situation, declined and locale")
    unknown = sorted(set(doc) - {"situation", "declined", "locale"})
    if unknown:
        refuse(f"$.{unknown[0]}", "unknown field (expected situation, declined, locale)")
    if not isinstance(doc.get("situation", {}), dict):
        refuse("$.situation", "expected an object (a partial situation)")
    declined = doc.get("declined", [])
    if not isinstance(declined, list) or not all(isinstance(d, str) for d in declined):
        refuse("$.declined", "expected a list of question paths")
    if doc.get("locale", "zh-CN") not in LOCALES:
        refuse("$.locale", f"expected one of {', '.join(LOCALES)}")
    return doc


async def documents(request: Request, service: Service) -> Response:
    """All the documents of the advice as JSON; or, with ``name`` (and ``loan``, ``format`` to
    choose among its files: one per loan for per-loan documents, Markdown and HTML), one file as
    itself, to save."""
    from engine import DOCUMENT_NAMES as names
    from engine import build_documents as build

    query = Query(request, ("name", "loan", "format", "lang"))
    name, loan, fmt = (query.params.get(key) for key in ("name", "loan", "format"))
    locale = query.locale()
    body = await body_of(request, service)
    if name is None and (loan is not None or fmt is not None):
        raise UsageError("loan and format choose among the files of one document: give name too")
    if name is not None and name not in names:
        hint = did_you_mean(name, names)
        message = f"unknown document '{name}' (expected one of: {', '.join(names)})"
        raise Problem(404, "unknown-document", f"{message}; {hint}" if hint else message)

    def work() -> Response:
        from engine import evaluate, render_json

        decision = evaluate(service.ruleset, situation_of(body), locale=locale, validated=True)
        made = build(decision, only=None if name is None else [name])
        if name is None:
            return json_response(render_json({"documents": [d.as_dict() for d in made]}))
        files = [
            d
            for d in made
            if (loan is None or d.loan_id == loan)
            and (fmt is None or d.filename.endswith(f".{fmt}"))
        ]
        if not files:
            wanted = name + (f" for loan {loan}" if loan else "") + (f" as {fmt}" if fmt else "")
            shown = ", ".join(d.filename for d in made) or "none of its files"
            message = f"no {wanted} for this situation (made: {shown})"
            raise Problem(404, "document-not-made", message)
        chosen = files[0]
        return Response(
            chosen.content,
            200,
            media_type=chosen.media_type,
            headers={"content-disposition": f'attachment; filename="{chosen.filename}"'},
        )

    return await service.run(work)


async def schema(request: Request, service: Service) -> Response:
    from engine import load_schema, render_json

    Query(request, ())
    name = request.path_params["name"]
    try:
        loaded = load_schema(name)
    except UsageError as exc:
        raise Problem(404, "unknown-schema", str(exc)) from None
    return Response(render_json(loaded), media_type="application/schema+json")


async def version(request: Request, service: Service) -> Response:
    from engine import __version__, render_json

    Query(request, ())
    rules = service.ruleset
    doc = {
        "engine": {"name": "xieshang", "version": __version__},
        "ruleset": {"name": rules.name, "version": rules.version, "digest": rules.digest},
    }
    return json_response(render_json(doc))


async def healthz(request: Request, service: Service) -> Response:
    return json_response('{"status": "ok"}\n')


async def openapi(request: Request, service: Service) -> Response:
    from cli.web.openapi import openapi_document
    from engine import render_json

    return json_response(render_json(openapi_document()))


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def http_problem(request: Request, exc: Exception) -> Response:
    """404, 405 and the like from the router, as problem details."""
    assert isinstance(exc, HTTPException)
    kinds = {404: "not-found", 405: "method-not-allowed"}
    detail = f"{request.method} {request.url.path}: {exc.detail}"
    return Problem(exc.status_code, kinds.get(exc.status_code, "http-error"), detail).response(
        headers=dict(exc.headers or {})
    )


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    return Problem(500, "internal-error", f"internal error: {type(exc).__name__}").response()


def create_app(settings: Settings | None = None) -> Starlette:
    """The application of one worker (uvicorn calls this in each worker process)."""
    chosen = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from engine import load_rules

        ruleset = load_rules(list(chosen.rules) or None)  # once per worker
        app.state.service = Service(chosen, ruleset)
        log.info("rules %s %s %s loaded", ruleset.name, ruleset.version, ruleset.digest[:19])
        yield
        ruleset.close()

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/healthz", endpoint(healthz), methods=["GET"]),
        Route("/v1/version", endpoint(version), methods=["GET"]),
        Route("/v1/openapi.json", endpoint(openapi), methods=["GET"]),
        Route("/v1/schema/{name}", endpoint(schema), methods=["GET"]),
        Route("/v1/advise", endpoint(advise), methods=["POST"]),
        Route("/v1/explain", endpoint(explain), methods=["POST"]),
        Route("/v1/interview/next", endpoint(interview_next), methods=["POST"]),
        Route("/v1/documents", endpoint(documents), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_problem, Exception: server_error},
    )
    app.add_middleware(SecurityHeaders)
    return app
