"""The baseline of ``trt-node bench``: a plain python-telegram-bot bot with no database, no
durability and no actors, making the Bot API calls the node makes per job.

A ``/gen ... prompt="..."`` message gets a confirm screen (one button); pressing it runs the
job's calls in the order of the plan (``TRT_BASELINE_PLAN``, a JSON list of Bot API method
names, e.g. ``["answerCallbackQuery", "sendMessage", "editMessageText", "sendPhoto"]``):

- ``answerCallbackQuery``: answers the press;
- ``sendMessage``: a progress message (later edits edit it);
- ``editMessageText``: edits the progress message (the confirm screen if there is none);
- ``sendPhoto``: the result, by URL, with a caption and a button, as the node sends it.

Nothing generates anything: the result is there at once (P1's KIE answers at once too).

    TRT_TELEGRAM_TOKEN=... TRT_TELEGRAM_API_URL=http://127.0.0.1:8091 \\
        TRT_BASELINE_PLAN='["answerCallbackQuery", "sendPhoto"]' python -m tools.bench.plain_bot
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

PLAN_ENV = "TRT_BASELINE_PLAN"
DEFAULT_PLAN = ("answerCallbackQuery", "sendMessage", "editMessageText", "sendPhoto")
"""What the node did per job in P1 before issue 16: the answer, the progress message, its
"done" edit, the result."""
RESULT_URL = "https://example.invalid/bench/{job}.png"
KNOWN = frozenset(DEFAULT_PLAN)
CONCURRENCY = 16
"""Updates handled at once (and twice as many pooled connections): with PTB's defaults (256
and 256) httpcore's pool bookkeeping, which scans every connection for every queued request,
made this bot 3x slower per job (40 jobs/s at 20 ms against 74 jobs/s at 9.4 ms, 300 jobs)."""


def plan_from_env() -> tuple[str, ...]:
    plan = tuple(json.loads(os.environ.get(PLAN_ENV) or "null") or DEFAULT_PLAN)
    unknown = [m for m in plan if m not in KNOWN]
    if unknown:
        raise SystemExit(f"{PLAN_ENV}: unknown method(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(sorted(KNOWN))}")
    return plan


class PlainBot:
    """The two handlers; the job number is a counter in memory."""

    def __init__(self, plan: tuple[str, ...]) -> None:
        self.plan = plan
        self.jobs = 0

    async def gen(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        self.jobs += 1
        prompt = message.text.partition("prompt=")[2].strip('"')
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Confirm: 10 credits",
                                                             callback_data=f"ok:{self.jobs}")]])
        await context.bot.send_message(message.chat_id, f"Generate {prompt}?\nPrice: 10",
                                       reply_markup=markup)

    async def confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat_id, job = query.message.chat.id, str(query.data or "").partition(":")[2]
        target = query.message.message_id
        for step, method in enumerate(self.plan):
            if method == "answerCallbackQuery":
                await query.answer()
            elif method == "sendMessage":
                sent = await context.bot.send_message(chat_id, f"Job {job}: queued")
                target = sent.message_id
            elif method == "editMessageText":
                await context.bot.edit_message_text(f"Job {job}: step {step}", chat_id, target)
            else:
                again = InlineKeyboardMarkup([[InlineKeyboardButton("Again",
                                                                    callback_data="again")]])
                await context.bot.send_photo(chat_id, RESULT_URL.format(job=job),
                                             caption=f"Job {job}: done", reply_markup=again)


def build(token: str, api_url: str, plan: tuple[str, ...]) -> Application[Any, Any, Any, Any,
                                                                            Any, Any]:
    bot = PlainBot(plan)
    app = (Application.builder().token(token).base_url(f"{api_url}/bot")
           .base_file_url(f"{api_url}/file/bot").concurrent_updates(CONCURRENCY)
           .connection_pool_size(CONCURRENCY * 2).build())
    app.add_handler(MessageHandler(filters.TEXT, bot.gen))
    app.add_handler(CallbackQueryHandler(bot.confirm, pattern=r"^ok:"))
    return app


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = build(os.environ["TRT_TELEGRAM_TOKEN"],
                os.environ["TRT_TELEGRAM_API_URL"].rstrip("/"), plan_from_env())
    app.run_polling(poll_interval=0.0, timeout=10, drop_pending_updates=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
