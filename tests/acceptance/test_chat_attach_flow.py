"""The sandbox's chat page in headless Chromium: a person edits their own photo.

``run_node.py sandbox`` runs as a subprocess (test_chat_page's ``sandbox_node``). The person
picks Image editing, describes the change, attaches a real PNG through the page's 📎 file
input, finishes with Done, confirms, and sees the edited picture and the balance go down.
Nano Banana Edit is the model: it costs credits (Qwen Image Edit is free, so the balance
would not move) and its list field exercises "1 of up to 10 images" and Done.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.acceptance.test_chat_page import (  # noqa: F401 - fixtures used by name
    ChatPage,
    SandboxProcess,
    _png,
    browser,
    loaded_images,
    sandbox_node,
)

MODEL = "google/nano-banana-edit"
PRICE = 2


def click_starting(page: ChatPage, prefix: str) -> None:
    """Click the newest button whose label starts with ``prefix``."""

    def clicked(driver: WebDriver) -> bool:
        found = [b for b in driver.find_elements(By.CSS_SELECTOR, ".kbtn")
                 if b.text.strip().startswith(prefix)]
        if found:
            found[-1].click()
        return bool(found)

    page.until(clicked, f"a button starting {prefix!r}")


def balance(database: str, user: int) -> tuple[int, int]:
    with psycopg.connect(database) as conn:
        row = conn.execute(b"SELECT available, held FROM users WHERE id = %s",
                           (user,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_person_edits_their_own_photo_from_the_chat_page(
    sandbox_node: SandboxProcess, browser: WebDriver,  # noqa: F811 - the imported fixtures
    database: str, tmp_path: Path,
) -> None:
    photo = tmp_path / "my-cat.png"
    photo.write_bytes(_png(64, 48, (40, 160, 220)))
    page = ChatPage(browser, sandbox_node.url("telegram", "/chat?user_id=3") + "&lang=en")
    page.type("/start")
    page.bubble("What would you like to make?")
    page.click("🖼 Images")
    click_starting(page, "✏️ Image editing ·")
    click_starting(page, "Nano Banana Edit ·")
    page.click("▶️ Start")
    page.bubble("Step 1/2")
    page.type("put a small hat on it")
    page.bubble("up to 10")
    before = balance(database, 3)

    # The 📎 button opens this (hidden) file picker; Chromium takes a path on it directly.
    browser.find_element(By.ID, "attach-input").send_keys(str(photo))
    page.bubble("1 of up to 10 images")
    shown = browser.execute_script(
        "return [...document.querySelectorAll('.user .media img')].map(i => i.naturalWidth);")
    assert shown == [64], "the page shows the person's own photo as sent"
    page.click("✅ Done")
    page.bubble("Optional settings")
    page.click("✅ Use defaults")
    order = page.bubble("Please check your order")
    assert "Nano Banana Edit" in order.text
    click_starting(page, "✅ Confirm")

    kie_media = sandbox_node.url("kie", "/media/")
    pictures = page.until(lambda d: loaded_images(d, kie_media), "the edited picture")
    assert len(pictures) == 1
    page.until(lambda _: balance(database, 3) == (before[0] - PRICE, 0), "the charge")
    shown_balance = browser.find_element(By.ID, "balance-value")
    page.until(lambda _: shown_balance.text == f"{before[0] - PRICE} credits",
               "the balance on the page to go down by the price")
    assert re.fullmatch(r"\d+ credits", shown_balance.text)

    # What KIE received: the photo's own bytes, through its upload API, as the edit's input.
    uploads = requests.get(sandbox_node.url("kie", "/_control/uploads"), timeout=5).json()
    assert [u["fileSize"] for u in uploads] == [photo.stat().st_size], uploads
    with psycopg.connect(database) as conn:
        row = conn.execute(b"SELECT input FROM jobs WHERE user_id = 3").fetchone()
    assert row is not None and row[0]["image_urls"] == [uploads[0]["downloadUrl"]]
    page.screenshot(tmp_path / "chat_attach_edit.png")
    assert page.console_errors() == []
