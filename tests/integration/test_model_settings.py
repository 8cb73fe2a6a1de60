"""Operator pricing without a deploy, through the real store and actors: /price and /model
change what the next update of any chat sees (recorded with who and when), a switched-off
model is refused while its confirmed jobs go on, and a price change never alters an order
already confirmed — end to end on a real node against the KIE and Telegram emulators: the
job charges the amount its confirm screen showed, and /status lists the new price.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests

from gateways.node import Node
from sandbox.kie_emulator import KieEmulator
from tests.integration.test_file_inputs import captured, job_rows, press, texts, wait_text
from tests.support.chat_harness import ADMIN, ChatHarness, ChatOptions
from tests.support.telegram_node import KIE_KEY, Telegram, start_node, status
from tests.support.waiting import wait_until
from trt_actors.catalog.model import load_catalog
from trt_actors.domain.admin import AccountPolicy
from trt_actors.infra.store import Store
from trt_actors.messages import GetUrl

MODEL = "google/nano-banana"
BASE = load_catalog().get(MODEL).price
"""The catalog's price of MODEL, under the default markup."""
USER = 611


@pytest.fixture
def harness(store: Store) -> Iterator[ChatHarness]:
    # One user confirms several jobs in a row here: the per-user limits are not under test.
    h = ChatHarness(store, ChatOptions(account=AccountPolicy(max_jobs_in_flight=10)))
    try:
        yield h
    finally:
        h.close()


def status_url(node: Node) -> str:
    ref = node.root.child_ref("status")
    assert ref is not None
    return str(ref.ask(GetUrl(), timeout=5))


def _say(h: ChatHarness, user: int, text: str) -> str:
    """What the bot answered to ``text``, once handled."""
    update = h.send(user, text)
    h.handled(update)
    return "\n".join(h.replies_to(update))


def test_price_override_reaches_the_next_order_and_records_who_and_when(
        harness: ChatHarness) -> None:
    h = harness
    assert f"Price: {BASE} credit" in _say(h, USER, f"/gen {MODEL} prompt=fox")
    assert f"now costs {BASE + 5} credits" in _say(h, ADMIN, f"/price {MODEL} {BASE + 5}")
    [row] = h.sql("SELECT * FROM model_settings")
    assert (row["model_id"], row["price"], row["enabled"], row["changed_by"]) == (
        MODEL, BASE + 5, True, ADMIN)
    assert datetime.now(UTC) - row["changed_at"] < timedelta(minutes=1)
    assert f"Price: {BASE + 5} credits" in _say(h, USER, f"/gen {MODEL} prompt=fox")
    assert "administrators only" in _say(h, USER, f"/price {MODEL} 1")
    assert "catalog's price" in _say(h, ADMIN, f"/price {MODEL} reset")
    assert f"Price: {BASE} credit" in _say(h, USER, f"/gen {MODEL} prompt=fox")
    assert h.sql("SELECT price FROM model_settings") == [{"price": None}]


def test_a_model_switched_off_is_refused_and_its_confirmed_job_goes_on(
        harness: ChatHarness) -> None:
    h = harness
    shown = h.send(USER, f"/gen {MODEL} prompt=fox")
    h.handled(shown)
    h.handled(h.press(USER, h.confirm_button(shown)))
    [job] = h.sql("SELECT id, price FROM jobs WHERE user_id = %(u)s", u=USER)
    assert "is off" in _say(h, ADMIN, f"/model off {MODEL}")
    assert "turned off for now" in _say(h, USER, f"/gen {MODEL} prompt=fox")
    assert "nano-banana ·" not in _say(h, USER, "/models banana").lower()
    # The job confirmed before the switch is sent to KIE all the same.
    wait_until(lambda: [c["model"] for c in h.kie.calls] == [MODEL], 10, "its createTask")
    state = h.sql("SELECT state::text FROM jobs WHERE id = %(j)s", j=job["id"])[0]["state"]
    assert state in ("submitted", "running")
    assert "is on" in _say(h, ADMIN, f"/model on {MODEL}")
    assert "Please check your order" in _say(h, USER, f"/gen {MODEL} prompt=fox")


# --- end to end: the real node, KIE and Telegram emulated ------------------------------------


@pytest.fixture
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, seed=13, duration_s=3.0) as emu:  # long enough to reprice
        yield emu


@pytest.fixture
def telegram() -> Iterator[Telegram]:
    tg = Telegram()
    try:
        yield tg
    finally:
        tg.stop()


def test_a_price_change_never_alters_an_order_already_confirmed(
        database: str, telegram: Telegram, kie: KieEmulator) -> None:
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie, TRT_ADMIN_IDS=str(ADMIN))
    user = 5
    try:
        emu.send_text(user, f"/gen {MODEL} prompt=\"a fox\"")
        wait_text(emu, user, f"Price: {BASE} credit")
        # Repriced while the user looks at the confirm screen: the shown price holds.
        emu.send_text(ADMIN, f"/price {MODEL} {BASE + 3}")
        wait_text(emu, ADMIN, f"now costs {BASE + 3} credits")
        press(emu, user, "Confirm")
        wait_until(lambda: len(job_rows(database, user)) == 1, 20, "the job confirmed")
        # Repriced again while the job is in flight.
        emu.send_text(ADMIN, f"/price {MODEL} {BASE + 9}")
        wait_text(emu, ADMIN, f"now costs {BASE + 9} credits")
        assert job_rows(database, user)[0]["state"] != "delivered", "the job ended too soon"
        wait_until(lambda: job_rows(database, user)[0]["state"] == "delivered", 30,
                   "the job delivered")
        # /status lists the effective price at once.
        prices = {m["id"]: m for m in status(node)["prices"]["models"]}
        assert (prices[MODEL]["price"], prices[MODEL]["override"],
                prices[MODEL]["changed_by"]) == (BASE + 9, BASE + 9, ADMIN)
        page = requests.get(f"{status_url(node)}/", timeout=10).text
        row = page[page.index("<h2>Prices</h2>"):].split(f"<td>{MODEL}</td>")[1].split("</tr>")[0]
        assert f">{BASE + 9}<" in row and f">{ADMIN}<" in row
        asked = len(texts(emu, user))
        emu.send_text(user, f"/gen {MODEL} prompt=\"a fox\"")
        wait_text(emu, user, f"Price: {BASE + 9} credits", after=asked)
    finally:
        node.stop()
    [job] = job_rows(database, user)
    assert job["price"] == BASE
    assert captured(database, user) == BASE
    with psycopg.connect(database) as conn:
        holds = conn.execute("SELECT amount FROM ledger WHERE user_id = %s AND kind = 'hold'",
                             (user,)).fetchall()
    assert holds == [(BASE,)]


def _press_label(h: ChatHarness, user: int, update: int, label: str) -> int:
    """Press the button labelled ``label`` on the screen ``update`` showed; the new update."""
    [row] = h.sql("SELECT payload FROM outbox WHERE dedup_key LIKE %(k)s AND payload ? 'buttons' "
                  "ORDER BY id DESC LIMIT 1", k=f"upd:{update}:%")
    data = next(b["data"] for line in row["payload"]["buttons"] for b in line
                if label in b["label"])
    pressed = h.press(user, data)
    h.handled(pressed)
    return pressed


def _screen_labels(h: ChatHarness, update: int) -> list[str]:
    [row] = h.sql("SELECT payload FROM outbox WHERE dedup_key LIKE %(k)s AND payload ? 'buttons' "
                  "ORDER BY id DESC LIMIT 1", k=f"upd:{update}:%")
    return [b["label"] for line in row["payload"]["buttons"] for b in line]


def test_popular_ranks_models_by_the_last_seven_days_confirmed_jobs(
        harness: ChatHarness) -> None:
    h = harness
    catalog = load_catalog()
    orders = [(MODEL, "prompt=a")] * 2 + [("qwen/text-to-image", "prompt=a")] * 3
    for model, args in orders:
        shown = h.send(USER, f"/gen {model} {args}")
        h.handled(shown)
        h.handled(h.press(USER, h.confirm_button(shown)))
    assert len(h.sql("SELECT id FROM jobs")) == 5
    # Two of Qwen's three are older than a week: they no longer count.
    h.sql("UPDATE jobs SET created_at = now() - interval '8 days' WHERE id IN "
          "(SELECT id FROM jobs WHERE model_id = 'qwen/text-to-image' ORDER BY id LIMIT 2)")
    menu = h.send(USER, "/start")
    h.handled(menu)
    labels = _screen_labels(h, _press_label(h, USER, menu, "Popular"))
    first, second, third = (catalog.get(m).title.en
                            for m in (MODEL, "qwen/text-to-image", "z-image"))
    assert labels[0].removeprefix("🆕 ").startswith(f"{first} ·"), labels
    assert labels[1].removeprefix("🆕 ").startswith(f"{second} ·"), labels
    assert labels[2].removeprefix("🆕 ").startswith(f"{third} ·"), labels  # catalog order
