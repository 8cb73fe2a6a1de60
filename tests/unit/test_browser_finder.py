"""The browser tests' finder (tests/support/browser.py) on made-up machines.

Each machine is a directory of fake executables that print a version, used as PATH; the
usual places (``/usr/bin/chromedriver``, the macOS apps) are pointed into it too, and
Selenium Manager is replaced by a recorder, so nothing is downloaded or run for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import browser


def fake(directory: Path, name: str, version: str) -> str:
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{version}'\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setattr(browser, "DRIVER_PLACES", (str(tmp_path / "usr-bin" / "chromedriver"),))
    monkeypatch.setattr(browser, "BROWSER_PLACES", (str(tmp_path / "Apps" / "Chrome"),))
    return bin_dir


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str | None]:
    """Selenium Manager, answering with a downloaded Chrome for Testing and its driver."""
    asked: list[str | None] = []
    cache = tmp_path / "cache"
    cache.mkdir()

    def answer(binary: str | None) -> dict[str, Any]:
        asked.append(binary)
        return {"browser_path": binary or fake(cache, "chrome", "Google Chrome 131.0.1.2"),
                "driver_path": fake(cache, "chromedriver", "ChromeDriver 131.0.1.2 (x)")}

    monkeypatch.setattr(browser, "selenium_manager", answer)
    return asked


def test_an_installed_chromium_and_its_driver_on_path_are_used(
        machine: Path, manager: list[str | None]) -> None:
    binary = fake(machine, "chromium", "Chromium 156.0.8078.114 built on Debian")
    driver = fake(machine, "chromedriver", "ChromeDriver 156.0.8078.114 (ea19f97)")
    assert browser.find_chrome(path=str(machine)) == browser.Chrome(binary, driver)
    assert manager == []


def test_google_chrome_with_the_driver_in_its_usual_place(
        machine: Path, manager: list[str | None]) -> None:
    binary = fake(machine, "google-chrome-stable", "Google Chrome 131.0.6778.85")
    usual = Path(browser.DRIVER_PLACES[0])
    usual.parent.mkdir()
    driver = fake(usual.parent, usual.name, "ChromeDriver 131.0.6778.85 (f)")
    assert browser.find_chrome(path=str(machine)) == browser.Chrome(binary, driver)
    assert manager == []


def test_the_macos_app_is_found_when_nothing_is_on_path(
        machine: Path, manager: list[str | None]) -> None:
    app = Path(browser.BROWSER_PLACES[0])
    app.parent.mkdir()
    binary = fake(app.parent, app.name, "Google Chrome 131.0.6778.85")
    assert browser.find_chrome(driver=False, path=str(machine)) == browser.Chrome(binary, None)
    assert manager == []


def test_no_driver_of_the_browsers_version_asks_selenium_manager_for_one(
        machine: Path, manager: list[str | None]) -> None:
    binary = fake(machine, "chromium-browser", "Chromium 131.0.6778.85")
    fake(machine, "chromedriver", "ChromeDriver 120.0.6099.224 (old)")
    found = browser.find_chrome(path=str(machine))
    assert manager == [binary]
    assert found.binary == binary and found.driver and found.driver.endswith("cache/chromedriver")


def test_no_browser_at_all_lets_selenium_manager_download_chrome(
        machine: Path, manager: list[str | None]) -> None:
    found = browser.find_chrome(path=str(machine))
    assert manager == [None]
    assert found.binary.endswith("cache/chrome") and found.driver


def test_nothing_to_be_had_is_a_clear_error_not_a_skip(
        machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(binary: str | None) -> dict[str, str]:
        raise RuntimeError("error sending request for url (https://googlechromelabs.github.io)")

    monkeypatch.setattr(browser, "selenium_manager", offline)
    with pytest.raises(browser.BrowserUnavailable, match="found none of chromium") as err:
        browser.find_chrome(path=str(machine))
    assert "apt-get install chromium chromium-driver" in str(err.value)
    assert "googlechromelabs" in str(err.value)
