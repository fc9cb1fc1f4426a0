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
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Server, running_server

pytestmark = pytest.mark.slow  # a server process and a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
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


def choose(driver: WebDriver, label: str) -> None:
    """Click the choice a person reads, then Next."""
    labels = driver.find_elements(By.CSS_SELECTOR, "#question-input label")
    matching = [lab for lab in labels if lab.text == label]
    assert matching, f"no choice {label!r} among {[lab.text for lab in labels]}"
    matching[0].click()
    next_question(driver)


def type_answer(driver: WebDriver, value: str) -> None:
    field = driver.find_element(By.ID, "answer")
    field.clear()
    field.send_keys(value)
    next_question(driver)


def set_date(driver: WebDriver, value: str) -> None:
    """A date input's picker is the browser's; set its value as the picker would."""
    field = driver.find_element(By.ID, "answer")
    driver.execute_script("arguments[0].value = arguments[1]", field, value)
    next_question(driver)


def next_question(driver: WebDriver) -> None:
    before = question(driver)
    driver.find_element(By.ID, "next").click()
    wait(driver).until(
        lambda d: question(d) != before or d.find_element(By.ID, "result").is_displayed()
    )


def skip(driver: WebDriver) -> None:
    before = question(driver)
    driver.find_element(By.ID, "skip").click()
    wait(driver).until(
        lambda d: question(d) != before or d.find_element(By.ID, "result").is_displayed()
    )


def advice(driver: WebDriver) -> str:
    wait(driver).until(ec.visibility_of_element_located((By.ID, "result")))
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#card .today"))
    return text(driver, "result")


def today_titles(driver: WebDriver) -> list[str]:
    return [str(h.text) for h in driver.find_elements(By.CSS_SELECTOR, ".today-list h4")]


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """Errors in the console (a CSP violation is one), except the documents' 501 while the
    documents are not part of this build."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "/v1/documents" not in entry["message"]
    ]


def days_ago(days: int) -> str:
    china = dt.timezone(dt.timedelta(hours=8))
    return (dt.datetime.now(china).date() - dt.timedelta(days=days)).isoformat()


# --- journeys ---------------------------------------------------------------------------------


def test_a_first_late_payment(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    assert "不存 Cookie" in text(browser, "privacy")
    assert browser.switch_to.active_element.get_attribute("id") == "question-title"
    choose(browser, "否")  # distress
    assert "哪种借款" in question(browser)
    choose(browser, "借呗")
    assert browser.switch_to.active_element.get_attribute("id") == "question-title"
    type_answer(browser, "5")  # days overdue
    type_answer(browser, "1100")  # overdue amount
    type_answer(browser, "12000")  # balance
    choose(browser, "没有")  # no court papers: the notice date is not asked
    assert "收入" in question(browser)
    type_answer(browser, "6000")
    type_answer(browser, "3800")
    choose(browser, "否")  # not contacted yet
    type_answer(browser, "300")  # can pay today
    seen = advice(browser)
    assert today_titles(browser)[0] == "今天就联系贷款方"
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
    assert browser.get_cookies() == []
    assert browser.execute_script("return window.localStorage.length") == 0
    assert console_errors(browser) == []
    shoot(browser, "first-late-payment")


def test_a_court_notice(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    skip(browser)  # distress: skipped, never required
    choose(browser, "借呗")
    type_answer(browser, "210")
    type_answer(browser, "32000")
    type_answer(browser, "32000")
    choose(browser, "法院的起诉材料或传票")
    assert "哪天收到" in question(browser)  # asked only because there are court papers
    set_date(browser, days_ago(8))
    type_answer(browser, "4500")
    type_answer(browser, "3300")
    choose(browser, "是")
    type_answer(browser, "0")
    advice(browser)
    first = today_titles(browser)[0]
    assert first.startswith("法院期限")
    assert "12368" in text(browser, "card")  # check the papers are real through the court
    assert console_errors(browser) == []
    shoot(browser, "court-notice")


def test_a_crisis_answer(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    choose(browser, "是")  # distress
    choose(browser, "借呗")
    type_answer(browser, "60")
    browser.find_element(By.ID, "advice-now").click()  # the advice at any point
    seen = advice(browser)
    assert "只列出眼下最要紧的" in seen
    assert today_titles(browser)[0] == "你的安全比任何欠款都重要"
    assert "12356" in seen
    assert len(today_titles(browser)) <= 3
    assert not browser.find_elements(By.CSS_SELECTOR, "#card .later")  # nothing else today
    assert browser.find_element(By.CSS_SELECTOR, "#card .today.crisis").is_displayed()
    assert console_errors(browser) == []
    shoot(browser, "crisis")


def test_english_switch_and_clear(browser: WebDriver, server: Server) -> None:
    open_page(browser, server)
    browser.find_element(By.ID, "lang-switch").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "harming yourself" in question(browser)
    assert "no cookies" in text(browser, "privacy")
    choose(browser, "No")
    choose(browser, "借呗 (Jiebei)")
    type_answer(browser, "5")
    browser.find_element(By.ID, "advice-now").click()
    seen = advice(browser)
    assert "Today" in seen
    assert "Check exactly what is overdue" in today_titles(browser)
    shoot(browser, "english")
    browser.find_element(By.ID, "lang-switch").click()  # back to Chinese: the advice follows
    wait(browser).until(lambda d: "今天" in text(d, "card"))
    browser.find_element(By.ID, "clear").click()
    assert not browser.find_element(By.ID, "result").is_displayed()
    assert "已清除" in text(browser, "status")
    assert "撑不下去" in question(browser)
    checked = browser.find_elements(By.CSS_SELECTOR, "#question-input input:checked")
    assert checked == []  # the answers are gone, not only hidden
    assert console_errors(browser) == []


def test_labels_and_reflow_at_200_percent(browser: WebDriver, server: Server) -> None:
    """Every control has a name a screen reader reads; at 320 CSS px (a 640 px window at 200%
    zoom) nothing needs horizontal scrolling."""
    open_page(browser, server)
    size(browser, 320, 640)
    for element in browser.find_elements(By.CSS_SELECTOR, "#question-input input"):
        label = browser.find_elements(
            By.CSS_SELECTOR, f"label[for='{element.get_attribute('id')}']"
        )
        assert label or element.get_attribute("aria-labelledby")
    wide = "return document.documentElement.scrollWidth > window.innerWidth"
    assert browser.execute_script(wide) is False
    choose(browser, "否")
    choose(browser, "借呗")
    field = browser.find_element(By.ID, "answer")
    assert field.get_attribute("aria-labelledby") == "question-title"
    type_answer(browser, "5")
    browser.find_element(By.ID, "advice-now").click()
    advice(browser)
    assert browser.execute_script(wide) is False
    os.makedirs(SHOTS, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "zoom-200-percent.png"))
    size(browser, *PHONE)
