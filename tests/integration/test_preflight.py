"""``trt-node check``: passes on a healthy setup and fails --strict on each broken
precondition, one at a time, against real emulators, a real database and a real gateway."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
import requests

from gateways.kie.callback_app import Callbacks
from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.conftest import Postgres
from tools import check as preflight
from trt_actors.actors.router import Router
from trt_actors.catalog.model import load_catalog, packaged_catalog_data
from trt_actors.infra.store import Store
from trt_actors.messages import GetUrl

TOKEN = "777001:preflight-telegram-token-abc"
KIE_KEY = "preflight-kie-key-0123456"
HMAC_KEY = "preflight-hmac-key-98765"
DB_PASSWORD = "db-password-must-not-print"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _no_route(key: Any, router: Router) -> Any:
    raise AssertionError(f"the probe must be parked, never routed (job {key})")


@pytest.fixture
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, duration_s=0) as emu:
        yield emu


@pytest.fixture
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN) as emu:
        yield emu


@pytest.fixture
def gateway(store: Store) -> Iterator[str]:
    """This node's callback gateway on the test database; yields its base URL."""
    ref = Callbacks.start(store, cast(Router, Router("job", _no_route)), "127.0.0.1", 0,
                                HMAC_KEY)
    try:
        yield str(ref.ask(GetUrl()))
    finally:
        ref.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database: str, kie: KieEmulator,
        telegram: TelegramEmulator, gateway: str, tmp_path: Path) -> pytest.MonkeyPatch:
    """A healthy configuration in the environment; each test breaks one thing."""
    for name in list(os.environ):
        if name.startswith("TRT_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    port = gateway.rpartition(":")[2]
    for name, value in {
        "TRT_TELEGRAM_TOKEN": TOKEN, "TRT_TELEGRAM_API_URL": telegram.url,
        "TRT_KIE_API_KEY": KIE_KEY, "TRT_KIE_API_URL": kie.url, "TRT_KIE_HMAC_KEY": HMAC_KEY,
        "TRT_KIE_UPLOAD_URL": kie.url,
        "DATABASE_URL": database, "TRT_DATA_DIR": str(tmp_path / "data"),
        "TRT_PUBLIC_CALLBACK_URL": gateway, "TRT_CALLBACK_LISTEN": f"127.0.0.1:{port}",
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def check(capsys: pytest.CaptureFixture[str], *args: str,
          table: bool = False) -> tuple[int, dict[str, Any], str]:
    """Run ``check --json`` (and the table form); (exit code, rows by name, all output)."""
    code = preflight.main(["--json", *args])
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert code == (1 if not doc["ok"] else 0)
    if table:
        table_code = preflight.main(list(args))
        out += capsys.readouterr().out
        assert table_code == code, "the table and --json must agree"
    return code, {row["name"]: row for row in doc["checks"]}, out


def assert_no_secret(output: str) -> None:
    for secret in (TOKEN, KIE_KEY, HMAC_KEY, DB_PASSWORD, TOKEN.split(":")[1]):
        assert secret not in output, "a secret was printed"


def test_all_fine_passes_strict_and_parks_its_probe(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
    kie: KieEmulator,
) -> None:
    code, rows, output = check(capsys, "--strict", table=True)
    assert code == 0, output
    assert [r["status"] for r in rows.values()] == ["ok"] * 10, output
    assert list(rows) == ["configuration", "database", "migrations", "catalog", "KIE API",
                          "KIE credits", "KIE uploads", "Telegram", "Telegram webhook",
                          "callback URL"]
    assert not kie.uploads(), "the upload probe creates nothing"
    assert "@" in rows["Telegram"]["detail"]
    assert "✓ callback URL" in output and "FAILED" not in output
    assert_no_secret(output)
    with psycopg.connect(database) as conn:
        parked = conn.execute("SELECT count(*) FROM callback_inbox WHERE status = 'parked' "
                              "AND token LIKE '0.%'").fetchone()
    assert parked == (2,), "each probe (json + table run) is parked as an orphan"


def _fresh_database(postgres: Postgres, request: pytest.FixtureRequest) -> str:
    name = f"trt_empty_{os.getpid()}_{closed_port()}"
    postgres.execute(f'CREATE DATABASE "{name}"')
    request.addfinalizer(lambda: postgres.drop_database(name))
    return postgres.conninfo(name)


def _broken_catalog(tmp_path: Path) -> str:
    data = packaged_catalog_data()
    z_image = next(m for m in data["models"] if m["id"] == "z-image")
    next(f for f in z_image["fields"] if f["name"] == "aspect_ratio")["default"] = "2:1"
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


BROKEN = {
    # what breaks: (row that must fail, words its detail must contain)
    "bad setting": ("configuration", "TRT_TELEGRAM_TOKEN"),
    "database unreachable": ("database", "cannot be reached"),
    "migrations pending": ("migrations", "pending"),
    "catalog broken": ("catalog", "aspect_ratio"),
    "KIE key wrong": ("KIE API", "rejected the API key"),
    "KIE credits low": ("KIE credits", "below the threshold"),
    "KIE upload URL unreachable": ("KIE uploads", "nothing answers"),
    "KIE upload URL wrong": ("KIE uploads", "no working upload API"),
    "Telegram token wrong": ("Telegram", "rejected TRT_TELEGRAM_TOKEN"),
    "Telegram webhook set": ("Telegram webhook", "will delete it at start"),
    "callback URL unreachable": ("callback URL", "nothing answers"),
    "callback URL not this gateway": ("callback URL", "answered HTTP 404"),
    "HMAC key differs": ("callback URL", "TRT_KIE_HMAC_KEY differs"),
}
WARNINGS = {"migrations pending", "KIE credits low", "Telegram webhook set"}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_strict_fails_on_each_broken_precondition(
    broken: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    postgres: Postgres, kie: KieEmulator, tmp_path: Path, request: pytest.FixtureRequest,
    telegram: TelegramEmulator,
) -> None:
    match broken:
        case "bad setting":
            env.setenv("TRT_TELEGRAM_TOKEN", "not-a-token")
        case "database unreachable":
            env.setenv("DATABASE_URL",
                       f"postgresql://trt:{DB_PASSWORD}@127.0.0.1:{closed_port()}/trt")
        case "migrations pending":
            env.setenv("DATABASE_URL", _fresh_database(postgres, request))
        case "catalog broken":
            env.setenv("TRT_CATALOG", _broken_catalog(tmp_path))
        case "KIE key wrong":
            env.setenv("TRT_KIE_API_KEY", "another-kie-key-000000")
        case "KIE credits low":
            kie.configure(credits=5)
        case "KIE upload URL unreachable":
            env.setenv("TRT_KIE_UPLOAD_URL", f"http://127.0.0.1:{closed_port()}")
        case "KIE upload URL wrong":  # a server, but not KIE's upload API
            env.setenv("TRT_KIE_UPLOAD_URL", telegram.url)
        case "Telegram token wrong":
            env.setenv("TRT_TELEGRAM_TOKEN", "777002:another-telegram-token-xyz")
        case "Telegram webhook set":  # left by a webhook deployment, the token in its path
            requests.post(f"{telegram.url}/bot{TOKEN}/setWebhook", timeout=10,
                          json={"url": f"https://old.example/{TOKEN}?pass=webhook-pass-123"}
                          ).raise_for_status()
        case "callback URL unreachable":
            env.setenv("TRT_PUBLIC_CALLBACK_URL", f"http://127.0.0.1:{closed_port()}")
        case "callback URL not this gateway":
            env.setenv("TRT_PUBLIC_CALLBACK_URL", kie.url)
        case "HMAC key differs":
            env.setenv("TRT_KIE_HMAC_KEY", "a-different-hmac-key-111")
    row, words = BROKEN[broken]
    code, rows, output = check(capsys, "--strict",
                               table=broken.startswith(("KIE", "Telegram webhook")))
    assert code == 1, output
    assert not rows[row]["ok"] and words in rows[row]["detail"], output
    if broken != "bad setting":  # one broken precondition: every independent row still passes
        # The one KIE key serves the API and the upload API: both refuse a wrong one.
        same = {row, "KIE uploads"} if broken == "KIE key wrong" else {row}
        unrelated = {n: r for n, r in rows.items() if n not in same and r["status"] != "skipped"}
        assert all(r["ok"] for r in unrelated.values()), output
    if broken.startswith(("KIE", "Telegram webhook")):
        assert f"{'!' if broken in WARNINGS else '✗'} {row}" in output
    assert_no_secret(output)
    assert "webhook-pass-123" not in output
    lenient, _, _ = check(capsys)
    assert lenient == (0 if broken in WARNINGS else 1), "only warnings pass without --strict"


def test_database_down_skips_migrations_and_says_why(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    env.setenv("DATABASE_URL", f"postgresql://trt:{DB_PASSWORD}@127.0.0.1:{closed_port()}/trt")
    _, rows, _ = check(capsys)
    assert rows["migrations"]["status"] == "skipped"
    assert "database unreachable" in rows["migrations"]["detail"]


def test_catalog_check_requires_the_free_models(tmp_path: Path) -> None:
    data = packaged_catalog_data()
    data["models"] = [m for m in data["models"] if m["id"] != "qwen/image-edit"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert len(load_catalog(path)) == len(data["models"])  # a valid catalog otherwise
    row = preflight.check_catalog(path)
    assert not row.ok and "'qwen/image-edit' is missing" in row.detail


def test_install_hook_writes_an_executable_pre_push_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert preflight.main(["--install-hook"]) == 1
    assert "not inside a git repository" in capsys.readouterr().err
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.chdir(repo)
    assert preflight.main(["--install-hook"]) == 0
    hook = repo / ".git" / "hooks" / "pre-push"
    assert hook.stat().st_mode & stat.S_IXUSR
    text = hook.read_text()
    assert text.startswith("#!/bin/sh") and "check --strict" in text
    assert preflight.main(["--install-hook"]) == 0, "re-installing our own hook is fine"
    hook.write_text("#!/bin/sh\necho mine\n")
    assert preflight.main(["--install-hook"]) == 1, "someone else's hook is left alone"
    assert hook.read_text() == "#!/bin/sh\necho mine\n"


def test_e2e_runs_the_free_models_and_a_failed_one_fails_the_gate(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kie: KieEmulator,
    telegram: TelegramEmulator, tmp_path: Path,
) -> None:
    env.setenv("TRT_ADMIN_IDS", "1")
    env.setenv("TRT_STATUS_LISTEN", f"127.0.0.1:{closed_port()}")  # no node runs: e2e starts one
    telegram.send_text(1, "/start")  # the admin's chat exists, as in real life
    out = tmp_path / "report"
    code, rows, output = check(capsys, "--strict", "--e2e", "--e2e-runs", "1",
                               "--e2e-out", str(out))
    row = rows["e2e (free models)"]
    assert code == 0 and row["status"] == "ok", output
    free = [m.id for m in load_catalog().free_models()]
    assert f"{len(free)} free models STABLE" in row["detail"]
    assert len([m for m in telegram.messages(1) if m.get("media")]) == len(free), \
        "each free model's result reached the admin's chat"

    kie.set_faults({"tasks": {"fail": {"next": 100, "models": ["z-image"], "code": "500",
                                       "msg": "internal error"}}})
    code, rows, output = check(capsys, "--strict", "--e2e", "--e2e-runs", "1",
                               "--e2e-out", str(out))
    row = rows["e2e (free models)"]
    assert code == 1 and row["status"] == "failed", output
    assert row["detail"].startswith("FAILED: z-image"), row
    assert_no_secret(output)
