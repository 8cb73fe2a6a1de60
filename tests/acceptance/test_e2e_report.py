"""``trt-node e2e`` in sandbox mode: real node, emulated KIE and Telegram, the report files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import KIE_KEY, TOKEN, NodeProcess
from tools import e2e

pytestmark = pytest.mark.acceptance

ADMIN = 1  # the harness's TRT_ADMIN_IDS


def report(out: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    doc = json.loads((out / "e2e-report.json").read_text("utf-8"))
    markdown = (out / "e2e-report.md").read_text("utf-8")
    return doc, {m["model"]: m for m in doc["models"]}, markdown


def test_free_model_runs_are_delivered_and_reported_stable(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "report"
    code = e2e.main(["--models", "z-image", "--runs", "2", "--out", str(out),
                     "--timeout", "30"], environ={"DATABASE_URL": database})
    assert code == 0, capsys.readouterr()
    doc, models, markdown = report(out)
    z_image = models["z-image"]
    assert (z_image["verdict"], z_image["delivered"], z_image["runs"]) == ("STABLE", 2, 2)
    assert doc["ok"] is True and doc["mode"].startswith("sandbox")
    assert 0 < z_image["p50_s"] <= z_image["max_s"] < 30
    assert all(run["job_id"] and run["delivered"] for run in z_image["details"])
    assert "| z-image | **STABLE** | 2/2 |" in markdown
    assert "STABLE   z-image" in capsys.readouterr().out


def test_a_model_that_always_fails_is_reported_failed_and_exits_1(
    database: str, tmp_path: Path,
) -> None:
    out = tmp_path / "report"
    # The first three of four tasks fail: one model loses both runs, the other one of two.
    faults = {"tasks": {"fail": {"next": 3, "models": ["z-image", "qwen/text-to-image"],
                                 "code": "500", "msg": "internal error"}}}
    code = e2e.main(["--models", "z-image,qwen/text-to-image", "--runs", "2", "--out",
                     str(out), "--timeout", "30", "--kie-faults", json.dumps(faults)],
                    environ={"DATABASE_URL": database})
    assert code == 1, "a FAILED model fails the command"
    doc, models, markdown = report(out)
    assert doc["ok"] is False
    verdicts = sorted(m["verdict"] for m in models.values())
    assert verdicts == ["FAILED", "UNSTABLE"]
    failed = next(m for m in models.values() if m["verdict"] == "FAILED")
    assert failed["delivered"] == 0 and failed["p50_s"] is None
    assert list(failed["failures"]) and all(
        reason.startswith("kie_failed") for reason in failed["failures"]), failed["failures"]
    assert f"| {failed['model']} | **FAILED** | 0/2 |" in markdown
    assert "**UNSTABLE** | 1/2 |" in markdown


def test_real_mode_confirms_jobs_for_the_admin_and_the_running_node_delivers_them(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "Real" KIE and Telegram are the emulators here (no internet): the path is the real one.
    with KieEmulator(KIE_KEY, duration_s=0.3) as kie, TelegramEmulator(TOKEN) as telegram:
        node = NodeProcess(database, kie, telegram, tmp_path / "node.log")
        for name, value in node.env.items():
            if name.startswith("TRT_") or name == "DATABASE_URL":
                monkeypatch.setenv(name, value)
        telegram.send_text(ADMIN, "/start")  # the admin's chat exists, as in real life
        node.start()
        try:
            code = e2e.main(["--models", "z-image", "--runs", "2", "--out",
                             str(tmp_path / "report"), "--timeout", "30"])
        finally:
            node.stop()
        delivered = [m for m in telegram.messages(ADMIN) if m.get("media")]
    assert code == 0
    doc, models, _ = report(tmp_path / "report")
    assert doc["mode"].startswith("real")
    assert f"admin chat {ADMIN} by the running node" in doc["mode"]
    assert models["z-image"]["verdict"] == "STABLE"
    assert len(delivered) == 2, "both results reached the admin's chat"
    assert kie.stats(details=False)["creates"] == 2
