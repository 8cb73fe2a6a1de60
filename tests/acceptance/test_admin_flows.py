"""Issue 14 through the real node and the Telegram emulator: a promo code with max uses 10
redeemed by 50 users at once gives exactly 10; an admin refunds a Stars top-up from a user's
card (Telegram's refundStarPayment called once, only the unspent credits taken back, the
action on /status); a banned user gets one line.
"""
# ruff: noqa: F811 (the fixtures imported from module_node are parameters of the tests)

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import Person, balance, query
from tests.acceptance.harness import KIE_KEY, NodeProcess, wait_until
from tests.acceptance.module_node import database, running_node, telegram  # noqa: F401 (fixtures)

pytestmark = pytest.mark.acceptance

WELCOME = 20  # TRT_WELCOME_CREDITS, as the harness sets it
ADMIN = 1  # TRT_ADMIN_IDS, as the harness sets it


@pytest.fixture(scope="module")
def node(database: str, telegram: TelegramEmulator,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with KieEmulator(KIE_KEY, duration_s=0.5) as kie, \
            running_node(database, kie, telegram,
                         tmp_path_factory.mktemp("admin") / "node.log") as proc:
        yield proc


def test_fifty_users_redeem_a_code_with_ten_uses_at_once_and_exactly_ten_get_it(
        node: NodeProcess, telegram: TelegramEmulator, database: str) -> None:
    admin = Person(telegram, ADMIN)
    admin.say("/newpromo RACE10 7 10", "Code RACE10")
    people = [Person(telegram, user_id, timeout=60) for user_id in range(3001, 3051)]
    marks = [p.send("/promo race10") for p in people]  # all 50 before any answer
    answers = [p.expect(lambda v: "redeemed" in v.text or "used up" in v.text, mark).text
               for p, mark in zip(people, marks, strict=True)]
    assert sum("redeemed: +7" in a for a in answers) == 10, answers
    assert sum("has been used up" in a for a in answers) == 40, answers
    assert query(database, "SELECT uses FROM promo_codes WHERE code = 'RACE10'") == [
        {"uses": 10}]
    promo = query(database, "SELECT count(*) AS n FROM ledger WHERE kind = 'promo'")
    assert promo == [{"n": 10}]
    balances = sorted(balance(database, p.user_id)[0] for p in people)
    assert balances == [WELCOME] * 40 + [WELCOME + 7] * 10


def test_an_admin_refunds_a_stars_top_up_taking_back_only_what_is_unspent(
        node: NodeProcess, telegram: TelegramEmulator, database: str) -> None:
    user, admin = Person(telegram, 3100), Person(telegram, ADMIN)
    user.say("/topup", "Buy credits with Telegram Stars")
    mark, _ = user.press("50 ⭐")
    invoice = user.expect(lambda v: v.invoice is not None, mark)
    mark = user.mark()
    telegram.pay_invoice(3100, invoice.message_id)
    user.expect("Payment received", mark)
    admin.say("/adjust 3100 -45 spent on generations", "Balance: 25 credits")
    card = admin.say("/user 3100", "User 3100")
    assert "bought 50 credits" in card.text
    mark, _ = admin.press("Refund payment", on=card)
    ask = admin.expect("in Stars and take back", mark)
    seen = user.mark()
    mark, _ = admin.press("Yes, refund", on=ask)
    done = admin.expect("refundStarPayment queued", mark)
    assert "25 of 50 credits were unspent" in done.text
    told = user.expect("refunded in Stars", seen)
    assert "25 unspent credits" in told.text
    wait_until(lambda: telegram.payments()[0]["refunded"], 10, "refundStarPayment called")
    assert balance(database, 3100) == (0, 0)

    mark, _ = admin.press("Yes, refund", on=ask)  # a second tap: nothing more
    admin.expect("already refunded (25 credits taken back)", mark)
    reversal = query(database, "SELECT amount FROM ledger WHERE kind = 'reversal'")
    assert reversal == [{"amount": 25}]
    assert "(refunded, 25 credits taken back)" in user.say("/balance", "Top-ups:").text

    status = requests.get(node.status_url + "/status", timeout=10).json()
    actions = [a["action"] for a in status["admin_audit"]]
    assert actions[:2] == ["refund_stars", "adjust"], actions
    page = requests.get(node.status_url + "/", timeout=10).text
    assert "Admin actions" in page and "refund_stars" in page


def test_a_banned_user_gets_one_line(
        node: NodeProcess, telegram: TelegramEmulator, database: str) -> None:
    user, admin = Person(telegram, 3200), Person(telegram, ADMIN)
    user.say("/start", "What would you like to make?")
    admin.say("/ban 3200", "is banned")
    mark = user.send("/start")
    user.expect("This account is blocked", mark)
    user.send("/balance")
    wait_until(lambda: len(user.texts("This account is blocked")) == 2, 10, "two lines")
    assert [v.text for v in user.since(mark)] == ["⛔ This account is blocked."] * 2
