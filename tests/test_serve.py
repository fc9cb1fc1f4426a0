"""``xieshang serve`` against real servers (the installed command, uvicorn, 127.0.0.1).

The contract: responses validate against the schemas the OpenAPI document declares for them;
advice, explanations and schemas are byte for byte the CLI's; refusals are RFC 9457 problem
details with the CLI's messages and JSON paths. The faults: oversized and mistyped bodies, a
client trickling its headers or its body, a killed worker, two servers with different packs
under concurrent load, and nothing a person sends in the server's log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from typer.testing import CliRunner

from cli.main import app
from engine.load.situation import MAX_BYTES
from tests.conftest import PackFactory
from tests.servers import XIESHANG, Server, post_json, running_server

pytestmark = pytest.mark.slow  # real server processes

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIRST = EXAMPLES / "first-late-payment.json"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as running:
        yield running


@pytest.fixture(scope="module")
def openapi(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/openapi.json", timeout=30)
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    assert doc["openapi"].startswith("3.1")
    return doc


def cli(*args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def conforms(openapi: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """The response is one the OpenAPI document declares: its status, its media type, and (for
    JSON) a body valid against the declared schema."""
    operation = openapi["paths"][path][method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {path}: status {response.status_code} not declared"
    media = response.headers["content-type"].split(";")[0].strip()
    content = declared["content"]
    assert media in content or "*/*" in content, f"{media} not declared for {path}"
    if media in ("application/json", PROBLEM, "application/schema+json"):
        errors = list(validator(openapi, content[media]["schema"]).iter_errors(response.json()))
        assert errors == [], [e.message for e in errors[:3]]


def validator(openapi: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a schema of the OpenAPI document: its ``#/components/schemas/...``
    references resolved, each embedded project schema as the resource its ``$id`` names (so
    that its own ``#/$defs/...`` resolve inside it, as OpenAPI 3.1 says)."""
    components = openapi["components"]["schemas"]
    registry: Registry[Any] = Registry()
    for component in components.values():
        if "$id" in component:
            resource = Resource.from_contents(component, default_specification=DRAFT202012)
            registry = registry.with_resource(component["$id"], resource)

    def target(ref: str) -> dict[str, Any]:
        component = components[ref.removeprefix("#/components/schemas/")]
        return {"$ref": component["$id"]} if "$id" in component else component

    if "$ref" in schema:
        root = target(schema["$ref"])
    elif "oneOf" in schema:
        root = {"oneOf": [target(s["$ref"]) for s in schema["oneOf"]]}
    else:
        root = schema
    return Draft202012Validator(root, registry=registry)


# --- the contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_advice_json_is_the_clis_byte_for_byte(
    server: Server, openapi: dict[str, Any], example: str
) -> None:
    body = (EXAMPLES / example).read_bytes()
    response = post_json(server, "/v1/advise", body)
    conforms(openapi, "POST", "/v1/advise", response)
    assert (
        response.content == cli("advise", str(EXAMPLES / example), "--format", "json").stdout_bytes
    )


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("format=text", ["--format", "text"]),
        ("format=markdown&lang=en&all=true", ["--format", "markdown", "--lang", "en", "--all"]),
        ("format=text&top=2&sources=1", ["--format", "text", "--top", "2", "--sources"]),
        ("format=json&lang=en&top=3", ["--format", "json", "--lang", "en", "--top", "3"]),
    ],
)
def test_text_and_options_are_the_clis(
    server: Server, openapi: dict[str, Any], query: str, args: list[str]
) -> None:
    response = post_json(server, f"/v1/advise?{query}", FIRST.read_bytes())
    conforms(openapi, "POST", "/v1/advise", response)
    assert response.content == cli("advise", str(FIRST), *args).stdout_bytes


def test_the_card_is_the_today_card(server: Server, openapi: dict[str, Any]) -> None:
    response = post_json(server, "/v1/advise?format=card", FIRST.read_bytes())
    conforms(openapi, "POST", "/v1/advise", response)
    card = response.json()
    text = cli("advise", str(FIRST)).stdout
    assert [item["title"] for item in card["today"]] == [
        line.split(". ", 1)[1].split("  [")[0]
        for line in text.splitlines()
        if line[:3] in ("1. ", "2. ", "3. ")
    ]
    assert all(line in text for line in card["plan"])


def test_explain_is_the_clis(server: Server, openapi: dict[str, Any]) -> None:
    body = FIRST.read_bytes()
    response = post_json(server, "/v1/explain?target=pay_now_when_able", body)
    conforms(openapi, "POST", "/v1/explain", response)
    expected = cli("explain", str(FIRST), "pay_now_when_able", "--format", "json").stdout_bytes
    assert response.content == expected
    compare = post_json(server, "/v1/explain?compare=contact_lender&compare=pay_now", body)
    conforms(openapi, "POST", "/v1/explain", compare)
    expected = cli(
        "explain", str(FIRST), "--compare", "contact_lender", "pay_now", "--format", "json"
    )
    assert compare.content == expected.stdout_bytes
    unknown = post_json(server, "/v1/explain?target=no_such_thing", body)
    conforms(openapi, "POST", "/v1/explain", unknown)
    assert unknown.status_code == 400
    cli_error = cli("explain", str(FIRST), "no_such_thing").stderr
    assert unknown.json()["detail"] in cli_error


@pytest.mark.parametrize("name", ["situation", "advice", "explain", "record"])
def test_schemas_are_the_clis(server: Server, openapi: dict[str, Any], name: str) -> None:
    response = httpx.get(f"{server.url}/v1/schema/{name}", timeout=30)
    conforms(openapi, "GET", "/v1/schema/{name}", response)
    assert response.content == cli("schema", name).stdout_bytes


def test_version_health_and_unknown_schema(server: Server, openapi: dict[str, Any]) -> None:
    import engine

    version = httpx.get(f"{server.url}/v1/version", timeout=30)
    conforms(openapi, "GET", "/v1/version", version)
    rules = engine.load_rules()
    assert version.json()["ruleset"] == {
        "name": rules.name,
        "version": rules.version,
        "digest": rules.digest,
    }
    assert version.json()["engine"]["version"] == engine.__version__
    health = httpx.get(f"{server.url}/healthz", timeout=30)
    conforms(openapi, "GET", "/healthz", health)
    missing = httpx.get(f"{server.url}/v1/schema/advise", timeout=30)
    conforms(openapi, "GET", "/v1/schema/{name}", missing)
    assert missing.status_code == 404
    assert "did you mean 'advice'?" in missing.json()["detail"]


def test_the_openapi_document_embeds_the_projects_schemas(openapi: dict[str, Any]) -> None:
    from engine.core.schemas import load_schema

    for name in ("situation", "advice", "explain"):
        assert openapi["components"]["schemas"][name] == load_schema(name)
    body = openapi["paths"]["/v1/advise"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/situation"}


# --- refusals: problem details ------------------------------------------------------------------


BAD_SITUATIONS = [
    b'{"schema_version": 1, "loans": [{"id": "a"}]}',
    b'{"schema_version": 1, "loans": [{"id": "a", "product": "jiebei", "overdue_amount": -1}]}',
    b'{"schema_version": 1, "loans": [{"id": "a", "product": "jiebei"}], "borrowr": {}}',
    b'{"schema_version": 2, "loans": []}',
    b'{"schema_version": 1, "loans": [{"id": "a\\u202e", "product": "jiebei"}]}',
    b'{"schema_version": 1, "loans": [], "a": NaN}',  # parsed, then refused with its path
    b'{"schema_version": 1, "schema_version": 1, "loans": []}',
]
NOT_JSON = [b"", b"{", b'{"a": 1} x', b"\xff\xfe{}", b"\xc3\x28", b"[1, 2"]


@pytest.mark.parametrize("body", BAD_SITUATIONS)
def test_an_invalid_situation_is_422_with_the_clis_message_and_path(
    server: Server, openapi: dict[str, Any], body: bytes
) -> None:
    response = post_json(server, "/v1/advise", body)
    conforms(openapi, "POST", "/v1/advise", response)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    stderr = cli("advise", "-", stdin=body).stderr
    assert stderr == f"xieshang: error: <stdin>: {problem['detail']}\n"
    assert problem["detail"].startswith(problem["path"] + ": ")
    assert "Traceback" not in response.text


@pytest.mark.parametrize("body", NOT_JSON)
def test_a_body_that_is_not_json_is_400_with_the_clis_message(
    server: Server, openapi: dict[str, Any], body: bytes
) -> None:
    response = post_json(server, "/v1/advise", body)
    conforms(openapi, "POST", "/v1/advise", response)
    assert response.status_code == 400
    assert cli("advise", "-", stdin=body).stderr == (
        f"xieshang: error: <stdin>: {response.json()['detail']}\n"
    )


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_json_by_type_is_415(
    server: Server, openapi: dict[str, Any], content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(
        f"{server.url}/v1/advise", content=FIRST.read_bytes(), headers=headers, timeout=30
    )
    conforms(openapi, "POST", "/v1/advise", response)
    assert response.status_code == 415
    assert response.json()["type"] == "/v1/problems/unsupported-media-type"


def test_an_oversized_body_is_413_declared_or_not(server: Server, openapi: dict[str, Any]) -> None:
    big = b'{"schema_version": 1, "x": "' + b"a" * MAX_BYTES + b'"}'
    declared = post_json(server, "/v1/advise", big)
    conforms(openapi, "POST", "/v1/advise", declared)
    assert declared.status_code == 413
    assert declared.json()["detail"] == (
        f"$: input is {len(big)} bytes, larger than the limit of {MAX_BYTES} bytes"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, cut off past the limit
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = httpx.post(
        f"{server.url}/v1/advise",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert streamed.status_code == 413
    assert streamed.json()["detail"] == f"$: input is larger than the limit of {MAX_BYTES} bytes"
    # the limit is the CLI's: one byte less is read (and refused only for what it is)
    assert post_json(server, "/v1/advise", big[: MAX_BYTES - len(big)]).status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "query", "status"),
    [
        ("GET", "/v1/advise", "", 405),
        ("GET", "/v1/nothing", "", 404),
        ("POST", "/v1/advise", "?format=xml", 400),
        ("POST", "/v1/advise", "?lang=fr", 400),
        ("POST", "/v1/advise", "?top=0", 400),
        ("POST", "/v1/advise", "?fromat=text", 400),
    ],
)
def test_bad_requests_are_problem_details(
    server: Server, method: str, path: str, query: str, status: int
) -> None:
    response = httpx.request(
        method,
        f"{server.url}{path}{query}",
        content=FIRST.read_bytes(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    if query == "?fromat=text":
        assert "did you mean 'format'?" in problem["detail"]


def test_headers_are_strict_and_no_cookie_is_set(server: Server) -> None:
    for response in (
        httpx.get(f"{server.url}/", timeout=30),
        httpx.get(f"{server.url}/static/app.js", timeout=30),
        post_json(server, "/v1/advise", FIRST.read_bytes()),
        post_json(server, "/v1/advise", b"{"),
    ):
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "set-cookie" not in response.headers
    page = httpx.get(f"{server.url}/", timeout=30).text
    assert "<script>" not in page and "style=" not in page and "<style" not in page
    assert "http://" not in page and "https://" not in page  # no third-party asset


# --- the interview and the documents -------------------------------------------------------------


def library_json(value: Any) -> bytes:
    from engine.present.rendering import render_json

    return render_json(value).encode("utf-8")


def test_the_interview_is_the_librarys(server: Server, openapi: dict[str, Any]) -> None:
    import engine

    rules = engine.load_rules()
    for body in (
        {"situation": {}},
        {"situation": {"loans": [{"id": "jiebei", "product": "jiebei"}]}, "locale": "en"},
        {"situation": {"borrower": {"distress": False}}, "declined": ["plans.suspicious_contact"]},
    ):
        response = post_json(server, "/v1/interview/next", json.dumps(body).encode())
        conforms(openapi, "POST", "/v1/interview/next", response)
        assert response.content == library_json(engine.interview_next(rules, body, limit=1))
    first = post_json(server, "/v1/interview/next?limit=3", b'{"situation": {}}').json()
    assert first["questions"][0]["path"] == "borrower.distress"  # safety first
    assert len(first["questions"]) == 3
    assert first["done"] is False


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"[]", "$"),
        (b'{"situation": {}, "declind": []}', "$.declind"),
        (b'{"situation": []}', "$.situation"),
        (b'{"declined": "borrower.distress"}', "$.declined"),
        (b'{"locale": "fr"}', "$.locale"),
        (b'{"situation": {"loans": [{"id": "a b", "product": "jiebei"}]}}', "$.loans[0].id"),
    ],
)
def test_a_bad_interview_body_is_422_naming_its_part(
    server: Server, openapi: dict[str, Any], body: bytes, path: str
) -> None:
    response = post_json(server, "/v1/interview/next", body)
    conforms(openapi, "POST", "/v1/interview/next", response)
    assert response.status_code == 422
    assert response.json()["path"] == path
    assert response.json()["detail"].startswith(f"{path}: ")


def test_the_documents_are_the_librarys(server: Server, openapi: dict[str, Any]) -> None:
    import engine
    from engine.load.situation import load_situation_bytes

    body = FIRST.read_bytes()
    made = engine.build_documents(
        engine.evaluate(engine.load_rules(), load_situation_bytes(body, "x"))
    )
    listed = post_json(server, "/v1/documents", body)
    conforms(openapi, "POST", "/v1/documents", listed)
    assert listed.content == library_json({"documents": [d.as_dict() for d in made]})
    for doc in made:
        extension = doc.filename.rsplit(".", 1)[1]
        query = f"name={doc.name}&format={extension}" + (
            f"&loan={doc.loan_id}" if doc.loan_id else ""
        )
        one = post_json(server, f"/v1/documents?{query}", body)
        conforms(openapi, "POST", "/v1/documents", one)
        assert one.text == doc.content
        assert one.headers["content-type"] == doc.media_type
        assert one.headers["content-disposition"] == f'attachment; filename="{doc.filename}"'
    english = post_json(server, "/v1/documents?name=plan&format=html&lang=en", body)
    assert english.status_code == 200 and 'lang="en"' in english.text


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("name=call_scirpt", 404, "did you mean 'call_script'?"),
        ("name=relatives_message", 404, "no relatives_message for this situation (made: none"),
        (
            "name=call_script&loan=nobody",
            404,
            "(made: call_script-jiebei.md, call_script-jiebei.html)",
        ),
        ("loan=jiebei", 400, "give name too"),
    ],
)
def test_a_document_that_is_not_made_is_a_problem(
    server: Server, openapi: dict[str, Any], query: str, status: int, words: str
) -> None:
    response = post_json(server, f"/v1/documents?{query}", FIRST.read_bytes())
    conforms(openapi, "POST", "/v1/documents", response)
    assert response.status_code == status
    assert words in response.json()["detail"]


# --- what the server keeps ----------------------------------------------------------------------


def test_no_situation_reaches_the_log(tmp_path: Path) -> None:
    marker = "独一无二的贷款方名称-7f3a"
    situation = json.loads(FIRST.read_text(encoding="utf-8"))
    situation["loans"][0]["lender"] = marker
    body = json.dumps(situation, ensure_ascii=False).encode("utf-8")
    bad = body.replace(b'"product": "jiebei"', b'"product": "' + marker.encode() + b'"')
    with running_server() as running:
        assert post_json(running, "/v1/advise?format=text", body).status_code == 200
        assert post_json(running, "/v1/advise", bad).status_code == 422
        assert marker in post_json(running, "/v1/advise?format=text", body).text
        time.sleep(0.5)
        log = running.output()
    assert marker not in log
    assert "12000" not in log and "monthly_income" not in log
    assert log.count("POST /v1/advise") >= 3
    assert "body=sha256:" in log


# --- faults -------------------------------------------------------------------------------------


def trickle(port: int, head: bytes, pieces: list[bytes], pause: float) -> bytes:
    """Send ``head``, then ``pieces`` one every ``pause`` seconds, until the server hangs up;
    what it sent back. Raises if it kept the connection for the whole trickle."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        received = b""
        sock.settimeout(pause)
        for piece in pieces:
            try:
                sock.sendall(piece)
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return received
            received += data
            if not data:
                return received
        raise AssertionError("the server kept a trickling client for the whole trickle")


def test_a_client_trickling_its_headers_is_cut_off() -> None:
    with running_server("--client-timeout", "1") as running:
        head = b"POST /v1/advise HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        pieces = [f"X-Slow-{i}: {i}\r\n".encode() for i in range(100)]  # 100 x 0.2 s = 20 s
        received = trickle(running.port, head, pieces, 0.2)  # raises if never cut off
        assert received == b""  # closed, no request was ever complete
        assert post_json(running, "/v1/advise", FIRST.read_bytes()).status_code == 200
        # an idle connection that sends nothing at all is closed too
        with socket.create_connection(("127.0.0.1", running.port), timeout=30) as idle:
            assert idle.recv(1) == b""


def test_a_client_trickling_its_body_gets_408() -> None:
    with running_server("--client-timeout", "1") as running:
        body = FIRST.read_bytes()
        head = (
            b"POST /v1/advise HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        pieces = [body[i : i + 10] for i in range(0, len(body), 10)]
        received = trickle(running.port, head, pieces, 0.2)
        assert received.startswith(b"HTTP/1.1 408 ")
        assert b"application/problem+json" in received
        assert post_json(running, "/v1/advise", body).status_code == 200


def test_a_request_over_the_time_limit_is_503_and_the_server_goes_on() -> None:
    with running_server("--time-limit", "0.001") as running:
        response = post_json(running, "/v1/advise", FIRST.read_bytes())
        assert response.status_code == 503
        assert response.json()["type"] == "/v1/problems/time-limit"
        assert httpx.get(f"{running.url}/v1/version", timeout=30).status_code == 200


def workers_of(server: Server) -> list[psutil.Process]:
    """The worker processes (uvicorn spawns them through multiprocessing)."""
    parent = psutil.Process(server.process.pid)
    return [child for child in parent.children() if "spawn_main" in " ".join(child.cmdline())]


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering() -> None:
    body = FIRST.read_bytes()
    with running_server("--workers", "2") as running:
        deadline = time.monotonic() + 60
        while len(workers_of(running)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        before = workers_of(running)
        assert len(before) == 2
        expected = post_json(running, "/v1/advise", body).content
        os.kill(before[0].pid, signal.SIGKILL)
        answers = [post_json(running, "/v1/advise", body) for _ in range(20)]
        assert [a.status_code for a in answers] == [200] * 20
        assert all(a.content == expected for a in answers)
        while time.monotonic() < deadline:  # the supervisor starts a new one
            now = workers_of(running)
            if len(now) == 2 and before[0].pid not in {p.pid for p in now}:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the killed worker was not replaced")
        assert post_json(running, "/v1/advise", body).content == expected


def test_two_servers_with_different_packs_never_cross_talk(make_pack: PackFactory) -> None:
    from tests.test_cli import PACK, SITUATION

    small = make_pack(PACK)
    mine = json.dumps(SITUATION).encode()
    first = FIRST.read_bytes()
    with running_server() as default, running_server("--rules", str(small)) as other:
        want = {
            default.port: post_json(default, "/v1/advise", first).content,
            other.port: post_json(other, "/v1/advise", mine).content,
        }
        assert json.loads(want[default.port])["ruleset"]["name"] == "jiebei"
        assert json.loads(want[other.port])["ruleset"]["name"] == "testpack"
        jobs = [(default, first), (other, mine)] * 40

        def one(job: tuple[Server, bytes]) -> tuple[int, bytes]:
            server, body = job
            return server.port, post_json(server, "/v1/advise", body).content

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, jobs))
    assert len(results) == 80
    assert all(content == want[port] for port, content in results)


def test_bad_rules_exit_2_before_listening(make_pack: PackFactory) -> None:
    import subprocess

    broken = make_pack("rules:\n  - id: x\n    when: {fact: nope, op: '>', value: 1}\n")
    done = subprocess.run(
        [str(XIESHANG), "serve", "--port", "0", "--rules", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "error" in done.stderr and "Traceback" not in done.stderr
    assert "Uvicorn running" not in done.stderr
