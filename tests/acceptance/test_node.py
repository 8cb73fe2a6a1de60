"""The real node as a subprocess, driven like a person through the Telegram emulator."""

from __future__ import annotations

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import query
from tests.acceptance.harness import NodeProcess, last_with_buttons, media_messages, wait_until

pytestmark = pytest.mark.acceptance


def confirm_gen(telegram: TelegramEmulator, user: int, command: str, taps: int = 1) -> None:
    telegram.send_text(user, command)
    screen = wait_until(lambda: last_with_buttons(telegram, user), 20, "the confirm screen")
    first = screen["reply_markup"]["inline_keyboard"][0][0]
    for _ in range(taps):
        telegram.press_button(user, screen["message_id"], first["callback_data"])


def test_gen_confirm_twice_delivers_one_result_and_charges_the_price(
    node: NodeProcess, telegram: TelegramEmulator, kie: KieEmulator, database: str,
) -> None:
    node.start()
    confirm_gen(telegram, 501, '/gen google/nano-banana prompt="a red fox in snow"', taps=2)
    wait_until(lambda: media_messages(telegram, 501), 30, "the generated image")
    wait_until(lambda: query(database, "SELECT 1 FROM jobs WHERE state = 'delivered'"), 10,
               "the job to be delivered")
    jobs = query(database, "SELECT id, price, state FROM jobs")
    assert len(jobs) == 1, "a double tap on confirm must create one job"
    user = query(database, "SELECT available, held FROM users WHERE id = 501")[0]
    assert (user["available"], user["held"]) == (20 - jobs[0]["price"], 0)
    assert len(media_messages(telegram, 501)) == 1
    assert kie.stats(details=False)["creates"] == 1, "one confirmed job, one paid KIE task"


def test_kill9_mid_work_loses_nothing_and_charges_once(
    node: NodeProcess, telegram: TelegramEmulator, kie: KieEmulator, database: str,
) -> None:
    kie.configure(duration_s=1.5)
    node.start()
    users = list(range(601, 611))
    for user in users:
        confirm_gen(telegram, user, f'/gen google/nano-banana prompt="picture {user}"')
    wait_until(lambda: len(query(database, "SELECT 1 FROM jobs")) == len(users), 30,
               "every confirm to create its job")
    node.kill9()
    node.start()
    wait_until(lambda: not query(database,
                                 "SELECT 1 FROM jobs WHERE state NOT IN ('delivered','failed')"),
               60, "every job to end")
    jobs = query(database, "SELECT id, user_id, price, state FROM jobs ORDER BY id")
    assert [j["state"] for j in jobs] == ["delivered"] * len(users)
    sent = {user: len(media_messages(telegram, user)) for user in users}
    assert all(n >= 1 for n in sent.values()), sent
    assert sum(n - 1 for n in sent.values()) <= 1, f"only an in-flight send may repeat: {sent}"
    ledger = query(database, "SELECT kind::text, count(*) AS n, sum(amount) AS total, "
                             "count(DISTINCT ref) AS refs FROM ledger GROUP BY kind")
    by_kind = {r["kind"]: r for r in ledger}
    assert by_kind["capture"]["total"] == sum(j["price"] for j in jobs)
    assert "release" not in by_kind
    balances = query(database, "SELECT available, held FROM users")
    assert all(b["held"] == 0 and b["available"] >= 0 for b in balances)
