"""The one place the browser tests find their Chrome or Chromium, and its chromedriver.

An installed browser comes first: ``chromium``, ``chromium-browser``, ``google-chrome``,
``google-chrome-stable`` or ``chrome`` on PATH, else the macOS application. Its driver is a
``chromedriver`` on PATH or at ``/usr/bin/chromedriver`` of the same major version. When
either is missing, Selenium Manager (shipped with selenium) finds or downloads what is
missing: a matching chromedriver for the installed browser, or Chrome for Testing and its
driver when no browser is installed. When nothing can be had, :class:`BrowserUnavailable`
says so and what to install: the browser tests fail, they never skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_PLACES = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
DRIVER_PLACES = ("/usr/bin/chromedriver",)

_VERSION = re.compile(r"\b(\d+)\.\d+\.\d+(?:\.\d+)?\b")


class BrowserUnavailable(RuntimeError):
    """Neither an installed Chrome/Chromium with its driver nor Selenium Manager's."""


@dataclass(frozen=True)
class Chrome:
    binary: str
    driver: str | None  # None: not looked for (the caller runs the browser alone)


def major_version(executable: str) -> int | None:
    """The major version ``executable --version`` prints, or None if it prints none."""
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _VERSION.search(out)
    return int(found.group(1)) if found else None


def installed_browser(path: str | None = None) -> str | None:
    """The first Chrome or Chromium on ``path`` (default: PATH) or in its usual place."""
    for name in BROWSERS:
        found = shutil.which(name, path=path)
        if found:
            return found
    return next((place for place in BROWSER_PLACES if os.access(place, os.X_OK)), None)


def matching_driver(binary: str, path: str | None = None) -> str | None:
    """A chromedriver on ``path`` or in its usual place with ``binary``'s major version."""
    wanted = major_version(binary)
    if wanted is None:
        return None
    candidates = [shutil.which("chromedriver", path=path), *DRIVER_PLACES]
    for candidate in dict.fromkeys(c for c in candidates if c and os.access(c, os.X_OK)):
        if major_version(candidate) == wanted:
            return candidate
    return None


def selenium_manager(binary: str | None) -> dict[str, str]:
    """Ask Selenium Manager for a driver (for ``binary``, or for a Chrome it downloads)."""
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    # Selenium Manager reports usage statistics to a web service unless told not to: the
    # tests talk to nothing but loopback and the browser download itself.
    os.environ.setdefault("SE_AVOID_STATS", "true")
    args = ["--browser", "chrome"] + (["--browser-path", binary] if binary else [])
    paths: dict[str, str] = SeleniumManager().binary_paths(args)
    return paths


def find_chrome(*, driver: bool = True, path: str | None = None) -> Chrome:
    """A Chrome or Chromium to run, and (``driver=True``) a chromedriver that drives it."""
    binary = installed_browser(path)
    if binary and not driver:
        return Chrome(binary, None)
    if binary:
        local = matching_driver(binary, path)
        if local:
            return Chrome(binary, local)
    try:
        paths = selenium_manager(binary)
        found = Chrome(paths.get("browser_path") or binary or "", paths.get("driver_path"))
        if not Path(found.binary).is_file() or (driver and not (
                found.driver and Path(found.driver).is_file())):
            raise RuntimeError(f"Selenium Manager answered {paths}")
    except Exception as err:
        have = (f"found {binary} but no chromedriver of its version"
                if binary else f"found none of {', '.join(BROWSERS)} on PATH")
        raise BrowserUnavailable(
            f"the browser tests need Chrome or Chromium and its chromedriver: {have}, and "
            f"Selenium Manager could not fetch them ({err}). Install Chromium and its driver "
            "(Debian: apt-get install chromium chromium-driver) or Google Chrome, or give "
            "this machine internet access for Selenium Manager.") from err
    return found if driver else Chrome(found.binary, None)
