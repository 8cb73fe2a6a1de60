"""The Telegram emulator, driven by the real python-telegram-bot client over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
import requests
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

from sandbox.telegram_emulator import TelegramEmulator
from sandbox.telegram_users import UserError

TOKEN = "123456:TEST-token"
USER = 4242
T = TypeVar("T")
# PTB 22 warns that RetryAfter.retry_after will become a timedelta; both forms are handled.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*")


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=7).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def with_bot(emu: TelegramEmulator, scenario: Callable[[telegram.Bot], Awaitable[T]]) -> T:
    """Run ``scenario`` with a real PTB Bot pointed at the emulator."""

    async def main() -> T:
        bot = telegram.Bot(TOKEN, base_url=f"{emu.url}/bot", base_file_url=f"{emu.url}/file/bot")
        async with bot:
            return await scenario(bot)

    return asyncio.run(main())


def test_get_me_answers_bot_identity_and_unknown_token_is_refused(emu: TelegramEmulator) -> None:
    me = with_bot(emu, lambda bot: bot.get_me())
    assert me.is_bot and me.id == 123456 and me.username

    async def wrong_token() -> None:
        async with telegram.Bot("999:nope", base_url=f"{emu.url}/bot"):
            pass

    with pytest.raises(InvalidToken):
        asyncio.run(wrong_token())


def test_user_command_arrives_as_parsed_message_and_offset_confirms_it(
    emu: TelegramEmulator,
) -> None:
    sent = emu.send_text(USER, "/start promo", first_name="Ann", language_code="de")

    async def scenario(bot: telegram.Bot) -> tuple[tuple[telegram.Update, ...], tuple[()]]:
        first = await bot.get_updates(timeout=0)
        again = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        return first, again  # type: ignore[return-value]

    first, again = with_bot(emu, scenario)
    assert len(first) == 1
    update = first[0]
    assert update.update_id == sent["update_id"]
    assert update.message is not None and update.message.text == "/start promo"
    assert update.message.chat.id == USER and update.message.from_user is not None
    assert update.message.from_user.language_code == "de"
    assert update.message.parse_entities(["bot_command"]) == {
        update.message.entities[0]: "/start"
    }
    assert again == ()
    assert emu.pending_updates() == []


def test_long_poll_returns_as_soon_as_an_update_arrives(emu: TelegramEmulator) -> None:
    def user_types_once_the_bot_waits() -> None:
        emu.wait_for_poll()
        emu.send_text(USER, "hello")

    async def scenario(bot: telegram.Bot) -> tuple[float, tuple[telegram.Update, ...]]:
        started = time.monotonic()
        poll = asyncio.ensure_future(bot.get_updates(timeout=20))
        await asyncio.to_thread(user_types_once_the_bot_waits)
        updates = await poll
        return time.monotonic() - started, updates

    elapsed, updates = with_bot(emu, scenario)
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert elapsed < 10


def test_newer_get_updates_terminates_the_older_with_conflict(emu: TelegramEmulator) -> None:
    async def scenario(bot: telegram.Bot) -> None:
        older = asyncio.ensure_future(bot.get_updates(timeout=20))
        await asyncio.to_thread(emu.wait_for_poll)
        async with telegram.Bot(TOKEN, base_url=f"{emu.url}/bot") as second:
            assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict):
            await older

    with_bot(emu, scenario)


def test_pressing_an_inline_button_gives_a_callback_query_and_records_the_answer(
    emu: TelegramEmulator,
) -> None:
    emu.send_text(USER, "/start")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="confirm:1")]])

    async def send(bot: telegram.Bot) -> telegram.Message:
        updates = await bot.get_updates(timeout=0)
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
        return await bot.send_message(USER, "Confirm?", reply_markup=keyboard)

    message = with_bot(emu, send)
    with pytest.raises(UserError):
        emu.press_button(USER, message.message_id, "not-on-the-keyboard")
    query_id = emu.press_button(USER, message.message_id, "confirm:1")
    assert emu.callback_query(query_id)["answered"] is False

    async def answer(bot: telegram.Bot) -> telegram.CallbackQuery:
        (update,) = await bot.get_updates(timeout=0)
        assert update.callback_query is not None
        await update.callback_query.answer("Working on it")
        return update.callback_query

    query = with_bot(emu, answer)
    assert query.data == "confirm:1" and query.id == query_id
    assert query.message is not None and query.message.message_id == message.message_id
    record = emu.callback_query(query_id)
    assert record["answered"] is True and record["answer_text"] == "Working on it"
    (recorded,) = emu.messages(USER)
    assert recorded["text"] == "Confirm?" and recorded["reply_markup"] == keyboard.to_dict()


def test_media_by_url_and_by_upload_are_recorded(emu: TelegramEmulator) -> None:
    emu.configure(flood_limits=False)
    emu.send_text(USER, "/start")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 1000

    async def scenario(bot: telegram.Bot) -> None:
        by_url = await bot.send_photo(USER, "https://cdn.example/a.png", caption="<b>Done</b>",
                                      parse_mode="HTML")
        assert by_url.photo and by_url.caption == "Done"
        await bot.send_photo(USER, png, filename="b.png")
        group = await bot.send_media_group(USER, [
            telegram.InputMediaAudio("https://cdn.example/1.mp3"),
            telegram.InputMediaAudio(b"ID3" + b"\0" * 500, filename="2.mp3"),
        ])
        assert len(group) == 2 and group[0].media_group_id == group[1].media_group_id
        with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
            await bot.send_document(USER, "not-a-url-nor-file-id")

    with_bot(emu, scenario)
    url_msg, upload_msg, audio1, audio2 = emu.messages(USER)
    assert url_msg["media"]["source"] == "url"
    assert url_msg["media"]["url"] == "https://cdn.example/a.png"
    assert url_msg["text"] == "<b>Done</b>" and url_msg["plain_text"] == "Done"
    assert upload_msg["media"]["source"] == "upload"
    assert upload_msg["media"]["upload_size"] == len(png)
    assert (audio1["media"]["source"], audio2["media"]["source"]) == ("url", "upload")
    assert audio2["media"]["upload_size"] == 503


def test_a_quick_send_past_the_chats_burst_gets_retry_after(emu: TelegramEmulator) -> None:
    """Telegram allows a short burst in a private chat (3 here), then about one a second."""
    emu.configure(flood_window=60.0)  # "quick" even on a loaded machine
    emu.send_text(USER, "/start")

    async def scenario(bot: telegram.Bot) -> RetryAfter:
        for text in ("first", "second", "third"):
            await bot.send_message(USER, text)
        await bot.send_chat_action(USER, "typing")  # not counted by the flood limits
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "fourth")
        return caught.value

    error = with_bot(emu, scenario)
    retry_after = error.retry_after
    seconds = retry_after if isinstance(retry_after, int) else retry_after.total_seconds()
    assert seconds >= 1
    stats = emu.stats()
    assert stats["too_many_requests"] == 1
    assert stats["too_many_requests_by_chat"] == {str(USER): 1}
    assert stats["max_per_chat_rate"] == 3
    assert [m["text"] for m in emu.messages(USER)] == ["first", "second", "third"]


def test_a_group_gets_twenty_messages_a_minute(emu: TelegramEmulator) -> None:
    group = -100777
    emu.configure(strict_chats=False)

    async def scenario(bot: telegram.Bot) -> RetryAfter:
        for i in range(20):
            await bot.send_message(group, f"line {i}")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(group, "one too many")
        return caught.value

    error = with_bot(emu, scenario)
    retry_after = error.retry_after
    seconds = retry_after if isinstance(retry_after, int) else retry_after.total_seconds()
    assert seconds > 30  # the minute's first message must leave the window first
    assert len(emu.messages(group)) == 20


def test_blocked_user_gives_forbidden(emu: TelegramEmulator) -> None:
    emu.send_text(USER, "/start")
    emu.block_user(USER)

    async def scenario(bot: telegram.Bot) -> None:
        with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
            await bot.send_message(USER, "your picture is ready")

    with_bot(emu, scenario)
    assert emu.messages(USER) == []


def test_injected_faults_fail_the_next_calls_then_stop(emu: TelegramEmulator) -> None:
    emu.send_text(USER, "/start")
    emu.configure(flood_limits=False)
    emu.add_fault("sendMessage", "error", status=502, count=1)
    emu.add_fault("sendMessage", "flood", retry_after=3, count=1)
    emu.add_fault("sendMessage", "drop", execute=True, count=1)

    async def scenario(bot: telegram.Bot) -> None:
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "a")
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "b")
        with pytest.raises(NetworkError):
            await bot.send_message(USER, "c")  # delivered, but the answer is lost
        await bot.send_message(USER, "d")

    with_bot(emu, scenario)
    assert [m["text"] for m in emu.messages(USER)] == ["c", "d"]
    assert emu.stats()["faults_injected"] == 3


def test_markup_mistakes_and_no_op_edits_are_refused_like_telegram(emu: TelegramEmulator) -> None:
    emu.send_text(USER, "/start")
    emu.configure(flood_limits=False)

    async def scenario(bot: telegram.Bot) -> None:
        with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
            await bot.send_message(USER, "price < 5 <b>stars", parse_mode="HTML")
        with pytest.raises(BadRequest, match="reserved"):
            await bot.send_message(USER, "Done.", parse_mode="MarkdownV2")
        sent = await bot.send_message(USER, "Step 1")
        edited = await bot.edit_message_text("Step 2", USER, sent.message_id)
        assert isinstance(edited, telegram.Message) and edited.text == "Step 2"
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text("Step 2", USER, sent.message_id)

    with_bot(emu, scenario)
    (message,) = emu.messages(USER)
    assert message["text"] == "Step 2"
    assert [e["previous_text"] for e in message["edits"]] == ["Step 1"]


def test_stars_invoice_pre_checkout_and_successful_payment(emu: TelegramEmulator) -> None:
    emu.send_text(USER, "/buy")

    async def send_invoice(bot: telegram.Bot) -> telegram.Message:
        updates = await bot.get_updates(timeout=0)
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
        return await bot.send_invoice(USER, "100 credits", "Top up", "topup:100", "XTR",
                                      [LabeledPrice("100 credits", 50)])

    invoice = with_bot(emu, send_invoice)
    assert invoice.invoice is not None and invoice.invoice.total_amount == 50
    query_id = emu.pay_invoice(USER, invoice.message_id)

    async def approve(bot: telegram.Bot) -> telegram.SuccessfulPayment:
        (update,) = await bot.get_updates(timeout=0)
        query = update.pre_checkout_query
        assert query is not None and query.invoice_payload == "topup:100"
        assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
        await query.answer(ok=True)
        (paid,) = await bot.get_updates(offset=update.update_id + 1, timeout=0)
        assert paid.message is not None and paid.message.successful_payment is not None
        await bot.get_updates(offset=paid.update_id + 1, timeout=0)
        return paid.message.successful_payment

    payment = with_bot(emu, approve)
    assert (payment.currency, payment.total_amount) == ("XTR", 50)
    assert payment.telegram_payment_charge_id
    assert emu.pre_checkout_query(query_id)["ok"] is True
    replay_id = emu.replay_payment(payment.telegram_payment_charge_id)
    (replayed,) = with_bot(emu, lambda bot: bot.get_updates(timeout=0))
    assert replayed.update_id == replay_id
    assert replayed.message is not None and replayed.message.successful_payment == payment


def test_http_user_and_control_api(emu: TelegramEmulator) -> None:
    reply = requests.post(f"{emu.url}/_user/send_text", json={"user_id": 7, "text": "/start"},
                          timeout=5)
    assert reply.json()["ok"] is True
    requests.post(f"{emu.url}/_control/faults",
                  json={"method": "getMe", "kind": "error", "status": 500, "count": 1}, timeout=5)
    with pytest.raises(NetworkError):
        with_bot(emu, lambda bot: bot.get_me())
    stats = requests.get(f"{emu.url}/_control/stats", timeout=5).json()["result"]
    assert stats["method_calls"]["getMe"] == 1 and stats["pending_updates"]["emu_bot"] == 1
    assert requests.post(f"{emu.url}/_control/reset", timeout=5).json()["ok"] is True
    assert emu.pending_updates() == []
    unknown = requests.post(f"{emu.url}/bot{TOKEN}/launchRocket", timeout=5)
    assert unknown.status_code == 404 and unknown.json()["description"] == "Not Found"


def test_global_flood_limit_counts_all_chats(emu: TelegramEmulator) -> None:
    emu.configure(global_per_second=3, flood_window=60.0)  # a wide window: no timing luck
    for user in (1, 2, 3, 4):
        emu.send_text(user, "/start")

    async def scenario(bot: telegram.Bot) -> None:
        for user in (1, 2, 3):
            await bot.send_message(user, "result")
        with pytest.raises(RetryAfter):
            await bot.send_message(4, "result")

    with_bot(emu, scenario)
    stats = emu.stats()
    assert stats["max_global_rate"] == 3 and stats["too_many_requests_by_chat"] == {"4": 1}


def test_fetching_media_urls_fails_like_telegram(emu: TelegramEmulator) -> None:
    emu.configure(flood_limits=False, fetch_urls=True, photo_url_limit=10)
    emu.send_text(USER, "/start")

    async def scenario(bot: telegram.Bot) -> None:
        with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
            await bot.send_photo(USER, f"{emu.url}/_control/stats")  # bigger than 10 bytes
        with pytest.raises(BadRequest, match=r"(?i)failed to get http url content"):
            await bot.send_photo(USER, f"{emu.url}/_control/missing")
        sent = await bot.send_video(USER, f"{emu.url}/_control/config")
        assert sent.video is not None

    with_bot(emu, scenario)
    (video,) = emu.messages(USER)
    assert video["media"]["fetched_size"] > 10


def test_timeout_fault_holds_the_answer_past_the_client_timeout(emu: TelegramEmulator) -> None:
    emu.send_text(USER, "/start")
    emu.add_fault("sendMessage", "timeout", delay=5.0, count=1)

    async def scenario(bot: telegram.Bot) -> None:
        with pytest.raises(telegram.error.TimedOut):
            await bot.send_message(USER, "lost", read_timeout=0.3)

    with_bot(emu, scenario)
    assert emu.messages(USER) == []


def test_photo_sent_by_the_user_can_be_downloaded_by_the_bot(emu: TelegramEmulator) -> None:
    picture = b"\xff\xd8\xff" + bytes(range(256)) * 4
    emu.send_photo(USER, picture, caption="make it anime")

    async def scenario(bot: telegram.Bot) -> bytes:
        (update,) = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.caption == "make it anime"
        file = await update.message.photo[-1].get_file()
        return bytes(await file.download_as_bytearray())

    assert with_bot(emu, scenario) == picture
