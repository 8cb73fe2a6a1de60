"""Issue 11, the chat side: failed updates are retried while the node runs (and parked as
poison when they keep failing), /grant's error paths answer, and a free limit of 0 means none.

Real PostgreSQL, real chat and job actors (``tests.support.chat_harness``); failures are
provoked in the database itself (a CHECK constraint the write under test breaks), so the
code path is the product's own from the update inbox to the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.integration.test_status import KIE_KEY, TOKEN, start_node, status_url
from tests.support.chat_harness import ADMIN, ChatHarness, ChatOptions
from tests.support.waiting import wait_until
from trt_actors.actors.janitor import JanitorPolicy
from trt_actors.domain import ledger
from trt_actors.infra.store import Row, Store

FAST_JANITOR = JanitorPolicy(interval=0.05, lease=5.0)
USER = 501


@pytest.fixture
def harness(store: Store, request: pytest.FixtureRequest) -> Iterator[ChatHarness]:
    options = getattr(request, "param", None) or ChatOptions(janitor=FAST_JANITOR)
    h = ChatHarness(store, options)
    try:
        yield h
    finally:
        h.close()


def settled(h: ChatHarness, update_id: int, failures: int = 0) -> Row:
    """The update's row once it is handled, or once its handling failed ``failures + 1``
    times (whichever comes first: on a broken node the second never does)."""
    def done() -> Row | None:
        row = h.update(update_id)
        failed = h.chats.snapshot()["failures"] > failures
        return row if row["handled_at"] is not None or failed else None

    return wait_until(done, 10, f"update {update_id} handled or failed")


def refuse(h: ChatHarness, name: str, check: str) -> None:
    """Make PostgreSQL refuse a write (a stand-in for a transient database error)."""
    h.sql(f"ALTER TABLE ledger ADD CONSTRAINT {name} CHECK ({check})")


def allow(h: ChatHarness, name: str) -> None:
    h.sql(f"ALTER TABLE ledger DROP CONSTRAINT {name}")


# --- defect 4: an update that fails is retried while the node runs ----------------------------


def test_a_payment_that_failed_once_is_credited_without_a_restart(harness: ChatHarness) -> None:
    h = harness
    h.handled(h.send(USER, "/start"))
    refuse(h, "test_no_topups", "kind <> 'topup'")
    paid = h.pay(USER, "charge-1")
    settled(h, paid)
    assert h.update(paid)["handled_at"] is None, "the refused credit rolled the update back"
    allow(h, "test_no_topups")  # the database error was transient
    h.handled(paid)  # no restart: the janitor hands it to the chat actor again
    assert ledger.balance(h.store, USER).available == 20 + 50
    assert any("Payment received: +50" in text for text in h.replies_to(paid))
    row = h.update(paid)
    assert row["attempts"] == 1 and row["poison_at"] is None


def test_an_update_that_keeps_failing_is_parked_as_poison_and_the_chat_goes_on(
        harness: ChatHarness, database: str, emulators: tuple[KieEmulator, TelegramEmulator],
) -> None:
    h = harness
    h.handled(h.send(USER, "/start"))
    refuse(h, "test_no_topups", "kind <> 'topup'")
    paid = h.pay(USER, "charge-2")
    def parked() -> Row | None:
        row = h.update(paid)
        return row if row["poison_at"] is not None else None

    row = wait_until(parked, 15, "the update parked as poison")
    assert row["attempts"] == 5 and "test_no_topups" in row["last_error"]
    assert row["handled_at"] is not None, "parked: never handed again, not even at a restart"
    alerts = {a["key"]: a["message"] for a in h.alerts.snapshot()}
    assert f"update {paid}" in alerts["poison_updates"]
    # The chat goes on: the user's next message is answered.
    balance = h.send(USER, "/balance")
    h.handled(balance)
    assert any("balance" in text.lower() for text in h.replies_to(balance))
    # The operator sees it on /status, also after a restart of the node.
    h.close()
    node = start_node(database, emulators)
    try:
        status = requests.get(f"{status_url(node)}/status", timeout=10).json()
    finally:
        node.stop()
    assert status["poison_updates"] == {"count": 1, "newest": [paid]}


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[KieEmulator, TelegramEmulator]]:
    with KieEmulator(KIE_KEY, seed=5) as kie, TelegramEmulator(TOKEN, seed=5) as telegram:
        yield kie, telegram


# --- defect 5: /grant's error paths answer -----------------------------------------------------


def test_grant_of_a_negative_amount_gets_the_usage_and_changes_nothing(
        harness: ChatHarness) -> None:
    h = harness
    h.handled(h.send(42, "/start"))
    before = h.sql("SELECT count(*) AS n FROM ledger")[0]["n"]
    grant = h.send(ADMIN, "/grant 42 -5")
    row = settled(h, grant)
    assert row["handled_at"] is not None, "the update was handled"
    # (the admin's first message: the welcome rides on top of the answer, one message)
    assert any("\nUsage: /grant" in text for text in h.replies_to(grant))
    assert ledger.balance(h.store, 42).available == 20
    assert h.sql("SELECT count(*) AS n FROM ledger")[0]["n"] == before + 1  # the admin's welcome


def test_grant_whose_ledger_write_fails_says_so_and_the_update_is_handled(
        harness: ChatHarness) -> None:
    h = harness
    h.handled(h.send(ADMIN, "/start"))
    refuse(h, "test_no_admin_grants", "kind <> 'grant' OR note NOT LIKE 'by admin%'")
    grant = h.send(ADMIN, "/grant 77 5")
    row = settled(h, grant)
    assert row["handled_at"] is not None, "the update was handled"
    replies = h.replies_to(grant)
    assert any(text.startswith("Could not grant") for text in replies), replies
    assert h.sql("SELECT count(*) AS n FROM users WHERE id = 77")[0]["n"] == 0
    allow(h, "test_no_admin_grants")
    again = h.send(ADMIN, "/grant 77 5")
    h.handled(again)
    assert ledger.balance(h.store, 77).available == 5


# --- defect 6: TRT_FREE_DAILY_LIMIT=0 allows no free generation ---------------------------------


@pytest.mark.parametrize("harness", [ChatOptions(free_daily_limit=0)], indirect=True)
def test_a_free_daily_limit_of_zero_allows_no_free_generation(harness: ChatHarness) -> None:
    h = harness
    screen = h.send(USER, '/gen z-image prompt="a fox" aspect_ratio=1:1')
    h.handled(screen)
    confirm = h.press(USER, h.confirm_button(screen))
    h.handled(confirm)
    assert h.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 0
    replies = h.replies_to(confirm)
    assert any("free" in text.lower() for text in replies), replies
    assert not any("accepted" in text for text in replies), replies


@pytest.mark.parametrize("harness", [ChatOptions(free_daily_limit=1)], indirect=True)
def test_a_free_daily_limit_of_one_allows_exactly_one(harness: ChatHarness) -> None:
    h = harness
    for n in range(2):
        screen = h.send(USER, f'/gen z-image prompt="fox {n}" aspect_ratio=1:1')
        h.handled(screen)
        h.handled(h.press(USER, h.confirm_button(screen)))
    assert h.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 1
