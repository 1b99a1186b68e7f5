"""The clerks' page in a real browser: Playwright driving Debian's Chromium against a real
``mynacard serve`` process. A clerk signs in, looks a card up, reads its timeline, records a
suspension through the form and its confirmation, lifts it, reports the loss, and sees a second
lift refused by its rule (R50: no lift after the card was abolished); then looks the person up by
My Number at tablet width. Screenshots go to ``test-output/screenshots/`` (looked at by a person;
the README describes them).

Chromium is not downloaded by Playwright here: ``/usr/bin/chromium`` must exist (``apt-get install
chromium``), and a Japanese font (``fonts-ipafont-gothic`` or ``fonts-noto-cjk``) for the
screenshots to show the labels. Missing either fails the test: it never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.helpers.service import MY_NUMBER, Api, LiveServer, live_server, make_token, service_settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("MYNACARD_TEST_OUTPUT") or ROOT / "test-output") / "screenshots"
"""Where the screenshots go (CI points ``MYNACARD_TEST_OUTPUT`` at the checkout it was started in)."""
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 800, "height": 1180}


def japanese_fonts() -> str:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ""
    return subprocess.run([fc_list, ":lang=ja", "family"], capture_output=True, text=True, check=False).stdout


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        "Chromium is missing: apt-get install chromium (playwright install cannot download)"
    )
    assert japanese_fonts().strip(), (
        "no Japanese font: apt-get install fonts-ipafont-gothic (or fonts-noto-cjk)"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, str, str]]:
    settings = service_settings(tmp_path)
    token = make_token(settings, "clerk", "yamada", "131016")
    with live_server(settings) as live, live.client() as http:
        card = Api(http, token).issue_card()
        yield live, token, card


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def record(page: Page, command: str, **form: Any) -> None:
    """Open a procedure from the card page, fill its form, confirm, record."""
    page.click(f'a[href$="/do/{command}"]')
    for name, value in form.items():
        if value is True:
            page.check(f'input[name="{name}"]')
        else:
            page.select_option(f'select[name="{name}"]', value)
    page.click("form.procedure button.primary")
    expect(page.locator("h1")).to_contain_text("記録内容の確認")
    page.click("form button.primary")


def test_a_clerk_signs_in_reads_a_card_records_procedures_and_sees_a_refusal(
    browser: Browser, server: tuple[LiveServer, str, str]
) -> None:
    live, token, card = server
    context = browser.new_context(viewport=DESKTOP, locale="ja-JP", base_url=live.url)
    page = context.new_page()
    try:
        # Signed out: the sign-in page.
        page.goto("/")
        expect(page).to_have_url(f"{live.url}/signin")
        expect(page.locator("h1")).to_have_text("サインイン")
        shot(page, "01-sign-in")
        page.fill("#token", token)
        page.click("button.primary")
        expect(page.locator(".who")).to_contain_text("yamada")
        shot(page, "02-search")

        # Look the card up by its application id; read the status, 和暦 and the timeline.
        page.fill("#card", card)
        page.click('form[action="/find"] button.primary')
        expect(page.locator(".title-row")).to_contain_text("有効")
        expect(page.locator("main")).to_contain_text("令和17年10月10日")
        timeline = page.locator("table.timeline")
        expect(timeline).to_contain_text("交付申請")
        expect(timeline).to_contain_text("yamada")
        expect(timeline).to_contain_text("131016")
        assert no_sideways_scroll(page)
        shot(page, "03-card")

        # A suspension through the form and its confirmation.
        page.click('a[href$="/do/suspend"]')
        page.select_option('select[name="channel"]', "counter")
        page.click("form.procedure button.primary")
        expect(page.locator("table.confirm")).to_contain_text("窓口")
        expect(page.locator("table.confirm")).to_contain_text("yamada (clerk, 131016)")
        shot(page, "04-confirm-suspension")
        page.click("form button.primary")
        expect(page.locator(".alert.ok")).to_contain_text("一時停止 を記録しました")
        expect(page.locator(".title-row")).to_contain_text("一時停止中")
        expect(timeline).to_contain_text("一時停止")

        # The holder lifts it in person; then the card is lost (police report shown).
        record(page, "lift-suspension", in_person=True)
        expect(page.locator(".title-row")).to_contain_text("有効")
        record(page, "report-loss", police_report=True)
        expect(page.locator(".title-row")).to_contain_text("廃止")

        # A second lift after the loss: refused by R50, nothing recorded.
        record(page, "lift-suspension", in_person=True)
        refusal = page.locator(".refusal")
        expect(refusal).to_contain_text("R50")
        expect(refusal).to_contain_text("何も記録されていません")
        shot(page, "05-refusal")

        # The person, by My Number, at tablet width: the number never in a URL or on the page.
        page.set_viewport_size(TABLET)
        page.goto("/")
        page.fill("#my_number", MY_NUMBER)
        page.click('form[action="/person"] button.primary')
        expect(page.locator("h1")).to_contain_text("XXXX XXXX 9018")
        assert MY_NUMBER not in page.url and MY_NUMBER not in page.content()
        expect(page.locator("table.list")).to_contain_text("廃止")
        assert no_sideways_scroll(page)
        shot(page, "06-person-tablet")

        # The card page at tablet width, then in English.
        page.click("table.list a")
        expect(page.locator(".title-row")).to_contain_text("廃止")
        assert no_sideways_scroll(page)
        shot(page, "07-card-tablet", full_page=False)
        page.locator("table.timeline").scroll_into_view_if_needed()
        shot(page, "08-timeline-tablet", full_page=False)
        page.click("a.lang")
        expect(page.locator("h2").first).to_have_text("Status")
        expect(page.locator(".title-row")).to_contain_text("abolished")
    finally:
        context.close()
