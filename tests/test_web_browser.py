"""The borrower's page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, installed by ``make browser``) driven by Selenium against a real
``xieshang serve``.

Three journeys, asserting what a person sees: a first late payment, a court notice, a crisis
answer; then the English switch, the clear button, reflow at 320 CSS pixels (200% zoom of a
640-pixel window), labels and focus. Screenshots at phone (390 px) and desktop (1280 px) widths go
to build/screenshots/ (a few are kept in docs/images/ for the README).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Server, running_server

pytestmark = pytest.mark.slow  # a server process and a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "screenshots"
EXAMPLES = ROOT / "examples"
PHONE, DESKTOP = (390, 844), (1280, 900)

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():  # pragma: no cover - depends on the host
    message = (
        "\n" + "!" * 78 + "\nBROWSER TESTS SKIPPED: /usr/bin/chromium or /usr/bin/chromedriver is"
        " missing.\nRun `make browser` (Debian: apt-get install chromium chromium-driver"
        " fonts-noto-cjk).\n" + "!" * 78
    )
    print(message)
    pytest.skip(message, allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once Chromium is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server("--no-access-log") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--lang=zh-CN",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def size(driver: WebDriver, width: int, height: int) -> None:
    """The CSS viewport, exactly (a headless window cannot be narrower than 500 px)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def shoot(driver: WebDriver, name: str) -> None:
    """Screenshots of the whole page at phone and desktop widths."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in (("phone", PHONE), ("desktop", DESKTOP)):
        size(driver, width, height)
        full = driver.execute_script("return document.documentElement.scrollHeight")
        size(driver, width, max(height, min(int(full), 6000)))
        driver.save_screenshot(str(SHOTS / f"{name}-{label}.png"))
    size(driver, *PHONE)


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, 30)


def open_page(driver: WebDriver, server: Server) -> None:
    driver.delete_all_cookies()
    size(driver, *PHONE)
    driver.get(server.url + "/")
    driver.get_log("browser")  # start each journey with an empty console
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "question-title"), "撑不下去"))


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def question(driver: WebDriver) -> str:
    return text(driver, "question-title")


def asked(driver: WebDriver) -> tuple[str, str]:
    """The path and the type of the question on screen."""
    fieldset = driver.find_element(By.ID, "question-fieldset")
    return str(fieldset.get_attribute("data-path")), str(fieldset.get_attribute("data-type"))


def value_at(situation: dict[str, Any], path: str) -> Any:
    """The answer a person with ``situation`` gives at ``path`` (None: they do not know)."""
    node: Any = situation
    for piece in path.split("."):
        name, _, index = piece.partition("[")
        node = node.get(name) if isinstance(node, dict) else None
        if index and isinstance(node, list):
            position = int(index.rstrip("]"))
            node = node[position] if position < len(node) else None
    return node


def step(driver: WebDriver, action: str) -> None:
    """Press Next (or Skip, Back) and wait for the next question or the advice."""
    before = (question(driver), asked(driver))
    driver.find_element(By.ID, action).click()
    wait(driver).until(
        lambda d: (
            (question(d), asked(d)) != before
            or d.find_element(By.ID, "result").is_displayed()
            or bool(text(d, "question-error"))
        )
    )


def answer_as(driver: WebDriver, situation: dict[str, Any], limit: int = 80) -> list[str]:
    """Answer every question the page asks from ``situation``, as a person would: a choice by
    clicking its label, a number by typing it, "I don't know" for what the situation leaves
    out; until the advice shows. The paths asked, in order."""
    paths: list[str] = []
    for _ in range(limit):
        if driver.find_element(By.ID, "result").is_displayed():
            return paths
        path, kind = asked(driver)
        paths.append(path)
        for control in driver.find_elements(By.CSS_SELECTOR, "#question-input input"):
            named = driver.find_elements(
                By.CSS_SELECTOR, f"label[for='{control.get_attribute('id')}']"
            )
            assert named or control.get_attribute("aria-labelledby"), (
                f"{path}: a control without a name"
            )
        value = (
            [loan["product"] for loan in situation["loans"]]
            if kind == "loans"
            else value_at(situation, path)
        )
        if value is None:
            step(driver, "skip")
            continue
        if kind in ("boolean", "choice", "choices", "loans"):
            wanted = value if isinstance(value, list) else [value]
            for choice in driver.find_elements(By.CSS_SELECTOR, "#question-input input"):
                if json.loads(str(choice.get_attribute("value"))) in wanted:
                    label = f"label[for='{choice.get_attribute('id')}']"
                    driver.find_element(By.CSS_SELECTOR, label).click()
        elif kind == "date":
            field = driver.find_element(By.ID, "answer")  # the picker is the browser's
            driver.execute_script("arguments[0].value = arguments[1]", field, value)
        else:
            shown = f"{value * 100:g}" if kind == "percent" else str(value)
            field = driver.find_element(By.ID, "answer")
            field.clear()
            field.send_keys(shown)
        step(driver, "next")
        assert text(driver, "question-error") == "", (path, text(driver, "question-error"))
    raise AssertionError(f"no advice after {limit} questions: {paths}")


LOAN_DATES = (
    "first_missed_due_date",
    "next_due_date",
    "status.legal_notice_date",
    "status.hearing_date",
)


def example(name: str) -> dict[str, Any]:
    """An example situation moved to today (the page sends no ``as_of``): every loan date moves
    by as many days as ``as_of`` is from today, so every day count stays the same; a loan's
    ``days_overdue`` is given where only its first missed date was (the page's own short list
    of questions asks for the count)."""
    situation: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    as_of = dt.date.fromisoformat(situation.pop("as_of"))
    shift = dt.date.fromisoformat(days_ago(0)) - as_of
    for loan in situation["loans"]:
        if "first_missed_due_date" in loan and "days_overdue" not in loan:
            missed = dt.date.fromisoformat(loan["first_missed_due_date"])
            loan["days_overdue"] = (as_of - missed).days
        for path in LOAN_DATES:
            *outer, field = path.split(".")
            node = loan.get(outer[0], {}) if outer else loan
            if field in node:
                node[field] = (dt.date.fromisoformat(node[field]) + shift).isoformat()
    return situation


def advice(driver: WebDriver) -> str:
    """The advice as shown, once the documents' links are there too."""
    wait(driver).until(ec.visibility_of_element_located((By.ID, "result")))
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#card .today"))
    wait(driver).until(
        lambda d: d.find_element(By.ID, "docs").get_attribute("data-ready") == "true"
    )
    return text(driver, "result")


def today_titles(driver: WebDriver) -> list[str]:
    return [str(h.text) for h in driver.find_elements(By.CSS_SELECTOR, ".today-list h4")]


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """Errors in the console (a CSP violation, a failed request, a script error)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def days_ago(days: int) -> str:
    china = dt.timezone(dt.timedelta(hours=8))
    return (dt.datetime.now(china).date() - dt.timedelta(days=days)).isoformat()


# --- journeys ---------------------------------------------------------------------------------


def test_a_first_late_payment(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    assert "不存 Cookie" in text(browser, "privacy")
    assert browser.switch_to.active_element.get_attribute("id") == "question-title"
    assert "最多还有" in text(browser, "progress")
    shoot(browser, "question")
    paths = answer_as(browser, example("first-late-payment"))
    assert paths[0] == "borrower.distress"  # safety first
    assert "loans[0].status.legal_notice_date" not in paths  # no court papers: not asked
    seen = advice(browser)
    assert today_titles(browser)[0] == "今天就联系贷款方，说明你愿意还、能还多少"
    assert len(today_titles(browser)) == 3
    assert "今天先做" in seen
    assert "你的还款计划" in seen
    assert "今天先还 ¥300.00" in seen
    assert "不是法律意见" in seen
    assert "contact_lender" not in seen  # no action codes or rule ids for a borrower
    assert browser.switch_to.active_element.get_attribute("id") == "result-title"
    browser.find_element(By.CSS_SELECTOR, "#all-recommendations summary").click()
    wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".all-list h4")) > 3)
    everything = [h.text for h in browser.find_elements(By.CSS_SELECTOR, ".all-list h4")]
    assert everything[:3] == today_titles(browser)  # the full list, in the same order
    browser.find_element(By.CSS_SELECTOR, "#all-recommendations summary").click()
    links = browser.find_elements(By.CSS_SELECTOR, "#doc-links a")
    assert [a.text for a in links] == [
        "打电话前看：沟通话术 · 借呗",  # the loan as the person chose it, not its id
        "可打印的还款计划",
        "日历提醒（导入手机日历）",
    ]
    assert [a.get_attribute("download") for a in links] == [
        "call_script-jiebei.html",
        "plan.html",
        "calendar.ics",
    ]
    assert browser.get_cookies() == []
    assert browser.execute_script("return window.localStorage.length") == 0
    assert console_errors(browser) == []
    shoot(browser, "first-late-payment")


def test_a_court_notice(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    paths = answer_as(browser, example("court-notice"))
    assert "loans[0].status.legal_notice_date" in paths  # asked because there are court papers
    advice(browser)
    assert today_titles(browser)[0].startswith("法院期限")
    assert "12368" in text(browser, "card")  # check the papers are real through the court
    assert console_errors(browser) == []
    shoot(browser, "court-notice")


def test_a_crisis_answer(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    seen_paths = answer_as(browser, example("distress"))
    assert seen_paths[0] == "borrower.distress"
    seen = advice(browser)
    assert "只列出眼下最要紧的" in seen
    assert today_titles(browser)[0] == "你的安全比任何欠款都重要"
    assert "12356" in seen
    assert len(today_titles(browser)) <= 3
    assert not browser.find_elements(By.CSS_SELECTOR, "#card .later")  # nothing else today
    assert browser.find_element(By.CSS_SELECTOR, "#card .today.crisis").is_displayed()
    assert console_errors(browser) == []
    shoot(browser, "crisis")


def test_advice_at_any_point_back_and_skip(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    first = asked(browser)[0]
    browser.find_element(By.ID, "advice-now").click()  # no loan yet: says what it needs
    wait(browser).until(lambda d: "先选一下是哪笔欠款" in text(d, "question-error"))
    skipped = []
    while asked(browser)[1] != "loans":  # the safety questions may all be skipped
        skipped.append(asked(browser)[0])
        step(browser, "skip")
        assert len(skipped) < 10
    assert skipped[0] == first == "borrower.distress"
    assert not browser.find_element(By.ID, "skip").is_displayed()  # the loans are needed
    step(browser, "back")
    assert asked(browser)[0] == skipped[-1]  # back: the last question again
    step(browser, "skip")
    browser.find_elements(By.CSS_SELECTOR, "#question-input label")[0].click()  # a kind of loan
    step(browser, "next")
    assert "已回答" in text(browser, "progress")
    browser.find_element(By.ID, "advice-now").click()  # the advice at any point
    advice(browser)
    assert len(today_titles(browser)) >= 1
    assert console_errors(browser) == []


def test_english_switch_and_clear(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    browser.find_element(By.ID, "lang-switch").click()
    wait(browser).until(lambda d: "harming yourself" in question(d))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "no cookies" in text(browser, "privacy")
    situation = example("first-late-payment")
    situation["locale"] = "en"
    answer_as(browser, situation)
    seen = advice(browser)
    assert "Today" in seen
    assert (
        today_titles(browser)[0]
        == "Contact the lender today: say you want to repay, and what you can pay"
    )
    shoot(browser, "english")
    browser.find_element(By.ID, "lang-switch").click()  # back to Chinese: the advice follows
    wait(browser).until(lambda d: "今天就联系贷款方" in text(d, "card"))
    browser.find_element(By.ID, "clear").click()
    wait(browser).until(lambda d: "已清除" in text(d, "status"))
    assert not browser.find_element(By.ID, "result").is_displayed()
    assert "撑不下去" in question(browser)
    checked = browser.find_elements(By.CSS_SELECTOR, "#question-input input:checked")
    assert checked == []  # the answers are gone, not only hidden
    step(browser, "skip")
    assert browser.find_elements(By.CSS_SELECTOR, "#question-input input:checked") == []
    assert console_errors(browser) == []


def test_labels_and_reflow_at_200_percent(browser: WebDriver, server: Server) -> None:
    """At 320 CSS px (a 640 px window at 200% zoom) nothing needs horizontal scrolling, on a
    question or on the advice. (Every control's name is checked on every question asked, in
    ``answer_as``.)"""
    open_page(browser, server)
    size(browser, 320, 640)
    wide = "return document.documentElement.scrollWidth > window.innerWidth"
    assert browser.execute_script(wide) is False
    answer_as(browser, example("first-late-payment"))
    advice(browser)
    assert browser.execute_script(wide) is False
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "zoom-200-percent.png"))
    size(browser, *PHONE)
