"""The ``xieshang serve`` application in-process (Starlette's TestClient): the today card as the
page gets it, internal errors without their text, the security headers. The real server, its
limits and faults are tests/test_serve.py."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # Starlette 1.x prefers `httpx2` for its TestClient; httpx works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

import engine
from cli.web.app import create_app
from cli.web.settings import Settings
from engine.core.errors import EvaluationError
from engine.present.rendering import render_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as running:
        yield running


def numbered_titles(text: str, count: int) -> list[str]:
    """The titles of items 1..count of the CLI's today card."""
    titles = []
    for line in text.splitlines():
        for n in range(1, count + 1):
            if line.startswith(f"{n}. "):
                titles.append(line.split(". ", 1)[1].rsplit("  [", 1)[0])
    return titles


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_the_card_shows_what_the_cli_shows(
    client: TestClient, default_rules: engine.RuleSet, example: str
) -> None:
    body = (EXAMPLES / example).read_bytes()
    card: dict[str, Any] = client.post("/v1/advise?format=card", content=body, headers=JSON).json()
    decision = engine.evaluate(default_rules, _load(body), validated=True)
    text = render_text(decision)
    shown = len(card["today"]) + len(card["later"])
    assert [i["title"] for i in card["today"] + card["later"]] == numbered_titles(text, shown)
    distress = decision.situation.get("borrower", {}).get("distress") is True
    assert card["crisis"] == (
        distress
        and any(r.action in default_rules.pack.crisis.actions for r in decision.recommendations)
    )
    assert card["today_heading"] + ":" in text
    for line in card["plan"]:
        assert line in text
    assert card["footer"] in text
    assert len(card["today"]) <= 3 and len(card["later"]) <= 5
    for item in card["today"]:  # a borrower's card: no action codes or rule ids
        assert all(rec.action not in item["tag"] for rec in decision.recommendations)


def _load(body: bytes) -> dict[str, Any]:
    from engine.load.situation import load_situation_bytes

    return load_situation_bytes(body, "<test>")


def test_the_distress_card_is_the_crisis_card(client: TestClient) -> None:
    body = (EXAMPLES / "distress.json").read_bytes()
    card = client.post("/v1/advise?format=card", content=body, headers=JSON).json()
    assert card["crisis"] is True
    assert card["later"] == []
    assert "12356" in " ".join(card["today"][0]["message"])
    english = client.post("/v1/advise?format=card&lang=en", content=body, headers=JSON).json()
    assert english["locale"] == "en"
    assert english["today_heading"] == "Today (only what matters most right now)"


def test_an_internal_error_says_its_type_never_its_text(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("lender 秘密 owes 12345")

    monkeypatch.setattr("engine.evaluate", broken)
    body = (EXAMPLES / "first-late-payment.json").read_bytes()
    response = client.post("/v1/advise", content=body, headers=JSON)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "internal error: RuntimeError"
    assert "秘密" not in response.text and "Traceback" not in response.text


def test_rules_that_conflict_at_run_time_are_422_as_in_the_cli(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def conflict(*args: object, **kwargs: object) -> None:
        raise EvaluationError("rules a and b derived different values for x")

    monkeypatch.setattr("engine.evaluate", conflict)
    body = (EXAMPLES / "first-late-payment.json").read_bytes()
    response = client.post("/v1/advise", content=body, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"] == "rules a and b derived different values for x"


def test_every_answer_has_the_security_headers(client: TestClient) -> None:
    for response in (
        client.get("/"),
        client.get("/nothing"),
        client.get("/static/style.css"),
        client.post("/v1/advise", content=b"{", headers=JSON),
    ):
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "set-cookie" not in response.headers


def test_the_page_uses_only_its_own_files(client: TestClient) -> None:
    page = client.get("/").text
    assert '<script src="/static/app.js" defer></script>' in page
    assert "<style" not in page and " style=" not in page and " on" + "click=" not in page
    script = client.get("/static/app.js").text
    assert "innerHTML" not in script  # text from the server is placed as text
    assert not re.search(r"(localStorage|sessionStorage|indexedDB)\s*[.\[]", script)
    assert "document.cookie" not in script
