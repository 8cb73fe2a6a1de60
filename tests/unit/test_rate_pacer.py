"""The pacer after a restart: the sends of the process that died still count at Telegram."""

from __future__ import annotations

from gateways.telegram.pacer import Pacer


def test_a_fresh_start_sends_nothing_counted_for_one_window() -> None:
    pacer = Pacer(per_second=30.0, per_chat_per_second=1.0, chat_burst=3)
    pacer.quiet_start(100.0)
    # A chat the dead process may have just written to: no send for a full chat interval...
    assert pacer.global_wait(1, 100.0) >= 1.0 and pacer.chat_wait(7, 100.0) >= 1.0
    then = 100.0 + pacer.chat_interval
    assert pacer.global_wait(1, then) == 0.0 and pacer.chat_wait(7, then) == 0.0
    # ... and its burst may have been spent: one a second until the bucket had time to refill.
    pacer.start(7, 1, then)
    pacer.finish(7, 1, then + 0.05)
    assert pacer.chat_wait(7, then + 0.05) > 0.9


def test_without_a_quiet_start_the_first_send_goes_at_once() -> None:
    pacer = Pacer(per_second=30.0, per_chat_per_second=1.0)
    assert pacer.global_wait(1, 100.0) == 0.0
