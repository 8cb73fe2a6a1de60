"""Issue 14 in the conversation engine: /balance lists top-ups (and their refunds), and a
confirm refused by the per-user limits says why and keeps the confirm screen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.test_conversation_fakes import Chat, FakeContext
from trt_actors.conversation.engine import ConfirmResult
from trt_actors.conversation.types import TopupSummary
from trt_actors.errors import UserLimitReached
from trt_actors.infra.settings import load_settings, settings_error_line

ENV = {"TRT_TELEGRAM_TOKEN": "123456:ABCDEFGHIJKLMNOP", "TRT_KIE_API_KEY": "kie-key-123"}


def test_balance_lists_the_latest_top_ups_and_what_a_refund_took_back() -> None:
    chat = Chat()
    chat.cmd("balance")
    assert "Top-ups" not in chat.text()
    chat.pay("charge-1", "topup:50:50", 50)
    chat.ctx.topups.insert(0, TopupSummary(110, datetime(2025, 1, 3, tzinfo=UTC), reversed=40))
    chat.cmd("balance")
    text = chat.text()
    assert "Your balance: 150 credits" in text
    assert "Top-ups:\n• 2025-01-03: +110 credits (refunded, 40 credits taken back)\n" \
           "• 2025-01-02: +50 credits" in text
    ru = Chat(language_code="ru")
    ru.pay("charge-2", "topup:50:50", 50)
    ru.cmd("balance")
    assert "Пополнения:\n• 2025-01-02: +50 кредитов" in ru.text()


@dataclass
class LimitedContext(FakeContext):
    """A context whose next confirm is refused by a per-user limit."""

    refuse: UserLimitReached | None = None

    def confirm_job(self, model_id: str, inputs: dict[str, Any], price: int,
                    idempotency_key: str, *,
                    files: list[dict[str, Any]] | None = None) -> ConfirmResult:
        if self.refuse is not None:
            raise self.refuse
        return super().confirm_job(model_id, inputs, price, idempotency_key, files=files)


@pytest.mark.parametrize(("what", "says"), [
    ("in_flight", "You already have 3 jobs in progress"),
    ("per_minute", "Too many orders in a minute (at most 3)"),
])
def test_a_confirm_over_a_user_limit_says_why_and_the_confirm_screen_still_works(
        what: str, says: str) -> None:
    ctx = LimitedContext(refuse=UserLimitReached(7, 3, what))
    chat = Chat(ctx)
    chat.cmd("gen", 'z-image prompt="a fox" aspect_ratio=1:1')
    chat.press("Confirm")
    assert says in chat.text() and ctx.jobs == []
    ctx.refuse = None  # a job finished, a minute passed: the same button now orders
    chat.press("Confirm")
    assert "accepted" in chat.text() and len(ctx.jobs) == 1


@pytest.mark.parametrize(("variable", "value"), [
    ("TRT_MAX_JOBS_IN_FLIGHT", "0"), ("TRT_CONFIRM_RATE_PER_MIN", "many"),
    ("TRT_PROMO_MISSES_PER_HOUR", "-1"), ("TRT_TERMS_TEXT", ""),
])
def test_a_bad_limit_or_text_setting_refuses_to_start_naming_it(variable: str,
                                                                value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        load_settings(**ENV, **{variable: value})
    line = settings_error_line(refused.value)
    assert line.startswith(f"{variable}: ") and "\n" not in line


def test_limit_settings_default_and_read_their_variables() -> None:
    s = load_settings(**ENV)
    assert (s.max_jobs_in_flight, s.confirm_rate_per_min, s.promo_misses_per_hour) == (3, 10, 5)
    s = load_settings(**ENV, TRT_MAX_JOBS_IN_FLIGHT="5", TRT_PAYSUPPORT_TEXT="Write @help")
    assert s.max_jobs_in_flight == 5 and s.paysupport_text == "Write @help"
