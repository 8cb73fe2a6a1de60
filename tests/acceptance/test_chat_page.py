"""The sandbox's web chat page in headless Chrome/Chromium: a person talks to the bot in it.

The first test runs ``run_node.py sandbox`` as a subprocess and walks the free z-image model
from /start to the generated picture, with the credit balance on screen. The second drives
the page against a bare Telegram emulator, sending every kind of message as the bot would,
and checks each is shown and usable (buttons, edits in place, media, invoice and Pay).
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import ROOT, free_port, wait_until
from tests.support.browser import Chrome

pytestmark = pytest.mark.acceptance

MEDIA = ROOT / "sandbox" / "media"


@pytest.fixture(scope="module")
def browser(chrome: Chrome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = chrome.binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=820,1100",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chrome.driver))
    try:
        yield driver
    finally:
        driver.quit()


class ChatPage:
    """The chat page as a person uses it: type, click buttons by label, read the bubbles."""

    def __init__(self, driver: WebDriver, url: str, timeout: float = 20.0) -> None:
        self.driver, self.timeout = driver, timeout
        driver.get(url)
        driver.get_log("browser")  # start the console check from this page
        self.until(lambda d: d.find_element(By.ID, "input").is_displayed(), "the input box")

    def until(self, check: Callable[[WebDriver], Any], what: str) -> Any:
        wait = WebDriverWait(self.driver, self.timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,))
        return wait.until(check, message=f"timed out waiting for {what}")

    def type(self, text: str) -> None:
        box = self.driver.find_element(By.ID, "input")
        box.send_keys(text, Keys.ENTER)
        self.until(lambda d: box.get_attribute("value") == "", f"{text!r} to be sent")

    def buttons(self, label: str) -> list[WebElement]:
        return [b for b in self.driver.find_elements(By.CSS_SELECTOR, ".kbtn")
                if b.text.strip() == label]

    def click(self, label: str) -> None:
        """Click the newest button with exactly this label (re-found: edits replace nodes)."""

        def clicked(_: WebDriver) -> bool:
            found = self.buttons(label)
            if not found:
                return False
            found[-1].click()
            return True

        self.until(clicked, f"a button {label!r}")

    def click_first(self, contains: str) -> None:
        """Click the first button under the newest message containing ``contains``."""

        def clicked(_: WebDriver) -> bool:
            self.bubble(contains).find_elements(By.CSS_SELECTOR, ".kbtn")[0].click()
            return True

        self.until(clicked, f"the first button under {contains!r}")

    def bubble(self, contains: str) -> WebElement:
        def find(d: WebDriver) -> WebElement | bool:
            rows = [r for r in d.find_elements(By.CSS_SELECTOR, "[data-message-id]")
                    if contains in r.text]
            return rows[-1] if rows else False

        return self.until(find, f"a message with {contains!r}")

    def console_errors(self) -> list[dict[str, Any]]:
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))
        assert path.stat().st_size > 10_000, "the screenshot is blank"


def loaded_images(driver: WebDriver, prefix: str) -> list[str]:
    """src of every message picture that actually loaded (natural size known)."""
    return list(driver.execute_script(
        "return [...document.querySelectorAll('.media img')]"
        ".filter(i => i.complete && i.naturalWidth > 0 && i.src.startsWith(arguments[0]))"
        ".map(i => i.src);", prefix))


# ----- the whole sandbox, one free model --------------------------------------------------


class SandboxProcess:
    """``run_node.py sandbox`` on free ports, against the test's own database."""

    def __init__(self, database_url: str, tmp: Path) -> None:
        self.ports = {name: free_port() for name in ("kie", "telegram", "callback", "status")}
        self.log_path = tmp / "sandbox.log"
        env = {**os.environ, "DATABASE_URL": database_url, "TRT_DATA_DIR": str(tmp / "data"),
               "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, str(ROOT / "run_node.py"), "sandbox", "--task-seconds", "0.5"]
        for name, port in self.ports.items():
            argv += [f"--{name}-port", str(port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=ROOT)

    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"sandbox exited {self.proc.returncode}: {self.log()[-3000:]}")
        try:
            return requests.get(self.url("status", "/readyz"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def interrupt(self) -> int:
        """Ctrl-C, as a person stops the sandbox."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def sandbox_node(database: str, tmp_path: Path) -> Iterator[SandboxProcess]:
    node = SandboxProcess(database, tmp_path)
    try:
        wait_until(node.ready, 30, "the sandbox's /readyz")
        yield node
    finally:
        code = node.interrupt()
        assert code == 0, f"Ctrl-C must stop the sandbox cleanly: {node.log()[-3000:]}"


def test_a_person_gets_a_free_picture_through_the_chat_page(
    sandbox_node: SandboxProcess, browser: WebDriver, database: str, tmp_path: Path,
) -> None:
    chat_url = sandbox_node.url("telegram", "/chat?user_id=1")
    assert chat_url in sandbox_node.log(), "the sandbox must print the chat page URL"
    page = ChatPage(browser, f"{chat_url}&lang=en")
    page.type("/start")
    page.bubble("What would you like to make?")
    page.click("🎁 Free models")
    page.click("Z-Image · free")
    page.click("▶️ Start")
    page.bubble("Describe the image")
    page.type("a red fox in the snow")
    assert "user" in (page.bubble("a red fox in the snow").get_attribute("class") or "")
    page.click("16:9")
    page.click_first("Please check your order")  # the first button confirms
    kie_media = sandbox_node.url("kie", "/media/")
    pictures = page.until(lambda d: loaded_images(d, kie_media), "the generated picture")
    assert len(pictures) == 1

    with psycopg.connect(database) as conn:
        row = conn.execute(b"SELECT available, held FROM users WHERE id = 1").fetchone()
    assert row is not None and row == (20, 0), "a free model costs nothing"
    balance = browser.find_element(By.ID, "balance-value")
    page.until(lambda _: re.fullmatch(r"\d+ credits", balance.text), "the balance")
    assert balance.text == "20 credits"
    direct = requests.get(sandbox_node.url("status", "/sandbox/balance/1"), timeout=5).json()
    assert (direct["available"], direct["held"], direct["known"]) == (20, 0, True)
    stranger = requests.get(sandbox_node.url("status", "/sandbox/balance/777"), timeout=5)
    assert stranger.json() == {"user_id": 777, "known": False, "available": 0, "held": 0}

    page.screenshot(tmp_path / "chat_free_model.png")
    assert page.console_errors() == []


# ----- every kind of bot message, against a bare emulator ----------------------------------

TOKEN = "555001:chat-page-token"


class Files(BaseHTTPRequestHandler):
    """Serves the sample media and a fake node balance: {"available": 7, "held": 3}."""

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/balance/"):
            body, ctype = json.dumps({"available": 7, "held": 3}).encode(), "application/json"
        elif (MEDIA / name).is_file():
            body = (MEDIA / name).read_bytes()
            ctype = "video/mp4" if name.endswith(".mp4") else "audio/mpeg"
        elif name.endswith(".png"):
            body, ctype = PNG, "image/png"
        else:
            body, ctype = b"%PDF-1.4 sample", "application/pdf"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


PNG = _png(16, 9, (230, 120, 40))


@pytest.fixture
def files() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def bot_call(emu: TelegramEmulator, method: str, **params: Any) -> dict[str, Any]:
    answer = requests.post(f"{emu.url}/bot{TOKEN}/{method}", json=params, timeout=5).json()
    assert answer["ok"], answer
    return dict(answer["result"]) if isinstance(answer["result"], dict) else {}


def test_the_page_shows_every_kind_of_bot_message_and_acts_on_it(
    browser: WebDriver, files: str, tmp_path: Path,
) -> None:
    user = 42
    with TelegramEmulator(TOKEN, flood_limits=False,
                          balance_url=f"{files}/balance/{{user_id}}") as emu:
        page = ChatPage(browser, emu.chat_url(user))
        page.type("hello bot")
        keyboard = {"inline_keyboard": [[{"text": "Tap me", "callback_data": "tap"},
                                         {"text": "Docs", "url": "https://example.org/"}]]}
        menu = bot_call(emu, "sendMessage", chat_id=user, text="line one\nline two /help",
                        reply_markup=keyboard)
        bot_call(emu, "sendPhoto", chat_id=user, photo=f"{files}/pic.png", caption="a picture")
        bot_call(emu, "sendVideo", chat_id=user, video=f"{files}/sample.mp4")
        bot_call(emu, "sendAudio", chat_id=user, audio=f"{files}/sample.mp3")
        bot_call(emu, "sendDocument", chat_id=user, document=f"{files}/report.pdf")
        bot_call(emu, "sendInvoice", chat_id=user, title="50 credits", currency="XTR",
                 description="50 credits for AI generations.", payload="topup:50",
                 prices=[{"label": "50 credits", "amount": 50}])

        text = page.bubble("line one").find_element(By.CSS_SELECTOR, ".text")
        assert text.text.startswith("line one\nline two"), "line breaks are kept"
        page.until(lambda d: loaded_images(d, files), "the photo")
        media = browser.execute_script(
            "return {video: document.querySelector('.media video')?.src,"
            " audio: document.querySelector('.media audio')?.src,"
            " doc: document.querySelector('.media a.doc')?.href};")
        assert media == {"video": f"{files}/sample.mp4", "audio": f"{files}/sample.mp3",
                         "doc": f"{files}/report.pdf"}
        assert page.buttons("Docs ↗")[0].get_attribute("href") == "https://example.org/"

        page.click("Tap me")
        emu.wait_until(lambda: any(q["data"] == "tap" for q in emu.core.bot(None)
                                   .callback_queries.values()))
        query = next(iter(emu.core.bot(None).callback_queries))
        bot_call(emu, "answerCallbackQuery", callback_query_id=query, text="Got it")
        bot_call(emu, "editMessageText", chat_id=user, message_id=menu["message_id"],
                 text="You tapped it")
        edited = page.bubble("You tapped it")
        assert edited.get_attribute("data-message-id") == str(menu["message_id"])
        assert "edited" in edited.text and not page.buttons("Tap me")
        page.until(lambda d: d.find_element(By.ID, "toast").text == "Got it", "the answer")

        page.click("Pay 50 ⭐")
        emu.wait_until(lambda: bool(emu.core.bot(None).pre_checkouts))
        checkout = next(iter(emu.core.bot(None).pre_checkouts))
        bot_call(emu, "answerPreCheckoutQuery", pre_checkout_query_id=checkout, ok=True)
        page.bubble("You paid 50 ⭐")
        assert len(emu.payments()) == 1

        page.until(lambda d: d.find_element(By.ID, "balance").text.split() ==
                   ["💰", "7", "credits", "+3", "held"], "the balance with the held part")
        sent = [m["text"] for m in emu.messages(user, include_user=True) if m["sender"] == "user"]
        assert sent[0] == "hello bot"
        page.screenshot(tmp_path / "chat_all_kinds.png")
        errors = page.console_errors()
    assert errors == [], errors

