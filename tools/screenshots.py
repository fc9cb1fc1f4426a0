"""Render each document type's HTML to PNG with headless Chromium: `make screenshots`.

docs/images/<document>.png, one per document type (the calendar is not a page), each made from
a shipped example (the credit-report dispute from harassment.json with `credit_report_error`
set, since no example has one). Look at them after a template change.

    python tools/screenshots.py [--out DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402

#: document → (example, locale, loan id or None): a situation where the document applies
SHOTS: dict[str, tuple[str, str, str | None]] = {
    "plan": ("income-cut-several-debts", "zh-CN", None),
    "call_script": ("first-late-payment", "zh-CN", "jiebei"),
    "hardship_statement": ("job-loss-several-debts", "en", None),
    "instalment_request": ("credit-card-hardship", "zh-CN", "icbc-card"),
    "complaint_letter": ("harassment", "zh-CN", "online-loan"),
    "fee_dispute": ("harassment", "en", "online-loan"),
    "credit_report_dispute": ("harassment", "zh-CN", "online-loan"),
    "relatives_message": ("harassment", "zh-CN", None),
}
WIDTH, HEIGHT = 820, 1160  #: about an A4 page at 96 dpi, with the page's margin around it


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def situation_for(example: str, name: str) -> dict[str, object]:
    data = json.loads((ROOT / "examples" / f"{example}.json").read_text(encoding="utf-8"))
    if name == "credit_report_dispute":
        data = copy.deepcopy(data)
        data["loans"][0].setdefault("status", {})["credit_report_error"] = True
    return data


def html_of(name: str, rules: engine.RuleSet) -> str:
    example, locale, loan = SHOTS[name]
    decision = engine.evaluate(rules, situation_for(example, name), locale=locale)
    for document in engine.build_documents(decision, only=[name]):
        if document.filename.endswith(".html") and document.loan_id == loan:
            return document.content
    raise SystemExit(f"screenshots: {name} does not apply to examples/{example}.json")


def screenshot(browser: str, html: Path, png: Path, height: int = HEIGHT) -> None:
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{height}",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--only", nargs="*", default=list(SHOTS))
    args = parser.parse_args()
    browser = chromium()
    if browser is None:
        print("screenshots: no chromium found (make browser installs it)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rules = engine.load_rules()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only:
            page = Path(folder) / f"{name}.html"
            page.write_text(html_of(name, rules), encoding="utf-8")
            target = args.out / f"{name}.png"
            screenshot(browser, page, target)
            print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
